#!/bin/sh
# valkey-backup, first container (the Valkey image): an RDB snapshot of the server into
# $OUT_DIR/data/dump.rdb. `valkey-cli --rdb` asks the server for a full resynchronisation, as a
# new replica would (SYNC): the server forks and streams an RDB of its memory, whatever its
# `save` and `appendonly` settings, and a replica of a Sentinel set answers as the primary
# does. The password is read from PASSWORD_FILE (Secret redis-auth, mounted) into
# REDISCLI_AUTH, where valkey-cli reads it (it falls back from VALKEYCLI_AUTH to REDISCLI_AUTH):
# never on its command line, nor in the pod's spec.
# Environment: REDIS_HOST (one host, or several separated by spaces: the pods of a replicated
# stack, tried in turn until one answers, so a dead pod or a failover does not cost the
# backup), REDIS_PORT, PASSWORD_FILE, OUT_DIR; DUMP_TIMEOUT (seconds per attempt, default
# 900); VALKEY_CLI (default valkey-cli; the tests run Debian's redis-cli).
set -eu

: "${REDIS_HOST:?}" "${REDIS_PORT:?}" "${OUT_DIR:?}"
: "${PASSWORD_FILE:?the file holding the Valkey password (Secret redis-auth)}"
REDISCLI_AUTH=$(cat "$PASSWORD_FILE")
export REDISCLI_AUTH
cli=${VALKEY_CLI:-valkey-cli}
limit=${DUMP_TIMEOUT:-900}

say() { printf 'valkey-dump: %s\n' "$*"; }

# A rerun starts from nothing: no half-written file of an earlier attempt is uploaded.
rm -rf "$OUT_DIR/data"
mkdir -p "$OUT_DIR/data"
part="$OUT_DIR/data/dump.rdb.part"
# An RDB file starts with its magic: REDIS (Redis, Valkey before 9) or VALKEY (Valkey 9's
# format 80 and later). Anything else (an error text, an empty file) is not a backup.
is_rdb() {
    magic=$(head -c 6 "$1" | tr -cd '[:upper:]')
    case "$magic" in
        REDIS*|VALKEY) return 0 ;;
        *) say "$1 is not an RDB file (starts with '$magic')" >&2; return 1 ;;
    esac
}

set -f  # the host list is split on spaces, never globbed
# shellcheck disable=SC2086 # REDIS_HOST is a list of host names
set -- $REDIS_HOST
set +f
for host in "$@"; do
    # Bounded: a server that never finishes the transfer ends the attempt, not the schedule.
    if timeout "$limit" "$cli" -h "$host" -p "$REDIS_PORT" --no-auth-warning --rdb "$part" && is_rdb "$part"; then
        mv "$part" "$OUT_DIR/data/dump.rdb"
        say "dump.rdb from $host: $(wc -c < "$OUT_DIR/data/dump.rdb") bytes"
        exit 0
    fi
    say "the snapshot from $host:$REDIS_PORT failed or took over ${limit}s" >&2
    rm -f "$part"
done
say "no snapshot: none of $REDIS_HOST answered" >&2
exit 1

#!/bin/sh
# The restore of a valkey-backup (docs/operations/data-backups.md), run where the server's data
# directory is mounted and no server runs on it (a helper pod on the scaled-down StatefulSet's
# claim): DATA_DIR/dump.rdb is the backup to restore.
#
# Why not just place dump.rdb and start the server: with `appendonly yes` (the stack's config)
# Valkey loads the append-only file at start and ignores the RDB, so the old (or an empty) AOF
# would win. So: remove the AOF, start a private server on the loopback with appendonly off,
# which loads dump.rdb; turn the AOF on with CONFIG SET appendonly yes, which rewrites a new
# AOF from the loaded data (Redis/Valkey docs, "Switch to AOF on a running server"); wait for
# that rewrite; shut the server down. The real server then starts from the new AOF.
# Environment: DATA_DIR; PORT (default 6390); WAIT (seconds per wait, default 600);
# VALKEY_SERVER, VALKEY_CLI (default valkey-server, valkey-cli; the tests run Debian's redis-*).
set -eu

: "${DATA_DIR:?the server data directory holding dump.rdb}"
server=${VALKEY_SERVER:-valkey-server}
cli=${VALKEY_CLI:-valkey-cli}
port=${PORT:-6390}
wait_s=${WAIT:-600}

say() { printf 'valkey-restore: %s\n' "$*"; }
ask() { "$cli" -h 127.0.0.1 -p "$port" "$@"; }

[ -s "$DATA_DIR/dump.rdb" ] || { say "no $DATA_DIR/dump.rdb to restore" >&2; exit 1; }
# The append-only file of the lost or wrong data: it must not be loaded instead of the backup.
rm -rf "$DATA_DIR/appendonlydir"
# No password (it listens on the loopback of this pod only) and no RDB saves of its own.
"$server" --port "$port" --bind 127.0.0.1 --dir "$DATA_DIR" --dbfilename dump.rdb \
    --appendonly no --save '' --daemonize no --logfile "$DATA_DIR/restore.log" &
pid=$!
stop() { kill "$pid" 2>/dev/null || true; }
trap stop EXIT

# Until it has loaded the RDB: PING answers PONG only then (LOADING before).
i=0
until [ "$(ask ping 2>/dev/null)" = "PONG" ]; do
    i=$((i + 1))
    if [ "$i" -gt "$wait_s" ] || ! kill -0 "$pid" 2>/dev/null; then
        say "the server did not load $DATA_DIR/dump.rdb within ${wait_s}s:" >&2
        cat "$DATA_DIR/restore.log" >&2 || true
        exit 1
    fi
    sleep 1
done
say "loaded $(ask dbsize) keys from dump.rdb"

ask config set appendonly yes > /dev/null
# The rewrite runs in a child; it is done when none is running or scheduled and the new AOF's
# manifest is in place (Valkey writes it when the rewrite completes, not before).
i=0
while :; do
    info=$(ask info persistence | tr -d '\r')
    case "$info" in
        *aof_last_bgrewrite_status:err*) say "the append-only file rewrite failed" >&2; exit 1 ;;
    esac
    case "$info" in
        *aof_rewrite_in_progress:0*aof_rewrite_scheduled:0*|*aof_rewrite_scheduled:0*aof_rewrite_in_progress:0*)
            if ls "$DATA_DIR"/appendonlydir/*.manifest > /dev/null 2>&1; then break; fi ;;
    esac
    i=$((i + 1))
    if [ "$i" -gt "$wait_s" ]; then
        say "the append-only file was not rewritten within ${wait_s}s" >&2
        exit 1
    fi
    sleep 1
done
ask shutdown > /dev/null 2>&1 || true  # SHUTDOWN (it fsyncs the AOF) closes the connection: no reply
# Stopped once the port no longer answers; then reap it (it has exited or is exiting).
i=0
while ask ping > /dev/null 2>&1; do
    i=$((i + 1))
    [ "$i" -le "$wait_s" ] || { say "the server did not stop within ${wait_s}s" >&2; exit 1; }
    sleep 1
done
trap - EXIT
wait "$pid" || true
rm -f "$DATA_DIR/restore.log"
say "restored: $DATA_DIR/appendonlydir holds the backup; start the server"

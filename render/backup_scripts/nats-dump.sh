#!/bin/sh
# nats-backup, first container (nats-box): a backup of every JetStream stream of the account
# the backup user is in, one folder per stream under $OUT_DIR/data (`nats stream backup`: the
# JetStream snapshot API, $JS.API.STREAM.SNAPSHOT.<stream>, with the stream's consumers).
# The server, user and password go in NATS_URL, NATS_USER and NATS_PASSWORD, which the nats
# CLI reads from its environment (natscli nats/main.go: Envar); the password is read from
# PASSWORD_FILE (Secret nats-backup-credentials, mounted): no secret on a command line.
# Environment: NATS_URL, NATS_USER, PASSWORD_FILE, OUT_DIR; DUMP_TIMEOUT (seconds per stream,
# default 900); NATS_CLI (default nats).
set -eu

: "${NATS_URL:?}" "${NATS_USER:?}" "${OUT_DIR:?}"
: "${PASSWORD_FILE:?the file holding the backup user password (Secret nats-backup-credentials)}"
NATS_PASSWORD=$(cat "$PASSWORD_FILE")
export NATS_URL NATS_USER NATS_PASSWORD
cli=${NATS_CLI:-nats}
limit=${DUMP_TIMEOUT:-900}

say() { printf 'nats-dump: %s\n' "$*"; }

rm -rf "$OUT_DIR/data"
mkdir -p "$OUT_DIR/data"
names="$OUT_DIR/streams.txt"
if ! timeout 60 "$cli" stream ls --names > "$names"; then
    say "could not list the streams at $NATS_URL" >&2
    exit 1
fi
count=0
while IFS= read -r stream; do
    [ -n "$stream" ] || continue
    # A stream name becomes a folder: take only the names JetStream itself allows that are
    # safe as one (no '/', no '..'); anything else is a failure, not a silent skip.
    case "$stream" in
        *[!A-Za-z0-9_-]*) say "stream name '$stream' is not a plain name; not backed up" >&2; exit 1 ;;
    esac
    # --no-progress: a log, not a progress bar; the CLI itself ends a transfer idle for 5 s.
    if ! timeout "$limit" "$cli" stream backup --no-progress "$stream" "$OUT_DIR/data/$stream"; then
        say "the backup of stream $stream failed or took over ${limit}s" >&2
        exit 1
    fi
    count=$((count + 1))
done < "$names"
rm -f "$names"
# No stream yet (the queue-worker creates its own on first start): nothing to back up is
# not a failure, and the upload keeps an empty marker so the run is visible in the bucket.
if [ "$count" -eq 0 ]; then
    : > "$OUT_DIR/data/NO-STREAMS"
fi
say "$count stream(s) backed up"

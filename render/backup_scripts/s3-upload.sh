#!/bin/sh
# valkey-backup and nats-backup, second container (rclone): upload what the first container
# left in $IN_DIR/data to <bucket>/<folder>/<service>/<UTC time>/, then keep the newest
# $RETENTION backups of that service and delete the older ones. The S3 remote `backup` is
# configured from the environment (RCLONE_CONFIG_BACKUP_*), the two keys read here from
# KEYS_DIR (Secret data-backup-s3, mounted: access-key-id, secret-access-key), so no key is on
# a command line or in the pod's spec. Only folders named as this script names them
# (YYYYMMDDTHHMMSSZ) are counted or deleted: anything else in the folder is left alone.
# Environment: IN_DIR, KEYS_DIR, S3_PATH (bucket[/folder]), SERVICE (valkey or nats), RETENTION;
# UPLOAD_TIMEOUT (seconds, default 1800); RCLONE (default rclone).
set -eu

: "${IN_DIR:?}" "${KEYS_DIR:?}" "${S3_PATH:?}" "${SERVICE:?}" "${RETENTION:?}"
rclone=${RCLONE:-rclone}
limit=${UPLOAD_TIMEOUT:-1800}
case "$RETENTION" in
    ''|*[!0-9]*|0) printf 's3-upload: RETENTION must be a whole number from 1, got %s\n' "$RETENTION" >&2; exit 2 ;;
esac
RCLONE_CONFIG_BACKUP_ACCESS_KEY_ID=$(cat "$KEYS_DIR/access-key-id")
RCLONE_CONFIG_BACKUP_SECRET_ACCESS_KEY=$(cat "$KEYS_DIR/secret-access-key")
export RCLONE_CONFIG_BACKUP_ACCESS_KEY_ID RCLONE_CONFIG_BACKUP_SECRET_ACCESS_KEY
base="backup:$S3_PATH/$SERVICE"
# Bounded per call, and retried by rclone itself; the Job's activeDeadlineSeconds bounds all.
flags="--contimeout=30s --timeout=300s --retries=3 --low-level-retries=10"

say() { printf 's3-upload: %s\n' "$*"; }
run() {
    # shellcheck disable=SC2086  # $flags is a fixed list of words
    timeout "$limit" "$rclone" $flags "$@"
}

[ -d "$IN_DIR/data" ] || { say "nothing to upload: $IN_DIR/data is missing" >&2; exit 1; }
stamp=$(date -u +%Y%m%dT%H%M%SZ)
if ! run copy "$IN_DIR/data" "$base/$stamp"; then
    say "upload to $base/$stamp failed" >&2
    # A half-uploaded backup must not count as one: remove what arrived (best effort).
    run purge "$base/$stamp" || true
    exit 1
fi
say "uploaded $base/$stamp"

listing="$IN_DIR/listing.txt"
if ! run lsf --dirs-only "$base" > "$listing"; then
    say "could not list $base to prune it; the new backup is uploaded" >&2
    exit 1
fi
# Newest first: the names sort as the times they are.
grep -E '^[0-9]{8}T[0-9]{6}Z/$' "$listing" | sort -r > "$listing.sorted" || true
kept=0
while IFS= read -r dir; do
    kept=$((kept + 1))
    [ "$kept" -gt "$RETENTION" ] || continue
    if ! run purge "$base/${dir%/}"; then
        say "could not delete $base/${dir%/}" >&2
        exit 1
    fi
    say "deleted $base/${dir%/} (keeping $RETENTION)"
done < "$listing.sorted"
rm -f "$listing" "$listing.sorted"

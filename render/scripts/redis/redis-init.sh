#!/bin/sh
# The init container of a replicated Valkey pod (render/redis.py `init_container`): decides
# whether this pod starts as the primary or as a replica of it, and writes the two files the
# pod's servers read from the emptyDir RUN_DIR:
#   replication.conf  included by redis.conf: `replica-announce-ip` (this pod's DNS name) and,
#                     on a replica, `replicaof <primary> <port>`
#   sentinel.conf     the Sentinel sidecar's config: Sentinel rewrites its own file (it records
#                     what it learns), so it cannot be the read-only ConfigMap; it is built here
#                     from the rendered parts and the mounted password, on every start.
#
# Who the primary is: the running sentinels know (SENTINEL get-master-addr-by-name), and after
# a failover it is no longer pod 0. So a restarted old primary asks them first and rejoins as a
# replica of the promoted one instead of starting as a second primary. No sentinel answers only
# when none runs (the first start, or all pods down at once): then the rendered initial
# topology holds, pod 0 primary (docs/data.md says what a cold start of all pods means).
# An empty data directory that the sentinels still name as primary (the pod came back without
# its volume before they noticed it was gone) waits up to WAIT_SECONDS for them to promote a
# replica that has the data, rather than starting empty and having the replicas copy nothing.
#
# Settings (environment, none of them secret):
#   SELF_HOST SELF_PORT  this server's announced address (its pod DNS name, 6379)
#   SENTINEL_PORT        this pod's own Sentinel port, skipped when asking (it is not up yet)
#   PRIMARY_HOST PRIMARY_PORT  the initial primary: pod 0
#   SENTINELS            the sentinels to ask: "host:port host:port ..."
#   MASTER_NAME QUORUM   the group the sentinels monitor, and how many must agree it is down
#   PASSWORD_FILE        the mounted Secret's password (Valkey's and the sentinels')
#   CONFIG_DIR           the rendered sentinel.conf and sentinel-master.conf (ConfigMap)
#   RUN_DIR DATA_DIR     where to write; Valkey's data directory
#   WAIT_SECONDS         the empty-disk wait above
#   RESOLVE_SECONDS      how long the primary's name may take to appear in DNS (below)
#   CLI                  valkey-cli (redis-cli in the tests); it reads REDISCLI_AUTH
# Every network call is bounded by `timeout`; the whole script by WAIT_SECONDS plus those.
set -eu

: "${SELF_HOST:?} ${SELF_PORT:?} ${SENTINEL_PORT:?} ${PRIMARY_HOST:?} ${PRIMARY_PORT:?}"
: "${SENTINELS:?} ${MASTER_NAME:?} ${QUORUM:?} ${PASSWORD_FILE:?} ${CONFIG_DIR:?}"
: "${RUN_DIR:?} ${DATA_DIR:?} ${WAIT_SECONDS:?}"
CLI=${CLI:-valkey-cli}
RESOLVE_SECONDS=${RESOLVE_SECONDS:-60}
ASK_TIMEOUT=3

log() {
  printf 'redis-init: %s\n' "$*" >&2
}

password=$(cat "$PASSWORD_FILE") || {
  log "cannot read $PASSWORD_FILE"
  exit 1
}
[ -n "$password" ] || {
  log "$PASSWORD_FILE is empty"
  exit 1
}

# "host port" of the primary as the first sentinel that answers names it; fails if none does.
ask_sentinels() {
  for sentinel in $SENTINELS; do
    host=${sentinel%:*}
    port=${sentinel##*:}
    if [ "$host" = "$SELF_HOST" ] && [ "$port" = "$SENTINEL_PORT" ]; then
      continue
    fi
    reply=$(REDISCLI_AUTH=$password timeout "$ASK_TIMEOUT" "$CLI" --no-auth-warning -h "$host" -p "$port" \
      sentinel get-master-addr-by-name "$MASTER_NAME" 2>/dev/null) || continue
    # Two lines, host then port; anything else (an error, "(nil)") is no answer.
    answer=$(printf '%s\n' "$reply" | awk 'NR == 1 { h = $0 } NR == 2 { p = $0 } END { if (NR == 2 && h != "" && p ~ /^[0-9]+$/) print h, p }')
    if [ -n "$answer" ]; then
      printf '%s\n' "$answer"
      return 0
    fi
  done
  return 1
}

# Whether a name resolves: getent (Alpine's musl-utils, a dependency of alpine-base; glibc's
# on Debian), else busybox's nslookup.
resolves() {
  if command -v getent >/dev/null 2>&1; then
    getent hosts "$1" >/dev/null
  else
    nslookup "$1" >/dev/null 2>&1
  fi
}

has_data() {
  [ -n "$(ls -A "$DATA_DIR/appendonlydir" 2>/dev/null)" ]
}

primary=$(ask_sentinels) || primary=""
if [ -z "$primary" ]; then
  primary="$PRIMARY_HOST $PRIMARY_PORT"
  log "no sentinel answered: the initial topology, primary $primary"
elif [ "$primary" = "$SELF_HOST $SELF_PORT" ] && ! has_data; then
  deadline=$(($(date +%s) + WAIT_SECONDS))
  while [ "$primary" = "$SELF_HOST $SELF_PORT" ] && [ "$(date +%s)" -lt "$deadline" ]; do
    log "the sentinels name this empty server the primary: waiting for them to promote a replica"
    sleep 2
    primary=$(ask_sentinels) || primary="$SELF_HOST $SELF_PORT"
  done
fi

# Sentinel refuses to start on a `monitor` line whose host does not resolve ("Can't resolve
# instance hostname"), and on the first start the pods come up together: pod 0's name is in
# DNS only once it has an address. Wait for it (bounded) rather than crash-loop the sidecar.
primary_host=${primary% *}
deadline=$(($(date +%s) + RESOLVE_SECONDS))
until resolves "$primary_host"; do
  if [ "$(date +%s)" -ge "$deadline" ]; then
    log "$primary_host does not resolve after $RESOLVE_SECONDS s"
    exit 1
  fi
  sleep 1
done

umask 077 # the sentinel config holds the password
{
  printf 'replica-announce-ip %s\n' "$SELF_HOST"
  if [ "$primary" != "$SELF_HOST $SELF_PORT" ]; then
    printf 'replicaof %s\n' "$primary"
  fi
} >"$RUN_DIR/replication.conf.tmp"
mv -f "$RUN_DIR/replication.conf.tmp" "$RUN_DIR/replication.conf"

{
  cat "$CONFIG_DIR/sentinel.conf"
  printf 'sentinel announce-ip %s\n' "$SELF_HOST"
  printf 'sentinel monitor %s %s %s\n' "$MASTER_NAME" "$primary" "$QUORUM"
  cat "$CONFIG_DIR/sentinel-master.conf"
  printf 'sentinel auth-pass %s %s\n' "$MASTER_NAME" "$password"
  printf 'requirepass %s\n' "$password"
} >"$RUN_DIR/sentinel.conf.tmp"
mv -f "$RUN_DIR/sentinel.conf.tmp" "$RUN_DIR/sentinel.conf"

if [ "$primary" = "$SELF_HOST $SELF_PORT" ]; then
  log "starting as the primary"
else
  log "starting as a replica of $primary"
fi

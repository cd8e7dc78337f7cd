#!/usr/bin/env bash
# Usage: firewall-apply.sh FILE [--api=HOST:PORT] [CLIENT]   (the nftables ruleset comes on stdin)
#
# Make the node's host firewall (nftables table `inet sovereign_faas`) the ruleset on stdin,
# keep it in FILE, and load FILE at every boot before the network and K3s come up. Only our
# table is ever replaced: K3s' own iptables(-nft) rules live in other tables.
# Compare first, so a re-run with the same ruleset changes nothing:
# - FILE missing or different, or the live table no longer what we loaded: check the ruleset
#   (`nft -c`), load it (`nft -f`, one atomic transaction), keep it in FILE;
# - otherwise: nothing.
# CLIENT is the address this SSH session comes from. If the new ruleset would refuse the next
# SSH connection from it, the previous table is put back and the step fails: an operator is
# never locked out by a typo in adminCidrs. (This session's own connection survives anyway:
# established connections are accepted.)
# --api=HOST:PORT is the API server this node must reach (a ruleset with an output policy):
# a TCP connection to it is tried before and after loading, each try bounded (5 s, 3 tries
# after). If the new ruleset refuses it (connect fails and our output chain's drop counter
# grew), or it answered before and no longer does, the previous table is put back and the step
# fails. A server that did not answer before either is reported, not held against the ruleset.
# Last stdout line: "sovereign-faas: firewall-apply.sh: changed ..." or "... unchanged".
set -euo pipefail

readonly SELF=firewall-apply.sh  # die, report: lib/common.bash, put in front by render_command
readonly TABLE=sovereign_faas
readonly UNIT=/etc/systemd/system/sovereign-faas-firewall.service
readonly PROBE_SECONDS=5 PROBE_TRIES=3
file="" api="" client="" api_state="" tmp=""

cleanup() {
  if [[ -n $tmp ]]; then rm -f -- "$tmp"; fi
}
trap cleanup EXIT

check_args() {
  local usage="usage: $SELF FILE [--api=HOST:PORT] [CLIENT] (the ruleset comes on stdin)"
  (($# >= 1 && $# <= 3)) || die "$usage"
  file=$1
  shift
  if [[ ${1:-} == --api=* ]]; then
    api=${1#--api=}
    shift
    [[ $api =~ ^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}$ ]] || die "--api must be HOST:PORT or [IPv6]:PORT, got '$api'"
  fi
  (($# <= 1)) || die "$usage"
  client=${1:-}
  [[ $file =~ ^/etc/sovereign-faas/[A-Za-z0-9_.-]+\.nft$ ]] ||
    die "FILE must look like /etc/sovereign-faas/<name>.nft, got '$file'"
}

check_host() {
  command -v nft >/dev/null ||
    die "nft not found: install the nftables package (apt-get install nftables), or set firewall: false"
  # ufw's default deny would drop what K3s needs, and two firewalls are one too many.
  if command -v ufw >/dev/null && timeout 10 ufw status 2>/dev/null | grep -q '^Status: active'; then
    die "ufw is active on this node: disable it (ufw disable) so this firewall is the only one, or set firewall: false"
  fi
}

live_table() {
  nft list table inet "$TABLE" 2>/dev/null || true
}

# The unit that loads FILE at boot, before networking (and so before K3s) starts.
unit_text() {
  cat <<EOF
# Written by sovereign-faas (Pulumi). Local changes are overwritten.
[Unit]
Description=sovereign-faas host firewall (nftables table inet $TABLE)
DefaultDependencies=no
# After nftables.service: if enabled, it flushes the whole ruleset when it starts.
After=local-fs.target nftables.service
Before=network-pre.target k3s.service k3s-agent.service
Wants=network-pre.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=$(command -v nft) -f $1

[Install]
WantedBy=sysinit.target
EOF
}

# Put back the table as it was before this run (or none), then fail with $1.
roll_back() {
  local previous=$1
  shift
  if [[ -n $previous ]]; then
    printf 'delete table inet %s\n%s\n' "$TABLE" "$previous" | nft -f - ||
      die "$* - and putting the previous table back failed too; check 'nft list ruleset'"
  else
    nft delete table inet "$TABLE" || die "$* - and removing the new table failed too"
  fi
  die "$* (the previous firewall is back in place)"
}

# The ruleset may only replace our own table: a top-level statement that names anything else,
# `flush ruleset` or an `include` would reach K3s' rules (this runs as root).
check_scope() {
  local line top='^(#.*|table inet '"$TABLE"'( \{)?|delete table inet '"$TABLE"'|\}|)$'
  while IFS= read -r line || [[ -n $line ]]; do
    if [[ $line =~ (^|[[:space:]])(include|ruleset)([[:space:]]|$) ]]; then
      die "the ruleset may not use '${BASH_REMATCH[2]}': it must only replace table inet $TABLE; nothing was changed"
    fi
    if [[ $line != [[:space:]]* && ! $line =~ $top ]]; then
      die "the ruleset may only replace table inet $TABLE, got the statement '$line'; nothing was changed"
    fi
  done <"$1"
}

# Would a new SSH connection from $1 be admitted? The admin sets hold its ranges.
admits() {
  local client=$1 family=v4
  [[ $client == *:* ]] && family=v6
  nft get element inet "$TABLE" "admin_$family" "{ $client }" >/dev/null 2>&1
}

# Packets our output policy refused so far (its named counter; 0 without one).
drops() {
  local text
  text=$(nft list counter inet "$TABLE" egress_dropped 2>/dev/null) || text=""
  if [[ $text =~ packets\ ([0-9]+) ]]; then echo "${BASH_REMATCH[1]}"; else echo 0; fi
}

# How HOST:PORT answers one TCP connection from this node: open, refused (by the server: it
# is reachable), blocked (by this node's own output policy: its counter grew while connect
# failed) or silent (no answer within PROBE_SECONDS, or unreachable for another reason).
probe() {
  local host=${1%:*} port=${1##*:} out counted
  host=${host#[}
  host=${host%]}
  counted=$(drops)
  # shellcheck disable=SC2016 # $0 and $1 are the inner shell's: bash opens /dev/tcp itself
  if out=$(LC_ALL=C timeout "$PROBE_SECONDS" bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$host" "$port" 2>&1); then
    echo open
  elif [[ $out == *"Connection refused"* ]]; then
    echo refused
  elif (($(drops) > counted)); then
    echo blocked
  else
    echo silent
  fi
}

# After loading: the API server as reachable as before ($1: the answer before), or roll back.
check_api() {
  local before=$1 previous=$2 after try
  for ((try = 1; try <= PROBE_TRIES; try++)); do
    after=$(probe "$api")
    [[ $after == silent && $before != silent ]] || break
    sleep 1
  done
  case $after in
    blocked) roll_back "$previous" "the new output policy refuses this node's connection to the API server $api (counted in egress_dropped); admit it (nodeEgressAllow) or check the nodes' addresses" ;;
    silent) [[ $before == silent ]] ||
      roll_back "$previous" "the API server $api answered before the new ruleset and not after it ($PROBE_TRIES tries of ${PROBE_SECONDS}s)" ;;
  esac
  api_state=$after
}

persist() {
  local file=$1
  chmod 0644 -- "$tmp"
  mv -f -- "$tmp" "$file"
  tmp=""
  live_table >"$file.live"
  if ! cmp -s <(unit_text "$file") "$UNIT" 2>/dev/null; then
    unit_text "$file" >"$UNIT"
    systemctl daemon-reload
    systemctl enable "${UNIT##*/}" >/dev/null
  fi
}

main() {
  check_args "$@"
  local previous before=""
  check_host
  mkdir -p -- "${file%/*}"
  tmp=$(mktemp -- "${file%/*}/.${file##*/}.XXXXXX")
  cat >"$tmp"
  [[ -s $tmp ]] || die "stdin is empty: expected the ruleset for $file (use firewall-remove.sh to delete it)"
  previous=$(live_table)
  if cmp -s -- "$tmp" "$file" && [[ -n $previous && -f $file.live && $previous == "$(<"$file.live")" ]]; then
    report "unchanged"
    return
  fi
  check_scope "$tmp"
  nft -c -f "$tmp" || die "nft refused the ruleset (see above); nothing was changed"
  if [[ -n $api ]]; then before=$(probe "$api"); fi
  nft -f "$tmp" || die "loading the ruleset failed (see above); nft applies all or nothing, so nothing was changed"
  if [[ -n $client ]] && ! admits "$client"; then
    roll_back "$previous" "this SSH session comes from $client, which adminCidrs does not include: the next connection would be refused"
  fi
  if [[ -n $api ]]; then check_api "$before" "$previous"; fi
  persist "$file"
  local note=""
  if [[ -n $api ]]; then note="; the API server $api: $api_state"; fi
  if [[ $api_state == silent ]]; then note+=" (it did not answer before either)"; fi
  if [[ -z $previous ]]; then
    report "changed (loaded table inet $TABLE from $file$note)"
  else
    report "changed (replaced table inet $TABLE from $file$note)"
  fi
}

main "$@"

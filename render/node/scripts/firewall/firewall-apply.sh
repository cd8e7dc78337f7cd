#!/usr/bin/env bash
# Usage: firewall-apply.sh FILE [CLIENT]   (the nftables ruleset comes on stdin)
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
# Last stdout line: "sovereign-faas: firewall-apply.sh: changed ..." or "... unchanged".
set -euo pipefail

readonly SELF=firewall-apply.sh  # die, report: lib/common.bash, put in front by render_command
readonly TABLE=sovereign_faas
readonly UNIT=/etc/systemd/system/sovereign-faas-firewall.service
tmp=""

cleanup() {
  if [[ -n $tmp ]]; then rm -f -- "$tmp"; fi
}
trap cleanup EXIT

check_args() {
  [[ $# -eq 1 || $# -eq 2 ]] || die "usage: $SELF FILE [CLIENT] (the ruleset comes on stdin)"
  [[ $1 =~ ^/etc/sovereign-faas/[A-Za-z0-9_.-]+\.nft$ ]] ||
    die "FILE must look like /etc/sovereign-faas/<name>.nft, got '$1'"
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
  local file=$1 client=${2:-} previous
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
  nft -f "$tmp" || die "loading the ruleset failed (see above); nft applies all or nothing, so nothing was changed"
  if [[ -n $client ]] && ! admits "$client"; then
    roll_back "$previous" "this SSH session comes from $client, which adminCidrs does not include: the next connection would be refused"
  fi
  persist "$file"
  if [[ -z $previous ]]; then
    report "changed (loaded table inet $TABLE from $file)"
  else
    report "changed (replaced table inet $TABLE from $file)"
  fi
}

main "$@"

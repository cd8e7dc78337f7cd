#!/usr/bin/env bash
# Usage: resolvers-apply.sh IP [IP [IP]]
#
# Point this node's DNS at the operator's in-country resolvers (dnsResolvers):
# - /etc/sovereign-faas/resolv.conf, the file K3s hands the kubelet (config.yaml resolv-conf):
#   CoreDNS (dnsPolicy Default) forwards to what it lists, and so does every pod that does
#   not use the cluster DNS;
# - the node's own lookups: a systemd-resolved drop-in making them the global servers for
#   every domain (Domains=~.), then a bounded restart of systemd-resolved. Without a running
#   systemd-resolved, /etc/resolv.conf is left alone and the status line says so.
# Compare first: files already as wanted change nothing and restart nothing.
# Last stdout line: "sovereign-faas: resolvers-apply.sh: changed ..." or "... unchanged".
set -euo pipefail

readonly SELF=resolvers-apply.sh  # die, report: lib/common.bash, put in front by render_command
readonly K3S_FILE=/etc/sovereign-faas/resolv.conf
readonly DROPIN=/etc/systemd/resolved.conf.d/90-sovereign-faas.conf
readonly HEADER="# Written by sovereign-faas (Pulumi, $SELF). Local changes are overwritten."
tmp=""

cleanup() {
  if [[ -n $tmp ]]; then rm -f -- "$tmp"; fi
}
trap cleanup EXIT

check_args() {
  # glibc and the kubelet read at most three nameservers.
  (($# >= 1 && $# <= 3)) || die "usage: $SELF IP [IP [IP]] (one to three resolvers)"
  local ip
  for ip in "$@"; do
    [[ $ip =~ ^[0-9A-Fa-f:.]+$ && $ip == *[.:]* ]] || die "not an IP address: '$ip'"
  done
}

k3s_text() {
  printf '%s\n' "$HEADER" "# The resolvers K3s gives the kubelet (config.yaml resolv-conf): CoreDNS forwards to them."
  printf 'nameserver %s\n' "$@"
}

resolved_text() {
  printf '%s\n' "$HEADER" "[Resolve]" "DNS=$*" "Domains=~."
}

main() {
  check_args "$@"
  local changed=() note=""
  if write_if_different "$K3S_FILE" "$(k3s_text "$@")"; then changed+=("$K3S_FILE"); fi
  if systemctl is-active systemd-resolved >/dev/null 2>&1; then
    if write_if_different "$DROPIN" "$(resolved_text "$@")"; then
      timeout 60 systemctl restart systemd-resolved ||
        die "restarting systemd-resolved failed (see above); $DROPIN is in place and the next run restarts it again"
      changed+=("$DROPIN (systemd-resolved restarted)")
    fi
  else
    note="; systemd-resolved is not running: the node's own /etc/resolv.conf was left as it is, point it at $* yourself"
  fi
  if ((${#changed[@]} == 0)); then
    report "unchanged$note"
  else
    report "changed (wrote ${changed[*]}$note)"
  fi
}

main "$@"

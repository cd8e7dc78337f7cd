#!/usr/bin/env bash
# Usage: firewall-remove.sh FILE
#
# The delete step of firewall-apply.sh: drop our nftables table (and nothing else: K3s' rules
# and any other table stay), and remove FILE and the boot unit that loads it.
# Last stdout line: "sovereign-faas: firewall-remove.sh: changed ..." or "... unchanged".
set -euo pipefail

readonly SELF=firewall-remove.sh  # die, report: lib/common.bash, put in front by render_command
readonly TABLE=sovereign_faas
readonly UNIT=/etc/systemd/system/sovereign-faas-firewall.service

check_args() {
  [[ $# -eq 1 ]] || die "usage: $SELF FILE"
  [[ $1 =~ ^/etc/sovereign-faas/[A-Za-z0-9_.-]+\.nft$ ]] ||
    die "FILE must look like /etc/sovereign-faas/<name>.nft, got '$1'"
}

main() {
  check_args "$@"
  local file=$1 done=()
  if command -v nft >/dev/null && nft list table inet "$TABLE" >/dev/null 2>&1; then
    nft delete table inet "$TABLE" || die "could not delete table inet $TABLE (see above)"
    done+=("table inet $TABLE")
  fi
  if [[ -e $UNIT ]]; then
    systemctl disable "${UNIT##*/}" >/dev/null
    rm -f -- "$UNIT"
    systemctl daemon-reload
    done+=("$UNIT")
  fi
  if [[ -e $file || -e $file.live ]]; then
    rm -f -- "$file" "$file.live"
    done+=("$file")
  fi
  if ((${#done[@]} == 0)); then
    report "unchanged"
  else
    report "changed (removed ${done[*]})"
  fi
}

main "$@"

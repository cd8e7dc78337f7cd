#!/usr/bin/env bash
# Usage: resolvers-remove.sh
#
# The delete step of resolvers-apply.sh: remove K3s' resolv.conf and the systemd-resolved
# drop-in (restarting systemd-resolved, bounded, if it runs), so the node's resolvers are the
# ones its network configuration gives again. K3s' config.yaml stops naming the file in the
# same `pulumi up` (render/k3s.py).
# Last stdout line: "sovereign-faas: resolvers-remove.sh: changed ..." or "... unchanged".
set -euo pipefail

readonly SELF=resolvers-remove.sh  # die, report: lib/common.bash, put in front by render_command
readonly K3S_FILE=/etc/sovereign-faas/resolv.conf
readonly DROPIN=/etc/systemd/resolved.conf.d/90-sovereign-faas.conf

main() {
  [[ $# -eq 0 ]] || die "usage: $SELF (no arguments)"
  local removed=()
  if [[ -e $K3S_FILE ]]; then
    rm -f -- "$K3S_FILE"
    removed+=("$K3S_FILE")
  fi
  if [[ -e $DROPIN ]]; then
    rm -f -- "$DROPIN"
    removed+=("$DROPIN")
    if systemctl is-active systemd-resolved >/dev/null 2>&1; then
      timeout 60 systemctl restart systemd-resolved || die "restarting systemd-resolved failed (see above); $DROPIN is gone"
    fi
  fi
  if ((${#removed[@]} == 0)); then
    report "unchanged"
  else
    report "changed (removed ${removed[*]})"
  fi
}

main "$@"

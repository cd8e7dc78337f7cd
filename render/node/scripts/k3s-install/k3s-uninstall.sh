#!/usr/bin/env bash
# Usage: k3s-uninstall.sh
#
# The delete step of k3s-install.sh: run the uninstall script the K3s installer left behind
# (server or agent). It stops K3s and removes the binary, the unit, /etc/rancher/k3s and
# /var/lib/rancher/k3s. Nothing installed: nothing to do.
#
# config.yaml survives: it belongs to the k3s-config step, whose own delete
# (k3s-config-remove.sh) removes it. A role change replaces the install step (uninstall, then
# install) without re-running the config step, so the install that follows needs the file.
# Last stdout line: "sovereign-faas: k3s-uninstall.sh: changed ..." or "... unchanged".
set -euo pipefail

readonly SELF=k3s-uninstall.sh  # die, report: lib/common.bash, put in front by render_command
readonly UNINSTALLERS=(/usr/local/bin/k3s-uninstall.sh /usr/local/bin/k3s-agent-uninstall.sh)
readonly CONF=/etc/rancher/k3s/config.yaml
kept="" # config.yaml, set aside while the uninstaller removes its directory

# Put config.yaml back, also when the uninstaller fails: it carries the token the next
# install needs, and it is 0600 all the way (mktemp makes 0600 files, cat keeps that mode).
restore_config() {
  [[ -n $kept ]] || return 0
  (umask 022 && mkdir -p -- "${CONF%/*}")
  mv -f -- "$kept" "$CONF"
  kept=""
}
trap restore_config EXIT

keep_config() {
  [[ -f $CONF ]] || return 0
  kept=$(mktemp -- /etc/.sovereign-faas-k3s-config.XXXXXX)
  cat -- "$CONF" >"$kept"
}

main() {
  [[ $# -eq 0 ]] || die "usage: $SELF (no arguments)"
  local script
  for script in "${UNINSTALLERS[@]}"; do
    [[ -f $script ]] || continue
    keep_config
    # `sh FILE`, like the installer that wrote it, so a lost exec bit does not matter.
    timeout 300 sh "$script" </dev/null || die "$script failed (exit $?)"
    restore_config
    report "changed (ran $script; kept $CONF for the config step)"
    return
  done
  report "unchanged (K3s is not installed)"
}

main "$@"

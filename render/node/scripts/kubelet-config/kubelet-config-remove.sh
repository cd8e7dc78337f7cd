#!/usr/bin/env bash
# Usage: kubelet-config-remove.sh ROLE FILE
#
# The delete step of kubelet-config.sh: remove the kubelet drop-in FILE and, when K3s is still
# installed, restart it once so the kubelet is back on K3s' own settings. After K3s' uninstall
# (which removes its data directory) there is nothing left to do.
# Idempotent: a second run finds nothing and says "unchanged".
set -euo pipefail

readonly SELF=kubelet-config-remove.sh  # die, report: lib/common.bash, put in front by render_command

main() {
  [[ $# -eq 2 ]] || die "usage: $SELF ROLE FILE"
  local svc file=$2
  case $1 in
    server) svc=k3s ;;
    agent) svc=k3s-agent ;;
    *) die "ROLE must be 'server' or 'agent', got '$1'" ;;
  esac
  [[ $file == /* && $file != *..* && $file =~ /agent/etc/kubelet\.conf\.d/[A-Za-z0-9._-]+\.conf$ ]] ||
    die "FILE must be an absolute path <data-dir>/agent/etc/kubelet.conf.d/<name>.conf, got '$file'"
  if [[ ! -e $file ]]; then
    report "unchanged"
    return
  fi
  rm -f -- "$file"
  if [[ -e /etc/systemd/system/$svc.service ]]; then
    restart "$svc" || die "removed $file, but restarting $svc failed"
    report "changed (removed $file, restarted $svc)"
    return
  fi
  report "changed (removed $file)"
}

main "$@"

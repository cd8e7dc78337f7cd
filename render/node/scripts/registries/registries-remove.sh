#!/usr/bin/env bash
# Usage: registries-remove.sh ROLE
#
# The delete step of registries-apply.sh: remove /etc/rancher/k3s/registries.yaml and the
# mirrors' CA files and, when K3s is still installed, restart it once so containerd pulls from
# the upstream registries again. Idempotent: a second run finds nothing and says "unchanged".
set -euo pipefail

readonly SELF=registries-remove.sh  # die, report: lib/common.bash, put in front by render_command
readonly FILE=/etc/rancher/k3s/registries.yaml
readonly CA=/etc/rancher/k3s/registry-ca

main() {
  [[ $# -eq 1 ]] || die "usage: $SELF ROLE"
  local svc
  case $1 in
    server) svc=k3s ;;
    agent) svc=k3s-agent ;;
    *) die "ROLE must be 'server' or 'agent', got '$1'" ;;
  esac
  if [[ ! -e $FILE && ! -e $CA ]]; then
    report "unchanged"
    return
  fi
  rm -rf -- "$FILE" "$CA"
  if [[ -e /etc/systemd/system/$svc.service ]]; then
    restart "$svc" || die "removed $FILE, but restarting $svc failed"
    report "changed (removed $FILE, restarted $svc)"
    return
  fi
  report "changed (removed $FILE)"
}

main "$@"

#!/usr/bin/env bash
# Usage: k3s-config-remove.sh
#
# The delete of the K3s config step: remove what k3s-config.sh wrote (the config carries the
# cluster token, so nothing of it may stay behind). Runs after the uninstall on `pulumi
# destroy`; the uninstaller already removed /etc/rancher/k3s, this removes the kept copy.
# Idempotent: a second run finds nothing and says "unchanged".
set -euo pipefail

readonly SELF=k3s-config-remove.sh
readonly FILES=(
  /etc/rancher/k3s/config.yaml
  /etc/rancher/k3s/config.yaml.bak
  /etc/sovereign-faas/k3s-config.yaml
)

main() {
  [[ $# -eq 0 ]] || { printf 'sovereign-faas: %s: error: takes no arguments\n' "$SELF" >&2; exit 1; }
  local removed=0 file
  for file in "${FILES[@]}"; do
    if [[ -e $file ]]; then
      rm -f -- "$file"
      removed=$((removed + 1))
    fi
  done
  if ((removed > 0)); then
    printf 'sovereign-faas: %s: changed (removed %d file(s))\n' "$SELF" "$removed"
  else
    printf 'sovereign-faas: %s: unchanged\n' "$SELF"
  fi
}

main "$@"

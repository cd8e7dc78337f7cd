#!/usr/bin/env bash
# Usage: k3s-config-remove.sh
#
# The delete step of k3s-config.sh: remove config.yaml and its backup. They carry the cluster
# token, so nothing of them may stay behind. On `pulumi destroy` this runs after the install
# step's delete (k3s-uninstall.sh), which leaves config.yaml to this step on purpose.
# Idempotent: a second run finds nothing and says "unchanged".
set -euo pipefail

readonly SELF=k3s-config-remove.sh  # die, report: lib/common.bash, put in front by render_command
readonly DIR=/etc/rancher/k3s
readonly FILES=("$DIR/config.yaml" "$DIR/config.yaml.bak")

main() {
  [[ $# -eq 0 ]] || die "usage: $SELF (no arguments)"
  local removed=0 file
  for file in "${FILES[@]}"; do
    if [[ -e $file ]]; then
      rm -f -- "$file"
      removed=$((removed + 1))
    fi
  done
  # The directory goes too once K3s is gone and it is empty.
  if [[ -d $DIR && ! -e /usr/local/bin/k3s ]]; then
    rmdir --ignore-fail-on-non-empty -- "$DIR" "${DIR%/*}"
  fi
  if ((removed > 0)); then
    report "changed (removed $removed file(s) from $DIR)"
  else
    report "unchanged"
  fi
}

main "$@"

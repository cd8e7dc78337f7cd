#!/usr/bin/env bash
# Usage: k3s-uncordon.sh NODE_NAME    (runs on the first server)
#
# After an upgrade: uncordon node NODE_NAME if k3s-drain.sh cordoned it (the annotation
# sovereign-faas.io/drained), and remove that annotation. A node someone else cordoned, or one
# that was never drained (a first install, an upgrade that found it at the new version), is
# left alone.
# Last stdout line: "sovereign-faas: k3s-uncordon.sh: changed ..." or "... unchanged ...".
set -euo pipefail

readonly SELF=k3s-uncordon.sh  # die, report: lib/common.bash, put in front by render_command
readonly K3S=/usr/local/bin/k3s
readonly MARK=sovereign-faas.io/drained
readonly MARK_QUERY='jsonpath={.metadata.annotations.sovereign-faas\.io/drained}'

main() {
  [[ $# -eq 1 ]] || die "usage: $SELF NODE_NAME"
  [[ $1 =~ ^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$ ]] ||
    die "NODE_NAME must be a Kubernetes node name (lower-case DNS name), got '$1'"
  local node=$1 mark rc=0
  mark=$(timeout 20 "$K3S" kubectl get node "$node" -o "$MARK_QUERY" --request-timeout=10s 2>&1) || rc=$?
  ((rc == 0)) || die "cannot read node $node (exit $rc): ${mark//$'\n'/ }"
  if [[ -z $mark ]]; then
    report "unchanged (node $node was not drained by sovereign-faas)"
    return
  fi
  timeout 20 "$K3S" kubectl uncordon "$node" --request-timeout=10s >/dev/null ||
    die "cannot uncordon node $node (exit $?)"
  timeout 20 "$K3S" kubectl annotate node "$node" "$MARK-" --request-timeout=10s >/dev/null ||
    die "cannot remove the annotation $MARK from node $node (exit $?)"
  report "changed (uncordoned node $node, drained for $mark)"
}

main "$@"

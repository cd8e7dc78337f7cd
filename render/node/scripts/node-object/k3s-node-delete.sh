#!/usr/bin/env bash
# Usage: k3s-node-delete.sh NODE_NAME TIMEOUT_SECONDS    (runs on the first server)
#
# The delete step of a removed node, after K3s was uninstalled there (so its kubelet cannot
# register the node again): delete its Node object, bounded. Already gone, or K3s itself is
# gone from this server (the whole stack is being destroyed): nothing to do.
# Last stdout line: "sovereign-faas: k3s-node-delete.sh: changed ..." or "... unchanged ...".
set -euo pipefail

readonly SELF=k3s-node-delete.sh  # die, report: lib/common.bash, put in front by render_command
readonly K3S=/usr/local/bin/k3s

main() {
  [[ $# -eq 2 ]] || die "usage: $SELF NODE_NAME TIMEOUT_SECONDS"
  [[ $1 =~ ^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$ ]] ||
    die "NODE_NAME must be a Kubernetes node name (lower-case DNS name), got '$1'"
  [[ $2 =~ ^[1-9][0-9]{0,4}$ ]] ||
    die "TIMEOUT_SECONDS must be a positive integer (at most 99999), got '$2'"
  local node=$1 limit=$2 out rc=0
  if [[ ! -x $K3S ]]; then
    report "unchanged (K3s is not installed on this server)"
    return
  fi
  out=$(timeout 20 "$K3S" kubectl get node "$node" -o name --request-timeout=10s 2>&1) || rc=$?
  if ((rc != 0)); then
    [[ $out == *NotFound* ]] || die "cannot read node $node (exit $rc): ${out//$'\n'/ }"
    report "unchanged (node $node is not registered)"
    return
  fi
  rc=0
  out=$(timeout "$((limit + 10))" "$K3S" kubectl delete node "$node" --ignore-not-found \
    --timeout="${limit}s" 2>&1) || rc=$?
  ((rc == 0)) || die "deleting node $node failed after at most $limit s (exit $rc): ${out//$'\n'/ }"
  report "changed (deleted node $node from the cluster)"
}

main "$@"

#!/usr/bin/env bash
# Usage: k3s-drain.sh NODE_NAME TIMEOUT_SECONDS [VERSION]    (runs on the first server)
#
# Cordon node NODE_NAME and drain it (`kubectl drain --ignore-daemonsets
# --delete-emptydir-data`), which evicts its pods through the eviction API and so honours
# PodDisruptionBudgets, bounded by TIMEOUT_SECONDS.
#
# With VERSION (before an upgrade): nothing to do when the node is not registered yet (a first
# install) or already runs VERSION (an upgrade that was finished, or a new node). The node gets
# the annotation sovereign-faas.io/drained, which k3s-uncordon.sh looks for, unless it was
# cordoned already by someone else (then it stays cordoned after the upgrade).
# Without VERSION (before the node is removed): nothing to do when it is not registered or not
# Ready (a dead node's pods cannot move; they go with its Node object).
#
# On timeout: exit 1 naming the node and the pods that would not move; the node stays cordoned,
# and the next run drains again.
# Last stdout line: "sovereign-faas: k3s-drain.sh: changed ..." or "... unchanged ...".
set -euo pipefail

readonly SELF=k3s-drain.sh  # die, report: lib/common.bash, put in front by render_command
readonly K3S=/usr/local/bin/k3s
readonly MARK=sovereign-faas.io/drained
# version|unschedulable|our mark|Ready, in one bounded call.
readonly NODE_QUERY='jsonpath={.status.nodeInfo.kubeletVersion}|{.spec.unschedulable}|{.metadata.annotations.sovereign-faas\.io/drained}|{.status.conditions[?(@.type=="Ready")].status}'
readonly PODS_QUERY='jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.name} {.metadata.ownerReferences[0].kind}{"\n"}{end}'

check_args() {
  [[ $# -eq 2 || $# -eq 3 ]] || die "usage: $SELF NODE_NAME TIMEOUT_SECONDS [VERSION]"
  [[ $1 =~ ^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$ ]] ||
    die "NODE_NAME must be a Kubernetes node name (lower-case DNS name), got '$1'"
  [[ $2 =~ ^[1-9][0-9]{0,4}$ ]] ||
    die "TIMEOUT_SECONDS must be a positive integer (at most 99999), got '$2'"
  [[ $# -eq 2 || $3 =~ ^v[0-9]+\.[0-9]+\.[0-9]+\+k3s[0-9]+$ ]] ||
    die "VERSION must look like v1.36.4+k3s1, got '${3:-}'"
}

# One line, short: kubectl errors can span lines.
one_line() {
  local text=${1//$'\n'/ }
  printf '%s' "${text:0:300}"
}

# The pods still on the node, DaemonSet pods left out (drain leaves those): "ns/name ns/name".
stuck_pods() {
  local node=$1 out name kind pods=()
  out=$(timeout 20 "$K3S" kubectl get pods --all-namespaces --field-selector "spec.nodeName=$node" \
    -o "$PODS_QUERY" --request-timeout=10s 2>/dev/null) || { printf 'unknown (listing failed)'; return; }
  while read -r name kind; do
    [[ -n $name && $kind != DaemonSet ]] && pods+=("$name")
  done <<<"$out"
  if ((${#pods[@]} == 0)); then printf 'none left'; else printf '%s' "${pods[*]}"; fi
}

main() {
  check_args "$@"
  local node=$1 limit=$2 version=${3:-} info err rc=0 current unschedulable mark ready
  info=$(timeout 20 "$K3S" kubectl get node "$node" -o "$NODE_QUERY" --request-timeout=10s 2>&1) || rc=$?
  if ((rc != 0)); then
    if [[ $info == *NotFound* ]]; then
      report "unchanged (node $node is not registered: nothing to drain)"
      return
    fi
    die "cannot read node $node (exit $rc): $(one_line "$info")"
  fi
  IFS='|' read -r current unschedulable mark ready <<<"$info"
  if [[ -n $version && $current == "$version" ]]; then
    report "unchanged (node $node already runs $version)"
    return
  fi
  if [[ -z $version && $ready != True ]]; then
    report "unchanged (node $node is not Ready: not drained; its pods go with its Node object)"
    return
  fi
  if [[ $unschedulable != true || -n $mark ]]; then
    # Ours to undo after the upgrade; a node someone else cordoned stays cordoned.
    timeout 20 "$K3S" kubectl annotate --overwrite node "$node" "$MARK=${version:-removal}" \
      --request-timeout=10s >/dev/null || die "cannot annotate node $node (exit $?)"
  fi
  timeout 20 "$K3S" kubectl cordon "$node" --request-timeout=10s >/dev/null ||
    die "cannot cordon node $node (exit $?)"
  rc=0
  err=$(timeout "$((limit + 30))" "$K3S" kubectl drain "$node" --ignore-daemonsets \
    --delete-emptydir-data --timeout="${limit}s" 2>&1 >/dev/null) || rc=$?
  if ((rc != 0)); then
    die "draining node $node failed after at most $limit s (exit $rc); pods that would not move: $(stuck_pods "$node");" \
      "the node stays cordoned: check their PodDisruptionBudgets, then run pulumi up again; kubectl: $(one_line "$err")"
  fi
  report "changed (cordoned and drained node $node${version:+ for $version}; it was at ${current:-unknown})"
}

main "$@"

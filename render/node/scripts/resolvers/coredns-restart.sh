#!/usr/bin/env bash
# Usage: coredns-restart.sh   (on the first server, once every node has its resolvers)
#
# A pod reads its resolv.conf when it starts: CoreDNS keeps forwarding to the resolvers it
# started with until it is restarted. The cluster component runs this when dnsResolvers
# change: a rolling restart of the coredns Deployment, waited for (bounded), so the cluster's
# lookups go to the new resolvers from the end of this `pulumi up`.
# Last stdout line: "sovereign-faas: coredns-restart.sh: changed ..." or "... unchanged".
set -euo pipefail

readonly SELF=coredns-restart.sh  # die, report: lib/common.bash, put in front by render_command

main() {
  [[ $# -eq 0 ]] || die "usage: $SELF (no arguments)"
  command -v k3s >/dev/null || die "k3s not found: run this on a K3s server"
  if ! k3s kubectl -n kube-system get deployment coredns -o name --request-timeout=30s >/dev/null 2>&1; then
    report "unchanged (no coredns Deployment: K3s has not deployed it yet, or k3sDisable turns it off)"
    return
  fi
  k3s kubectl -n kube-system rollout restart deployment coredns --request-timeout=30s >/dev/null ||
    die "could not restart the coredns Deployment (see above)"
  k3s kubectl -n kube-system rollout status deployment coredns --timeout=180s --request-timeout=200s >/dev/null ||
    die "CoreDNS did not come back within 180 s: kubectl -n kube-system describe deployment coredns"
  report "changed (restarted CoreDNS: it forwards to the node's resolv-conf resolvers now)"
}

main "$@"

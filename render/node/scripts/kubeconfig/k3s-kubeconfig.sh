#!/usr/bin/env bash
# Usage: k3s-kubeconfig.sh
#
# Print the admin kubeconfig K3s wrote on this server. stdout is the file and nothing else
# (no status line): the caller parses it, rewrites the server address and keeps it secret.
set -euo pipefail

readonly SELF=k3s-kubeconfig.sh  # die, report: lib/common.bash, put in front by render_command
readonly KUBECONFIG_FILE=/etc/rancher/k3s/k3s.yaml

main() {
  [[ $# -eq 0 ]] || die "usage: $SELF (no arguments)"
  [[ -f $KUBECONFIG_FILE ]] ||
    die "$KUBECONFIG_FILE not found: is the K3s server installed and started on this node?"
  cat -- "$KUBECONFIG_FILE"
}

main "$@"

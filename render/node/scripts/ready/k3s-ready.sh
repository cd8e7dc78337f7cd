#!/usr/bin/env bash
# Usage: k3s-ready.sh NODE_NAME TIMEOUT_SECONDS [VERSION]    (runs on a server)
#
# Wait, at most about TIMEOUT_SECONDS, until the API server answers /readyz with "ok" and
# node NODE_NAME reports Ready=True (and, with VERSION, runs it: its kubelet reports VERSION,
# so an upgraded node that came back at the old version is not taken for done). Each probe
# is bounded (timeout 10 around a 5 s request), the deadline is checked before every sleep,
# so the overrun is at most one probe.
# Success, last stdout line: "sovereign-faas: k3s-ready.sh: node NAME Ready[ at VERSION] after Ns".
# Timeout: the last status seen goes to stderr, exit 1.
set -euo pipefail

readonly SELF=k3s-ready.sh  # die, report: lib/common.bash, put in front by render_command
readonly K3S=/usr/local/bin/k3s
last_status="no probe ran"
errfile=""

cleanup() {
  if [[ -n $errfile ]]; then rm -f -- "$errfile"; fi
}
trap cleanup EXIT

check_args() {
  [[ $# -eq 2 || $# -eq 3 ]] || die "usage: $SELF NODE_NAME TIMEOUT_SECONDS [VERSION]"
  # Kubernetes node names are DNS subdomains (lower case).
  [[ $1 =~ ^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$ ]] ||
    die "NODE_NAME must be a Kubernetes node name (lower-case DNS name), got '$1'"
  [[ $2 =~ ^[1-9][0-9]{0,5}$ ]] ||
    die "TIMEOUT_SECONDS must be a positive integer (at most 999999), got '$2'"
  [[ $# -eq 2 || $3 =~ ^v[0-9]+\.[0-9]+\.[0-9]+\+k3s[0-9]+$ ]] ||
    die "VERSION must look like v1.36.4+k3s1, got '${3:-}'"
}

# One line, short: kubectl errors can span lines.
one_line() {
  local text=${1//$'\n'/ }
  printf '%s' "${text:0:200}"
}

# Run one bounded kubectl call: its stdout in `out`, stderr in `err`, exit status in `rc`
# (the caller's locals: bash variables are dynamically scoped). stderr is kept apart so a kubectl warning cannot spoil the answer ("ok", "True").
kubectl_get() {
  rc=0
  out=$(timeout 10 "$K3S" kubectl get "$@" --request-timeout=5s 2>"$errfile") || rc=$?
  err=$(<"$errfile")
  if [[ $rc -eq 124 ]]; then err="no answer within 10 s"; fi
}

# Probe once; on failure remember why in last_status.
probe() {
  local node=$1 version=$2 out err rc
  kubectl_get --raw=/readyz
  if [[ $rc -ne 0 || $out != ok ]]; then
    last_status="readyz: $(one_line "${err:-${out:-exit $rc}}")"
    return 1
  fi
  kubectl_get node "$node" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}'
  if [[ $rc -ne 0 ]]; then
    if [[ $err == *NotFound* ]]; then err="not registered"; fi
    last_status="node $node Ready=$(one_line "${err:-exit $rc}")"
    return 1
  fi
  last_status="node $node Ready=${out:-unknown}"
  [[ $out == True ]] || return 1
  [[ -n $version ]] || return 0
  kubectl_get node "$node" -o 'jsonpath={.status.nodeInfo.kubeletVersion}'
  if [[ $rc -ne 0 ]]; then
    last_status="node $node version: $(one_line "${err:-exit $rc}")"
    return 1
  fi
  last_status="node $node Ready=True at ${out:-unknown version} (waiting for $version)"
  [[ $out == "$version" ]]
}

main() {
  check_args "$@"
  local node=$1 limit=$2 version=${3:-} start now deadline
  errfile=$(mktemp)
  start=$(date +%s)
  deadline=$((start + limit))
  while true; do
    if probe "$node" "$version"; then
      now=$(date +%s)
      printf 'sovereign-faas: %s: node %s Ready%s after %ss\n' "$SELF" "$node" "${version:+ at $version}" "$((now - start))"
      return
    fi
    now=$(date +%s)
    if ((now >= deadline)); then
      die "timed out after $limit s waiting for node $node; last status: $last_status"
    fi
    # Never sleep past the deadline: the last probe runs at the deadline.
    sleep "$((deadline - now < 2 ? deadline - now : 2))"
  done
}

main "$@"

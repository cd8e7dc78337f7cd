#!/usr/bin/env bash
# Usage: k3s-install.sh VERSION ROLE    (VERSION: e.g. v1.36.4+k3s1; ROLE: server | agent)
#
# Install (or upgrade to) exactly VERSION with the official installer of that release.
# Server URL and token are read by K3s from /etc/rancher/k3s/config.yaml, which the
# k3s-config.sh step wrote before, so nothing secret is passed here.
# Unchanged when /usr/local/bin/k3s already reports VERSION and the role's unit exists.
# An upgrade is the same installer run with the new VERSION.
# Last stdout line: "sovereign-faas: k3s-install.sh: changed ..." or "... unchanged".
set -euo pipefail

readonly SELF=k3s-install.sh  # die, report: lib/common.bash, put in front by render_command
readonly K3S=/usr/local/bin/k3s
readonly CONF=/etc/rancher/k3s/config.yaml
workdir=""

cleanup() {
  if [[ -n $workdir ]]; then rm -rf -- "$workdir"; fi
}
trap cleanup EXIT

check_args() {
  [[ $# -eq 2 ]] || die "usage: $SELF VERSION ROLE (e.g. v1.36.4+k3s1 server)"
  [[ $1 =~ ^v[0-9]+\.[0-9]+\.[0-9]+\+k3s[0-9]+$ ]] ||
    die "VERSION must look like v1.36.4+k3s1, got '$1'"
  [[ $2 == server || $2 == agent ]] || die "ROLE must be 'server' or 'agent', got '$2'"
}

# The version the installed binary reports ("k3s version v1.36.4+k3s1 (abcdef12)"), or "".
installed_version() {
  local line="" word
  if [[ -x $K3S ]]; then
    line=$(timeout 30 "$K3S" --version 2>/dev/null | head -n 1) || true
  fi
  # Third word, compared whole: "contains" would take v1.36.4+k3s10 for v1.36.4+k3s1.
  read -r _ _ word _ <<<"$line" || true
  printf '%s' "${word:-}"
}

# The installer of exactly this release (get.k3s.io may be newer than the binary it installs).
download_installer() {
  local version=$1 dest=$2 url
  # "+" in a Git ref must be percent-encoded in a raw.githubusercontent.com URL.
  url="https://raw.githubusercontent.com/k3s-io/k3s/${version//+/%2B}/install.sh"
  curl -fsSL --proto '=https' --connect-timeout 10 --max-time 120 --retry 3 \
    -o "$dest" "$url" ||
    die "downloading the K3s installer failed (curl exit $?): $url"
}

run_installer() {
  local version=$1 role=$2 installer=$3
  # INSTALL_K3S_EXEC=agent makes an agent even without K3S_URL: the server URL is in the
  # config. stdin is closed so nothing can wait for input.
  INSTALL_K3S_VERSION=$version INSTALL_K3S_EXEC=$role timeout 900 sh "$installer" </dev/null ||
    die "the K3s installer for $version ($role) failed (exit $?)"
}

main() {
  check_args "$@"
  local version=$1 role=$2 unit before after
  unit=/etc/systemd/system/$([[ $role == server ]] && echo k3s || echo k3s-agent).service
  before=$(installed_version)
  if [[ $before == "$version" && -e $unit ]]; then
    report "unchanged ($version, ${unit##*/})"
    return
  fi
  # Without the config an agent cannot find its server and a server would start without the
  # cluster token: fail here, not after K3s started wrong.
  [[ -s $CONF ]] || die "$CONF is missing: run k3s-config.sh first"
  # Not a $(...) call: workdir must be set in this shell for the EXIT trap to remove it.
  workdir=$(mktemp -d)
  download_installer "$version" "$workdir/install.sh"
  run_installer "$version" "$role" "$workdir/install.sh"
  after=$(installed_version)
  [[ $after == "$version" && -e $unit ]] ||
    die "the installer finished but $K3S reports '${after:-nothing}' (wanted $version) or ${unit} is missing"
  report "changed (installed $version as ${unit##*/}; before: ${before:-not installed})"
}

main "$@"

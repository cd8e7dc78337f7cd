#!/usr/bin/env bash
# Usage: k3s-install.sh VERSION ROLE [SOURCE]
#   VERSION: e.g. v1.36.4+k3s1; ROLE: server | agent
#   SOURCE:  absent: the installer from GitHub, which downloads the binary from GitHub;
#            https://mirror/base: the release assets from <base>/<VERSION, + as %2B>/<asset>;
#            dir:PATH: the assets already uploaded to PATH (relative: to the SSH user's home).
#
# Install (or upgrade to) exactly VERSION with the official installer of that release.
# From a mirror or a folder, one path: install.sh, the binary (k3s, k3s-arm64 by `uname -m`),
# the images tarball and sha256sum-<arch>.txt are gathered in a temp dir, the binary and the
# tarball checked against the sums, and only when every sum matches are they moved into place
# (/usr/local/bin/k3s, /var/lib/rancher/k3s/agent/images/) and the installer run with
# INSTALL_K3S_SKIP_DOWNLOAD=true. A mismatch installs nothing. (install.sh is not in the sums
# file: it comes from the release's Git tag, not its assets.)
# Server URL and token are read by K3s from /etc/rancher/k3s/config.yaml, which the
# k3s-config.sh step wrote before, so nothing secret is passed here.
# Unchanged when /usr/local/bin/k3s already reports VERSION and the role's unit exists.
# An upgrade is the same installer run with the new VERSION.
# Last stdout line: "sovereign-faas: k3s-install.sh: changed ..." or "... unchanged".
set -euo pipefail

readonly SELF=k3s-install.sh  # die, report: lib/common.bash, put in front by render_command
readonly K3S=/usr/local/bin/k3s
readonly CONF=/etc/rancher/k3s/config.yaml
readonly IMAGES=/var/lib/rancher/k3s/agent/images
workdir=""

cleanup() {
  if [[ -n $workdir ]]; then rm -rf -- "$workdir"; fi
}
trap cleanup EXIT

check_args() {
  [[ $# -eq 2 || $# -eq 3 ]] || die "usage: $SELF VERSION ROLE [SOURCE] (e.g. v1.36.4+k3s1 server)"
  [[ $1 =~ ^v[0-9]+\.[0-9]+\.[0-9]+\+k3s[0-9]+$ ]] ||
    die "VERSION must look like v1.36.4+k3s1, got '$1'"
  [[ $2 == server || $2 == agent ]] || die "ROLE must be 'server' or 'agent', got '$2'"
  if [[ $# -eq 3 ]]; then
    local url='^https?://[][A-Za-z0-9.:-]+(/[A-Za-z0-9._~%/+-]*)?$' dir='^dir:[A-Za-z0-9._/+-]+$'
    [[ $3 =~ $url || $3 =~ $dir ]] ||
      die "SOURCE must be an http(s) base URL or dir:PATH, got '$3'"
    [[ $3 != *..* ]] || die "SOURCE must not contain '..', got '$3'"
  fi
}

# amd64 or arm64, as the release names its assets.
detect_arch() {
  case $(uname -m) in
    x86_64 | amd64) printf 'amd64' ;;
    aarch64 | arm64) printf 'arm64' ;;
    *) die "unsupported architecture '$(uname -m)' (K3s assets here: amd64, arm64)" ;;
  esac
}

fetch() {
  local url=$1 dest=$2
  curl -fsSL --proto '=https,http' --connect-timeout 10 --max-time 900 --retry 3 \
    -o "$dest" "$url" ||
    die "downloading $url failed (curl exit $?)"
}

# The sum sha256sum-<arch>.txt gives for NAME ("<sum>  <name>" or "<sum> *<name>"), or "".
listed_sum() {
  awk -v n="$2" '$2 == n || $2 == "*" n { print $1; exit }' "$1"
}

# Gather install.sh, the sums file, the binary and the images tarball of VERSION into DEST.
gather() {
  local source=$1 version=$2 arch=$3 dest=$4 binary=$5 base dir home name images=""
  if [[ $source == dir:* ]]; then
    dir=${source#dir:}
    if [[ $dir != /* ]]; then
      home=$(getent passwd "${SUDO_USER:-root}" | cut -d: -f6)
      dir=${home:-/root}/$dir
    fi
    for name in install.sh "sha256sum-$arch.txt" "$binary"; do
      [[ -f $dir/$name ]] || die "$dir/$name is missing (uploaded from k3sAirgapDir)"
      cp -- "$dir/$name" "$dest/$name"
    done
    for name in "k3s-airgap-images-$arch".{tar.zst,tar.gz,tar}; do
      if [[ -f $dir/$name ]]; then images=$name; break; fi
    done
    [[ -n $images ]] || die "$dir holds no k3s-airgap-images-$arch.tar.zst (uploaded from k3sAirgapDir)"
    cp -- "$dir/$images" "$dest/$images"
  else
    base=${source%/}/${version//+/%2B}
    fetch "$base/install.sh" "$dest/install.sh"
    fetch "$base/sha256sum-$arch.txt" "$dest/sha256sum-$arch.txt"
    fetch "$base/$binary" "$dest/$binary"
    for name in "k3s-airgap-images-$arch".{tar.zst,tar.gz,tar}; do
      if [[ -n $(listed_sum "$dest/sha256sum-$arch.txt" "$name") ]]; then images=$name; break; fi
    done
    [[ -n $images ]] || die "sha256sum-$arch.txt at $base lists no k3s-airgap-images-$arch tarball"
    fetch "$base/$images" "$dest/$images"
  fi
  printf '%s' "$images"
}

# Every file against the release's sums; the first mismatch fails, naming both sums.
verify() {
  local dir=$1 sums=$2 name want got
  shift 2
  for name in "$@"; do
    want=$(listed_sum "$dir/$sums" "$name")
    [[ -n $want ]] || die "$sums lists no $name: nothing was installed"
    got=$(sha256sum -- "$dir/$name" | cut -d' ' -f1)
    [[ $got == "$want" ]] ||
      die "checksum mismatch for $name: $sums says $want, the file has $got; nothing was installed"
  done
}

# Verified files into place, each by a rename in its own directory.
place() {
  local dir=$1 binary=$2 images=$3 tmp
  (umask 022 && mkdir -p -- "$IMAGES" "${K3S%/*}")
  tmp=$(mktemp -- "$IMAGES/.$images.XXXXXX")
  cat -- "$dir/$images" >"$tmp"
  chmod 0644 -- "$tmp"
  mv -f -- "$tmp" "$IMAGES/$images"
  tmp=$(mktemp -- "${K3S%/*}/.k3s.XXXXXX")
  cat -- "$dir/$binary" >"$tmp"
  chmod 0755 -- "$tmp"
  mv -f -- "$tmp" "$K3S"
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
  local version=$1 role=$2 installer=$3 skip=${4:-}
  # INSTALL_K3S_EXEC=agent makes an agent even without K3S_URL: the server URL is in the
  # config. stdin is closed so nothing can wait for input.
  local -a vars=("INSTALL_K3S_VERSION=$version" "INSTALL_K3S_EXEC=$role")
  if [[ $skip == skip-download ]]; then vars+=(INSTALL_K3S_SKIP_DOWNLOAD=true); fi
  env "${vars[@]}" timeout 900 sh "$installer" </dev/null ||
    die "the K3s installer for $version ($role) failed (exit $?)"
}

main() {
  check_args "$@"
  local version=$1 role=$2 source=${3:-} unit before after arch binary images
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
  if [[ -z $source ]]; then
    download_installer "$version" "$workdir/install.sh"
    run_installer "$version" "$role" "$workdir/install.sh"
  else
    arch=$(detect_arch)
    binary=$([[ $arch == amd64 ]] && echo k3s || echo "k3s-$arch")
    images=$(gather "$source" "$version" "$arch" "$workdir" "$binary")
    verify "$workdir" "sha256sum-$arch.txt" "$binary" "$images"
    place "$workdir" "$binary" "$images"
    run_installer "$version" "$role" "$workdir/install.sh" skip-download
  fi
  after=$(installed_version)
  [[ $after == "$version" && -e $unit ]] ||
    die "the installer finished but $K3S reports '${after:-nothing}' (wanted $version) or ${unit} is missing"
  report "changed (installed $version as ${unit##*/}; before: ${before:-not installed})"
}

main "$@"

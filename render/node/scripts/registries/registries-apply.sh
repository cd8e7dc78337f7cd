#!/usr/bin/env bash
# Usage: registries-apply.sh ROLE    (ROLE: server | agent; stdin: the files, see below)
#
# Write /etc/rancher/k3s/registries.yaml and the mirrors' CA certificates in
# /etc/rancher/k3s/registry-ca/, and, when K3s already runs, restart it once: K3s reads them
# only when it starts. stdin has one line per file, `<path> <base64 content>`, the path being
# `registries.yaml` or `registry-ca/<host>.pem` (render/node/registries.py writes it).
# registries.yaml may hold credentials: every file is 0600 from its first byte, never printed.
# Compare-then-apply: all files identical (and no stale CA file) is "unchanged", no restart.
# If the restart with the new files fails, the old ones (or none) are put back, K3s restarted
# with them, and the script fails.
# Last stdout line: "sovereign-faas: registries-apply.sh: changed ..." or "... unchanged".
set -euo pipefail

readonly SELF=registries-apply.sh  # die, report: lib/common.bash, put in front by render_command
readonly DIR=/etc/rancher/k3s
readonly FILE=$DIR/registries.yaml
readonly CA=$DIR/registry-ca
stage=""   # the new files, until they are moved into place
backup=""  # the old files, until the restart with the new ones succeeded

cleanup() {
  if [[ -n $stage ]]; then rm -rf -- "$stage"; fi
  if [[ -n $backup ]]; then rm -rf -- "$backup"; fi
}
trap cleanup EXIT

# Decode stdin into DEST (registries.yaml, registry-ca/*.pem), refusing anything else.
read_files() {
  local dest=$1 path data lines=0
  mkdir -p -- "$dest/registry-ca"
  while read -r path data || [[ -n ${path:-} ]]; do
    [[ -z $path || $path == \#* ]] && continue
    [[ $path == registries.yaml || $path =~ ^registry-ca/[A-Za-z0-9.:-]+\.pem$ ]] ||
      die "stdin: unexpected file '$path' (expected registries.yaml or registry-ca/<host>.pem)"
    [[ $path != *..* ]] || die "stdin: unexpected file '$path'"
    printf '%s' "$data" | base64 -d >"$dest/$path" 2>/dev/null ||
      die "stdin: the content of $path is not base64"
    lines=$((lines + 1))
  done
  ((lines > 0)) || die "stdin is empty: expected the content of $FILE"
  [[ -s $dest/registries.yaml ]] || die "stdin has no registries.yaml"
}

# Same files, same content: registries.yaml and exactly the CA files given.
same() {
  local new=$1 f
  cmp -s -- "$new/registries.yaml" "$FILE" || return 1
  for f in "$new"/registry-ca/*.pem; do
    [[ -e $f ]] || continue
    cmp -s -- "$f" "$CA/${f##*/}" || return 1
  done
  for f in "$CA"/*.pem; do
    [[ -e $f ]] || continue
    [[ -e $new/registry-ca/${f##*/} ]] || return 1
  done
}

# Replace the live files with those in SRC (a folder like the stage; absent files: none).
put_in_place() {
  local src=$1
  rm -rf -- "$CA"
  if [[ -e $src/registry-ca ]]; then
    mv -f -- "$src/registry-ca" "$CA"
  fi
  if [[ -e $src/registries.yaml ]]; then
    mv -f -- "$src/registries.yaml" "$FILE"
  else
    rm -f -- "$FILE"
  fi
}

main() {
  [[ $# -eq 1 ]] || die "usage: $SELF ROLE (server|agent; the files come on stdin)"
  local svc
  svc=$(service_for "$1")
  (umask 022 && mkdir -p -- "$DIR")
  umask 077
  # Temp folders next to the files, so `mv` is a rename; K3s reads none of these dotfiles.
  stage=$(mktemp -d -- "$DIR/.registries.XXXXXX")
  read_files "$stage"
  if same "$stage"; then
    report "unchanged"
    return
  fi
  backup=$(mktemp -d -- "$DIR/.registries-old.XXXXXX")
  if [[ -e $FILE ]]; then cp -p -- "$FILE" "$backup/registries.yaml"; fi
  if [[ -d $CA ]]; then cp -rp -- "$CA" "$backup/registry-ca"; fi
  put_in_place "$stage"
  if [[ ! -e /etc/systemd/system/$svc.service ]]; then
    report "changed (wrote $FILE; $svc is not installed yet)"
    return
  fi
  if ! restart "$svc"; then
    local outcome
    put_in_place "$backup"
    if restart "$svc"; then
      outcome="$svc is running with the old registries again"
    else
      outcome="$svc failed to restart with the old registries too"
    fi
    die "restarting $svc with the new $FILE failed; it was rolled back ($outcome)"
  fi
  report "changed (wrote $FILE, restarted $svc)"
}

main "$@"

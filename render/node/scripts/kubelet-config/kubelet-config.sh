#!/usr/bin/env bash
# Usage: kubelet-config.sh ROLE FILE    (ROLE: server | agent; stdin: the desired drop-in)
#
# Write the kubelet's configuration drop-in FILE (a KubeletConfiguration in K3s'
# <data-dir>/agent/etc/kubelet.conf.d/, read by the kubelet at start) and, when K3s already
# runs, restart it once so the kubelet reads it. Why a file and not `kubelet-arg` flags:
# maxParallelImagePulls has no flag (settings/k3s.py). Nothing secret: the file is 0644 in a
# 0755 directory, as the CIS benchmark asks of kubelet drop-ins.
# If the restart with the new file fails, the old file (or no file) is put back, K3s restarted
# with it, and the script fails.
# Last stdout line: "sovereign-faas: kubelet-config.sh: changed ..." or "... unchanged".
set -euo pipefail

readonly SELF=kubelet-config.sh  # die, report: lib/common.bash, put in front by render_command
tmp=""      # a file in progress (backup, rollback or the incoming drop-in)
backup=""   # the old drop-in, until the restart with the new one succeeded

cleanup() {
  if [[ -n $tmp ]]; then rm -f -- "$tmp"; fi
  if [[ -n $backup ]]; then rm -f -- "$backup"; fi
}
trap cleanup EXIT

check_file() {
  [[ $1 == /* && $1 != *..* && $1 =~ ^/[A-Za-z0-9._/-]+/agent/etc/kubelet\.conf\.d/[A-Za-z0-9._-]+\.conf$ ]] ||
    die "FILE must be an absolute path <data-dir>/agent/etc/kubelet.conf.d/<name>.conf, got '$1'"
}

# A temp file next to FILE: the kubelet reads only *.conf there, never these dotfiles.
temp_next_to() {
  mktemp -- "${1%/*}/.${1##*/}.XXXXXX"
}

main() {
  [[ $# -eq 2 ]] || die "usage: $SELF ROLE FILE (the drop-in comes on stdin)"
  local svc file=$2
  svc=$(service_for "$1")
  check_file "$file"
  umask 022
  mkdir -p -- "${file%/*}"
  tmp=$(temp_next_to "$file")
  cat >"$tmp"
  [[ -s $tmp ]] || die "stdin is empty: expected the content of $file"
  if cmp -s -- "$tmp" "$file"; then
    report "unchanged"
    return
  fi
  if [[ -e $file ]]; then
    backup=$(temp_next_to "$file")
    cat -- "$file" >"$backup"
    chmod 0644 -- "$backup"  # mktemp makes it 0600
  fi
  chmod 0644 -- "$tmp"
  mv -f -- "$tmp" "$file"
  tmp=""
  if [[ ! -e /etc/systemd/system/$svc.service ]]; then
    # Not installed yet: K3s reads the file when the install step starts it.
    report "changed (wrote $file; $svc is not installed yet)"
    return
  fi
  if ! restart "$svc"; then
    local outcome
    if [[ -n $backup ]]; then
      mv -f -- "$backup" "$file"
      backup=""
    else
      rm -f -- "$file"
    fi
    if restart "$svc"; then
      outcome="$svc is running with the old drop-in again"
    else
      outcome="$svc failed to restart with the old drop-in too"
    fi
    die "restarting $svc with the new $file failed; it was rolled back ($outcome)"
  fi
  report "changed (wrote $file, restarted $svc)"
}

main "$@"

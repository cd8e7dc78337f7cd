#!/usr/bin/env bash
# Usage: k3s-config.sh ROLE    (ROLE: server | agent; stdin: the desired config.yaml)
#
# Write /etc/rancher/k3s/config.yaml and, when K3s already runs with it, restart K3s once.
# Why a step of its own: the K3s installer restarts K3s only when its binary, unit or env file
# changed, never when only config.yaml did.
# The config carries the cluster token: it is 0600 from its first byte and never printed.
# If the restart with the new config fails, the old config is restored and K3s restarted with
# it, and the script fails: a broken config must not stay on a node that worked before.
# Last stdout line: "sovereign-faas: k3s-config.sh: changed ..." or "... unchanged".
set -euo pipefail

readonly SELF=k3s-config.sh  # die, report: lib/common.bash, put in front by render_command
readonly DIR=/etc/rancher/k3s
readonly CONF=$DIR/config.yaml
readonly BAK=$DIR/config.yaml.bak
tmp=""      # a copy in progress (backup or rollback)
incoming="" # the new config read from stdin, until it is renamed into place

cleanup() {
  if [[ -n $tmp ]]; then rm -f -- "$tmp"; fi
  if [[ -n $incoming ]]; then rm -f -- "$incoming"; fi
}
trap cleanup EXIT

# A temp file next to the config, so `mv` is an atomic rename; 0600 thanks to umask 077.
# K3s reads only config.yaml and config.yaml.d/*.yaml, never these dotfiles.
temp_in_dir() {
  mktemp -- "$DIR/.config.yaml.XXXXXX"
}

# Copy SRC over DEST atomically, as a 0600 file.
copy_private() {
  tmp=$(temp_in_dir)
  cat -- "$1" >"$tmp"
  mv -f -- "$tmp" "$2"
  tmp=""
}

# Put back what was there before this run (the old file, or no file), restart once, fail.
rollback() {
  local svc=$1 had_old=$2 outcome
  if [[ $had_old == yes ]]; then
    copy_private "$BAK" "$CONF"
  else
    rm -f -- "$CONF"
  fi
  if restart "$svc"; then
    outcome="$svc is running with the old config again"
  else
    outcome="$svc failed to restart with the old config too"
  fi
  die "restarting $svc with the new $CONF failed; the new config was rolled back ($outcome)"
}

main() {
  [[ $# -eq 1 ]] || die "usage: $SELF ROLE (server|agent; the config comes on stdin)"
  local svc had_old=no
  svc=$(service_for "$1")
  # The directories are public like the installer makes them; the files below are not.
  (umask 022 && mkdir -p -- "$DIR")
  umask 077
  incoming=$(temp_in_dir)
  cat >"$incoming"
  [[ -s $incoming ]] || die "stdin is empty: expected the content of $CONF"
  if cmp -s -- "$incoming" "$CONF"; then
    report "unchanged"
    return
  fi
  if [[ -e $CONF ]]; then
    copy_private "$CONF" "$BAK"
    had_old=yes
  fi
  mv -f -- "$incoming" "$CONF"
  incoming=""
  if [[ ! -e /etc/systemd/system/$svc.service ]]; then
    # Not installed yet: the install step that follows starts K3s with this file.
    report "changed (wrote $CONF; $svc is not installed yet)"
    return
  fi
  restart "$svc" || rollback "$svc" "$had_old"
  report "changed (wrote $CONF, restarted $svc)"
}

main "$@"

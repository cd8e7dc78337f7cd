#!/usr/bin/env bash
# Usage: sysctl-apply.sh FILE    (stdin: the desired content of FILE)
#
# Keep kernel settings in one drop-in under /etc/sysctl.d so they survive a reboot, and make
# the live values match it. Compare first, so a re-run with the same content changes nothing:
# - FILE missing or different: write it atomically (0644) and `sysctl -p FILE`;
# - FILE identical: re-apply only if a live value drifted (someone ran `sysctl -w`, or a
#   package's drop-in overrode it).
# Last stdout line: "sovereign-faas: sysctl-apply.sh: changed ..." or "... unchanged".
set -euo pipefail

readonly SELF=sysctl-apply.sh  # die, report: lib/common.bash, put in front by render_command
tmp=""

# A half-written temp file must not stay behind (nor ever be read by sysctl: it is a dotfile
# without the .conf suffix, and `sysctl --system` reads only *.conf).
cleanup() {
  if [[ -n $tmp ]]; then rm -f -- "$tmp"; fi
}
trap cleanup EXIT

check_args() {
  [[ $# -eq 1 ]] || die "usage: $SELF FILE (the content comes on stdin)"
  # Only a drop-in under /etc/sysctl.d: this runs as root, and systemd-sysctl reads only
  # *.conf files there at boot.
  [[ $1 =~ ^/etc/sysctl\.d/[A-Za-z0-9_.-]+\.conf$ ]] ||
    die "FILE must look like /etc/sysctl.d/<name>.conf, got '$1'"
}

# Whitespace-normalised value: the kernel reports multi-value settings with tabs
# ("4096<TAB>87380"), files usually have spaces.
words() {
  local -a parts
  read -r -a parts <<<"$1" || true
  printf '%s' "${parts[*]}"
}

# Print the keys of FILE whose live value differs from the file (or cannot be read).
drifted_keys() {
  local line key want have skip='^[[:space:]]*([#;]|$)' # comment or blank line
  while IFS= read -r line || [[ -n $line ]]; do
    [[ $line =~ $skip ]] && continue
    [[ $line == *=* ]] || continue                    # sysctl -p ignores these too
    key=$(words "${line%%=*}")
    key=${key#-} # "-key = v" means "ignore errors", the key is the same
    want=${line#*=}
    # Globs (net.ipv4.conf.*.rp_filter) cannot be read back with -n; -p handles them.
    [[ $key == *[*?]* ]] && continue
    if ! have=$(sysctl -n "$key" 2>/dev/null </dev/null); then
      printf '%s\n' "$key"
    elif [[ $(words "$want") != "$(words "$have")" ]]; then
      printf '%s\n' "$key"
    fi
  done <"$1"
}

apply() {
  # sysctl -p lists every setting on stdout: keep stdout for the status line; errors
  # (unknown key, read-only value) stay on stderr.
  sysctl -p "$1" >/dev/null ||
    die "sysctl -p $1 failed (see above); the file is in place and the next run applies it again"
}

# Write stdin to FILE through a temp file in the same directory, so the rename is atomic and
# a reader never sees half a file. Returns 1 (and writes nothing) when FILE already matches.
write_stdin_if_different() {
  local file=$1 dir=${1%/*}
  mkdir -p -- "$dir"
  tmp=$(mktemp -- "$dir/.${file##*/}.XXXXXX")
  cat >"$tmp"
  [[ -s $tmp ]] || die "stdin is empty: expected the content of $file (use sysctl-remove.sh to delete it)"
  if cmp -s -- "$tmp" "$file"; then
    return 1
  fi
  chmod 0644 -- "$tmp"
  mv -f -- "$tmp" "$file"
  tmp=""
}

main() {
  check_args "$@"
  local file=$1 drifted
  if write_stdin_if_different "$file"; then
    apply "$file"
    report "changed (wrote and applied $file)"
    return
  fi
  drifted=$(drifted_keys "$file")
  if [[ -z $drifted ]]; then
    report "unchanged"
    return
  fi
  apply "$file"
  report "changed (re-applied drifted: ${drifted//$'\n'/ })"
}

main "$@"

#!/usr/bin/env bash
# Usage: sysctl-remove.sh FILE
#
# The delete step of sysctl-apply.sh: remove the drop-in and let the remaining sysctl files
# win again (`sysctl --system`). Keys that no other file sets keep their current live value
# until the next reboot: the kernel has no "default" to go back to.
# Last stdout line: "sovereign-faas: sysctl-remove.sh: changed ..." or "... unchanged".
set -euo pipefail

readonly SELF=sysctl-remove.sh  # die, report: lib/common.bash, put in front by render_command

check_args() {
  [[ $# -eq 1 ]] || die "usage: $SELF FILE"
  [[ $1 =~ ^/etc/sysctl\.d/[A-Za-z0-9_.-]+\.conf$ ]] ||
    die "FILE must look like /etc/sysctl.d/<name>.conf, got '$1'"
}

main() {
  check_args "$@"
  local file=$1
  if [[ ! -e $file && ! -L $file ]]; then
    report "unchanged ($file is absent)"
    return
  fi
  rm -f -- "$file"
  # The file is gone either way; an error here comes from some other drop-in (e.g. a key this
  # kernel lacks) and must not block deleting this one, so it is a warning, not a failure.
  if ! sysctl --system >/dev/null; then
    printf 'sovereign-faas: %s: warning: sysctl --system reported errors (see above)\n' "$SELF" >&2
  fi
  report "changed (removed $file, re-applied the remaining sysctl files)"
}

main "$@"

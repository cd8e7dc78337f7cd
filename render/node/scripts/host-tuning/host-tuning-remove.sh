#!/usr/bin/env bash
# Usage: host-tuning-remove.sh
#
# The delete step of host-tuning-apply.sh: put back the transparent-huge-pages mode and the
# disks' I/O schedulers that were live before its first run (saved in $PREVIOUS), then delete
# the boot unit, the udev rule and the saved values. A disk that is gone, or no longer offers
# its old scheduler, is left as it is (with a warning). Without $PREVIOUS (never applied, or
# already removed) only the files are removed. A second run finds nothing and says "unchanged".
# Last stdout line: "sovereign-faas: host-tuning-remove.sh: changed ..." or "... unchanged".
set -euo pipefail

readonly SELF=host-tuning-remove.sh  # die, report: lib/common.bash, put in front by render_command
# The sysfs root: /sys in production; overridable only for the sandbox tests, which must never
# write this machine's /sys (see host-tuning-apply.sh).
readonly SYSFS=${SOVEREIGN_FAAS_SYSFS:-/sys}
readonly THP_FILE=$SYSFS/kernel/mm/transparent_hugepage/enabled
readonly UNIT=/etc/systemd/system/sovereign-faas-host-tuning.service
readonly RULE=/etc/udev/rules.d/60-sovereign-faas-iosched.rules
readonly PREVIOUS=/var/lib/sovereign-faas/host-tuning.previous
changes=()

warn() {
  printf 'sovereign-faas: %s: warning: %s\n' "$SELF" "$*" >&2
}

# Put $2 back into the choice file $1 if it differs and is offered; $3 names it for messages.
restore() {
  local file=$1 value=$2 what=$3 have
  if [[ ! -f $file ]]; then
    warn "$what: $file is gone; not restored"
    return
  fi
  have=$(selected "$file")
  [[ $have == "$value" ]] && return
  if ! offers "$file" "$value"; then
    warn "$what: '$value' is no longer offered by $file; left at '$have'"
    return
  fi
  printf '%s\n' "$value" 2>/dev/null >"$file" || die "writing '$value' to $file failed"
  changes+=("$what $have -> $value")
}

restore_previous() {
  [[ -f $PREVIOUS ]] || return 0
  local kind a b
  while read -r kind a b; do
    case $kind in
      thp)
        [[ $a =~ ^[a-z+]+$ ]] || die "$PREVIOUS: bad THP value '$a'"
        restore "$THP_FILE" "$a" THP
        ;;
      scheduler)
        [[ $a =~ ^[a-z0-9]+$ && $b =~ ^[a-z-]+$ ]] || die "$PREVIOUS: bad line 'scheduler $a $b'"
        restore "$SYSFS/block/$a/queue/scheduler" "$b" "$a"
        ;;
      '' | '#'*) ;;
      *) die "$PREVIOUS: unknown line '$kind $a $b'" ;;
    esac
  done <"$PREVIOUS"
  rm -f -- "$PREVIOUS"
  rmdir --ignore-fail-on-non-empty -- "${PREVIOUS%/*}"
  changes+=("removed $PREVIOUS")
}

remove_unit() {
  [[ -e $UNIT || -L $UNIT ]] || return 0
  timeout 60 systemctl disable "${UNIT##*/}" >/dev/null 2>&1 ||
    warn "systemctl disable ${UNIT##*/} failed or took over 60 s; removing the unit anyway"
  rm -f -- "$UNIT"
  timeout 60 systemctl daemon-reload || die "systemctl daemon-reload failed or took over 60 s"
  changes+=("removed $UNIT")
}

remove_rule() {
  [[ -e $RULE || -L $RULE ]] || return 0
  rm -f -- "$RULE"
  timeout 30 udevadm control --reload ||
    die "udevadm control --reload failed or took over 30 s (exit $?); the rule is gone, rerun this step"
  changes+=("removed $RULE")
}

main() {
  [[ $# -eq 0 ]] || die "usage: $SELF (no arguments)"
  restore_previous
  remove_unit
  remove_rule
  if ((${#changes[@]} == 0)); then
    report "unchanged"
    return
  fi
  local joined
  joined=$(printf '%s; ' "${changes[@]}")
  report "changed (${joined%; })"
}

main "$@"

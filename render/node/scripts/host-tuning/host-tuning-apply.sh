#!/usr/bin/env bash
# Usage: host-tuning-apply.sh THP SCHEDULER
#   THP        never | madvise   what /sys/kernel/mm/transparent_hugepage/enabled should be
#   SCHEDULER  none | mq-deadline | kyber | bfq | keep
#              the I/O scheduler of NVMe (nvme*n*) and virtio (vd*) disks; keep = leave the
#              kernel's choice (no udev rule; a rule from an earlier run is removed)
#
# Host tuning for a node that runs Redis/Valkey (and the rest of OpenFaaS) under K3s:
#
# Transparent huge pages. Redis 7+/8 and Valkey warn at start-up only when THP is `always`:
# checkTHPEnabled() in src/syscheck.c of redis/redis and of valkey-io/valkey reads this file
# and complains when it contains "[always]", suggesting `madvise` and accepting "'madvise' or
# 'never'". (Older Redis, in src/latency.c THPIsEnabled(), tested the same "[always]".) The
# cause is fork(): with 2 MB pages a copy-on-write during BGSAVE/AOF rewrite copies 2 MB for
# one changed byte. Redis' own `disable-thp yes` only covers the Redis process; `never` also
# covers whatever else the node runs, hence our default. `madvise` is allowed for nodes whose
# other workloads ask for huge pages explicitly.
# THP `defrag` is deliberately NOT touched: neither Redis' nor Valkey's check reads it, and it
# only decides how hard the kernel works to find a huge page for a THP allocation: with
# enabled=never there is none, and with madvise the kernel's default defrag (`madvise`) already
# limits the stalls to regions that asked for huge pages. One knob fewer to restore.
#
# Persistence: a systemd oneshot unit writes the THP value again at every boot, before K3s. A
# unit rather than `transparent_hugepage=never` on the kernel command line: the VPS image and
# its bootloader are the provider's (no GRUB edit we could trust to survive an image update),
# a command-line change needs a reboot, and the unit's value takes effect at once (we also
# write it live below) and goes away cleanly with host-tuning-remove.sh.
# The I/O scheduler is a udev rule instead: udev applies it to every matching disk at boot
# (coldplug) and to disks attached later; it is also written live now.
#
# Idempotent: every value is compared first; a second run with the same arguments writes
# nothing, calls nothing and ends with "unchanged". The values live before the very first run
# are saved once in $PREVIOUS (never overwritten) for host-tuning-remove.sh.
# Last stdout line: "sovereign-faas: host-tuning-apply.sh: changed ..." or "... unchanged".
set -euo pipefail

readonly SELF=host-tuning-apply.sh  # die, report: lib/common.bash, put in front by render_command
# The sysfs root. Production always uses /sys; the variable exists only so the sandbox tests
# (tests/sandbox.py) can point the script at a stand-in tree, since a test must never write
# this machine's real /sys. Nothing in the Pulumi program sets it (and SSH would not pass it).
readonly SYSFS=${SOVEREIGN_FAAS_SYSFS:-/sys}
readonly THP_FILE=$SYSFS/kernel/mm/transparent_hugepage/enabled
readonly UNIT=/etc/systemd/system/sovereign-faas-host-tuning.service
readonly RULE=/etc/udev/rules.d/60-sovereign-faas-iosched.rules
readonly PREVIOUS=/var/lib/sovereign-faas/host-tuning.previous
tmp=""
changes=()

cleanup() {
  if [[ -n $tmp ]]; then rm -f -- "$tmp"; fi
}
trap cleanup EXIT

check_args() {
  [[ $# -eq 2 ]] || die "usage: $SELF THP SCHEDULER"
  [[ $1 == never || $1 == madvise ]] || die "THP must be 'never' or 'madvise', got '$1'"
  case $2 in
    none | mq-deadline | kyber | bfq | keep) ;;
    *) die "SCHEDULER must be one of none, mq-deadline, kyber, bfq, keep, got '$2'" ;;
  esac
}

# Write $2 to the sysfs file $1 (a plain write, as `echo value > file` does).
write_sysfs() {
  printf '%s\n' "$2" 2>/dev/null >"$1" || die "writing '$2' to $1 failed"
}

# The whole disks this step tunes: NVMe namespaces and virtio disks, by name under
# $SYSFS/block (which lists whole disks only, no partitions). Same patterns as the udev rule.
disks() {
  local dir name
  for dir in "$SYSFS"/block/*; do
    name=${dir##*/}
    [[ -f $dir/queue/scheduler ]] || continue
    if [[ $name == nvme[0-9]*n[0-9]* || $name == vd[a-z]* ]]; then
      printf '%s\n' "$name"
    fi
  done
}

# Record the live values once, before the first change; later runs leave the file alone, so
# host-tuning-remove.sh always goes back to what the host had before sovereign-faas.
save_previous() {
  [[ -e $PREVIOUS ]] && return
  local text dev
  text="# The values before host-tuning-apply.sh first ran (kept for host-tuning-remove.sh)."
  if [[ -f $THP_FILE ]]; then
    text+=$'\n'"thp $(selected "$THP_FILE")"
  fi
  while IFS= read -r dev; do
    text+=$'\n'"scheduler $dev $(selected "$SYSFS/block/$dev/queue/scheduler")"
  done < <(disks)
  write_if_different "$PREVIOUS" "$text" || true
}

unit_text() {
  # Always the real /sys here: the unit runs at boot, never in the test sandbox.
  cat <<EOF
# Written by sovereign-faas (Pulumi, host-tuning-apply.sh). Local changes are overwritten.
[Unit]
Description=sovereign-faas host tuning (transparent huge pages: $1)
ConditionPathExists=/sys/kernel/mm/transparent_hugepage/enabled
Before=k3s.service k3s-agent.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -c 'echo $1 > /sys/kernel/mm/transparent_hugepage/enabled'

[Install]
WantedBy=multi-user.target
EOF
}

rule_text() {
  cat <<EOF
# Written by sovereign-faas (Pulumi, host-tuning-apply.sh). Local changes are overwritten.
# I/O scheduler $1 for whole NVMe and virtio disks (ENV{DEVTYPE} excludes partitions).
ACTION=="add|change", SUBSYSTEM=="block", ENV{DEVTYPE}=="disk", KERNEL=="nvme[0-9]*n[0-9]*", ATTR{queue/scheduler}="$1"
ACTION=="add|change", SUBSYSTEM=="block", ENV{DEVTYPE}=="disk", KERNEL=="vd[a-z]*", ATTR{queue/scheduler}="$1"
EOF
}

reload_udev() {
  timeout 30 udevadm control --reload ||
    die "udevadm control --reload failed or took over 30 s (exit $?); rerun this step"
}

apply_thp() {
  local want=$1 have
  if [[ ! -f $THP_FILE ]]; then
    # A kernel without THP support: there are no huge pages to turn off.
    printf 'sovereign-faas: %s: note: %s is absent (no THP in this kernel); skipped\n' \
      "$SELF" "$THP_FILE" >&2
  else
    have=$(selected "$THP_FILE")
    if [[ $have != "$want" ]]; then
      write_sysfs "$THP_FILE" "$want"
      changes+=("THP $have -> $want")
    fi
  fi
  if write_if_different "$UNIT" "$(unit_text "$want")"; then
    timeout 60 systemctl daemon-reload || die "systemctl daemon-reload failed or took over 60 s"
    timeout 60 systemctl enable "${UNIT##*/}" >/dev/null ||
      die "systemctl enable ${UNIT##*/} failed or took over 60 s"
    changes+=("wrote $UNIT")
  fi
}

# Check every disk that needs a change before writing anything: a scheduler one disk does not
# offer fails the step with nothing changed.
check_offered() {
  local want=$1 dev file
  while IFS= read -r dev; do
    file=$SYSFS/block/$dev/queue/scheduler
    [[ $(selected "$file") == "$want" ]] && continue
    if ! offers "$file" "$want"; then
      die "disk $dev does not offer the I/O scheduler '$want' (it offers: $(offered "$file")); a scheduler built as a module appears after 'modprobe $want-iosched'; nothing was changed"
    fi
  done < <(disks)
}

set_schedulers() {
  local want=$1 dev file have
  while IFS= read -r dev; do
    file=$SYSFS/block/$dev/queue/scheduler
    have=$(selected "$file")
    if [[ $have != "$want" ]]; then
      write_sysfs "$file" "$want"
      changes+=("$dev $have -> $want")
    fi
  done < <(disks)
}

# SCHEDULER keep after an earlier rule: drop the rule and give the disks back the scheduler
# they had before our first run (the kernel's choice), as far as it is still offered.
keep_schedulers() {
  [[ -e $RULE ]] || return 0
  rm -f -- "$RULE"
  reload_udev
  changes+=("removed $RULE")
  [[ -f $PREVIOUS ]] || return 0
  local kind dev value file
  while read -r kind dev value; do
    [[ $kind == scheduler && $dev =~ ^[a-z0-9]+$ ]] || continue
    file=$SYSFS/block/$dev/queue/scheduler
    [[ -f $file && $(selected "$file") != "$value" ]] || continue
    offers "$file" "$value" || continue
    write_sysfs "$file" "$value"
    changes+=("$dev -> $value")
  done <"$PREVIOUS"
}

main() {
  check_args "$@"
  local thp=$1 scheduler=$2
  [[ $scheduler == keep ]] || check_offered "$scheduler"
  save_previous
  apply_thp "$thp"
  if [[ $scheduler == keep ]]; then
    keep_schedulers
  else
    if write_if_different "$RULE" "$(rule_text "$scheduler")"; then
      reload_udev
      changes+=("wrote $RULE")
    fi
    set_schedulers "$scheduler"
  fi
  if ((${#changes[@]} == 0)); then
    report "unchanged"
    return
  fi
  local joined
  joined=$(printf '%s; ' "${changes[@]}")
  report "changed (${joined%; })"
}

main "$@"

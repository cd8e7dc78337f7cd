#!/usr/bin/env bash
# Usage: host-endpoints-remove.sh
#
# The delete step of host-endpoints-apply.sh: put back what it changed, from what it kept in
# /var/lib/sovereign-faas/host-endpoints: the NTP drop-in or chrony's own configuration, the
# distribution's package sources, the services it disabled (enabled again; timers started),
# motd-news's setting and snapd's refreshes. Nothing it did not change is touched.
# Last stdout line: "sovereign-faas: host-endpoints-remove.sh: changed ..." or "... unchanged".
set -euo pipefail

readonly SELF=host-endpoints-remove.sh  # die, report: lib/common.bash, put in front by render_command
readonly STATE=/var/lib/sovereign-faas/host-endpoints
readonly TIMESYNCD_DROPIN=/etc/systemd/timesyncd.conf.d/90-sovereign-faas.conf
readonly CHRONY_CONF=/etc/chrony/chrony.conf
readonly CHRONY_SOURCES=/etc/chrony/sources.d/sovereign-faas.sources
readonly APT_SOURCES=/etc/apt/sources.list.d/sovereign-faas.sources
readonly MOTD_NEWS=/etc/default/motd-news
undone=()

restart_if_running() {
  if systemctl is-active "$1" >/dev/null 2>&1; then
    timeout 60 systemctl restart "$1" || die "restarting $1 failed (see above)"
  fi
}

ntp_back() {
  if [[ -e $TIMESYNCD_DROPIN ]]; then
    rm -f -- "$TIMESYNCD_DROPIN"
    restart_if_running systemd-timesyncd
    undone+=("$TIMESYNCD_DROPIN")
  fi
  if [[ -e $STATE/chrony.conf ]]; then
    cp -p -- "$STATE/chrony.conf" "$CHRONY_CONF"
    rm -f -- "$CHRONY_SOURCES"
    restart_if_running chrony
    restart_if_running chronyd
    undone+=("$CHRONY_CONF")
  fi
}

apt_back() {
  local file
  rm -f -- "$APT_SOURCES"
  if [[ -d $STATE/apt ]]; then
    for file in "$STATE"/apt/*; do
      [[ -e $file ]] || continue
      case ${file##*/} in
        sources.list) mv -f -- "$file" /etc/apt/sources.list ;;
        *) mv -f -- "$file" /etc/apt/sources.list.d/ ;;
      esac
      undone+=("${file##*/}")
    done
  fi
}

phone_home_back() {
  local unit
  if [[ -f $STATE/disabled-units ]]; then
    while IFS= read -r unit; do
      systemctl enable "$unit" >/dev/null
      if [[ $unit == *.timer ]]; then systemctl start "$unit" || true; fi
      undone+=("$unit")
    done <"$STATE/disabled-units"
  fi
  if [[ -e $STATE/motd-news ]]; then
    cp -p -- "$STATE/motd-news" "$MOTD_NEWS"
    undone+=("$MOTD_NEWS")
  fi
  if [[ -e $STATE/snap-held ]] && command -v snap >/dev/null; then
    timeout 60 snap refresh --unhold >/dev/null || die "snap refresh --unhold failed (see above)"
    undone+=("snap refreshes")
  fi
}

main() {
  [[ $# -eq 0 ]] || die "usage: $SELF (no arguments)"
  local had_sources=0
  [[ -e $APT_SOURCES ]] && had_sources=1
  ntp_back
  apt_back
  phone_home_back
  ((had_sources)) && undone+=("$APT_SOURCES")
  rm -rf -- "$STATE"
  if ((${#undone[@]} == 0)); then
    report "unchanged"
  else
    report "changed (put back ${undone[*]})"
  fi
}

main "$@"

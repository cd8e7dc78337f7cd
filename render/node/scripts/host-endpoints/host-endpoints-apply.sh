#!/usr/bin/env bash
# Usage: host-endpoints-apply.sh [--ntp=HOST[,HOST...]] [--apt=URL] [--phone-home=off]
#
# Point the node's own services at in-country servers, and stop the distribution calling home:
# - --ntp: systemd-timesyncd (a drop-in with NTP= and an empty FallbackNTP=, so the compiled-in
#   ntp.ubuntu.com is never asked) or chrony (its pool/server lines commented out, the original
#   kept, our servers in sources.d), whichever runs; restarted, bounded, when changed.
# - --apt (Ubuntu): one deb822 source for every pocket from the mirror; the distribution's own
#   sources (sources.list, sources.list.d/ubuntu.sources) are moved aside, kept for the remove.
# - --phone-home=off (Ubuntu): motd-news, apport, whoopsie, the Ubuntu Pro timers and apt news
#   stopped and disabled (only those enabled; the list is kept for the remove), motd-news's
#   ENABLED=0, and snapd's refreshes held.
# What this distribution does not allow is not done, and the status line says what.
# Compare first: a second run with the same arguments changes nothing.
# Last stdout line: "sovereign-faas: host-endpoints-apply.sh: changed ..." or "... unchanged".
set -euo pipefail

readonly SELF=host-endpoints-apply.sh  # die, report: lib/common.bash, put in front by render_command
readonly STATE=/var/lib/sovereign-faas/host-endpoints
readonly HEADER="# Written by sovereign-faas (Pulumi, $SELF). Local changes are overwritten."
readonly TIMESYNCD_DROPIN=/etc/systemd/timesyncd.conf.d/90-sovereign-faas.conf
readonly CHRONY_CONF=/etc/chrony/chrony.conf
readonly CHRONY_SOURCES=/etc/chrony/sources.d/sovereign-faas.sources
readonly APT_SOURCES=/etc/apt/sources.list.d/sovereign-faas.sources
readonly DISTRO_SOURCES=(/etc/apt/sources.list /etc/apt/sources.list.d/ubuntu.sources)
readonly PHONE_HOME_UNITS=(motd-news.timer apport whoopsie ua-timer.timer ubuntu-advantage apt-news esm-cache)
readonly MOTD_NEWS=/etc/default/motd-news
ntp="" apt="" phone_home="" distro="" codename=""
changed=() not_done=()
tmp=""

cleanup() {
  if [[ -n $tmp ]]; then rm -f -- "$tmp"; fi
}
trap cleanup EXIT

check_args() {
  local arg
  for arg in "$@"; do
    case $arg in
      --ntp=?*) ntp=${arg#--ntp=} ;;
      --apt=https://?* | --apt=http://?*) apt=${arg#--apt=} ;;
      --phone-home=off) phone_home=off ;;
      *) die "unknown argument '$arg'; usage: $SELF [--ntp=HOST[,HOST...]] [--apt=URL] [--phone-home=off]" ;;
    esac
  done
  [[ -z $ntp || $ntp =~ ^[A-Za-z0-9.:,-]+$ ]] || die "--ntp must be host names or addresses separated by commas, got '$ntp'"
  [[ -z $apt || $apt =~ ^https?://[A-Za-z0-9.:/_~%+-]+$ ]] || die "--apt must be a plain http(s) URL, got '$apt'"
}

read_distro() {
  [[ -r /etc/os-release ]] || return 0
  # shellcheck disable=SC1091 # the node's own file
  read -r distro codename < <(. /etc/os-release && printf '%s %s\n' "${ID:-unknown}" "${VERSION_CODENAME:--}")
}

running() {
  systemctl is-active "$1" >/dev/null 2>&1
}

restart_unit() {
  timeout 60 systemctl restart "$1" || die "restarting $1 failed (see above); its configuration is in place and the next run restarts it again"
}

set_ntp() {
  local servers=${ntp//,/ } server text
  if running systemd-timesyncd; then
    if write_if_different "$TIMESYNCD_DROPIN" "$(printf '%s\n' "$HEADER" "[Time]" "NTP=$servers" "FallbackNTP=")"; then
      restart_unit systemd-timesyncd
      changed+=("NTP: systemd-timesyncd asks $servers")
    fi
  elif running chrony || running chronyd; then
    mkdir -p -- "$STATE"
    [[ -e $STATE/chrony.conf ]] || cp -p -- "$CHRONY_CONF" "$STATE/chrony.conf"
    # The distribution's pools go; ours come from sources.d (chrony.conf's sourcedir).
    text=$(sed -E 's/^(pool|server|peer)[[:space:]]/#sovereign-faas: &/' "$STATE/chrony.conf")
    grep -q '^sourcedir /etc/chrony/sources.d' <<<"$text" || text+=$'\nsourcedir /etc/chrony/sources.d'
    local a=1 b=1
    write_if_different "$CHRONY_CONF" "$text" || a=0
    write_if_different "$CHRONY_SOURCES" "$(printf '%s\n' "$HEADER"; for server in $servers; do printf 'server %s iburst\n' "$server"; done)" || b=0
    if ((a || b)); then
      restart_unit "$(running chrony && echo chrony || echo chronyd)"
      changed+=("NTP: chrony asks $servers")
    fi
  else
    not_done+=("NTP: neither systemd-timesyncd nor chrony runs here; point the time service at $servers yourself")
  fi
}

apt_text() {
  local pockets="$codename $codename-updates $codename-backports $codename-security"
  printf '%s\n' "$HEADER" "Types: deb" "URIs: $apt" "Suites: $pockets" "Components: main restricted universe multiverse" \
    "Signed-By: /usr/share/keyrings/ubuntu-archive-keyring.gpg"
}

set_apt() {
  if [[ $distro != ubuntu || $codename == - ]]; then
    not_done+=("apt mirror: only Ubuntu's archive layout (one archive for every pocket) is known, this is '$distro'; point its package sources at $apt yourself")
    return
  fi
  local file moved=()
  for file in "${DISTRO_SOURCES[@]}"; do
    [[ -e $file ]] || continue
    mkdir -p -- "$STATE/apt"
    # A package upgrade may bring the file back: the first copy is the one to restore.
    if [[ -e $STATE/apt/${file##*/} ]]; then rm -f -- "$file"; else mv -- "$file" "$STATE/apt/"; fi
    moved+=("$file")
  done
  if write_if_different "$APT_SOURCES" "$(apt_text)" || ((${#moved[@]})); then
    changed+=("apt: $APT_SOURCES from $apt${moved[*]:+ (moved aside: ${moved[*]})}")
  fi
}

phone_home_off() {
  if [[ $distro != ubuntu ]]; then
    not_done+=("phone-home: only Ubuntu's services are known, this is '$distro'; nothing was turned off")
    return
  fi
  local unit off=()
  mkdir -p -- "$STATE"
  for unit in "${PHONE_HOME_UNITS[@]}"; do
    systemctl is-enabled "$unit" >/dev/null 2>&1 || continue
    systemctl stop "$unit" || true # a unit that is not running is fine
    systemctl disable "$unit" >/dev/null
    printf '%s\n' "$unit" >>"$STATE/disabled-units"
    off+=("$unit")
  done
  if [[ -f $MOTD_NEWS ]] && grep -q '^ENABLED=1' "$MOTD_NEWS"; then
    [[ -e $STATE/motd-news ]] || cp -p -- "$MOTD_NEWS" "$STATE/motd-news"
    sed -i 's/^ENABLED=1/ENABLED=0/' "$MOTD_NEWS"
    off+=("$MOTD_NEWS ENABLED=0")
  fi
  if command -v snap >/dev/null && [[ ! -e $STATE/snap-held ]]; then
    timeout 60 snap refresh --hold >/dev/null || die "snap refresh --hold failed (see above)"
    : >"$STATE/snap-held"
    off+=("snap refreshes held")
  fi
  if ((${#off[@]})); then changed+=("phone-home off: ${off[*]}"); fi
}

main() {
  check_args "$@"
  [[ -n $ntp$apt$phone_home ]] || die "nothing to do: give --ntp, --apt or --phone-home=off"
  read_distro
  if [[ -n $ntp ]]; then set_ntp; fi
  if [[ -n $apt ]]; then set_apt; fi
  if [[ -n $phone_home ]]; then phone_home_off; fi
  local tail=""
  if ((${#not_done[@]})); then tail="; not done: $(printf '%s; ' "${not_done[@]}")"; tail=${tail%; }; fi
  if ((${#changed[@]} == 0)); then
    report "unchanged$tail"
  else
    report "changed ($(printf '%s; ' "${changed[@]}" | sed 's/; $//'))$tail"
  fi
}

main "$@"

# shellcheck shell=bash
# What every script in render/node/scripts shares. render_command puts this text in front of
# the script's own, so each remote step is still one self-contained command on the node
# (there is no library to install there). Each script sets SELF to its own name.

# Fail with one line on stderr that names the script.
die() {
  printf 'sovereign-faas: %s: %s\n' "$SELF" "$*" >&2
  exit 1
}

# The status line on stdout: "sovereign-faas: <script>: changed ..." or "... unchanged".
report() {
  printf 'sovereign-faas: %s: %s\n' "$SELF" "$*"
}

# The systemd unit K3s runs as for ROLE (server | agent).
service_for() {
  case $1 in
    server) printf 'k3s' ;;
    agent) printf 'k3s-agent' ;;
    *) die "ROLE must be 'server' or 'agent', got '$1'" ;;
  esac
}

# Restart a K3s unit, bounded: a K3s that hangs at start fails the step instead of the run.
restart() {
  timeout 180 systemctl restart "$1"
}

# sysfs choice files ("always [madvise] never"; host-tuning-apply.sh and -remove.sh).
# The selected value; a plain single value ("never") is taken as it is.
selected() {
  local text
  text=$(<"$1") || die "cannot read $1"
  if [[ $text =~ \[([^]]+)\] ]]; then
    printf '%s' "${BASH_REMATCH[1]}"
  else
    printf '%s' "${text//[[:space:]]/}"
  fi
}

# The values a choice file offers, space-separated, without the brackets.
offered() {
  local text
  local -a words
  text=$(<"$1") || die "cannot read $1"
  read -r -a words <<<"${text//[\[\]]/}" || true
  printf '%s' "${words[*]}"
}

# Whether choice file $1 offers value $2.
offers() {
  [[ " $(offered "$1") " == *" $2 "* ]]
}

# Write $2 to $1 atomically unless it already holds exactly that; 0: written, 1: unchanged.
# The temporary file is in $tmp while it exists: the caller's EXIT trap removes it.
write_if_different() {
  local file=$1 dir=${1%/*}
  mkdir -p -- "$dir"
  tmp=$(mktemp -- "$dir/.${file##*/}.XXXXXX")
  printf '%s\n' "$2" >"$tmp"
  if cmp -s -- "$tmp" "$file"; then
    rm -f -- "$tmp"
    tmp=""
    return 1
  fi
  chmod 0644 -- "$tmp"
  mv -f -- "$tmp" "$file"
  tmp=""
}

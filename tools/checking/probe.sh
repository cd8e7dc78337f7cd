#!/bin/sh
# The part of `make check` that must run inside the cluster (tools/check.py starts it in a
# throw-away pod in the function namespace, with the stack's Valkey image): can a function reach
# Valkey and NATS, with the functions' own credentials, through the NetworkPolicies? And, when
# TOPIC is set, one empty message published there, as a function would publish an event.
#
# Reads nothing from its command line but names: the passwords are files of the mounted Secrets
# (redis-password, nats-credentials) under SECRETS, and travel in valkey-cli's environment
# variable and in printf, a shell builtin (no process's argv). Writes nothing to Valkey (PING)
# and nothing to JetStream (a core NATS PUB on a topic subject, which no stream stores).
# Prints one line per check, "<check>: <reply>"; every wait is bounded by WAIT seconds.
set -u

secrets=${SECRETS:-/var/openfaas/secrets}
cli=${VALKEY_CLI:-valkey-cli}
nc=${NC:-nc}
wait=${WAIT:-2}

one_line() {
	tr '\r\n' '  ' | sed -e 's/  */ /g' -e 's/ $//'
}

# valkey-cli falls back to REDISCLI_AUTH (src/valkey-cli.c), the name redis-cli reads too.
if password=$(cat "$secrets/redis-password" 2>/dev/null); then
	reply=$(REDISCLI_AUTH="$password" timeout "$wait" "$cli" -h "$REDIS_HOST" -p "$REDIS_PORT" ping 2>&1 | one_line)
	echo "valkey: ${reply:-no answer}"
else
	echo "valkey: no redis-password in $secrets"
fi

if user=$(cat "$secrets/nats-user" 2>/dev/null) && pass=$(cat "$secrets/nats-password" 2>/dev/null); then
	publish=""
	if [ -n "${TOPIC:-}" ]; then
		publish="PUB ${TOPIC} 0\r\n\r\n"
	fi
	# PING after the PUB: its PONG says the server processed the PUB (delivered it to the
	# subscribers, the nats-connector among them). The passwords are alphanumeric (components/nats.py).
	reply=$({
		printf 'CONNECT {"verbose":false,"pedantic":false,"name":"sovereign-faas-check","user":"%s","pass":"%s"}\r\n%bPING\r\n' "$user" "$pass" "$publish"
		sleep "$wait"
	} | "$nc" -w "$wait" "$NATS_HOST" "$NATS_PORT" 2>&1 | grep -v '^INFO ' | one_line)
	echo "nats: ${reply:-no answer}"
else
	echo "nats: no nats-user/nats-password in $secrets"
fi

"""The stack's output names, in one place: __main__.py exports them, the next deployment reads
some back (settings/upgrades.py through components/history.py), `make plan` prints them."""

from __future__ import annotations

KUBECONFIG = "kubeconfig"
NODES = "nodes"
K3S_VERSION = "k3sVersion"  # read back: upgrades refuse a downgrade or a skipped minor
FIRST_SERVER = "firstServer"  # read back: the bootstrap server may not change
GATEWAY_URL = "gatewayUrl"
ADMIN_PASSWORD = "adminPassword"
OPENFAAS_EDITION = "openfaasEdition"
NATS_URL = "natsUrl"
REDIS_ADDRESS = "redisAddress"  # replicated: the sentinels' Service, host:port
REDIS_SENTINELS = "redisSentinels"  # replicated only: {masterName, sentinels: [host:port, ...]}
FUNCTIONS = "functions"
GRAFANA = "grafana"  # how to open Grafana: a kubectl port-forward (it is not published)
GRAFANA_PASSWORD = "grafanaAdminPassword"

"""Every pinned version the stack deploys, in one place.

To bump one: change it here, run `make plan` to see the diff it makes and `make test`
(the strict schema test follows the Kubernetes minor of the K3s pin). The settings layer holds
them because the config's defaults are made of them (`k3sVersion`); components read them here.
"""

# K3s release (https://github.com/k3s-io/k3s/releases); the stable channel's as of 2026-08.
# The default of `k3sVersion` (Pulumi.yaml is generated from it).
K3S = "v1.36.4+k3s1"

# OpenFaaS Helm chart (https://github.com/openfaas/faas-netes/tree/master/chart/openfaas).
# Chart keys we write are checked against OPENFAAS_CHART_KEYS in components/openfaas.py.
OPENFAAS_CHART = "15.0.6"

# NATS server (https://hub.docker.com/_/nats, https://github.com/nats-io/nats-server/releases):
# the 2.12 line, Alpine variant. The real-server tests use Debian's nats-server (2.9), so keep
# components/nats.py's config to what both understand.
NATS_IMAGE = "nats:2.12.15-alpine"

# OpenFaaS' nats-connector (https://github.com/openfaas/nats-connector/releases).
NATS_CONNECTOR_IMAGE = "ghcr.io/openfaas/nats-connector:0.3.0"

# OpenFaaS' cron-connector, the Community Edition image (MIT; https://github.com/openfaas/cron-connector,
# tag 0.7.0 = the cron-connector chart 0.6.16's `image`), deployed only when a function has topic cron-function.
CRON_CONNECTOR_IMAGE = "ghcr.io/openfaas/cron-connector:0.7.0"

# Redis (https://hub.docker.com/_/redis): the 7.4 line, Alpine variant. Note the licence:
# from 7.4 Redis is RSALv2/SSPLv1, not BSD (7.2 was the last BSD release; Valkey forks it).
REDIS_IMAGE = "redis:7.4.11-alpine"

# The edge, only with a `domain` (components/edge.py). Traefik's Helm chart
# (https://github.com/traefik/traefik-helm-chart): 39.0.9 ships Traefik v3.6.15, a Gateway API
# controller (standard channel). From 39.0 the chart refuses values it does not know, so keep
# components/edge.py's traefik_values to keys of the new chart's values.yaml when bumping.
TRAEFIK_CHART = "39.0.9"

# cert-manager's Helm chart (https://cert-manager.io/docs/releases/): 1.21 supports Kubernetes
# 1.33 to 1.36 (our K3s pin). Gateway API support is on through `config.enableGatewayAPI`.
CERT_MANAGER_CHART = "v1.21.2"

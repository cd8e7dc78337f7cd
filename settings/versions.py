"""Every pinned version the stack deploys, in one place.

To bump one: change it here, run `make plan` to see the diff it makes and `make test`
(the strict schema test follows the Kubernetes minor of the K3s pin). The settings layer holds
them because the config's defaults are made of them (`k3sVersion`); components read them here.
Each pin says where it was verified and why this one (checked 2026-12-01).
"""

# K3s release (https://github.com/k3s-io/k3s/releases). The default of `k3sVersion`
# (Pulumi.yaml is generated from it). Kept at v1.36.4+k3s1: the newest release verifiable on
# K3s' *stable* channel (k3s-io/k3s PR #14553 "[main] Update stable to v1.36.4+k3s1", merged
# 2026-08-27; channel.yaml is what https://update.k3s.io/v1-release/channels serves).
# - v1.36.5+k3s1 exists (third-party pins from 2026-10) but neither a release note
#   (k3s-io/docs docs/release-notes/v1.36.X.md) nor a stable-channel PR for it could be read.
# - Not 1.37 yet: v1.37.0/v1.37.1 are on the `latest` channel only, and upgrading 1.36.4 to
#   1.37.0 fails on the new gateway-api-crd chart (k3s-io/k3s#14677). Move when a stable PR
#   names a 1.37 release; then see GATEWAY_API below: with the edge on, the stack disables
#   K3s' gateway-api-crd component (components/cluster.py k3s_config).
K3S = "v1.36.4+k3s1"

# OpenFaaS Helm chart (https://github.com/openfaas/faas-netes/tree/master/chart/openfaas).
# Chart keys we write are checked against OPENFAAS_CHART_KEYS in render/openfaas.py.
OPENFAAS_CHART = "15.0.6"

# NATS server (https://hub.docker.com/_/nats): the 2.14 line, Alpine variant. 2.14.7 is the
# newest release verified (docker-library/official-images PR #22272 "nats: Update to 2.14.7",
# merged 2026-09-15); Apache-2.0. The real-server tests use Debian's nats-server (2.9), so
# render/nats.py's config stays to keys both understand (tests/test_data_servers.py).
NATS_IMAGE = "nats:2.14.7-alpine"

# OpenFaaS' nats-connector (https://github.com/openfaas/nats-connector/releases); 0.3.0 (2022)
# is still its newest tag.
NATS_CONNECTOR_IMAGE = "ghcr.io/openfaas/nats-connector:0.3.0"

# OpenFaaS' cron-connector, the Community Edition image (MIT; https://github.com/openfaas/cron-connector,
# tag 0.7.0 = the cron-connector chart 0.6.16's `image`), deployed only when a function has topic cron-function.
CRON_CONNECTOR_IMAGE = "ghcr.io/openfaas/cron-connector:0.7.0"
# The Pro image, deployed instead on openfaasEdition pro: faas-netes chart/cron-connector 0.6.16
# values.yaml `pro.image` (read at faas-netes 662ce9ce, 2026-05-13; the tag last changed in
# b784562e, 2026-02-27), which the chart runs when `openfaasPro: true`, with
# `-license-file=/var/secrets/license/license` from Secret openfaas-license. The chart's own
# readme says Pro lets it run alongside other connectors (a function's topic may
# list cron-function beside others; CE compares the topic exactly). Proprietary (OpenFaaS Ltd).
CRON_CONNECTOR_PRO_IMAGE = "ghcr.io/openfaasltd/cron-connector:0.2.14"

# The key-value server: Valkey (https://valkey.io/download/releases/v9-1-4/, 2026-11-18), the
# project's own image on Docker Hub (`valkey/valkey`, docker.io). Why Valkey and not Redis 8:
# Valkey is BSD-3-Clause, the Linux Foundation's fork of Redis 7.2 (the last BSD Redis), a
# drop-in (same protocol, commands and redis.conf directives, clients unchanged); Redis 7.4+
# is RSALv2/SSPLv1 and Redis 8 adds only AGPLv3 as an open licence. The image's binaries are
# `valkey-server` and `valkey-cli` (render/redis.py). Debian bookworm has no Valkey
# package, so the real-server tests run Debian's redis-server 7.0 with the same redis.conf.
REDIS_IMAGE = "valkey/valkey:9.1.4-alpine"

# The data backups' tools (render/data_backups.py), only with etcdS3Bucket set.
# nats-box (https://github.com/nats-io/nats-box, Apache-2.0): the NATS team's image of the nats
# CLI, for `nats stream backup`. v0.19.5 is its newest tag (commit 5135f4ac, 2026-05-01; the
# release workflow .github/workflows/main.yaml pushes `natsio/nats-box:<tag without v>`), with
# natscli 0.4.0 (docker-bake.hcl VERSION_NATS) on Alpine 3.23.
NATS_BOX_IMAGE = "natsio/nats-box:0.19.5"
# rclone (https://github.com/rclone/rclone, MIT), for the S3 upload and the pruning: v1.75.0 is
# its newest release tag (commit 9ee9d0a0, 2026-07-31); build_publish_docker_image.yml pushes
# `rclone/rclone:<version>` (docker/metadata-action type=semver {{version}}) to Docker Hub and
# ghcr.io. Why rclone and not MinIO's mc: render/data_backups.py.
RCLONE_IMAGE = "rclone/rclone:1.75.0"

# The edge, only with a `domain` (components/edge.py). Traefik's Helm chart
# (https://github.com/traefik/traefik-helm-chart/releases/tag/v42.4.3, 2026-11-24): Traefik
# v3.7.20, a Gateway API controller (standard channel). The 42 line, not 43.0.0: 43 defaults
# to Traefik v3.8, which needs the Gateway API v1.7.0 CRDs, and neither K3s 1.36 (traefik-crd,
# v1.5.1/v1.6.1) nor 1.37 (gateway-api-crd, v1.6.1) ships those. Values schema of 40+ (the
# chart refuses keys it does not know): `service.spec.type`, `log`/`accessLog`, ...; keys we
# write are checked against TRAEFIK_CHART_KEYS in render/edge.py.
TRAEFIK_CHART = "42.4.3"
TRAEFIK_VERSION = "v3.7.20"  # the chart's appVersion, for the egress inventory and docs/versions.md

# The Gateway API CRDs (https://github.com/kubernetes-sigs/gateway-api/releases). Since chart
# 40.2.0 Traefik's chart no longer ships them (PR #1850), and K3s 1.36 installs them only with
# its own Traefik (traefik-crd), which the stack disables: so the stack owns them, at the
# version Traefik 3.7 documents (the chart's README: "install them yourself before deploying
# Traefik v3.7", standard-install.yaml v1.5.1), applied from the release asset below.
GATEWAY_API = "v1.5.1"
GATEWAY_API_CRDS = f"https://github.com/kubernetes-sigs/gateway-api/releases/download/{GATEWAY_API}/standard-install.yaml"

# cert-manager's Helm chart (https://cert-manager.io/docs/releases/; cert-manager/website
# PR #2261, v1.21.2 patch release notes): 1.21 supports Kubernetes 1.33 to 1.36 (our K3s pin;
# no release lists 1.37 yet, another reason to stay on 1.36). Gateway API support is on
# through `config.gatewayAPI.enabled` (`config.enableGatewayAPI` is deprecated since 1.21).
CERT_MANAGER_CHART = "v1.21.2"

# --- the monitoring stack (render/monitoring/, docs/operations/monitoring.md) -----------------
# Plain manifests of our own render layer, not the community charts: every image below is
# pinned here and listed in the egress inventory like the rest. Checked 2026-12-03 against
# each project's git tags (a fetched snapshot of the repository) and its release workflow,
# which says where the image of a tag is pushed and under which name.
# Prometheus (prometheus/prometheus tag v3.14.0, 2026-08-17, the newest in the snapshot of
# 2026-08-21; Makefile.common's docker-publish pushes prom/prometheus:v<version> to Docker
# Hub and Quay). The tests check its prometheus.yml with Debian's promtool 2.42 and start
# Debian's prometheus 2.42 on it: the config stays to keys both read.
PROMETHEUS_IMAGE = "prom/prometheus:v3.14.0"
# Alertmanager (prometheus/alertmanager tag v0.34.0, 2026-08-16; same publishing as Prometheus).
ALERTMANAGER_IMAGE = "prom/alertmanager:v0.34.0"
# node-exporter (prometheus/node_exporter tag v1.12.1, 2026-07-14; prom/node-exporter).
NODE_EXPORTER_IMAGE = "prom/node-exporter:v1.12.1"
# kube-state-metrics (kubernetes/kube-state-metrics tag v2.20.0, 2026-08-17; its own
# examples/standard/deployment.yaml at that tag runs this image). Only on registry.k8s.io.
KUBE_STATE_METRICS_IMAGE = "registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.20.0"
# Grafana OSS (AGPL-3.0). The grafana/grafana repository (3 GB) is too large to fetch here, so
# its tags could not be read directly: 13.2.3 is the newest tag found pinned in independent
# public projects of late 2026 (docker-compose files and docs), and 13.1.x/13.2.0 beside it.
# The grafana.ini keys render/monitoring/objects.py writes are read from conf/defaults.ini
# (Grafana 10-13; the [plugins] preinstall keys since 12). Re-check this pin when you can.
GRAFANA_IMAGE = "grafana/grafana:13.2.3"
# redis_exporter for Valkey (oliver006/redis_exporter tag v1.88.0, 2026-07-23;
# .github/workflows/release.yml pushes the tag name to Docker Hub, ghcr.io and quay.io).
REDIS_EXPORTER_IMAGE = "oliver006/redis_exporter:v1.88.0"
# prometheus-nats-exporter (nats-io/prometheus-nats-exporter tag v0.20.1, 2026-05-31;
# .github/workflows/release.yaml pushes natsio/prometheus-nats-exporter:<tag without the v>).
NATS_EXPORTER_IMAGE = "natsio/prometheus-nats-exporter:0.20.1"

"""The images each Helm chart the stack installs runs, next to its pin (settings/versions.py),
so the egress inventory (render/egress.py) knows which registries a release pulls from
without rendering the chart. Bump these with the chart: each list cites the values.yaml it was
read from. Only what runs with the values the stack writes is listed.
"""

from __future__ import annotations

from settings import versions

# openfaas/faas-netes chart/openfaas/values.yaml at chart 15.0.6 (`*.image`); CE runs the
# first set (`openfaasPro: false`), Pro the second. Pro's own NATS (nats:2.14.0) does not run:
# the stack points Pro at its NATS (`nats.external.enabled`).
OPENFAAS_CE = (
    "ghcr.io/openfaas/gateway:0.27.13",  # gateway.image
    "ghcr.io/openfaas/faas-netes:0.18.17",  # faasnetes.image (the gateway pod's provider)
    "ghcr.io/openfaas/queue-worker:0.14.2",  # queueWorker.image (async: true)
    "nats-streaming:0.25.6",  # stan.image (CE's queue)
    "prom/prometheus:v3.11.3",  # prometheus.image
    "prom/alertmanager:v0.32.1",  # alertmanager.image
)
OPENFAAS_PRO = (
    "ghcr.io/openfaasltd/gateway:0.5.20",  # gatewayPro.image
    "ghcr.io/openfaasltd/faas-netes:0.5.93",  # faasnetesPro.image
    "ghcr.io/openfaasltd/jetstream-queue-worker:0.5.7",  # jetstreamQueueWorker.image
    "ghcr.io/openfaasltd/autoscaler:0.3.28",  # autoscaler.image
    "prom/prometheus:v3.11.3",  # prometheus.image
)

# traefik/traefik-helm-chart traefik/values.yaml, 40+: `image.registry`/`image.repository`
# null, resolving to docker.io/traefik; tag = the chart's appVersion (v3.7.20 for 42.4.3).
TRAEFIK = (f"docker.io/traefik:{versions.TRAEFIK_VERSION}",)
# cert-manager's chart values.yaml (v1.20+ layout): `imageRegistry: quay.io`,
# `imageNamespace: jetstack`, the component names below, tag = the chart's appVersion; the
# ACME solver runs per challenge, the startupapicheck Job once per install.
CERT_MANAGER = tuple(
    f"quay.io/jetstack/{name}:{versions.CERT_MANAGER_CHART}"
    for name in ("cert-manager-controller", "cert-manager-webhook", "cert-manager-cainjector", "cert-manager-acmesolver", "cert-manager-startupapicheck")
)

# K3s' own images (the release's k3s-images.txt): the pod sandbox, CoreDNS, the local-path
# provisioner, metrics-server, servicelb and the Helm controller's job. From docker.io unless
# systemDefaultRegistry is set, and not pulled at all when the images tarball is installed
# (k3sMirror, k3sAirgapDir).
K3S_SYSTEM = (
    "docker.io/rancher/mirrored-pause",
    "docker.io/rancher/mirrored-coredns-coredns",
    "docker.io/rancher/local-path-provisioner",
    "docker.io/rancher/mirrored-metrics-server",
    "docker.io/rancher/klipper-lb",
    "docker.io/rancher/klipper-helm",
)


def chart_images(chart: str, pro: bool) -> tuple[str, ...]:
    """The images `chart` runs with the stack's values."""
    if chart == "openfaas":
        return OPENFAAS_PRO if pro else OPENFAAS_CE
    return {"traefik": TRAEFIK, "cert-manager": CERT_MANAGER}[chart]

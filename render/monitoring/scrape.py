"""prometheus.yml as data: what our Prometheus scrapes, and how it finds each target.

Every job's name is the `job` label the alert rules and dashboards select on
(render/monitoring/rules.py, dashboards.py), so the names are fixed here, in JOBS.

How targets are found: the API server's service discovery (kubernetes_sd_configs) where
targets come and go (pods, nodes), with the pod's ServiceAccount token; a static target where
the address is fixed. The kubelet's and cAdvisor's metrics come through the API server's node
proxy (/api/v1/nodes/<node>/proxy/metrics), so Prometheus needs to reach only the API server
for them, not every node's 10250. The keys are those both Prometheus 3 (the image) and the
tests' Debian promtool/prometheus 2.42 read (prometheus/prometheus config/config.go,
discovery/kubernetes/kubernetes.go).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

from render.monitoring import ports
from render.monitoring.exporters import REDIS_EXPORTER, redis_exporter_host, redis_urls
from settings.edge import CERT_MANAGER_NAMESPACE
from settings.edge import NAMESPACE as EDGE_NAMESPACE
from settings.stack import Settings

JOBS = (
    "prometheus",
    "alertmanager",
    "node",
    "kube-state-metrics",
    "kubelet",
    "cadvisor",
    "apiserver",
    "openfaas-gateway",
    "nats",
    "valkey",
    "traefik",
    "cert-manager",
    "etcd",
)
EDGE_JOBS = ("traefik", "cert-manager")  # only with the edge (a `domain`)
RULES_DIR = "/etc/prometheus/rules"
SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"  # the pod's projected token and CA
API_SERVER = "kubernetes.default.svc:443"
ETCD_NODE_LABEL = "node-role.kubernetes.io/etcd"  # K3s labels its etcd members "true"


@dataclass(frozen=True)
class ScrapeTargets:
    """Where the scraped parts of the stack live."""

    namespace: str  # the monitoring namespace
    openfaas_namespace: str
    data_namespace: str
    edge: bool  # Traefik and cert-manager run (a `domain` is set)
    interval: str  # a Prometheus duration
    retention: str = "15d"
    data_replicas: int = 1  # NATS servers and Valkey pods (settings.data_replicas)

    @classmethod
    def of(cls, settings: Settings) -> ScrapeTargets:
        m = settings.monitoring
        return cls(
            m.namespace, settings.openfaas.namespace, settings.data.namespace, settings.edge.enabled, m.scrape_interval, m.retention, settings.data_replicas
        )


_UNITS = {"y": 365 * 86400, "w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1, "ms": 0.001}


def seconds(duration: str) -> float:
    """A Prometheus duration ('1d12h', '30s') in seconds (settings/monitoring.py checked it)."""
    return sum(int(n) * _UNITS[u] for n, u in re.findall(r"([0-9]+)(ms|[ywdhms])", duration))


def timeout(interval: str) -> str:
    """Prometheus' 10 s default, or the interval when shorter (a timeout above it is refused)."""
    return interval if seconds(interval) < 10 else "10s"


def _api_auth() -> dict[str, Any]:
    """Authenticated as the pod's ServiceAccount, verifying the cluster's CA."""
    return {
        "scheme": "https",
        "authorization": {"credentials_file": f"{SA_DIR}/token"},
        "tls_config": {"ca_file": f"{SA_DIR}/ca.crt"},
    }


def _meta(name: str) -> str:
    return f"__meta_kubernetes_{name}"


def _label(name: str) -> str:
    """A pod label's meta label: non-alphanumerics become underscores."""
    return _meta("pod_label_" + re.sub(r"[^A-Za-z0-9_]", "_", name))


def _keep(source: str, regex: str) -> dict[str, Any]:
    return {"source_labels": [source], "regex": regex, "action": "keep"}


def _copy(source: str, target: str) -> dict[str, Any]:
    return {"source_labels": [source], "target_label": target}


def pod_job(job: str, namespace: str, labels: dict[str, str], port: str | int, *, honor_labels: bool = False) -> dict[str, Any]:
    """The pods of `namespace` with `labels`, on their container port `port` (a name or a
    number), each its own target, labelled with its namespace, pod and node."""
    port_rule = _keep(_meta("pod_container_port_number"), str(port)) if isinstance(port, int) else _keep(_meta("pod_container_port_name"), port)
    relabel = [*(_keep(_label(k), v) for k, v in labels.items()), port_rule]
    if not honor_labels:
        relabel += [_copy(_meta("namespace"), "namespace"), _copy(_meta("pod_name"), "pod")]
    relabel.append(_copy(_meta("pod_node_name"), "node"))
    job_config: dict[str, Any] = {
        "job_name": job,
        "kubernetes_sd_configs": [{"role": "pod", "namespaces": {"names": [namespace]}}],
        "relabel_configs": relabel,
    }
    if honor_labels:
        job_config["honor_labels"] = True  # its metrics' own namespace/pod labels name the objects
    return job_config


def node_proxy_job(job: str, path: str) -> dict[str, Any]:
    """Every node's kubelet endpoint `path`, through the API server's node proxy."""
    return {
        "job_name": job,
        **_api_auth(),
        "kubernetes_sd_configs": [{"role": "node"}],
        "relabel_configs": [
            {"target_label": "__address__", "replacement": API_SERVER},
            {"source_labels": [_meta("node_name")], "regex": "(.+)", "target_label": "__metrics_path__", "replacement": f"/api/v1/nodes/$1/proxy{path}"},
            _copy(_meta("node_name"), "instance"),
            _copy(_meta("node_name"), "node"),
        ],
    }


def apiserver_job() -> dict[str, Any]:
    """The API servers themselves: the `kubernetes` Service's endpoints, port `https`."""
    return {
        "job_name": "apiserver",
        **_api_auth(),
        "kubernetes_sd_configs": [{"role": "endpointslice", "namespaces": {"names": ["default"]}}],
        "relabel_configs": [
            {"source_labels": [_meta("service_name"), _meta("endpointslice_port_name")], "regex": "kubernetes;https", "action": "keep"},
        ],
    }


def etcd_job() -> dict[str, Any]:
    """K3s' embedded etcd on every server: its metrics listener, which `etcd-expose-metrics`
    adds on the node's address beside loopback (k3s pkg/etcd/etcd.go listenMetricsURLs), plain HTTP."""
    return {
        "job_name": "etcd",
        "kubernetes_sd_configs": [{"role": "node", "selectors": [{"role": "node", "label": f"{ETCD_NODE_LABEL}=true"}]}],
        "relabel_configs": [
            {
                "source_labels": [_meta("node_address_InternalIP")],
                "regex": "(.+)",
                "target_label": "__address__",
                "replacement": f"$1:{ports.ETCD_METRICS}",
            },
            _copy(_meta("node_name"), "instance"),
            _copy(_meta("node_name"), "node"),
        ],
    }


def valkey_job(t: ScrapeTargets) -> dict[str, Any]:
    """Valkey: one replica, the exporter's pod at /metrics. Replicated, every pod through the
    exporter's multi-target /scrape endpoint, relabelled as oliver006/redis_exporter's README
    ("Scrape Multiple Redis Hosts", v1.88.0) does: the pod's URI as the `target` parameter and
    `instance`, the exporter's Service as the address; `pod` and `namespace` as pod_job sets them."""
    if t.data_replicas == 1:
        return pod_job("valkey", t.data_namespace, {"app.kubernetes.io/name": REDIS_EXPORTER}, "metrics")
    return {
        "job_name": "valkey",
        "metrics_path": "/scrape",
        "static_configs": [{"targets": list(redis_urls(t.data_namespace, t.data_replicas))}],
        "relabel_configs": [
            {"source_labels": ["__address__"], "target_label": "__param_target"},
            {"source_labels": ["__param_target"], "target_label": "instance"},
            {"source_labels": ["__param_target"], "regex": "redis://([^.]+)\\..*", "target_label": "pod"},
            {"target_label": "namespace", "replacement": t.data_namespace},
            {"target_label": "__address__", "replacement": redis_exporter_host(t.data_namespace)},
        ],
    }


def host(name: str, namespace: str, port: int) -> str:
    return f"{name}.{namespace}.svc.cluster.local:{port}"


def scrape_configs(t: ScrapeTargets) -> list[dict[str, Any]]:
    ns = t.namespace
    jobs = [
        {"job_name": "prometheus", "static_configs": [{"targets": [f"localhost:{ports.PROMETHEUS}"]}]},
        pod_job("alertmanager", ns, {"app.kubernetes.io/name": "alertmanager"}, "http"),
        # node-exporter runs on the host network: its pod's address is the node's.
        {**pod_job("node", ns, {"app.kubernetes.io/name": "node-exporter"}, "metrics"), "scrape_timeout": timeout(t.interval)},
        pod_job("kube-state-metrics", ns, {"app.kubernetes.io/name": "kube-state-metrics"}, "http-metrics", honor_labels=True),
        node_proxy_job("kubelet", "/metrics"),
        node_proxy_job("cadvisor", "/metrics/cadvisor"),
        apiserver_job(),
        # The chart's gateway container serves its metrics on port `gw-metrics` (8082;
        # faas-netes chart/openfaas/templates/gateway-dep.yaml).
        pod_job("openfaas-gateway", t.openfaas_namespace, {"app": "gateway"}, "gw-metrics"),
        pod_job("nats", t.data_namespace, {"app.kubernetes.io/name": "nats-exporter"}, "metrics"),
        valkey_job(t),
    ]
    if t.edge:
        jobs += [
            # Traefik's chart: metrics.prometheus on entry point `metrics`, port 9100 (render/edge.py).
            pod_job("traefik", EDGE_NAMESPACE, {"app.kubernetes.io/name": "traefik"}, ports.TRAEFIK_METRICS),
            # cert-manager's controller: --metrics-listen-address defaults to 0.0.0.0:9402.
            pod_job("cert-manager", CERT_MANAGER_NAMESPACE, {"app.kubernetes.io/name": "cert-manager"}, ports.CERT_MANAGER_METRICS),
        ]
    jobs.append(etcd_job())
    return jobs


def prometheus_config(t: ScrapeTargets) -> dict[str, Any]:
    return {
        "global": {"scrape_interval": t.interval, "scrape_timeout": timeout(t.interval), "evaluation_interval": t.interval},
        "rule_files": [f"{RULES_DIR}/*.yml"],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [host("alertmanager", t.namespace, ports.ALERTMANAGER)]}]}]},
        "scrape_configs": scrape_configs(t),
    }


def render(config: dict[str, Any]) -> str:
    """The YAML text, in the data's own order (byte-identical for the same inputs)."""
    return yaml.safe_dump(config, sort_keys=False, default_flow_style=False)

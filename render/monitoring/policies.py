"""Who may talk to the monitoring stack, and where it may connect: NetworkPolicies as data,
in the shape of render/policies.py (docs/operations/monitoring.md#network-policies).

Ingress. NetworkPolicies add up: a pod some policy selects accepts the union of what its
policies admit. So where a scraped pod is already fenced (the gateway, Traefik, NATS, Redis)
one more policy of ours admits Prometheus, or the exporter, on exactly the metrics port;
pods no policy fences (cert-manager's) need none, and we add none (a first policy would
fence them). In the monitoring namespace nothing is admitted but:
    Grafana            -> Prometheus :9090
    Prometheus         -> Alertmanager :9093, kube-state-metrics :8080
Grafana admits nobody: an operator reaches it with `kubectl port-forward`, which enters the
pod's network namespace from the node, as the kubelet's probes do.

Egress (platformEgress restricted): DNS and the namespace itself; Prometheus the API server
(its discovery, the kubelet and cAdvisor through the node proxy, the API server's metrics),
the nodes' node-exporter :9100 and etcd :2381, the gateway's :8082, the exporters, Traefik's
:9100 and cert-manager's :9402; kube-state-metrics the API server. Alertmanager reaches the
receivers the alerting settings name (`receivers`), nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from render import policies
from render.monitoring import ports
from render.monitoring.exporters import NATS_EXPORTER, REDIS_EXPORTER
from settings.edge import CERT_MANAGER_NAMESPACE
from settings.edge import NAMESPACE as EDGE_NAMESPACE
from settings.nodes import NodeSpec
from settings.types import is_ip

NAME = "app.kubernetes.io/name"


def app(name: str) -> dict[str, Any]:
    return {"matchLabels": {NAME: name}}


def pods(namespace: str, selector: Mapping[str, Any]) -> dict[str, Any]:
    """The pods `selector` picks in `namespace`, as a policy peer."""
    return {"namespaceSelector": {"matchLabels": {policies.NAMESPACE_LABEL: namespace}}, "podSelector": dict(selector)}


def prometheus(namespace: str) -> dict[str, Any]:
    return pods(namespace, app("prometheus"))


@dataclass(frozen=True)
class Placement:
    """Where the monitored parts live."""

    namespace: str  # the monitoring namespace
    openfaas_namespace: str
    data_namespace: str
    edge: bool


def ingress_policies(p: Placement) -> list[dict[str, Any]]:
    """Every ingress policy of the monitoring stack, in every namespace it touches."""
    ns, data_ns = p.namespace, p.data_namespace
    found = [
        policies.default_deny(ns),
        policies.ingress_policy("prometheus-from-grafana", ns, app("prometheus"), [policies.rule([pods(ns, app("grafana"))], [ports.PROMETHEUS])]),
        policies.ingress_policy("alertmanager-from-prometheus", ns, app("alertmanager"), [policies.rule([prometheus(ns)], [ports.ALERTMANAGER])]),
        policies.ingress_policy(
            "kube-state-metrics-from-prometheus", ns, app("kube-state-metrics"), [policies.rule([prometheus(ns)], [ports.KUBE_STATE_METRICS])]
        ),
        # The OpenFaaS namespace: the gateway's metrics port, only to our Prometheus.
        policies.ingress_policy(
            "gateway-metrics-from-monitoring",
            p.openfaas_namespace,
            {"matchLabels": {"app": "gateway"}},
            [policies.rule([prometheus(ns)], [ports.GATEWAY_METRICS])],
        ),
        # The data namespace: each exporter to its server, Prometheus to the exporters.
        policies.ingress_policy("nats-monitor-from-exporter", data_ns, app("nats"), [policies.rule([pods(data_ns, app(NATS_EXPORTER))], [ports.NATS_MONITOR])]),
        policies.ingress_policy("redis-from-exporter", data_ns, app("redis"), [policies.rule([pods(data_ns, app(REDIS_EXPORTER))], [ports.REDIS])]),
        policies.ingress_policy(NATS_EXPORTER, data_ns, app(NATS_EXPORTER), [policies.rule([prometheus(ns)], [ports.NATS_EXPORTER])]),
        policies.ingress_policy(REDIS_EXPORTER, data_ns, app(REDIS_EXPORTER), [policies.rule([prometheus(ns)], [ports.REDIS_EXPORTER])]),
    ]
    if p.edge:
        found.append(
            policies.ingress_policy("traefik-metrics-from-monitoring", EDGE_NAMESPACE, policies.TRAEFIK, [policies.rule([prometheus(ns)], [ports.TRAEFIK_METRICS])])
        )
    return found


def _hosts(addresses: Iterable[str]) -> tuple[dict[str, Any], ...]:
    """ipBlocks for the addresses, or any address when one is a name (it has no fixed one)."""
    addresses = list(addresses)
    cidrs = sorted({policies.host_cidr(a) for a in addresses}) if all(is_ip(a) for a in addresses) else list(policies.ANYWHERE)
    return tuple(policies.ip_block(c) for c in cidrs)


def egress_policies(p: Placement, egress: policies.PlatformEgress, nodes: Iterable[NodeSpec], receivers: Iterable[tuple[str, tuple[int, ...]]] = ()) -> list[dict[str, Any]]:
    """platformEgress restricted: the monitoring namespace's pods reach DNS and each other; the
    rest per pod (module docstring). `receivers`: Alertmanager's destinations, (cidr, ports)."""
    ns = p.namespace
    nodes = list(nodes)
    servers = [n.address for n in nodes if n.role == "server"]
    scrape = [
        policies.api_server_rule(egress),
        policies.to_rule(_hosts(n.address for n in nodes), [ports.NODE_EXPORTER]),
        policies.to_rule(_hosts(servers), [ports.ETCD_METRICS]),
        policies.to_rule([pods(p.openfaas_namespace, {"matchLabels": {"app": "gateway"}})], [ports.GATEWAY_METRICS]),
        policies.to_rule([pods(p.data_namespace, app(NATS_EXPORTER))], [ports.NATS_EXPORTER]),
        policies.to_rule([pods(p.data_namespace, app(REDIS_EXPORTER))], [ports.REDIS_EXPORTER]),
    ]
    if p.edge:
        scrape += [
            policies.to_rule([pods(EDGE_NAMESPACE, policies.TRAEFIK)], [ports.TRAEFIK_METRICS]),
            policies.to_rule([pods(CERT_MANAGER_NAMESPACE, policies.CERT_MANAGER_CONTROLLER)], [ports.CERT_MANAGER_METRICS]),
        ]
    return [
        policies.egress_policy("default-deny-egress", ns, {}, ()),
        policies.egress_policy("monitoring-egress", ns, {}, [policies.dns_rule(), policies.to_rule([policies.peer(ns)])]),
        policies.egress_policy("prometheus-egress", ns, app("prometheus"), scrape),
        policies.egress_policy("kube-state-metrics-egress", ns, app("kube-state-metrics"), [policies.api_server_rule(egress)]),
        *(
            [policies.egress_policy("alertmanager-egress", ns, app("alertmanager"), [policies.to_rule([policies.ip_block(c)], list(pp)) for c, pp in receivers])]
            if receivers
            else []
        ),
    ]

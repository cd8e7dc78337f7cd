"""The stack's NetworkPolicies, tested as data: a small evaluator of Kubernetes' ingress
semantics answers "may this pod reach that pod on this port?" over every NetworkPolicy the
stack registers, and the tests hold it to the flows docs/security.md#network-policies lists.

The pods of our own workloads take their labels from the stack's own objects (the function
Deployment, the NATS and Redis StatefulSets, the connector); the chart's pods carry the `app`
labels its templates give them (gateway, queue-worker, prometheus).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from render import policies
from tests.conftest import stack
from tools.harness import PROJECT_DIR, StackRun, run_stack, unwrap


@dataclass(frozen=True)
class Pod:
    namespace: str | None  # None: outside the cluster (a client on the internet)
    labels: Mapping[str, str]
    ip: str | None = None  # for a destination outside the cluster (ipBlock peers)


EXTERNAL = Pod(None, {})


def selects(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """A Kubernetes label selector ({} selects everything)."""
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expr in selector.get("matchExpressions", []):
        key, op, values = expr["key"], expr["operator"], expr.get("values", [])
        ok = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[op]
        if not ok:
            return False
    return True


def in_block(block: Mapping[str, Any], ip: str | None) -> bool:
    """An ipBlock peer: inside `cidr` and in none of its `except` ranges."""
    if ip is None or ipaddress.ip_address(ip) not in ipaddress.ip_network(block["cidr"]):
        return False
    return not any(ipaddress.ip_address(ip) in ipaddress.ip_network(e) for e in block.get("except", []))


def peer_admits(peer: Mapping[str, Any], policy_ns: str, src: Pod) -> bool:
    if "ipBlock" in peer:
        return in_block(peer["ipBlock"], src.ip)
    if src.namespace is None:
        return False  # outside the cluster: only an ipBlock names it
    if "namespaceSelector" in peer:
        ns_labels = {policies.NAMESPACE_LABEL: src.namespace}
        if not selects(peer["namespaceSelector"], ns_labels):
            return False
    elif src.namespace != policy_ns:  # a bare podSelector means the policy's namespace
        return False
    return selects(peer.get("podSelector", {}), src.labels)


def _port_matches(rule: Mapping[str, Any], port: int, protocol: str) -> bool:
    ports = rule.get("ports", [])
    return not ports or any(p["port"] == port and p.get("protocol", "TCP") == protocol for p in ports)


def egress_peer_admits(peer: Mapping[str, Any], policy_ns: str, dst: Pod) -> bool:
    return peer_admits(peer, policy_ns, dst)  # the same peer semantics, for the destination


def egress_allowed(all_policies: list[dict[str, Any]], src: Pod, dst: Pod, port: int, protocol: str = "TCP") -> bool:
    """Kubernetes' rule for egress: a pod no egress policy selects may connect anywhere; a
    selected pod only where some rule of some policy selecting it allows the peer and port."""
    if src.namespace is None:
        return True
    selecting = [
        p
        for p in all_policies
        if p["metadata"]["namespace"] == src.namespace
        and "Egress" in p["spec"].get("policyTypes", [])
        and selects(p["spec"]["podSelector"], src.labels)
    ]
    if not selecting:
        return True
    return any(
        _port_matches(rule, port, protocol)
        and ("to" not in rule or any(egress_peer_admits(peer, p["metadata"]["namespace"], dst) for peer in rule["to"]))
        for p in selecting
        for rule in p["spec"].get("egress", [])
    )


def allowed(all_policies: list[dict[str, Any]], src: Pod, dst: Pod, port: int, protocol: str = "TCP") -> bool:
    """A connection needs both ends: the source's egress policies let it out and the
    destination's ingress policies let it in."""
    return egress_allowed(all_policies, src, dst, port, protocol) and ingress_allowed(all_policies, src, dst, port, protocol)


def ingress_allowed(all_policies: list[dict[str, Any]], src: Pod, dst: Pod, port: int, protocol: str = "TCP") -> bool:
    """Kubernetes' rule: a pod no ingress policy selects accepts everything; a selected pod
    accepts a connection if any rule of any policy selecting it admits the source and port."""
    selecting = [
        p
        for p in all_policies
        if p["metadata"]["namespace"] == dst.namespace
        and "Ingress" in p["spec"].get("policyTypes", ["Ingress"])
        and selects(p["spec"]["podSelector"], dst.labels)
    ]
    if not selecting:
        return True
    for p in selecting:
        for rule in p["spec"].get("ingress", []):
            if not _port_matches(rule, port, protocol):
                continue
            if "from" not in rule or any(peer_admits(peer, p["metadata"]["namespace"], src) for peer in rule["from"]):
                return True
    return False


def network_policies(run: StackRun) -> list[dict[str, Any]]:
    return [unwrap(r.inputs) for r in run.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")]


def template_labels(run: StackRun, name: str) -> dict[str, str]:
    return unwrap(run.get(name).inputs)["spec"]["template"]["metadata"]["labels"]


@pytest.fixture(scope="module")
def pods(oslo: StackRun) -> dict[str, Pod]:
    return {
        "internet": EXTERNAL,
        "intruder": Pod("default", {"app": "anything"}),
        "edge": Pod("edge", {"app.kubernetes.io/name": "traefik"}),
        "gateway": Pod("openfaas", {"app": "gateway"}),
        "queue-worker": Pod("openfaas", {"app": "queue-worker"}),
        "prometheus": Pod("openfaas", {"app": "prometheus"}),
        "bundled-nats": Pod("openfaas", {"app": "nats"}),
        "connector": Pod("openfaas", template_labels(oslo, "nats-connector-deployment")),
        "function": Pod("openfaas-fn", template_labels(oslo, "function-img-resize")),
        "other-function": Pod("openfaas-fn", {"faas_function": "other"}),
        "nats": Pod("faas-data", template_labels(oslo, "nats-statefulset")),
        "redis": Pod("faas-data", template_labels(oslo, "redis-statefulset")),
        "coredns": Pod("kube-system", {"k8s-app": "kube-dns"}),
        "outside": Pod(None, {}, ip="93.184.215.14"),
    }


# (source, destination, port, allowed): the list in docs/security.md#network-policies.
FLOWS = [
    ("internet", "gateway", 8080, True),
    ("intruder", "gateway", 8080, True),
    ("edge", "gateway", 8080, True),
    ("function", "gateway", 8080, True),
    ("connector", "gateway", 8080, True),
    ("gateway", "function", 8080, True),
    ("queue-worker", "function", 8080, True),
    ("prometheus", "function", 8081, True),
    ("gateway", "prometheus", 9090, True),
    ("queue-worker", "bundled-nats", 4222, True),
    ("function", "nats", 4222, True),
    ("connector", "nats", 4222, True),
    ("gateway", "nats", 4222, True),
    ("prometheus", "nats", 8222, True),
    ("function", "redis", 6379, True),
    # denied
    ("internet", "gateway", 8081, False),
    ("internet", "prometheus", 9090, False),
    ("internet", "function", 8080, False),
    ("intruder", "function", 8080, False),
    ("edge", "function", 8080, False),
    ("intruder", "prometheus", 9090, False),
    ("intruder", "bundled-nats", 4222, False),
    ("function", "prometheus", 9090, False),
    ("function", "bundled-nats", 4222, False),
    ("function", "other-function", 8080, False),
    ("connector", "function", 8080, False),
    ("gateway", "function", 9999, False),
    ("function", "nats", 8222, False),
    ("intruder", "nats", 4222, False),
    ("internet", "nats", 4222, False),
    ("gateway", "redis", 6379, False),
    ("intruder", "redis", 6379, False),
    ("internet", "redis", 6379, False),
    ("internet", "connector", 8080, False),
    # egress (functionEgress restricted; the data namespace reaches only DNS and itself)
    ("function", "coredns", 53, True),
    ("nats", "coredns", 53, True),
    ("function", "outside", 443, False),
    ("function", "outside", 80, False),
    ("nats", "outside", 443, False),
    ("redis", "outside", 443, False),
    ("function", "coredns", 9153, False),
    ("gateway", "outside", 443, True),  # CE's checkip.amazonaws.com: any address on 443
    ("gateway", "outside", 80, False),
    ("queue-worker", "outside", 443, False),  # an async callback to anywhere
    ("prometheus", "outside", 443, False),
    ("connector", "outside", 443, False),
]


@pytest.mark.parametrize(("src", "dst", "port", "expected"), FLOWS, ids=[f"{s}->{d}:{p}" for s, d, p, _ in FLOWS])
def test_flows(oslo: StackRun, pods: dict[str, Pod], src: str, dst: str, port: int, expected: bool) -> None:
    assert allowed(network_policies(oslo), pods[src], pods[dst], port) is expected


def test_every_pod_of_the_stack_namespaces_is_isolated(oslo: StackRun) -> None:
    """A namespace of ours with no default deny would accept anything into new pods."""
    found = network_policies(oslo)
    denied = {p["metadata"]["namespace"] for p in found if p["metadata"]["name"] == "default-deny-ingress"}
    assert denied == {"openfaas", "openfaas-fn", "monitoring"}
    # The data namespace has no default deny: each of its pods has its own policy (the
    # monitoring stack's exporters too).
    for name in ("nats-statefulset", "redis-statefulset", "monitoring-nats-exporter", "monitoring-redis-exporter"):
        dst = Pod("faas-data", template_labels(oslo, name))
        assert not allowed(found, Pod("default", {}), dst, 1), name


def test_policies_follow_the_configured_namespaces() -> None:
    run = run_stack("renamed", stack(openfaasNamespace="faas", openfaasFunctionNamespace="faas-fn", dataNamespace="state"))
    found = network_policies(run)
    gateway, function = Pod("faas", {"app": "gateway"}), Pod("faas-fn", {"faas_function": "img-resize"})
    assert allowed(found, gateway, function, 8080)
    assert not allowed(found, Pod("openfaas", {"app": "gateway"}), function, 8080)
    assert allowed(found, function, Pod("state", {"app.kubernetes.io/name": "redis"}), 6379)


# The evaluator itself, on hand-written policies, so a wrong verdict above cannot come from it.
def test_evaluator_unselected_pod_accepts_everything() -> None:
    assert allowed([policies.default_deny("a")], EXTERNAL, Pod("b", {}), 80)


def test_evaluator_policy_without_rules_denies() -> None:
    assert not allowed([policies.default_deny("a")], Pod("a", {}), Pod("a", {}), 80)


def test_evaluator_rules_add_up_and_ports_and_peers_must_both_match() -> None:
    found = [
        policies.default_deny("a"),
        policies.ingress_policy("x", "a", {"matchLabels": {"app": "db"}}, [policies.rule([policies.peer("b", ["web"])], [5432])]),
    ]
    db = Pod("a", {"app": "db"})
    assert allowed(found, Pod("b", {"app": "web"}), db, 5432)
    assert not allowed(found, Pod("b", {"app": "web"}), db, 5433)
    assert not allowed(found, Pod("b", {"app": "cron"}), db, 5432)
    assert not allowed(found, Pod("c", {"app": "web"}), db, 5432)
    assert not allowed(found, EXTERNAL, db, 5432)


# --- function egress (functionEgress, functionEgressAllow) -----------------------------------

FUNCTION = Pod("openfaas-fn", {"faas_function": "img-resize"})
REDIS = Pod("faas-data", {"app.kubernetes.io/name": "redis"})
DNS = Pod("kube-system", {"k8s-app": "kube-dns"})


def test_function_egress_allows_dns_redis_and_the_listed_ranges_only() -> None:
    allow = [{"cidr": "198.51.100.0/24", "ports": [443]}, {"cidr": "2001:db8:7::/48"}]
    found = network_policies(run_stack("egress", stack(functionEgressAllow=allow)))
    assert allowed(found, FUNCTION, REDIS, 6379)
    assert allowed(found, FUNCTION, DNS, 53, "UDP") and allowed(found, FUNCTION, DNS, 53, "TCP")
    assert allowed(found, FUNCTION, Pod(None, {}, ip="198.51.100.7"), 443)
    assert not allowed(found, FUNCTION, Pod(None, {}, ip="198.51.100.7"), 22)
    assert allowed(found, FUNCTION, Pod(None, {}, ip="2001:db8:7::1"), 5432)  # no ports: every port
    assert not allowed(found, FUNCTION, Pod(None, {}, ip="203.0.113.99"), 443)
    assert not allowed(found, FUNCTION, Pod(None, {}, ip="8.8.8.8"), 53, "UDP")  # DNS only through CoreDNS


def test_function_egress_open_lets_functions_out_and_is_warned_about() -> None:
    run = run_stack("open", stack(functionEgress="open"))
    found = network_policies(run)
    assert allowed(found, FUNCTION, Pod(None, {}, ip="203.0.113.99"), 443)
    assert not [p for p in found if "Egress" in p["spec"]["policyTypes"] and p["metadata"]["namespace"] == "openfaas-fn"]
    assert any("functionEgress is 'open'" in w for w in run.warnings())


def test_function_egress_follows_the_configured_namespaces() -> None:
    run = run_stack("renamed", stack(openfaasNamespace="faas", openfaasFunctionNamespace="faas-fn", dataNamespace="state"))
    found = network_policies(run)
    function = Pod("faas-fn", {"faas_function": "img-resize"})
    assert allowed(found, function, Pod("state", {"app.kubernetes.io/name": "redis"}), 6379)
    assert allowed(found, function, Pod("faas", {"app": "gateway"}), 8080)
    assert not allowed(found, function, Pod("openfaas", {"app": "gateway"}), 8080)


def test_evaluator_egress_ip_blocks_and_excepts() -> None:
    found = [policies.egress_policy("x", "a", {}, [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}]}])]
    assert egress_allowed(found, Pod("a", {}), Pod(None, {}, ip="10.2.0.1"), 1)
    assert not egress_allowed(found, Pod("a", {}), Pod(None, {}, ip="10.1.0.1"), 1)
    assert egress_allowed(found, Pod("b", {}), Pod(None, {}, ip="10.1.0.1"), 1)  # not selected


# --- the platform's egress (platformEgress restricted) ----------------------------------------
#
# The API server is no pod: K3s runs it in the k3s process on each server, behind the
# `kubernetes` Service. kube-proxy rewrites 10.43.0.1:443 to an endpoint (a server's address on
# 6443) before kube-router's policy chains see the packet, so the evaluator does the same:
# a Service is reachable when each of its endpoints is (kube-proxy may pick any).


@dataclass(frozen=True)
class Service:
    cluster_ip: str
    port: int
    endpoints: tuple[tuple[Pod, int], ...]


def host(ip: str) -> Pod:
    """An address outside every pod network: a node's own (host-network) process, or the internet."""
    return Pod(None, {}, ip=ip)


def service_allowed(all_policies: list[dict[str, Any]], src: Pod, service: Service) -> bool:
    return all(allowed(all_policies, src, dst, port) for dst, port in service.endpoints)


def kubernetes_service(*servers: str) -> Service:
    return Service("10.43.0.1", 443, tuple((host(ip), 6443) for ip in servers))


PLATFORM_PODS = {
    "gateway": Pod("openfaas", {"app": "gateway"}),
    "queue-worker": Pod("openfaas", {"app": "queue-worker"}),
    "prometheus": Pod("openfaas", {"app": "prometheus"}),
    "alertmanager": Pod("openfaas", {"app": "alertmanager"}),
    "bundled-nats": Pod("openfaas", {"app": "nats"}),
    "connector": Pod("openfaas", {"app.kubernetes.io/name": "nats-connector"}),
    "function": Pod("openfaas-fn", {"faas_function": "img-resize"}),
    "nats": Pod("faas-data", {"app.kubernetes.io/name": "nats"}),
    "redis": Pod("faas-data", {"app.kubernetes.io/name": "redis"}),
    "coredns": Pod("kube-system", {"k8s-app": "kube-dns"}),
    "traefik": Pod("edge", {"app.kubernetes.io/name": "traefik"}),
    "acme-solver": Pod("edge", {"acme.cert-manager.io/http01-solver": "true"}),
    "cert-manager": Pod("cert-manager", {"app.kubernetes.io/name": "cert-manager"}),
    "cert-manager-webhook": Pod("cert-manager", {"app.kubernetes.io/name": "webhook"}),
    "cainjector": Pod("cert-manager", {"app.kubernetes.io/name": "cainjector"}),
    "svclb": Pod("kube-system", {"svccontroller.k3s.cattle.io/svcname": "traefik"}),
    "intruder": Pod("default", {"app": "anything"}),
    # tromso's addresses: its server, its ACME CA (acmeServerCidrs), its functionEgressAllow range
    "api-server": host("203.0.113.20"),
    "acme-ca": host("203.0.113.53"),
    "allowed-callback": host("198.51.100.7"),
    "outside": host("93.184.215.14"),
    "other-node": host("203.0.113.99"),
}


@pytest.fixture(scope="module")
def tromso() -> StackRun:
    """The strict example: Pro, the edge, functionEgressAllow, acmeServerCidrs."""
    return run_stack("tromso")


# docs/security.md#network-policies' rows (from, to, port), each with the flows on the strict
# example (tromso) that prove it: (source, destination, port, protocol).
DOCUMENTED = {
    ("clients, Traefik, functions, the OpenFaaS namespace", "OpenFaaS gateway", "8080"): [
        ("traefik", "gateway", 8080, "TCP"), ("function", "gateway", 8080, "TCP"), ("connector", "gateway", 8080, "TCP"),
        ("queue-worker", "gateway", 8080, "TCP"), ("alertmanager", "gateway", 8080, "TCP"),
    ],
    ("the OpenFaaS namespace", "the OpenFaaS namespace", "any"): [
        ("gateway", "prometheus", 9090, "TCP"), ("prometheus", "gateway", 8082, "TCP"), ("prometheus", "alertmanager", 9093, "TCP"),
        ("alertmanager", "gateway", 8080, "TCP"), ("queue-worker", "bundled-nats", 4222, "TCP"),
    ],
    ("gateway, queue-worker", "function pods", "8080"): [("gateway", "function", 8080, "TCP"), ("queue-worker", "function", 8080, "TCP")],
    ("OpenFaaS' Prometheus", "function pods", "any"): [("prometheus", "function", 8081, "TCP")],
    ("OpenFaaS, function namespaces", "NATS", "4222"): [
        ("gateway", "nats", 4222, "TCP"), ("queue-worker", "nats", 4222, "TCP"), ("connector", "nats", 4222, "TCP"), ("function", "nats", 4222, "TCP"),
    ],
    ("OpenFaaS' Prometheus", "NATS", "8222"): [("prometheus", "nats", 8222, "TCP")],
    ("function namespace", "Redis", "6379"): [("function", "redis", 6379, "TCP")],
    ("Traefik", "ACME solver pods (edge)", "8089"): [("traefik", "acme-solver", 8089, "TCP")],
    ("function pods, the OpenFaaS, edge and cert-manager pods", "CoreDNS (kube-system)", "53 UDP/TCP"): [
        (src, "coredns", 53, proto)
        for src in ("function", "gateway", "queue-worker", "prometheus", "alertmanager", "connector", "traefik", "acme-solver", "cert-manager", "cert-manager-webhook")
        for proto in ("UDP", "TCP")
    ],
    ("function pods", "`functionEgressAllow` ranges", "their ports"): [("function", "allowed-callback", 443, "TCP")],
    ("queue-worker", "`functionEgressAllow` ranges", "their ports"): [("queue-worker", "allowed-callback", 443, "TCP")],
    ("gateway, Prometheus, Traefik, cert-manager", "the API server (each server's address)", "6443"): [
        (src, "api-server", 6443, "TCP") for src in ("gateway", "prometheus", "traefik", "cert-manager", "cert-manager-webhook", "cainjector")
    ],
    ("cert-manager's controller", "`acmeServerCidrs` (any address while empty)", "443"): [("cert-manager", "acme-ca", 443, "TCP")],
    ("cert-manager's controller", "Traefik; servicelb", "8000; 80"): [("cert-manager", "traefik", 8000, "TCP"), ("cert-manager", "svclb", 80, "TCP")],
}

# Refused on the strict example: each a way data could leave, or a pod reaching what it has no use for.
REFUSED = [
    ("queue-worker", "outside", 443),  # X-Callback-Url: https://anywhere
    ("queue-worker", "outside", 80),
    ("queue-worker", "allowed-callback", 22),  # an allowed range, another port
    ("queue-worker", "api-server", 6443),
    ("function", "outside", 443),
    ("function", "api-server", 6443),
    ("gateway", "outside", 443),  # Pro: no checkip
    ("gateway", "allowed-callback", 443),
    ("prometheus", "outside", 443),
    ("alertmanager", "outside", 443),  # no receivers outside the cluster
    ("alertmanager", "api-server", 6443),
    ("connector", "outside", 443),
    ("connector", "api-server", 6443),
    ("bundled-nats", "outside", 443),
    ("traefik", "outside", 443),  # no update check, no backend outside
    ("traefik", "function", 8080),  # only through the gateway
    ("traefik", "nats", 4222),
    ("acme-solver", "outside", 443),
    ("acme-solver", "api-server", 6443),
    ("cert-manager", "outside", 443),  # only the declared CA
    ("cert-manager", "acme-ca", 80),
    ("cert-manager", "gateway", 8080),
    ("cert-manager-webhook", "acme-ca", 443),  # only the controller talks ACME
    ("cert-manager", "other-node", 6443),  # not a server of this stack
    ("gateway", "coredns", 9153),
    ("traefik", "intruder", 80),
]


def documented_rows() -> list[tuple[str, str, str]]:
    """The (from, to, port) cells of docs/security.md#network-policies' table."""
    text = (PROJECT_DIR / "docs" / "security.md").read_text().split("## Network policies", 1)[1]
    rows = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| from ")]
    return [tuple(cell.strip() for cell in row.strip("|").split("|")[:3]) for row in rows]  # type: ignore[misc]


def test_the_documented_flows_are_the_ones_the_tests_check() -> None:
    assert documented_rows() == list(DOCUMENTED)


@pytest.mark.parametrize(
    ("src", "dst", "port", "protocol"),
    [flow for flows in DOCUMENTED.values() for flow in flows],
    ids=[f"{s}->{d}:{p}/{proto}" for flows in DOCUMENTED.values() for s, d, p, proto in flows],
)
def test_every_documented_flow_is_allowed_on_the_strict_example(tromso: StackRun, src: str, dst: str, port: int, protocol: str) -> None:
    assert allowed(network_policies(tromso), PLATFORM_PODS[src], PLATFORM_PODS[dst], port, protocol)


@pytest.mark.parametrize(("src", "dst", "port"), REFUSED, ids=[f"{s}->{d}:{p}" for s, d, p in REFUSED])
def test_what_the_strict_example_refuses(tromso: StackRun, src: str, dst: str, port: int) -> None:
    assert not allowed(network_policies(tromso), PLATFORM_PODS[src], PLATFORM_PODS[dst], port)


def test_every_platform_namespace_denies_egress_by_default(tromso: StackRun) -> None:
    """A new pod in any of the stack's namespaces (a chart upgrade adds one) reaches only DNS
    and its own namespace (in cert-manager's, where every pod is a controller, the API server too)."""
    found = network_policies(tromso)
    denied = {p["metadata"]["namespace"] for p in found if p["metadata"]["name"] == "default-deny-egress"}
    assert denied == {"openfaas", "openfaas-fn", "faas-data", "edge", "cert-manager", "monitoring"}
    # The monitoring namespace: egress as the others; its ingress is fenced per pod (its own test).
    newcomer = Pod("monitoring", {"app": "new"})
    assert allowed(found, newcomer, PLATFORM_PODS["coredns"], 53, "UDP")
    assert not allowed(found, newcomer, PLATFORM_PODS["outside"], 443)
    assert not allowed(found, newcomer, PLATFORM_PODS["api-server"], 6443)
    for ns in ("openfaas", "edge", "cert-manager"):
        newcomer = Pod(ns, {"app": "new-in-the-chart"})
        assert allowed(found, newcomer, PLATFORM_PODS["coredns"], 53, "UDP")
        assert allowed(found, newcomer, Pod(ns, {"app": "neighbour"}), 1234)
        assert not allowed(found, newcomer, PLATFORM_PODS["outside"], 443), ns
        assert allowed(found, newcomer, PLATFORM_PODS["api-server"], 6443) is (ns == "cert-manager"), ns


def test_the_api_server_is_reached_at_the_servers_addresses_not_the_service_address(tromso: StackRun) -> None:
    """What selects the API server: ipBlocks of the servers' addresses on 6443, because that is
    what the policy sees once kube-proxy has rewritten the `kubernetes` Service's address."""
    found = network_policies(tromso)
    assert service_allowed(found, PLATFORM_PODS["gateway"], kubernetes_service("203.0.113.20"))
    assert not service_allowed(found, PLATFORM_PODS["function"], kubernetes_service("203.0.113.20"))
    # A policy allowing the Service's own address would not let the pod through:
    naive = [policies.egress_policy("x", "a", {}, [policies.to_rule([policies.ip_block("10.43.0.1/32")], [443])])]
    assert not service_allowed(naive, Pod("a", {}), kubernetes_service("203.0.113.20"))
    assert allowed(naive, Pod("a", {}), host("10.43.0.1"), 443)  # what it does allow: never reached


def test_the_api_server_of_an_ha_stack_is_every_server_at_its_private_address(ha: StackRun) -> None:
    found = network_policies(ha)
    gateway = PLATFORM_PODS["gateway"]
    assert service_allowed(found, gateway, kubernetes_service("10.0.0.1", "10.0.0.2", "10.0.0.3"))
    assert not allowed(found, gateway, host("198.51.100.1"), 6443)  # the public address is not advertised
    assert not service_allowed(found, gateway, kubernetes_service("10.0.0.1", "10.0.0.4"))


def test_advertise_address_and_port_flags_move_the_api_server() -> None:
    run = run_stack("moved", stack(k3sExtraFlags=["--advertise-address=192.0.2.50", "--https-listen-port=7443"]))
    found = network_policies(run)
    assert allowed(found, PLATFORM_PODS["gateway"], host("192.0.2.50"), 7443)
    assert not allowed(found, PLATFORM_PODS["gateway"], host("203.0.113.10"), 6443)


def test_a_server_known_by_name_leaves_the_api_port_open_and_says_so() -> None:
    run = run_stack("named", stack(nodes=[{"name": "a", "host": "a.example.no"}]))
    found = network_policies(run)
    assert allowed(found, PLATFORM_PODS["prometheus"], PLATFORM_PODS["outside"], 6443)
    assert not allowed(found, PLATFORM_PODS["prometheus"], PLATFORM_PODS["outside"], 443)
    assert not allowed(found, PLATFORM_PODS["queue-worker"], PLATFORM_PODS["outside"], 6443)
    assert any("nodes[0].host 'a.example.no' is a name" in w and "platformEgress" in w for w in run.warnings())


def test_without_acme_server_cidrs_cert_manager_reaches_any_address_on_443_only_and_says_so() -> None:
    run = run_stack("le", stack(domain="faas.example.no", acmeEmail="ops@example.no", openfaasEdition="pro", openfaasLicense={"secure": "l"}))
    found = network_policies(run)
    assert allowed(found, PLATFORM_PODS["cert-manager"], PLATFORM_PODS["outside"], 443)  # Let's Encrypt's addresses change
    assert not allowed(found, PLATFORM_PODS["cert-manager"], PLATFORM_PODS["outside"], 80)
    assert not allowed(found, PLATFORM_PODS["cert-manager-webhook"], PLATFORM_PODS["outside"], 443)
    assert any("acmeServerCidrs is empty" in w for w in run.warnings())
    assert not any("acmeServerCidrs" in w for w in run_stack("tromso").warnings())


def test_callbacks_follow_function_egress_allow() -> None:
    allow = [{"cidr": "198.51.100.0/24", "ports": [443]}, {"cidr": "2001:db8:7::/48"}]
    found = network_policies(run_stack("callbacks", stack(functionEgressAllow=allow)))
    worker = PLATFORM_PODS["queue-worker"]
    assert allowed(found, worker, host("198.51.100.7"), 443)
    assert not allowed(found, worker, host("198.51.100.7"), 80)
    assert allowed(found, worker, host("2001:db8:7::1"), 8443)  # no ports: every port
    assert not allowed(found, worker, host("2001:db8:8::1"), 443)
    assert not allowed(found, worker, host("203.0.113.99"), 443)


def test_platform_egress_open_leaves_the_platform_namespaces_unrestricted() -> None:
    run = run_stack("open", stack(platformEgress="open", domain="faas.example.no", acmeEmail="ops@example.no"))
    found = network_policies(run)
    for pod in ("queue-worker", "gateway", "traefik", "cert-manager"):
        assert allowed(found, PLATFORM_PODS[pod], PLATFORM_PODS["outside"], 443), pod
    assert not [p for p in found if "Egress" in p["spec"]["policyTypes"] and p["metadata"]["namespace"] in ("openfaas", "edge", "cert-manager")]
    assert not allowed(found, PLATFORM_PODS["function"], PLATFORM_PODS["outside"], 443)  # functionEgress is apart
    assert not any("acmeServerCidrs" in w for w in run.warnings())


def test_platform_egress_refuses_other_values() -> None:
    from settings.errors import ConfigError
    from tests.conftest import settings_for

    with pytest.raises(ConfigError, match="platformEgress"):
        settings_for(stack(platformEgress="closed"))
    with pytest.raises(ConfigError, match="acmeServerCidrs"):
        settings_for(stack(acmeServerCidrs=["acme.example.no"]))


def test_evaluator_ingress_ip_blocks_and_excepts() -> None:
    found = [policies.ingress_policy("x", "a", {}, [policies.rule([{"ipBlock": {"cidr": "192.0.2.0/24", "except": ["192.0.2.128/25"]}}])])]
    assert allowed(found, host("192.0.2.1"), Pod("a", {}), 80)
    assert not allowed(found, host("192.0.2.200"), Pod("a", {}), 80)
    assert not allowed(found, EXTERNAL, Pod("a", {}), 80)  # an unknown address is in no block


def test_evaluator_a_service_needs_every_endpoint() -> None:
    found = [policies.egress_policy("x", "a", {}, [policies.to_rule([policies.ip_block("10.0.0.1/32")], [6443])])]
    assert service_allowed(found, Pod("a", {}), kubernetes_service("10.0.0.1"))
    assert not service_allowed(found, Pod("a", {}), kubernetes_service("10.0.0.1", "10.0.0.2"))


def test_cert_manager_reaches_the_acme_server_on_the_port_its_url_names() -> None:
    tls = {"domain": "faas.example.no", "acmeEmail": "ops@example.no", "acmeServerCidrs": ["203.0.113.53/32"]}
    found = network_policies(run_stack("ca", stack(acmeServer="https://acme.example.no:14000/directory", **tls)))
    assert allowed(found, PLATFORM_PODS["cert-manager"], PLATFORM_PODS["acme-ca"], 14000)
    assert not allowed(found, PLATFORM_PODS["cert-manager"], PLATFORM_PODS["acme-ca"], 443)


@pytest.fixture(scope="module")
def bergen() -> StackRun:
    """Three servers: NATS replicated (dataReplicas 3), its servers routed on 6222."""
    return run_stack("bergen")


NATS_POD = Pod("faas-data", {"app.kubernetes.io/name": "nats"})


@pytest.mark.parametrize(
    ("src", "expected"),
    [
        (NATS_POD, True),  # the other servers' routes
        (Pod("faas-data", {"app.kubernetes.io/name": "redis"}), False),  # its own namespace, not NATS
        (Pod("openfaas", {"app": "gateway"}), False),  # a client, on the route port
        (Pod("openfaas-fn", {"faas_function": "img-resize"}), False),
        (Pod("default", {"app.kubernetes.io/name": "nats"}), False),  # labelled as NATS, elsewhere
        (EXTERNAL, False),
    ],
    ids=["nats", "redis", "gateway", "function", "nats-label-elsewhere", "internet"],
)
def test_only_the_nats_servers_reach_the_route_port(bergen: StackRun, src: Pod, expected: bool) -> None:
    found = network_policies(bergen)
    assert allowed(found, src, NATS_POD, 6222) is expected
    assert allowed(found, NATS_POD, NATS_POD, 6222)  # egress too: the data namespace reaches itself

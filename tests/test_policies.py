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
from tools.harness import StackRun, run_stack, unwrap


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


def peer_admits(peer: Mapping[str, Any], policy_ns: str, src: Pod) -> bool:
    if src.namespace is None:
        return False  # ipBlock peers are not used by the stack
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
    if "ipBlock" in peer:
        block = peer["ipBlock"]
        if dst.ip is None or ipaddress.ip_address(dst.ip) not in ipaddress.ip_network(block["cidr"]):
            return False
        return not any(ipaddress.ip_address(dst.ip) in ipaddress.ip_network(e) for e in block.get("except", []))
    return peer_admits(peer, policy_ns, dst)


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
    ("gateway", "outside", 443, True),  # the OpenFaaS namespace's egress is not restricted (CE's checkip)
]


@pytest.mark.parametrize(("src", "dst", "port", "expected"), FLOWS, ids=[f"{s}->{d}:{p}" for s, d, p, _ in FLOWS])
def test_flows(oslo: StackRun, pods: dict[str, Pod], src: str, dst: str, port: int, expected: bool) -> None:
    assert allowed(network_policies(oslo), pods[src], pods[dst], port) is expected


def test_every_pod_of_the_stack_namespaces_is_isolated(oslo: StackRun) -> None:
    """A namespace of ours with no default deny would accept anything into new pods."""
    found = network_policies(oslo)
    denied = {p["metadata"]["namespace"] for p in found if p["metadata"]["name"] == "default-deny-ingress"}
    assert denied == {"openfaas", "openfaas-fn"}
    # The data namespace has no default deny: each of its pods has its own policy.
    for name in ("nats", "redis"):
        dst = Pod("faas-data", template_labels(oslo, f"{name}-statefulset"))
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

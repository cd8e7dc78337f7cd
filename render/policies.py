"""Who may talk to whom inside the cluster: the stack's NetworkPolicies, as data.

K3s enforces NetworkPolicy out of the box (its embedded kube-router policy controller), so
these objects are the in-cluster firewall. Only ingress is restricted: a pod selected by some
policy accepts only what one of its policies admits; the kubelet's probes come from the pod's
own node, which network policies always admit.

The flows (docs/security.md#network-policies):
    anyone               -> OpenFaaS gateway :8080   (clients, the edge, functions, connector)
    OpenFaaS namespace   -> OpenFaaS namespace       (gateway, queue, Prometheus, alertmanager)
    gateway, queue-worker-> function pods :8080      (CE's queue-worker calls functions directly)
    Prometheus           -> function pods, any port  (Pro scrapes pods that opt in)
    OpenFaaS, functions  -> NATS :4222; OpenFaaS -> NATS :8222   (render/nats.py)
    functions            -> Redis :6379                          (render/redis.py)
Everything else into these namespaces is dropped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from render.labels import MANAGED_BY
from settings.data_services import NATS_CLIENT_PORT, REDIS_PORT
from settings.function_spec import PORT as FUNCTION_PORT
from settings.openfaas import GATEWAY_PORT
from settings.sovereignty import SovereigntySettings

NAMESPACE_LABEL = "kubernetes.io/metadata.name"  # set by Kubernetes on every namespace
# Pod labels (`app`) of the chart's components that need to reach function pods.
CALLS_FUNCTIONS = ("gateway", "queue-worker")
SCRAPES_FUNCTIONS = ("prometheus",)


def peer(namespace: str, apps: Iterable[str] = ()) -> dict[str, Any]:
    """Pods of `namespace`; only those whose `app` label is one of `apps`, if given."""
    selected: dict[str, Any] = {"namespaceSelector": {"matchLabels": {NAMESPACE_LABEL: namespace}}}
    apps = sorted(apps)
    if apps:
        selected["podSelector"] = {"matchExpressions": [{"key": "app", "operator": "In", "values": apps}]}
    return selected


def rule(peers: Iterable[Mapping[str, Any]] | None, ports: Iterable[int] = ()) -> dict[str, Any]:
    """One ingress rule: from `peers` (None: from anywhere) on `ports` (none: every port)."""
    admitted: dict[str, Any] = {}
    if peers is not None:
        admitted["from"] = [dict(p) for p in peers]
    if ports:
        admitted["ports"] = [{"protocol": "TCP", "port": port} for port in ports]
    return admitted


def _policy(name: str, namespace: str, pod_selector: Mapping[str, Any], direction: str, rules: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """A NetworkPolicy of one direction ("Ingress" or "Egress") for the pods `pod_selector`
    picks: only what `rules` allow passes (no rules: nothing)."""
    spec: dict[str, Any] = {"podSelector": dict(pod_selector), "policyTypes": [direction]}
    rules = [dict(r) for r in rules]
    if rules:
        spec[direction.lower()] = rules
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace, "labels": {**MANAGED_BY}},
        "spec": spec,
    }


def ingress_policy(name: str, namespace: str, pod_selector: Mapping[str, Any], rules: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The pods `pod_selector` picks accept only what `rules` admit (no rules: nothing)."""
    return _policy(name, namespace, pod_selector, "Ingress", rules)


def default_deny(namespace: str) -> dict[str, Any]:
    """Every pod of `namespace` is isolated; the other policies there open what is needed."""
    return ingress_policy("default-deny-ingress", namespace, {}, ())


def openfaas_policies(namespace: str) -> list[dict[str, Any]]:
    """The OpenFaaS namespace admits outside traffic only to the gateway."""
    return [
        default_deny(namespace),
        ingress_policy("gateway-from-anywhere", namespace, {"matchLabels": {"app": "gateway"}}, [rule(None, [GATEWAY_PORT])]),
        ingress_policy("openfaas-internal", namespace, {}, [rule([peer(namespace)])]),
    ]


def function_policies(namespace: str, openfaas_namespace: str) -> list[dict[str, Any]]:
    """Function pods admit the gateway and the CE queue-worker on the function port, and
    OpenFaaS' Prometheus (Pro scrapes pods annotated `prometheus.io.scrape: "true"` on the
    port they name); nothing else, not even other functions."""
    functions = {"matchExpressions": [{"key": "faas_function", "operator": "Exists"}]}
    return [
        default_deny(namespace),
        ingress_policy(
            "functions-from-openfaas",
            namespace,
            functions,
            [
                rule([peer(openfaas_namespace, CALLS_FUNCTIONS)], [FUNCTION_PORT]),
                rule([peer(openfaas_namespace, SCRAPES_FUNCTIONS)]),
            ],
        ),
    ]


# --- egress: where pods of a namespace may connect -----------------------------------------------

DNS_PORT = 53
# CoreDNS, as K3s deploys it: kube-system, label k8s-app=kube-dns.
DNS_PEER = {"namespaceSelector": {"matchLabels": {NAMESPACE_LABEL: "kube-system"}}, "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}


def to_rule(peers: Iterable[Mapping[str, Any]], ports: Iterable[int] = (), protocols: Iterable[str] = ("TCP",)) -> dict[str, Any]:
    """One egress rule: to `peers` on `ports` (none: every port)."""
    allowed: dict[str, Any] = {"to": [dict(p) for p in peers]}
    ports = list(ports)
    if ports:
        allowed["ports"] = [{"protocol": proto, "port": port} for port in ports for proto in protocols]
    return allowed


def ip_block(cidr: str) -> dict[str, Any]:
    return {"ipBlock": {"cidr": cidr}}


def egress_policy(name: str, namespace: str, pod_selector: Mapping[str, Any], rules: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The pods `pod_selector` picks may connect only where `rules` allow (no rules: nowhere)."""
    return _policy(name, namespace, pod_selector, "Egress", rules)


def dns_rule() -> dict[str, Any]:
    return to_rule([DNS_PEER], [DNS_PORT], ("UDP", "TCP"))


@dataclass(frozen=True)
class FunctionEgress:
    """functionEgress restricted: besides DNS and the gateway, function pods may connect to the
    data services' ports in their namespace and to the functionEgressAllow destinations."""

    data_namespace: str
    data_ports: tuple[int, ...]
    allow: tuple[tuple[str, tuple[int, ...]], ...] = ()  # (cidr, ports; none: every port)


def function_egress(sovereignty: SovereigntySettings, data_namespace: str) -> FunctionEgress | None:
    """Where functions may connect; None when functionEgress is open."""
    if sovereignty.functions_open:
        return None
    allow = tuple((d.cidr, d.ports) for d in sovereignty.function_egress_allow)
    return FunctionEgress(data_namespace, (NATS_CLIENT_PORT, REDIS_PORT), allow)


def function_egress_policies(namespace: str, openfaas_namespace: str, egress: FunctionEgress) -> list[dict[str, Any]]:
    """functionEgress restricted: function pods connect to DNS, the gateway, NATS and Redis and
    the functionEgressAllow destinations; nothing else, the internet included."""
    rules = [
        dns_rule(),
        to_rule([peer(openfaas_namespace, ["gateway"])], [GATEWAY_PORT]),
        to_rule([peer(egress.data_namespace)], sorted(egress.data_ports)),
        *(to_rule([ip_block(cidr)], ports) for cidr, ports in egress.allow),
    ]
    return [
        egress_policy("default-deny-egress", namespace, {}, ()),
        egress_policy("functions-egress", namespace, {}, rules),
    ]


def data_egress_policies(namespace: str) -> list[dict[str, Any]]:
    """NATS and Redis reach nothing outside their namespace but DNS (a NATS cluster's routes
    and Redis stay inside it)."""
    return [
        egress_policy("default-deny-egress", namespace, {}, ()),
        egress_policy("data-egress", namespace, {}, [dns_rule(), to_rule([peer(namespace)])]),
    ]

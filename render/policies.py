"""Who may talk to whom inside the cluster: the stack's NetworkPolicies, as data.

K3s enforces NetworkPolicy out of the box (its embedded kube-router policy controller), so
these objects are the in-cluster firewall. A pod selected by some policy of a direction
accepts (ingress) or opens (egress) only what one of its policies of that direction allows;
the kubelet's probes come from the pod's own node, which network policies always admit.

The flows (docs/security.md#network-policies; tests/test_policies.py holds the two together):
    anyone               -> OpenFaaS gateway :8080   (clients, the edge, functions, connector)
    OpenFaaS namespace   -> OpenFaaS namespace       (gateway, queue, Prometheus, alertmanager)
    gateway, queue-worker-> function pods :8080      (CE's queue-worker calls functions directly)
    Prometheus           -> function pods, any port  (Pro scrapes pods that opt in)
    OpenFaaS, functions  -> NATS :4222; Prometheus -> NATS :8222  (render/nats.py)
    NATS pods            -> NATS :6222  (replicated: the routes)
    functions            -> Redis :6379                          (render/redis.py)
    replicated Valkey: functions -> its sentinels :26379; redis pods -> each other :6379, :26379
Egress, every namespace of the stack: DNS, and
    functions            -> the gateway, NATS, Redis, functionEgressAllow   (functionEgress)
    NATS, Redis          -> their own namespace
    with platformEgress restricted (the default), the OpenFaaS, edge and cert-manager pods:
    their own namespace; gateway, Prometheus, Traefik, cert-manager -> the API server;
    queue-worker -> functionEgressAllow only (async callbacks); cert-manager -> the ACME CA.
Everything else is dropped.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from render.addresses import url_host_port
from render.labels import MANAGED_BY
from settings.data_services import NATS_CLIENT_PORT, REDIS_PORT, REDIS_SENTINEL_PORT
from settings.function_spec import PORT as FUNCTION_PORT
from settings.k3s import K3sSettings
from settings.nodes import NodeSpec
from settings.openfaas import GATEWAY_PORT
from settings.sovereignty import SovereigntySettings
from settings.stack import Settings
from settings.types import is_ip

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


def function_egress(sovereignty: SovereigntySettings, data_namespace: str, redis_sentinels: bool = False) -> FunctionEgress | None:
    """Where functions may connect; None when functionEgress is open. `redis_sentinels`:
    replicated Valkey, whose clients ask the sentinels (render/redis.py) first."""
    if sovereignty.functions_open:
        return None
    allow = tuple((d.cidr, d.ports) for d in sovereignty.function_egress_allow)
    ports = (NATS_CLIENT_PORT, REDIS_PORT, *((REDIS_SENTINEL_PORT,) if redis_sentinels else ()))
    return FunctionEgress(data_namespace, ports, allow)


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


# --- the platform's egress (platformEgress): the OpenFaaS, edge and cert-manager namespaces --------

HTTPS_PORT = 443
API_SERVER_PORT = 6443  # K3s' https-listen-port default (render/k3s.py's API_PORT)
ANYWHERE = ("0.0.0.0/0", "::/0")
FUNCTION_PODS = {"matchExpressions": [{"key": "faas_function", "operator": "Exists"}]}
NATS_MONITOR_PORT = 8222  # render/nats.py's MONITOR_PORT (render/nats imports this module)
# cert-manager's controller: the only pod that talks ACME. The chart's templates/deployment.yaml
# labels its pods `app.kubernetes.io/name: cert-manager` (component "controller"); the webhook's
# and cainjector's are `webhook` and `cainjector`.
CERT_MANAGER_CONTROLLER = {"matchLabels": {"app.kubernetes.io/name": "cert-manager"}}
TRAEFIK = {"matchLabels": {"app.kubernetes.io/name": "traefik"}}
# K3s' servicelb runs one `svclb-<service>` pod per node in kube-system for each LoadBalancer
# Service, labelled with the Service's name; it holds the node's ports 80 and 443.
SERVICELB_LABEL = "svccontroller.k3s.cattle.io/svcname"


@dataclass(frozen=True)
class PlatformEgress:
    """platformEgress restricted: where the platform's own pods may connect.

    The API server is no pod: K3s runs it in the k3s process on each server, behind the
    `kubernetes` Service (10.43.0.1:443), whose endpoints are the servers' advertise addresses
    on 6443. kube-proxy rewrites the Service address to an endpoint before the filter hooks where
    kube-router applies the policies (its pod chains hang off INPUT, FORWARD and OUTPUT, matched
    on the pod's source address: kube-router pkg/controllers/netpol/pod.go), so a policy must
    allow the servers' addresses on 6443 as ipBlocks, not the Service's address."""

    function_namespace: str
    data_namespace: str
    api_server: tuple[str, ...]  # CIDRs of the servers' advertise addresses; (): unknown, any address
    api_port: int
    callbacks: tuple[tuple[str, tuple[int, ...]], ...] = ()  # functionEgressAllow: (cidr, ports)
    acme: tuple[str, ...] = ()  # acmeServerCidrs; (): any address
    acme_port: int = HTTPS_PORT  # acmeServer's port, if its URL names one
    checkip: bool = False  # CE's gateway calls https://checkip.amazonaws.com at start-up


def api_server_cidrs(servers: Iterable[NodeSpec], k3s: K3sSettings) -> tuple[str, ...]:
    """The `kubernetes` Service's endpoints: each server's advertise address. K3s advertises
    `advertise-address`, else node-external-ip, else node-ip (the stack's privateAddress), else
    kube-apiserver picks the address of the default route's interface, taken to be `host`
    (k3s pkg/cli/server/server.go). () when one is a name: it has no fixed address."""
    flag = k3s.extra_config.get("advertise-address")
    addresses = [str(flag)] if flag else [n.address for n in servers]
    if not all(is_ip(a) for a in addresses):
        return ()
    return tuple(sorted({host_cidr(a) for a in addresses}))


def api_server_port(k3s: K3sSettings) -> int:
    """Where the endpoints listen: advertise-port, else K3s' https-listen-port, else 6443."""
    flags = k3s.extra_config
    return int(flags.get("advertise-port") or flags.get("https-listen-port") or API_SERVER_PORT)


def acme_port(acme_server: str | None) -> int:
    """The ACME directory's port: the one acmeServer's URL names, else HTTPS' (Let's Encrypt's too)."""
    return (url_host_port(acme_server)[1] if acme_server else None) or HTTPS_PORT


def platform_egress(settings: Settings) -> PlatformEgress | None:
    """Where the platform's pods may connect; None when platformEgress is open."""
    sovereignty = settings.sovereignty
    if sovereignty.platform_open:
        return None
    return PlatformEgress(
        function_namespace=settings.openfaas.function_namespace,
        data_namespace=settings.data.namespace,
        api_server=api_server_cidrs(settings.servers, settings.k3s),
        api_port=api_server_port(settings.k3s),
        callbacks=tuple((d.cidr, d.ports) for d in sovereignty.function_egress_allow),
        acme=sovereignty.acme_server_cidrs,
        acme_port=acme_port(settings.edge.acme_server),
        checkip=not settings.openfaas.pro,
    )


def host_cidr(address: str) -> str:
    """One address as an ipBlock CIDR (/32 or /128)."""
    return str(ipaddress.ip_network(address))


def api_server_rule(egress: PlatformEgress) -> dict[str, Any]:
    cidrs = egress.api_server or ANYWHERE
    return to_rule([ip_block(c) for c in cidrs], [egress.api_port])


def _functions_peer(egress: PlatformEgress) -> dict[str, Any]:
    return {"namespaceSelector": {"matchLabels": {NAMESPACE_LABEL: egress.function_namespace}}, "podSelector": FUNCTION_PODS}


def _apps(*apps: str) -> dict[str, Any]:
    return {"matchExpressions": [{"key": "app", "operator": "In", "values": sorted(apps)}]}


def _namespace_base(namespace: str, name: str, extra: Iterable[Mapping[str, Any]] = ()) -> list[dict[str, Any]]:
    """Default-deny egress for `namespace`, and for every pod there DNS and its own namespace."""
    return [
        egress_policy("default-deny-egress", namespace, {}, ()),
        egress_policy(name, namespace, {}, [dns_rule(), to_rule([peer(namespace)]), *extra]),
    ]


def openfaas_egress_policies(namespace: str, egress: PlatformEgress) -> list[dict[str, Any]]:
    """The OpenFaaS namespace's pods reach DNS, each other and NATS (the connectors, the Pro
    gateway and queue-worker); besides that the gateway (faas-netes) the functions and the API
    server, the queue-worker the functions and, for async callbacks (X-Callback-Url), only
    functionEgressAllow, Prometheus the functions it scrapes, NATS' monitoring port and the API
    server (its service discovery). Nothing else: a callback to any other address is dropped.

    From the chart (faas-netes chart/openfaas/templates): the gateway pod runs faas-netes, which
    lists and scales functions through the API; prometheus-cfg.yaml discovers its targets with
    kubernetes_sd_configs (and in Pro reads node metrics through kubernetes.default.svc);
    queueworker-ce-dep.yaml and jetstream-queueworker-dep.yaml (both `app: queue-worker`) call
    the functions or the gateway, and whatever X-Callback-Url names."""
    gateway = [to_rule([_functions_peer(egress)], [FUNCTION_PORT]), api_server_rule(egress)]
    if egress.checkip:
        gateway.append(to_rule([ip_block(c) for c in ANYWHERE], [HTTPS_PORT]))
    callbacks = [to_rule([ip_block(cidr)], ports) for cidr, ports in egress.callbacks]
    prometheus = [to_rule([_functions_peer(egress)]), to_rule([peer(egress.data_namespace)], [NATS_MONITOR_PORT]), api_server_rule(egress)]
    return [
        *_namespace_base(namespace, "openfaas-egress", [to_rule([peer(egress.data_namespace)], [NATS_CLIENT_PORT])]),
        egress_policy("gateway-egress", namespace, _apps("gateway"), gateway),
        egress_policy("queue-worker-egress", namespace, _apps("queue-worker"), [to_rule([_functions_peer(egress)], [FUNCTION_PORT]), *callbacks]),
        egress_policy("prometheus-egress", namespace, _apps(*SCRAPES_FUNCTIONS), prometheus),
    ]


def edge_egress_policies(namespace: str, openfaas_namespace: str, egress: PlatformEgress) -> list[dict[str, Any]]:
    """The edge's pods reach DNS and each other (Traefik the ACME solvers); Traefik also its
    backend, the OpenFaaS gateway, and the API server (its Gateway API provider)."""
    traefik = [to_rule([peer(openfaas_namespace, ["gateway"])], [GATEWAY_PORT]), api_server_rule(egress)]
    return [*_namespace_base(namespace, "edge-egress"), egress_policy("traefik-egress", namespace, TRAEFIK, traefik)]


def cert_manager_egress_policies(namespace: str, edge_namespace: str, http_port: int, egress: PlatformEgress) -> list[dict[str, Any]]:
    """cert-manager's pods reach DNS, each other and the API server; its controller also the
    ACME server on its port (acmeServerCidrs, or any address while that is empty) and, for the
    HTTP-01 self-check (a GET of http://<domain>/.well-known/acme-challenge/<token> before
    asking the CA), the edge on port 80: Traefik's pods behind it (kube-proxy short-cuts a
    LoadBalancer address) or servicelb's pods holding the nodes' port 80."""
    acme = to_rule([ip_block(c) for c in egress.acme or ANYWHERE], [egress.acme_port])
    self_check = [
        to_rule([{**peer(edge_namespace), "podSelector": TRAEFIK}], [http_port]),
        to_rule([{**peer("kube-system"), "podSelector": {"matchLabels": {SERVICELB_LABEL: "traefik"}}}], [80]),
    ]
    return [
        *_namespace_base(namespace, "cert-manager-egress", [api_server_rule(egress)]),
        egress_policy("cert-manager-acme", namespace, CERT_MANAGER_CONTROLLER, [acme, *self_check]),
    ]

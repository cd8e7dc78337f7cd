"""TLS at the edge: the gateway served over HTTPS with a Let's Encrypt certificate.

Only when the stack names a `domain` (and an `acmeEmail`). Then:

    client --HTTPS :443--> Traefik (edge) --HTTP :8080--> OpenFaaS gateway (openfaas)
    client --HTTP  :80 --> Traefik: 301 to https://<domain>/...  (except ACME challenges)

- The Gateway API CRDs (standard channel, pinned in settings/versions.py), which the stack
  owns: Traefik's chart stopped shipping them in 40.2.0, and K3s 1.36 installs them only with
  its own Traefik, which the edge needs off (on K3s 1.37+ the stack also disables K3s'
  `gateway-api-crd` component, so there is one owner; components/cluster.py).
- Traefik (Helm chart, pinned) implements the Gateway API: one Gateway `edge` with an `http`
  and an `https` listener for the domain. K3s' servicelb publishes its Service on ports 80 and
  443 of the nodes. Why Traefik: see docs/edge.md.
- cert-manager (Helm chart, pinned) gets the certificate from Let's Encrypt with the ACME
  HTTP-01 challenge, answered through the same Gateway (it adds its own HTTPRoute for
  /.well-known/acme-challenge/<token>, an exact path, which wins over the redirect's `/`
  prefix), and renews it before it expires.
- The OpenFaaS gateway's own Service becomes ClusterIP: the edge is the only way in.

The Kubernetes objects and chart values are data here, so the tests check them, and the
references between them (issuer, secret, listener, backend), without a cluster;
components/edge.py registers them.
"""

from __future__ import annotations

from typing import Any

from render import policies
from settings.edge import ACME_SERVERS, CERT_MANAGER_NAMESPACE, NAMESPACE, EdgeSettings

GATEWAY = "edge"
GATEWAY_CLASS = "traefik"
TLS_SECRET = "gateway-tls"
# Traefik's entry points: a Gateway listener's port must be one of them (the Service maps
# 80 -> 8000 and 443 -> 8443).
HTTP_PORT, HTTPS_PORT = 8000, 8443
TRAEFIK_REPO = "https://traefik.github.io/charts"
CERT_MANAGER_REPO = "https://charts.jetstack.io"
ACME_ISSUER = "acme"  # the ClusterIssuer for acmeServer
# The external account binding's HMAC key, in cert-manager's namespace (where a ClusterIssuer's
# secret references are read).
EAB_SECRET, EAB_SECRET_KEY = "acme-eab", "secret"


# Every leaf key traefik_values writes. Each exists in the chart's values.yaml of the 40+
# schema (read at tag v41.3.0, the newest in a local mirror; 42.x's notes list no change to
# these: 42.4.2 dropped a pod label and narrowed ports.<name>.hostIP). The chart refuses
# unknown keys (values.schema.json, additionalProperties: false), so a typo fails the install.
TRAEFIK_CHART_KEYS = frozenset(
    {
        "providers.kubernetesGateway.enabled",
        "providers.kubernetesIngress.enabled",
        "providers.kubernetesCRD.enabled",
        "gateway.enabled",
        "gatewayClass.enabled",
        "gatewayClass.name",
        "ingressClass.enabled",
        "service.spec.type",
        "global.checkNewVersion",
        "global.sendAnonymousUsage",
        "metrics.prometheus.entryPoint",
        "ports.metrics.port",
        "resources.requests.cpu",
        "resources.requests.memory",
        "resources.limits.cpu",
        "resources.limits.memory",
    }
)


def traefik_values() -> dict[str, Any]:
    return {
        "providers": {
            "kubernetesGateway": {"enabled": True},
            "kubernetesIngress": {"enabled": False},  # Gateway API only
            "kubernetesCRD": {"enabled": False},
        },
        "gateway": {"enabled": False},  # ours is below, with the domain and TLS
        "gatewayClass": {"enabled": True, "name": GATEWAY_CLASS},
        "ingressClass": {"enabled": False},
        # K3s' servicelb: ports 80 and 443 on the nodes. Chart 40+: the Service's own spec.
        "service": {"spec": {"type": "LoadBalancer"}},
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "1", "memory": "256Mi"}},
        # No calls home: the chart's values.yaml defaults checkNewVersion to true (a request to
        # update.traefik.io; the egress inventory lists it while it is on).
        "global": {"checkNewVersion": False, "sendAnonymousUsage": False},
        # Prometheus metrics on entry point `metrics`, port 9100 (the chart's defaults, stated:
        # the monitoring stack's `traefik` job scrapes that port; values.yaml `metrics.prometheus`,
        # `ports.metrics`). Not exposed on the Service (ports.metrics.expose.default: false).
        "metrics": {"prometheus": {"entryPoint": "metrics"}},
        "ports": {"metrics": {"port": 9100}},
    }


def cert_manager_values() -> dict[str, Any]:
    return {
        "crds": {"enabled": True, "keep": True},  # keep: removing the chart keeps certificates
        "config": {
            "apiVersion": "controller.config.cert-manager.io/v1alpha1",
            "kind": "ControllerConfiguration",
            # The HTTP-01 solver through our Gateway (`enableGatewayAPI` is deprecated in 1.21).
            "gatewayAPI": {"enabled": True},
        },
    }


def manifests(settings: EdgeSettings, openfaas_namespace: str, gateway_service: str, gateway_port: int) -> dict[str, dict[str, Any]]:
    """Every custom object of the edge, by role."""
    assert settings.domain and settings.email
    domain = settings.domain
    return {
        **issuers(settings),
        "certificate": {
            "apiVersion": "cert-manager.io/v1",
            "kind": "Certificate",
            "metadata": {"name": TLS_SECRET, "namespace": NAMESPACE},
            "spec": {
                "secretName": TLS_SECRET,
                "dnsNames": [domain],
                "issuerRef": {"group": "cert-manager.io", "kind": "ClusterIssuer", "name": issuer_name(settings)},
                "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
            },
        },
        "gateway": {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "Gateway",
            "metadata": {"name": GATEWAY, "namespace": NAMESPACE},
            "spec": {
                "gatewayClassName": GATEWAY_CLASS,
                "listeners": [
                    {
                        "name": "http",
                        "protocol": "HTTP",
                        "port": HTTP_PORT,
                        "hostname": domain,
                        "allowedRoutes": {"namespaces": {"from": "Same"}},  # the redirect, ACME
                    },
                    {
                        "name": "https",
                        "protocol": "HTTPS",
                        "port": HTTPS_PORT,
                        "hostname": domain,
                        "tls": {"mode": "Terminate", "certificateRefs": [{"kind": "Secret", "group": "", "name": TLS_SECRET}]},
                        "allowedRoutes": {
                            "namespaces": {"from": "Selector", "selector": {"matchLabels": {"kubernetes.io/metadata.name": openfaas_namespace}}}
                        },
                    },
                ],
            },
        },
        "redirect": _route("https-redirect", NAMESPACE, "http", domain, {"filters": [{"type": "RequestRedirect", "requestRedirect": {"scheme": "https", "statusCode": 301}}]}),
        # In the OpenFaaS namespace, next to the Service it sends to: no ReferenceGrant needed.
        "route": _route("openfaas-gateway", openfaas_namespace, "https", domain, {"backendRefs": [{"name": gateway_service, "port": gateway_port}]}),
    }


def issuer_name(settings: EdgeSettings) -> str:
    """The ClusterIssuer the certificate uses: `acme` for acmeServer, else Let's Encrypt's."""
    return ACME_ISSUER if settings.acme_server else f"letsencrypt-{settings.issuer}"


def issuers(settings: EdgeSettings) -> dict[str, dict[str, Any]]:
    """The ClusterIssuers: one for acmeServer (with the external account binding, if any), or
    Let's Encrypt's production and staging. Each registers an ACME account with its server,
    so only the CA in use gets one."""
    servers = {ACME_ISSUER: settings.acme_server} if settings.acme_server else {f"letsencrypt-{n}": url for n, url in ACME_SERVERS.items()}
    found = {}
    for name, server in servers.items():
        acme: dict[str, Any] = {
            "email": settings.email,
            "server": server,
            "privateKeySecretRef": {"name": f"{name}-account"},
            "solvers": [{"http01": {"gatewayHTTPRoute": {"parentRefs": [_parent("http")]}}}],
        }
        if settings.acme_server and settings.eab_key_id:
            acme["externalAccountBinding"] = {"keyID": settings.eab_key_id, "keySecretRef": {"name": EAB_SECRET, "key": EAB_SECRET_KEY}}
        role = "issuer-acme" if settings.acme_server else f"issuer-{name.removeprefix('letsencrypt-')}"
        found[role] = {"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer", "metadata": {"name": name}, "spec": {"acme": acme}}
    return found


def network_policies(openfaas_namespace: str, egress: policies.PlatformEgress | None) -> list[dict[str, Any]]:
    """The edge namespace admits anyone to Traefik's entry points, and Traefik to the ACME
    solver pods cert-manager starts there; nothing else. With platformEgress restricted its pods
    reach DNS and each other, Traefik also the gateway and the API server."""
    found = [
        policies.default_deny(NAMESPACE),
        policies.ingress_policy("traefik-from-anywhere", NAMESPACE, policies.TRAEFIK, [policies.rule(None, [HTTP_PORT, HTTPS_PORT])]),
        policies.ingress_policy("edge-internal", NAMESPACE, {}, [policies.rule([policies.peer(NAMESPACE)])]),
    ]
    return found + (policies.edge_egress_policies(NAMESPACE, openfaas_namespace, egress) if egress else [])


def cert_manager_policies(egress: policies.PlatformEgress | None) -> list[dict[str, Any]]:
    """cert-manager's namespace: egress only (the API server calls its webhook from the host
    network, which a pod selector cannot name). The controller reaches the ACME server and, for
    the HTTP-01 self-check, Traefik's HTTP entry point."""
    return policies.cert_manager_egress_policies(CERT_MANAGER_NAMESPACE, NAMESPACE, HTTP_PORT, egress) if egress else []


def _route(name: str, ns: str, listener: str, domain: str, rule: dict[str, Any]) -> dict[str, Any]:
    """An HTTPRoute for `domain` on one listener of our Gateway, with one rule."""
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"parentRefs": [_parent(listener)], "hostnames": [domain], "rules": [rule]},
    }


def _parent(listener: str) -> dict[str, str]:
    return {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": GATEWAY, "namespace": NAMESPACE, "sectionName": listener}



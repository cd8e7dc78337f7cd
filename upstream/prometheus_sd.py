"""Prometheus' Kubernetes service discovery config, as Prometheus reads and validates it.

A port of prometheus/prometheus discovery/kubernetes/kubernetes.go at v3.14.0: the fields of
SDConfig, SelectorConfig and NamespaceDiscovery (yaml tags; config.HTTPClientConfig is inlined
in SDConfig), Role.UnmarshalYAML's roles and SDConfig.UnmarshalYAML's checks. Needed because
Debian's promtool and prometheus (2.42+ds) are built without the Kubernetes discovery: they
refuse `kubernetes_sd_configs` as an unknown field, so the tests check those blocks here and
the rest of prometheus.yml with the real promtool.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

ROLES = ("pod", "service", "endpoints", "endpointslice", "node", "ingress")
# allowedSelectors: which selector roles each discovery role takes.
ALLOWED_SELECTORS = {
    "pod": ("pod", "node"),
    "service": ("service",),
    "endpointslice": ("pod", "service", "endpointslice"),
    "endpoints": ("pod", "service", "endpoints"),
    "node": ("node",),
    "ingress": ("ingress",),
}
# config.HTTPClientConfig's yaml keys (prometheus/common config/http_config.go), inlined.
HTTP_CLIENT_KEYS = frozenset(
    {
        "basic_auth", "authorization", "oauth2", "bearer_token", "bearer_token_file", "tls_config", "proxy_url",
        "no_proxy", "proxy_from_environment", "proxy_connect_header", "follow_redirects", "enable_http2", "http_headers",
    }
)
SD_KEYS = frozenset({"api_server", "role", "kubeconfig_file", "namespaces", "selectors", "attach_metadata"}) | HTTP_CLIENT_KEYS
SELECTOR_KEYS = frozenset({"role", "label", "field"})
NAMESPACE_KEYS = frozenset({"own_namespace", "names"})
ATTACH_METADATA_KEYS = frozenset({"node", "namespace"})


def problems(sd: Mapping[str, Any]) -> list[str]:
    """What Prometheus would refuse in one kubernetes_sd_configs entry (empty: it loads)."""
    found = [f"field {k} not found in type kubernetes.SDConfig" for k in sorted(set(sd) - SD_KEYS)]
    role = sd.get("role")
    if not role:
        return [*found, "role missing (one of: pod, service, endpoints, endpointslice, node, ingress)"]
    if role not in ROLES:
        return [*found, f"unknown Kubernetes SD role {role!r}"]
    if sd.get("api_server") and sd.get("kubeconfig_file"):
        found.append("cannot use 'kubeconfig_file' and 'api_server' simultaneously")
    custom_http = any(k in sd for k in HTTP_CLIENT_KEYS)
    if custom_http and sd.get("kubeconfig_file"):
        found.append("cannot use a custom HTTP client configuration together with 'kubeconfig_file'")
    if custom_http and not sd.get("api_server"):
        found.append("to use custom HTTP client configuration please provide the 'api_server' URL explicitly")
    namespaces = sd.get("namespaces") or {}
    found += [f"field {k} not found in type kubernetes.NamespaceDiscovery" for k in sorted(set(namespaces) - NAMESPACE_KEYS)]
    if not all(isinstance(n, str) and n for n in namespaces.get("names") or []):
        found.append("namespaces.names must be a list of namespace names")
    found += [f"field {k} not found in type kubernetes.AttachMetadataConfig" for k in sorted(set(sd.get("attach_metadata") or {}) - ATTACH_METADATA_KEYS)]
    seen: set[str] = set()
    for selector in sd.get("selectors") or []:
        found += [f"field {k} not found in type kubernetes.SelectorConfig" for k in sorted(set(selector) - SELECTOR_KEYS)]
        sel_role = selector.get("role")
        if sel_role in seen:
            found.append(f"duplicated selector role: {sel_role}")
        seen.add(sel_role)
        if sel_role not in ALLOWED_SELECTORS[role]:
            found.append(f"{role} role supports only {', '.join(ALLOWED_SELECTORS[role])} selectors")
    return found

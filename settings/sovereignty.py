"""Sovereignty: where the stack's pods may send data, and strict mode, which refuses a stack
that depends on anything outside the country it does not declare. What is inventoried:
render/egress.py; docs/sovereignty.md.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator

from settings.base import Section, key
from settings.errors import expected, refused
from settings.types import Bool, Cidr, Port, canonical_host, one_of

FUNCTION_EGRESS = ("restricted", "open")
PLATFORM_EGRESS = ("restricted", "open")

# The upstreams themselves and the hosts they redirect to: whatever a config calls them, they
# are not in the country, so neither a "mirror" nor a declared host may be one of them (or a
# name under one). GitHub (releases, raw files, its asset CDN, GitHub Pages: the chart
# repositories of OpenFaaS and Traefik), the public registries and their CDNs, AWS, Google's
# artifact hosts, Let's Encrypt, and the pinned charts' and tools' own hosts.
UPSTREAM_DOMAINS = (
    "github.com", "githubusercontent.com", "github.io", "ghcr.io",
    "docker.io", "docker.com", "quay.io", "k8s.io", "gcr.io", "pkg.dev", "googleapis.com",
    "ecr.aws", "amazonaws.com", "cloudfront.net",
    "letsencrypt.org", "jetstack.io", "traefik.io", "k3s.io", "openfaas.com",
    # The nodes' own: the distribution's archive and services, public time and DNS services.
    "ubuntu.com", "canonical.com", "snapcraft.io", "debian.org", "ntp.org", "google.com", "cloudflare.com",
)
# Public resolvers by address: a resolver abroad sees every name the cluster looks up.
UPSTREAM_ADDRESSES = {
    "8.8.8.8": "Google Public DNS", "8.8.4.4": "Google Public DNS", "2001:4860:4860::8888": "Google Public DNS",
    "2001:4860:4860::8844": "Google Public DNS", "1.1.1.1": "Cloudflare", "1.0.0.1": "Cloudflare",
    "2606:4700:4700::1111": "Cloudflare", "2606:4700:4700::1001": "Cloudflare", "9.9.9.9": "Quad9", "149.112.112.112": "Quad9",
    "208.67.222.222": "OpenDNS", "208.67.220.220": "OpenDNS",
}
_DECLARED = re.compile(r"(?P<wild>\*\.)?(?P<host>\[[0-9a-fA-F:.]+\]|[^:\[\]]+)(?::(?P<port>[0-9]{1,5}))?")


def upstream_of(host: str) -> str | None:
    """The upstream domain `host` is (or is under), or None."""
    host = host.lower().strip("[]").removesuffix(".")
    if host in UPSTREAM_ADDRESSES:
        return UPSTREAM_ADDRESSES[host]
    return next((d for d in UPSTREAM_DOMAINS if host == d or host.endswith(f".{d}")), None)


def _declared_host(value: Any) -> str:
    """`host`, `host:port` or `*.domain[:port]`, canonical; never an upstream, never a wildcard
    over a whole top-level domain."""
    if not isinstance(value, str) or not (match := _DECLARED.fullmatch(value.strip())):
        raise expected("expected a host you declare in the country: 'acme.example.no', 'registry.example.no:5000' or '*.example.no'")
    host = canonical_host(match["host"].strip("[]"))
    port = match["port"]
    if port is not None and not 1 <= int(port) <= 65535:
        raise expected("expected a port from 1 to 65535")
    if match["wild"] and "." not in host:
        raise refused(f"'*.{host}' would declare a whole top-level domain in the country: name your own domain ('*.example.no')")
    if upstream := upstream_of(host):
        raise refused(f"{host!r} is an upstream ({upstream}), not a host in the country: declare your in-country mirror instead")
    shown = f"[{host}]" if ":" in host else host
    return f"{match['wild'] or ''}{shown}{f':{int(port)}' if port else ''}"


DeclaredHost = Annotated[str, BeforeValidator(_declared_host)]


class EgressAllow(Section):
    """One destination functions may reach outside the cluster."""

    cidr: Cidr = key("cidr", ..., "address range, e.g. 198.51.100.0/24")
    ports: tuple[Port, ...] = key("ports", (), "TCP ports; empty: every port")


class SovereigntySettings(Section):
    strict: Bool = key(
        "sovereignStrict",
        False,
        "Refuse the preview when anything the stack depends on (egress inventory, build/<stack>/egress.md) is neither an in-country mirror nor in egressAllowHosts",
    )
    allow_hosts: tuple[DeclaredHost, ...] = key(
        "egressAllowHosts",
        (),
        "Hosts you declare in the country: 'acme.example.no', 'registry.example.no:5000' (that port only) or '*.example.no'; "
        "strict mode requires every mirror and source to be one (upstream hosts such as github.com are refused)",
    )
    function_egress: Annotated[str, one_of(FUNCTION_EGRESS)] = key(
        "functionEgress",
        "restricted",
        "restricted: functions reach only DNS, the gateway, NATS, Redis and functionEgressAllow; open: anywhere (warned about)",
    )
    function_egress_allow: tuple[EgressAllow, ...] = key(
        "functionEgressAllow", (), "Destinations functions may reach outside the cluster: a list of {cidr, ports}", kind="object"
    )

    platform_egress: Annotated[str, one_of(PLATFORM_EGRESS)] = key(
        "platformEgress",
        "restricted",
        "restricted: the OpenFaaS, edge and cert-manager pods reach only what each needs (DNS, each other, the API server; "
        "async callbacks only functionEgressAllow; docs/security.md#network-policies); open: their egress is not restricted",
    )
    acme_server_cidrs: tuple[Cidr, ...] = key(
        "acmeServerCidrs",
        (),
        "Address ranges of the ACME server (acmeServer, or Let's Encrypt's), which cert-manager may reach on port 443 "
        "under platformEgress restricted; empty: any address on port 443 (warned about)",
    )

    @property
    def functions_open(self) -> bool:
        return self.function_egress == "open"

    def declares(self, host: str, port: int | None) -> bool:
        """`host` (on `port`) is one the operator declared in the country."""
        host = host.lower().strip("[]")
        for entry in self.allow_hosts:
            match = _DECLARED.fullmatch(entry)
            assert match  # entries were validated
            if match["port"] and port != int(match["port"]):
                continue
            name = match["host"].strip("[]")
            if host.endswith(f".{name}") if match["wild"] else host == name:
                return True
        return False

    @property
    def platform_open(self) -> bool:
        return self.platform_egress == "open"


def acme_anywhere_warning() -> str:
    return (
        "acmeServerCidrs is empty: under platformEgress 'restricted' cert-manager may still reach any address on the ACME "
        "server's port (443, or the one acmeServer names), as a host name cannot be a NetworkPolicy peer; list the ACME "
        "server's addresses in acmeServerCidrs"
    )


def api_server_anywhere_warning(node: str) -> str:
    return (
        f"{node} is a name: under platformEgress 'restricted' the pods that use the API server may reach any address on its port "
        "(a NetworkPolicy needs the servers' addresses); give the servers an IP as host or privateAddress"
    )


def open_egress_warning() -> str:
    return "functionEgress is 'open': functions may send data to any address on the internet; use 'restricted' with functionEgressAllow"

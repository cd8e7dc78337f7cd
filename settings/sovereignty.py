"""Sovereignty: where the stack's pods may send data, and strict mode, which refuses a stack
that depends on anything outside the country it does not declare. What is inventoried:
render/egress.py; docs/sovereignty.md.
"""

from __future__ import annotations

from typing import Annotated

from settings.base import Section, key
from settings.types import Bool, Cidr, Host, Port, one_of

FUNCTION_EGRESS = ("restricted", "open")
PLATFORM_EGRESS = ("restricted", "open")


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
    allow_hosts: tuple[Host, ...] = key(
        "egressAllowHosts", (), "Hosts you declare in the country (e.g. your ACME CA, acme.example.no): strict mode accepts them"
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

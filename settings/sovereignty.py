"""Sovereignty: where the stack's pods may send data, and strict mode, which refuses a stack
that depends on anything outside the country it does not declare. What is inventoried:
render/egress.py; docs/sovereignty.md.
"""

from __future__ import annotations

from typing import Annotated

from settings.base import Section, key
from settings.types import Bool, Cidr, Host, Port, one_of

FUNCTION_EGRESS = ("restricted", "open")


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

    @property
    def functions_open(self) -> bool:
        return self.function_egress == "open"


def open_egress_warning() -> str:
    return "functionEgress is 'open': functions may send data to any address on the internet; use 'restricted' with functionEgressAllow"

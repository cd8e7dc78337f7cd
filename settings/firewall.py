"""The host firewall: who may reach SSH and the Kubernetes API."""

from __future__ import annotations

import ipaddress

from pydantic import field_validator, model_validator

from settings.base import Section, key
from settings.errors import rules
from settings.types import Bool, Cidr


def _sort_key(cidr: str) -> tuple[int, int, int]:
    net = ipaddress.ip_network(cidr, strict=False)
    return (net.version, int(net.network_address), net.prefixlen)


class FirewallSettings(Section):
    enabled: Bool = key("firewall", True, "Host firewall (nftables) on every node, applied before K3s; needs adminCidrs")
    admin_cidrs: tuple[Cidr, ...] = key(
        "adminCidrs", (), "Address ranges allowed to use SSH and the Kubernetes API (6443), e.g. [198.51.100.7/32]; required while firewall is on"
    )
    allow_ssh_from_anywhere: Bool = key(
        "allowSshFromAnywhere", False, "Acknowledge an adminCidrs entry of 0.0.0.0/0 or ::/0 (SSH and the API open to the internet)"
    )

    @field_validator("admin_cidrs", mode="after")
    @classmethod
    def _sorted(cls, cidrs: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(sorted(set(cidrs), key=_sort_key))

    @model_validator(mode="after")
    def _reachable_but_not_open(self) -> FirewallSettings:
        if not self.enabled:
            return self
        rules([
            None if self.admin_cidrs else (
                "adminCidrs",
                "required while the host firewall is on: the address ranges allowed to use SSH and the "
                "Kubernetes API, e.g. ['198.51.100.7/32'] (an empty list would lock everyone out)",
            ),
            None if self.allow_ssh_from_anywhere or not any(ipaddress.ip_network(c).prefixlen == 0 for c in self.admin_cidrs) else (
                "adminCidrs",
                "0.0.0.0/0 or ::/0 opens SSH and the Kubernetes API to the whole internet; list your "
                "own ranges, or set allowSshFromAnywhere: true to say you mean it",
            ),
        ])
        return self

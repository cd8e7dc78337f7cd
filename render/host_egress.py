"""The inventory rows of the nodes' own endpoints (the "host run time" phase of
render/egress.py): the resolvers the nodes and CoreDNS ask. Kept apart from render/egress.py
so the host's rows grow here without touching the cluster's.
"""

from __future__ import annotations

from dataclasses import dataclass

from settings.stack import Settings

DNS_PORT = 53


@dataclass(frozen=True)
class HostRow:
    """One endpoint the nodes themselves reach (arguments of egress._Inventory.add)."""

    host: str
    port: int | None
    who: str
    why: str
    in_country: bool  # declared by the operator as an in-country server
    fix: str = ""
    note: str = ""


def host_rows(settings: Settings) -> list[HostRow]:
    return dns_rows(settings)


def dns_rows(settings: Settings) -> list[HostRow]:
    """The resolvers: dnsResolvers (the resolvers step points the node's systemd-resolved and
    K3s' resolv-conf, which CoreDNS forwards to, at them), or whatever the node was given."""
    who = "every node's resolver, and CoreDNS (kube-system) for every pod's lookups"
    resolvers = settings.host.dns_resolvers
    if resolvers:
        return [HostRow(ip, DNS_PORT, who, "DNS (dnsResolvers)", in_country=True) for ip in resolvers]
    return [HostRow(
        "the nodes' resolvers (/etc/resolv.conf)", DNS_PORT, who,
        "DNS: every name a node or a pod looks up", in_country=False, fix="dnsResolvers",
        note="a resolver abroad sees every name the cluster looks up, and can carry data encoded in them",
    )]

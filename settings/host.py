"""The nodes' own outbound traffic: the output policy of the host firewall and the in-country
servers the host itself talks to (DNS). What the policy admits: render/node/firewall.py;
docs/sovereignty.md#the-nodes-own-traffic.

Why addresses and not names: nftables matches addresses, and a name resolved when the rules
are written can resolve elsewhere the next day. So the policy never resolves anything: an
endpoint given as an IP literal (a mirror URL, the S3 endpoint) is admitted by itself, and an
endpoint given by name is reachable only through the ranges `nodeEgressAllow` declares for it.
A name that resolves outside them is dropped, and counted: the policy fails closed.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import field_validator

from settings.base import Section, key
from settings.errors import expected
from settings.types import Cidr, Host, IpAddress, Port, Url, matching, one_of

NODE_EGRESS = ("open", "restricted")
PHONE_HOME = ("keep", "off")
PROTOCOLS = ("tcp", "udp")
# It becomes a comment in the ruleset: no newline, no quote, nothing nft would read.
Why = Annotated[str, matching(r"[A-Za-z0-9 ._:/@()+-]{0,80}", "up to 80 letters, digits, spaces and . _ : / @ ( ) + -")]


class NodeEgressAllow(Section):
    """One destination the nodes themselves may reach (not their pods: NetworkPolicies)."""

    cidr: Cidr = key("cidr", ..., "address range, e.g. 198.51.100.0/24")
    ports: tuple[Port, ...] = key("ports", (), "ports; empty: every port")
    protocol: Annotated[str, one_of(PROTOCOLS, "'tcp' or 'udp'")] = key("protocol", "tcp", "tcp or udp")
    why: Why = key("why", "", "what it is, for the inventory and the ruleset's comment, e.g. 'registry.example.no'")


class HostSettings(Section):
    node_egress: Annotated[str, one_of(NODE_EGRESS)] = key(
        "nodeEgress",
        "open",
        "restricted: the nodes' own outbound traffic (an nftables output policy) reaches only loopback, the cluster, the other "
        "nodes, the admins' SSH sessions, dnsResolvers and nodeEgressAllow (plus IP-literal mirrors and S3); open: anywhere. "
        "Needs firewall; sovereignStrict needs restricted",
    )
    node_egress_allow: tuple[NodeEgressAllow, ...] = key(
        "nodeEgressAllow",
        (),
        "Destinations the nodes themselves may reach while nodeEgress is restricted: a list of {cidr, ports, protocol, why}; "
        "an endpoint given by name (a mirror, the S3 endpoint) needs its addresses here",
        kind="object",
    )
    dns_resolvers: tuple[IpAddress, ...] = key(
        "dnsResolvers",
        (),
        "In-country DNS resolvers (IP addresses): CoreDNS forwards to them instead of the nodes' /etc/resolv.conf, and the "
        "output policy admits DNS to them; sovereignStrict needs them",
    )

    ntp_servers: tuple[Host, ...] = key(
        "ntpServers", (), "In-country NTP servers (names or addresses) for systemd-timesyncd or chrony, with no fallback to the distribution's"
    )
    apt_mirror: Url | None = key(
        "aptMirror", None, "In-country mirror of the Ubuntu archive (every pocket, security included), e.g. https://mirror.example.no/ubuntu; replaces the distribution's sources"
    )
    phone_home: Annotated[str, one_of(PHONE_HOME)] = key(
        "distroPhoneHome",
        "keep",
        "off: turn off Ubuntu's calls home (motd-news, apport/whoopsie crash reports, Ubuntu Pro timers and apt news, snapd refreshes); keep: leave them",
    )

    @property
    def host_endpoints(self) -> bool:
        """Whether the host-endpoints step has anything to do."""
        return bool(self.ntp_servers or self.apt_mirror or self.phone_home == "off")

    @field_validator("dns_resolvers", mode="after")
    @classmethod
    def _at_most_three(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(value) > 3:
            raise expected(f"expected at most 3 resolvers (glibc and the kubelet read only the first 3), got {len(value)}")
        return value

    @property
    def restricted(self) -> bool:
        return self.node_egress == "restricted"

"""The inventory rows of the nodes' own endpoints (the "host run time" phase of
render/egress.py): the resolvers the nodes and CoreDNS ask, the time servers, the package
archive, and the distribution's calls home (Ubuntu's: the stack's nodes run Ubuntu or, where
the host-endpoints step says what it could not do, something else). Kept apart from render/egress.py
so the host's rows grow here without touching the cluster's.
"""

from __future__ import annotations

from dataclasses import dataclass

from render.addresses import url_host_port
from settings.stack import Settings

DNS_PORT = 53
NTP_PORT = 123
# Ubuntu's defaults: the archive and security pockets (http), and systemd-timesyncd's server.
UBUNTU_ARCHIVES = ("archive.ubuntu.com", "security.ubuntu.com")
UBUNTU_NTP = "ntp.ubuntu.com"
# Ubuntu's calls home, by host: what distroPhoneHome: off turns off (host-endpoints-apply.sh).
UBUNTU_PHONE_HOME = (
    ("motd.ubuntu.com", "motd-news (news in the login banner) and Ubuntu Pro's apt news"),
    ("daisy.ubuntu.com", "apport and whoopsie: crash reports, with memory of the crashed process"),
    ("contracts.canonical.com", "the Ubuntu Pro client's timers (ua-timer, esm-cache): the machine's status"),
    ("api.snapcraft.io", "snapd: automatic refreshes of installed snaps"),
)


@dataclass(frozen=True)
class HostRow:
    """One endpoint the nodes themselves reach (arguments of egress._Inventory.add)."""

    host: str
    port: int | None
    who: str
    why: str
    in_country: bool  # declared by the operator as an in-country server
    mirrored: bool = False  # and it is a mirror (the package archive)
    fix: str = ""
    note: str = ""


def host_rows(settings: Settings) -> list[HostRow]:
    return [*dns_rows(settings), *ntp_rows(settings), *apt_rows(settings), *phone_home_rows(settings)]


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


def ntp_rows(settings: Settings) -> list[HostRow]:
    who = "every node's time service (systemd-timesyncd or chrony)"
    servers = settings.host.ntp_servers
    if servers:
        return [HostRow(s, NTP_PORT, who, "NTP (ntpServers)", in_country=True) for s in servers]
    return [HostRow(UBUNTU_NTP, NTP_PORT, who, "NTP: Ubuntu's default time server", in_country=False, fix="ntpServers")]


def apt_rows(settings: Settings) -> list[HostRow]:
    who = "apt and unattended-upgrades on every node"
    mirror = settings.host.apt_mirror
    if mirror:
        host, port = url_host_port(mirror)
        return [HostRow(host, port, who, f"packages and security updates ({mirror})", in_country=True, mirrored=True)]
    return [HostRow(h, 80, who, "packages and security updates: Ubuntu's archive", in_country=False, fix="aptMirror") for h in UBUNTU_ARCHIVES]


def phone_home_rows(settings: Settings) -> list[HostRow]:
    if settings.host.phone_home == "off":
        return []
    return [HostRow(h, 443, "Ubuntu's own services on every node", why, in_country=False, fix="distroPhoneHome: off")
            for h, why in UBUNTU_PHONE_HOME]

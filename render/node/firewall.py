"""The host firewall: one nftables table per node, rendered here as text, applied by
`scripts/firewall/firewall-apply.sh` before K3s is installed.

Why our own table (`inet sovereign_faas`) and not ufw or a flushed ruleset: K3s, flannel and
kube-router write their own iptables(-nft) rules and must keep them. nftables evaluates every
base chain on a hook and a packet must pass all of them, so our input chain only decides what
reaches the node's own sockets, and never touches theirs.

What the table filters: connections to the node itself (the input hook): SSH, the Kubernetes
API, the kubelet, etcd, flannel. What it does not: traffic that Kubernetes DNATs to a pod
(NodePort and servicelb's LoadBalancer ports, e.g. the gateway's 8080 or the edge's 80/443)
takes the forward hook after that DNAT; which ports those are is decided by the cluster's
Services, and who may reach the pods by the NetworkPolicies (render/policies.py). The
public ports are still accepted on input, for a controller that listens on the host itself.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from render.addresses import HTTPS, url_host_port
from settings.backups import BackupsSettings
from settings.firewall import FirewallSettings
from settings.host import HostSettings
from settings.k3s import K3sSettings
from settings.mirrors import MirrorsSettings
from settings.nodes import NodeSpec
from settings.types import is_ip

TABLE = "sovereign_faas"
RULES_FILE = "/etc/sovereign-faas/firewall.nft"
# The interfaces pod traffic reaches the node through: the bridge of local pods, and
# flannel's tunnels from pods on other nodes (VXLAN, WireGuard; v4 and v6).
POD_INTERFACES = ("cni0", "flannel-v6.1", "flannel-wg", "flannel-wg-v6", "flannel.1")
API_PORT = 6443
KUBELET_PORT = 10250
ETCD_PORTS = (2379, 2380)  # embedded etcd, HA only
FLANNEL_VXLAN = 8472
FLANNEL_WIREGUARD = (51820, 51821)  # v4, v6
# embeddedRegistry: Spegel's peer-to-peer port; its registry is served on 6443, open anyway.
EMBEDDED_REGISTRY = 5001
# The monitoring stack's scrapes of the nodes themselves: node-exporter (host network) on every
# node and K3s' etcd metrics (etcd-expose-metrics) on the servers. A Prometheus pod on another
# node arrives masqueraded as that node's address, so the peers' rule must admit them.
METRICS_PORTS = (9100, 2381)
DNS_PORT = 53
NTP_PORT = 123
DROP_COUNTER = "egress_dropped"
DROP_LOG_PREFIX = "sovereign-faas egress drop: "
# What a node sends that is no connection of its own: neighbour discovery and multicast
# listener reports (IPv6 needs them to reach anything), DHCP requests (the lease).
_OUTPUT_BASICS = (
    "ct state established,related accept  # replies, and errors about our own connections",
    'oif "lo" accept',
    "icmpv6 type { nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert, mld-listener-report, mld2-listener-report } accept",
    "udp sport 68 udp dport 67 accept  # DHCP",
    "udp sport 546 udp dport 547 accept  # DHCPv6",
)


@dataclass(frozen=True)
class Destination:
    """An address range outside the cluster a node may connect to, and why."""

    cidr: str
    protocol: str  # "tcp", "udp" or "tcp+udp"
    ports: tuple[int, ...]  # empty: every port
    why: str


@dataclass(frozen=True)
class NodeEgress:
    """The output policy's declared destinations (nodeEgress: restricted)."""

    destinations: tuple[Destination, ...]


def node_egress(host: HostSettings, mirrors: MirrorsSettings, backups: BackupsSettings) -> NodeEgress | None:
    """The destinations of a restricted output policy; None while nodeEgress is open. IP-literal
    endpoints of the settings are admitted by themselves; named ones only through
    nodeEgressAllow (settings/host.py says why)."""
    if not host.restricted:
        return None
    found = [Destination(_host_cidr(ip), "tcp+udp", (DNS_PORT,), "DNS: dnsResolvers") for ip in host.dns_resolvers]
    found += [Destination(_host_cidr(s), "udp", (NTP_PORT,), "NTP: ntpServers") for s in host.ntp_servers if is_ip(s)]
    found += [Destination(a.cidr, a.protocol, a.ports, a.why or f"nodeEgressAllow[{i}]") for i, a in enumerate(host.node_egress_allow)]
    urls = [(url, "registryMirrors") for urls in mirrors.registry_mirrors.values() for url in urls]
    urls += [(mirrors.k3s_mirror, "k3sMirror")] if mirrors.k3s_mirror else []
    urls += [(host.apt_mirror, "aptMirror")] if host.apt_mirror else []
    urls += [(f"https://{backups.s3_endpoint}", "etcdS3Endpoint")] if backups.s3 and backups.s3_endpoint else []
    for url, why in urls:
        name, port = url_host_port(url)
        if is_ip(name):
            found.append(Destination(_host_cidr(name), "tcp", (port or HTTPS,), why))
    return NodeEgress(tuple(dict.fromkeys(found)))


def _host_cidr(ip: str) -> str:
    address = ipaddress.ip_address(ip)
    return f"{address}/{address.max_prefixlen}"


def ruleset(
    node: NodeSpec,
    nodes: tuple[NodeSpec, ...],
    firewall: FirewallSettings,
    k3s: K3sSettings,
    *,
    embedded_registry: bool,
    public_ports: tuple[int, ...],
    egress: NodeEgress | None = None,
    metrics_ports: tuple[int, ...] = (),
) -> str:
    """The nftables script for `node` of `nodes`: replaces our table atomically, nothing else.
    `embedded_registry` opens Spegel's port between the nodes; `public_ports` are where the
    gateway is served (the edge's 80/443, or the gateway's own port); `egress`, when given,
    adds the output policy; `metrics_ports` opens the monitoring stack's scrapes between the nodes."""
    peers = _ips(a for n in nodes if n is not node for a in (n.host, n.private_address))
    # Dual-stack clusters give both families, comma-separated.
    cluster = _split(k3s.networks)
    admin = _split(firewall.admin_cidrs)
    servers = sum(1 for n in nodes if n.role == "server")
    peer_tcp = [API_PORT, KUBELET_PORT, *(ETCD_PORTS if servers > 1 else ())]
    peer_note = ""
    if embedded_registry:
        peer_tcp.append(EMBEDDED_REGISTRY)
        peer_note = ", embedded registry"
    if metrics_ports:
        peer_tcp += list(metrics_ports)
        peer_note += ", metrics"
    wireguard = k3s.flannel_backend.startswith("wireguard")
    peer_udp = list(FLANNEL_WIREGUARD) if wireguard else [FLANNEL_VXLAN]

    sets: list[str] = []
    rules = [
        "ct state established,related accept",
        "ct state invalid drop",
        'iif "lo" accept',
        "meta l4proto ipv6-icmp accept  # neighbour discovery, path MTU",
        "icmp type { destination-unreachable, time-exceeded, parameter-problem } accept",
        "icmp type echo-request limit rate 10/second accept",
        # A DHCP-configured VPS must keep its lease: rebinding replies are broadcast and
        # match no tracked connection.
        "udp sport 67 udp dport 68 accept  # DHCP",
        "udp sport 547 udp dport 546 accept  # DHCPv6",
    ]
    for family, ip in (("v4", "ip"), ("v6", "ip6")):
        kind = "ipv4_addr" if family == "v4" else "ipv6_addr"
        for name, members in ((f"admin_{family}", admin[family]), (f"cluster_{family}", cluster[family]), (f"nodes_{family}", peers[family])):
            if members:
                sets.append(f"set {name} {{ type {kind}; flags interval; elements = {{ {', '.join(members)} }} }}")
        if admin[family]:
            rules.append(f"{ip} saddr @admin_{family} tcp dport {_set([node.port, API_PORT])} accept  # SSH, Kubernetes API")
        if cluster[family]:
            rules.append(f"iifname {_set(POD_INTERFACES, quote=True)} {ip} saddr @cluster_{family} accept  # pods to the node")
        if peers[family]:
            rules.append(f"{ip} saddr @nodes_{family} tcp dport {_set(peer_tcp)} accept  # API, kubelet, etcd{peer_note}")
            rules.append(f"{ip} saddr @nodes_{family} udp dport {_set(peer_udp)} accept  # flannel")
    ports = sorted(set(public_ports))
    if ports:
        rules.append(f"tcp dport {_set(ports)} accept  # public: the gateway")
    body = "\n".join([*(f"\t{s}" for s in sets), "\tchain input {", "\t\ttype filter hook input priority filter; policy drop;", *(f"\t\t{r}" for r in rules), "\t}"])
    if egress is not None:
        body += "\n" + _output_chain(egress, admin=admin, cluster=cluster, peers=peers, admin_ports=[node.port, API_PORT])
    return (
        f"# Written by sovereign-faas (Pulumi) for {node.name}. Local changes are overwritten.\n"
        f"table inet {TABLE}\n"
        f"delete table inet {TABLE}\n"  # the two lines make a re-apply replace, atomically
        f"table inet {TABLE} {{\n{body}\n}}\n"
    )


def _output_chain(egress: NodeEgress, *, admin: dict[str, list[str]], cluster: dict[str, list[str]], peers: dict[str, list[str]],
                  admin_ports: list[int]) -> str:
    """The output policy: what this node's own processes may connect to (module docstring)."""
    rules: list[str] = list(_OUTPUT_BASICS)
    for family, ip in (("v4", "ip"), ("v6", "ip6")):
        if cluster[family]:
            rules.append(f"{ip} daddr @cluster_{family} accept  # pods and Services")
        if peers[family]:
            rules.append(f"{ip} daddr @nodes_{family} accept  # the other nodes")
        if admin[family]:
            # Not only `established`: the session that applies this must survive a lost
            # conntrack entry too (firewall-apply.sh checks its client is in the admin set).
            rules.append(f"{ip} daddr @admin_{family} tcp sport {_set(sorted(set(admin_ports)))} accept  # replies to SSH and API sessions")
    rules += [_destination_rule(d) for d in egress.destinations]
    rules += [
        f'limit rate 10/minute burst 5 packets log prefix "{DROP_LOG_PREFIX}" level info',
        # Reject, not drop: the refused process fails at once (connect: No route to host; a
        # datagram: Operation not permitted) instead of hanging; nothing leaves the node.
        f"counter name {DROP_COUNTER} reject with icmpx type admin-prohibited",
    ]
    lines = [f"\tcounter {DROP_COUNTER} {{\n\t}}", "\tchain output {", "\t\ttype filter hook output priority filter; policy drop;"]
    return "\n".join([*lines, *(f"\t\t{r}" for r in rules), "\t}"])


def _destination_rule(d: Destination) -> str:
    ip = "ip6" if ipaddress.ip_network(d.cidr).version == 6 else "ip"
    protocols = ("tcp", "udp") if d.protocol == "tcp+udp" else (d.protocol,)
    match = f"meta l4proto {_set(protocols)}" + (f" th dport {_set(d.ports)}" if d.ports else "")
    return f"{ip} daddr {d.cidr} {match} accept  # {d.why}"


def _ips(addresses: Iterable[str | None]) -> dict[str, list[str]]:
    found: dict[str, set[str]] = {"v4": set(), "v6": set()}
    for a in addresses:
        try:
            ip = ipaddress.ip_address(a or "")
        except ValueError:
            continue  # a DNS name: node_address_problems reports it where it matters
        found[f"v{ip.version}"].add(str(ip))
    return {k: sorted(v, key=lambda s: ipaddress.ip_address(s)) for k, v in found.items()}


def _split(cidrs: Iterable[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {"v4": [], "v6": []}
    for c in sorted(set(cidrs), key=_sort_key):
        out[f"v{ipaddress.ip_network(c, strict=False).version}"].append(c)
    return out


def _sort_key(cidr: str) -> tuple[int, int, int]:
    net = ipaddress.ip_network(cidr, strict=False)
    return (net.version, int(net.network_address), net.prefixlen)


def _set(items: Iterable[object], quote: bool = False) -> str:
    values = [f'"{i}"' if quote else str(i) for i in items]
    return values[0] if len(values) == 1 else "{ " + ", ".join(values) + " }"

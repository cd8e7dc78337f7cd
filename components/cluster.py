"""The K3s cluster: its nodes in join order, its token, and a Kubernetes provider for it.

The first node is the server that bootstraps the cluster, always with embedded etcd
(`cluster-init`, also with one server, so that etcd snapshots exist:
docs/operations/backups.md). More servers make an HA control plane; they join one at a time, as etcd wants.
Agents follow, one at a time too: the same chain is the order of a rolling upgrade
(docs/operations/upgrading.md), where each node is drained, upgraded, Ready at the new version and uncordoned
before the next one starts.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s
from pulumi_command import remote

from components import registration
from components.node import Node, NodeArgs, connection
from render.k3s import ClusterK3s, cluster_identifier, k3s_config_text, kubelet_config, public_kubeconfig
from render.node.command import render_command
from render.node.steps import NodeFacts, node_facts, node_steps
from settings.firewall import FirewallSettings
from settings.host import HostSettings
from settings.kernel import KernelSettings
from settings.nodes import NodeSpec
from settings.stack import Settings
from settings.upgrades import UpgradeSettings


def secret_k3s_config(spec: NodeSpec, cluster: ClusterK3s, token: pulumi.Input[str]) -> pulumi.Output[str]:
    """config.yaml's text, a secret: it carries the token (and the S3 keys)."""
    return pulumi.Output.secret(pulumi.Output.from_input(token).apply(lambda t: k3s_config_text(spec, cluster, t)))


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class ClusterArgs:
    stack: str
    nodes: tuple[NodeSpec, ...]  # the first is the bootstrap server
    ssh_private_key: pulumi.Input[str] = field(repr=False)  # a secret
    k3s_config: ClusterK3s  # what every node's config.yaml is made of
    kernel: KernelSettings
    firewall: FirewallSettings
    host: HostSettings
    upgrades: UpgradeSettings
    public_ports: tuple[int, ...]

    @classmethod
    def of(cls, settings: Settings) -> ClusterArgs:
        return cls(
            stack=settings.stack,
            nodes=settings.nodes,
            ssh_private_key=settings.ssh_private_key,
            k3s_config=ClusterK3s.of(settings),
            kernel=settings.kernel,
            firewall=settings.firewall,
            host=settings.host,
            upgrades=settings.upgrades,
            public_ports=settings.public_ports,
        )

    @property
    def first_server(self) -> NodeSpec:
        return self.k3s_config.first_server

    def node_facts(self, spec: NodeSpec) -> NodeFacts:
        """What render/node/steps.py needs to know to build `spec`'s table of steps."""
        cluster = self.k3s_config
        return node_facts(
            spec,
            nodes=self.nodes,
            k3s=cluster.k3s,
            kernel=self.kernel,
            firewall_settings=self.firewall,
            mirrors=cluster.mirrors,
            upgrades=self.upgrades,
            public_ports=self.public_ports,
            kubelet_config=kubelet_config(cluster.k3s),
            host=self.host,
            backups=cluster.backups,
            metrics=cluster.metrics,
        )

    def join_order(self) -> tuple[NodeSpec, ...]:
        """Servers first, as etcd wants them one at a time, then the agents."""
        return (*(n for n in self.nodes if n.role == "server"), *(n for n in self.nodes if n.role == "agent"))


class Cluster(pulumi.ComponentResource):
    """Every node of the stack, joined into one K3s cluster."""

    nodes: dict[str, Node]
    kubeconfig: pulumi.Output[str]
    provider: k8s.Provider

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("sovereign-faas:index:Cluster", name, None, opts)
        token = registration.password(f"{name}-token", self, length=48)
        self.nodes = self._nodes(args, token)

        first, k3s = args.first_server, args.k3s_config.k3s
        server = self.nodes[first.name]
        read = remote.Command(
            f"{first.name}-kubeconfig",
            connection=connection(first, args.ssh_private_key),
            create=render_command("k3s-kubeconfig.sh", (), sudo=first.sudo),
            # Read again after whatever restarts K3s there (an upgrade, a config change): a
            # restart within 90 days of expiry is when K3s renews the admin certificate.
            triggers=[first.host, k3s.version, kubelet_config(k3s), server.config.stdin.apply(lambda text: _digest(text or ""))],
            logging=remote.Logging.NONE,
            opts=pulumi.ResourceOptions(
                parent=server,
                depends_on=[server.ready],
                additional_secret_outputs=["stdout"],
            ),
        )
        self._coredns_resolvers(args, server)
        self.kubeconfig = pulumi.Output.secret(read.stdout.apply(lambda text: public_kubeconfig(text, first.host)))
        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=self.kubeconfig,
            # Stable for the life of the cluster: a renewed certificate, a rotated CA or a
            # kubeconfig unknown at preview then updates the provider instead of replacing it
            # (which would replace every object in the cluster).
            cluster_identifier=cluster_identifier(args.stack, first.name),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"kubeconfig": self.kubeconfig})

    def _coredns_resolvers(self, args: ClusterArgs, server: Node) -> None:
        """CoreDNS reads its resolvers when it starts: restart it, on the first server, once
        every node has them, whenever dnsResolvers change (scripts/resolvers/)."""
        first, resolvers = args.first_server, args.host.dns_resolvers
        if not resolvers or "coredns" in args.k3s_config.k3s.disable:
            return
        last = self.nodes[args.join_order()[-1].name]
        remote.Command(
            f"{first.name}-coredns-resolvers",
            connection=connection(first, args.ssh_private_key),
            create=render_command("coredns-restart.sh", (), sudo=first.sudo),
            triggers=[first.host, *resolvers],
            opts=pulumi.ResourceOptions(parent=server, depends_on=list(last.done)),
        )

    def _nodes(self, args: ClusterArgs, token: pulumi.Output[str]) -> dict[str, Node]:
        nodes: dict[str, Node] = {}
        join_after: tuple[pulumi.Resource, ...] = ()
        for spec in args.join_order():
            node = Node(
                spec.name,
                NodeArgs(
                    steps=node_steps(args.node_facts(spec)),
                    private_key=args.ssh_private_key,
                    k3s_config=secret_k3s_config(spec, args.k3s_config, token),
                    join_after=join_after,
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
            nodes[spec.name] = node
            # One at a time, servers first: each node waits for the one before it.
            join_after = node.done
        return nodes

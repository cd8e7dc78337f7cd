"""The K3s cluster: its nodes in join order, its token, and a Kubernetes provider for it.

The first node is the server that bootstraps the cluster, always with embedded etcd
(`cluster-init`, also with one server, so that etcd snapshots exist: README "Backups and
restore"). More servers make an HA control plane; they join one at a time, as etcd wants.
Agents follow, one at a time too: the same chain is the order of a rolling upgrade (README
"Upgrading"), where each node is drained, upgraded, Ready at the new version and uncordoned
before the next one starts.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random
import yaml
from pulumi_command import remote

from components.node import Node, NodeArgs, connection
from render.node import registries
from render.node.command import render_command
from render.node.steps import node_facts, node_steps
from settings.k3s import GATEWAY_API_CRD_SINCE
from settings.kernel import POD_SYSCTLS_ALLOWED
from settings.nodes import NodeSpec
from settings.stack import Settings

API_PORT = 6443

# Of the `k3sExtraFlags`, the ones an agent understands too (the rest are server flags).
AGENT_FLAGS = ("kubelet-arg", "kube-proxy-arg", "node-label", "node-taint", "flannel-iface", "node-external-ip", "data-dir")


def endpoint(scheme: str, host: str, port: int) -> str:
    """`scheme://host:port`, with an IPv6 address in brackets."""
    try:
        if ipaddress.ip_address(host).version == 6:
            host = f"[{host}]"
    except ValueError:
        pass
    return f"{scheme}://{host}:{port}"


def api_url(host: str) -> str:
    return endpoint("https", host, API_PORT)


def k3s_config(spec: NodeSpec, settings: Settings, token: str) -> dict[str, Any]:
    """/etc/rancher/k3s/config.yaml for one node, as data (keys are K3s flag names)."""
    first = settings.first_server
    extra = settings.k3s.extra_config()
    config: dict[str, Any] = {
        "token": token,
        "node-name": spec.name,
        "snapshotter": settings.k3s.snapshotter,
        # Pods may set these namespaced sysctls (Redis raises its accept queue).
        "kubelet-arg": [f"allowed-unsafe-sysctls={','.join(POD_SYSCTLS_ALLOWED)}", *extra.pop("kubelet-arg", [])],
    }
    if spec.private_address:
        config["node-ip"] = spec.private_address
    if spec.name != first.name:
        config["server"] = api_url(first.address)
    config.update(registries.k3s_flags(spec, settings.config.mirrors))
    if spec.role == "agent":
        config.update({k: v for k, v in extra.items() if k in AGENT_FLAGS})
        return config
    disable = list(settings.k3s.disable)
    if settings.edge.enabled and settings.k3s.minor >= GATEWAY_API_CRD_SINCE:
        disable.append("gateway-api-crd")  # the edge owns the Gateway API CRDs
    config.update(
        {
            "disable": disable,
            "tls-san": sorted({spec.host, *([spec.private_address] if spec.private_address else [])}),
            "write-kubeconfig-mode": "0600",
            "secrets-encryption": True,
        }
    )
    if spec.name == first.name:
        # Embedded etcd even with one server (sqlite has no snapshots). On an existing
        # single server that ran on sqlite, K3s migrates the data to etcd at the restart.
        config["cluster-init"] = True
    config.update(settings.backups.k3s_config())  # every server snapshots its etcd member
    config.update(extra)
    return config


def kubelet_config(settings: Settings) -> str:
    """The kubelet drop-in (KubeletConfiguration YAML), the same on every node."""
    header = "# Written by sovereign-faas (Pulumi, kubelet-config.sh). Local changes are overwritten.\n"
    return header + yaml.safe_dump(settings.k3s.kubelet_config(), sort_keys=False, default_flow_style=False)


def render_k3s_config(spec: NodeSpec, settings: Settings, token: pulumi.Input[str]) -> pulumi.Output[str]:
    text = pulumi.Output.from_input(token).apply(
        lambda t: yaml.safe_dump(k3s_config(spec, settings, t), sort_keys=True, default_flow_style=False)
    )
    return pulumi.Output.secret(text)


def public_kubeconfig(text: str, host: str) -> str:
    """K3s writes its kubeconfig for https://127.0.0.1:6443; point it at the public address."""
    doc = yaml.safe_load(text)
    if not isinstance(doc, dict) or not doc.get("clusters"):
        raise ValueError("the server's /etc/rancher/k3s/k3s.yaml has no clusters")
    for cluster in doc["clusters"]:
        cluster["cluster"]["server"] = api_url(host)
    return yaml.safe_dump(doc, sort_keys=False)


def cluster_identifier(settings: Settings) -> str:
    """The Kubernetes provider's identity: the stack and its bootstrap server, which the
    stack refuses to change (settings/upgrades.py)."""
    return f"{settings.stack}/{settings.first_server.name}"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class ClusterArgs:
    settings: Settings


class Cluster(pulumi.ComponentResource):
    """Every node of the stack, joined into one K3s cluster."""

    nodes: dict[str, Node]
    kubeconfig: pulumi.Output[str]
    provider: k8s.Provider

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("sovereign-faas:index:Cluster", name, None, opts)
        settings = args.settings
        token = random.RandomPassword(
            f"{name}-token",
            length=48,
            special=False,  # it ends up in YAML and URLs; length gives the strength
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.nodes = self._nodes(settings, pulumi.Output.secret(token.result))

        first = settings.first_server
        server = self.nodes[first.name]
        read = remote.Command(
            f"{first.name}-kubeconfig",
            connection=connection(first, settings.ssh_private_key),
            create=render_command("k3s-kubeconfig.sh", (), sudo=first.sudo),
            # Read again after whatever restarts K3s there (an upgrade, a config change): a
            # restart within 90 days of expiry is when K3s renews the admin certificate.
            triggers=[first.host, settings.k3s.version, kubelet_config(settings), server.config.stdin.apply(lambda text: _digest(text or ""))],
            logging=remote.Logging.NONE,
            opts=pulumi.ResourceOptions(
                parent=server,
                depends_on=[server.ready],
                additional_secret_outputs=["stdout"],
            ),
        )
        self.kubeconfig = pulumi.Output.secret(read.stdout.apply(lambda text: public_kubeconfig(text, first.host)))
        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=self.kubeconfig,
            # Stable for the life of the cluster: a renewed certificate, a rotated CA or a
            # kubeconfig unknown at preview then updates the provider instead of replacing it
            # (which would replace every object in the cluster).
            cluster_identifier=cluster_identifier(settings),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"kubeconfig": self.kubeconfig})

    def _nodes(self, settings: Settings, token: pulumi.Output[str]) -> dict[str, Node]:
        nodes: dict[str, Node] = {}
        join_after: tuple[pulumi.Resource, ...] = ()
        config = settings.config
        for spec in (*settings.servers, *(n for n in settings.nodes if n.role == "agent")):
            facts = node_facts(
                spec,
                nodes=settings.nodes,
                k3s=config.k3s,
                kernel=config.kernel,
                firewall_settings=config.firewall,
                mirrors=config.mirrors,
                upgrades=config.upgrades,
                public_ports=settings.public_ports,
                kubelet_config=kubelet_config(settings),
            )
            node = Node(
                spec.name,
                NodeArgs(
                    steps=node_steps(facts),
                    private_key=settings.ssh_private_key,
                    k3s_config=render_k3s_config(spec, settings, token),
                    join_after=join_after,
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
            nodes[spec.name] = node
            # One at a time, servers first: each node waits for the one before it.
            join_after = node.done
        return nodes

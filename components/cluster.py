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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random
import yaml
from pulumi_command import remote

from components import firewall, registries
from components.node import Node, NodeArgs, connection
from components.remote import render_command
from render.k3s import api_url, cluster_identifier, etcd_snapshots, kubelet_config, public_kubeconfig
from settings.k3s import GATEWAY_API_CRD_SINCE
from settings.kernel import POD_SYSCTLS_ALLOWED
from settings.nodes import NodeSpec
from settings.stack import Settings

# Of the `k3sExtraFlags`, the ones an agent understands too (the rest are server flags).
AGENT_FLAGS = ("kubelet-arg", "kube-proxy-arg", "node-label", "node-taint", "flannel-iface", "node-external-ip", "data-dir")


def k3s_config(spec: NodeSpec, settings: Settings, token: str) -> dict[str, Any]:
    """/etc/rancher/k3s/config.yaml for one node, as data (keys are K3s flag names)."""
    first = settings.first_server
    extra = settings.k3s.extra_config
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
    config.update(registries.k3s_flags(spec, settings.mirrors))
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
    config.update(etcd_snapshots(settings.backups))  # every server snapshots its etcd member
    config.update(extra)
    return config


def _mirror_args(spec: NodeSpec, settings: Settings) -> dict[str, Any]:
    """NodeArgs for the mirrors (components/registries.py): the registries step's stdin (a
    secret when it carries credentials), the install source, the air-gap uploads."""
    mirrors, version = settings.mirrors, settings.k3s.version
    stdin = registries.registries_stdin(mirrors)
    folder = registries.assets_dir(spec, version)
    local = Path(mirrors.k3s_airgap_dir or ".").expanduser()
    uploads = tuple((str(local / file), f"{folder}/{file}") for file in registries.airgap_files(mirrors))
    return {
        "registries": pulumi.Output.secret(stdin) if stdin is not None and mirrors.registry_auth else stdin,
        "install_source": registries.install_source(spec, mirrors, version),
        "uploads": uploads,
    }


def render_k3s_config(spec: NodeSpec, settings: Settings, token: pulumi.Input[str]) -> pulumi.Output[str]:
    text = pulumi.Output.from_input(token).apply(
        lambda t: yaml.safe_dump(k3s_config(spec, settings, t), sort_keys=True, default_flow_style=False)
    )
    return pulumi.Output.secret(text)


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
            triggers=[first.host, settings.k3s.version, kubelet_config(settings.k3s), server.config.stdin.apply(lambda text: _digest(text or ""))],
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
            cluster_identifier=cluster_identifier(settings.stack, settings.first_server.name),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"kubeconfig": self.kubeconfig})

    def _nodes(self, settings: Settings, token: pulumi.Output[str]) -> dict[str, Node]:
        nodes: dict[str, Node] = {}
        join_after: tuple[pulumi.Resource, ...] = ()
        several = len(settings.nodes) > 1
        for spec in (*settings.servers, *(n for n in settings.nodes if n.role == "agent")):
            node = Node(
                spec.name,
                NodeArgs(
                    spec=spec,
                    private_key=settings.ssh_private_key,
                    k3s_version=settings.k3s.version,
                    k3s_config=render_k3s_config(spec, settings, token),
                    sysctl=settings.kernel.sysctl,
                    ready_timeout=settings.k3s.ready_timeout,
                    checker=settings.first_server,
                    join_after=join_after,
                    firewall=firewall.ruleset(spec, settings) if settings.firewall.enabled else None,
                    transparent_huge_pages=settings.kernel.transparent_huge_pages,
                    io_scheduler=settings.kernel.io_scheduler,
                    kubelet_config=kubelet_config(settings.k3s),
                    kubelet_dropin=settings.k3s.kubelet_dropin,
                    **_mirror_args(spec, settings),
                    # One node has nowhere to move its pods to: it is upgraded in place.
                    drain=several,
                    removable=spec.name != settings.first_server.name,
                    drain_timeout=settings.upgrades.drain_timeout,
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
            nodes[spec.name] = node
            # One at a time, servers first: each node waits for the one before it.
            join_after = (node.done,)
        return nodes

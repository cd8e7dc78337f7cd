"""K3s' own files, as data and text: /etc/rancher/k3s/config.yaml per node, the kubelet drop-in
every node gets, and the admin kubeconfig pointed at the public address.

config.yaml's keys are K3s flag names. The stack writes some itself (settings/k3s.py
MANAGED_FLAGS says which and why); `k3sExtraFlags` adds the rest, agents getting only those an
agent understands. The file carries the cluster token and, on servers, the S3 keys of the etcd
snapshots: components/cluster.py keeps the text a Pulumi secret and sends it on stdin.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from render.addresses import endpoint
from render.node import registries
from settings.backups import BackupsSettings
from settings.k3s import GATEWAY_API_CRD_SINCE, K3sSettings
from settings.kernel import POD_SYSCTLS_ALLOWED
from settings.mirrors import MirrorsSettings
from settings.nodes import NodeSpec
from settings.stack import Settings

API_PORT = 6443
RESOLV_CONF = "/etc/sovereign-faas/resolv.conf"  # written by the resolvers step (dnsResolvers)


def api_url(host: str) -> str:
    return endpoint("https", host, API_PORT)


# Of the `k3sExtraFlags`, the ones an agent understands too (the rest are server flags).
AGENT_FLAGS = ("kubelet-arg", "kube-proxy-arg", "node-label", "node-taint", "flannel-iface", "node-external-ip", "data-dir")


@dataclass(frozen=True)
class ClusterK3s:
    """What every node's config.yaml is made of besides the node itself."""

    first_server: NodeSpec  # the bootstrap server the others join
    k3s: K3sSettings
    backups: BackupsSettings
    mirrors: MirrorsSettings
    edge: bool  # the edge is on: it owns the Gateway API CRDs
    dns_resolvers: tuple[str, ...] = ()  # dnsResolvers: the kubelet (and so CoreDNS) gets RESOLV_CONF
    metrics: bool = False  # the monitoring stack scrapes etcd (and node-exporter, render/node/firewall.py)

    @classmethod
    def of(cls, settings: Settings) -> ClusterK3s:
        return cls(
            settings.first_server, settings.k3s, settings.backups, settings.mirrors, settings.edge.enabled, settings.host.dns_resolvers,
            settings.monitoring.enabled,
        )


def k3s_config(spec: NodeSpec, cluster: ClusterK3s, token: str) -> dict[str, Any]:
    """/etc/rancher/k3s/config.yaml for one node, as data (keys are K3s flag names)."""
    first, settings = cluster.first_server, cluster
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
    if cluster.dns_resolvers:
        # K3s' CoreDNS forwards to the kubelet's resolv.conf; a coredns-custom `.override`
        # cannot replace that `forward .` (the packaged one comes first and takes every name).
        config["resolv-conf"] = RESOLV_CONF
    if spec.name != first.name:
        config["server"] = api_url(first.address)
    config.update(registries.k3s_flags(spec, settings.mirrors))
    if spec.role == "agent":
        config.update({k: v for k, v in extra.items() if k in AGENT_FLAGS})
        return config
    disable = list(settings.k3s.disable)
    if cluster.edge and settings.k3s.minor >= GATEWAY_API_CRD_SINCE:
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
    if cluster.metrics:
        # etcd's metrics on the node's address too, not only loopback (k3s pkg/etcd/etcd.go
        # listenMetricsURLs), for the monitoring stack's `etcd` job: every server runs etcd here
        # (cluster-init above), so every stack, not only HA ones. Plain HTTP, metrics and /health
        # only; the host firewall admits it from the pods and the other nodes.
        config["etcd-expose-metrics"] = True
    config.update(extra)
    return config


def k3s_config_text(spec: NodeSpec, cluster: ClusterK3s, token: str) -> str:
    return yaml.safe_dump(k3s_config(spec, cluster, token), sort_keys=True, default_flow_style=False)


def kubelet_configuration(k3s: K3sSettings) -> dict[str, Any]:
    """The KubeletConfiguration drop-in, as data. maxParallelImagePulls only with parallel
    pulls (the kubelet refuses it above 1 with serialized ones)."""
    config: dict[str, Any] = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "serializeImagePulls": k3s.serialize_image_pulls,
    }
    if not k3s.serialize_image_pulls:
        config["maxParallelImagePulls"] = k3s.max_parallel_image_pulls
    config.update(
        {
            "imageGCHighThresholdPercent": k3s.image_gc_high,
            "imageGCLowThresholdPercent": k3s.image_gc_low,
            "imageMinimumGCAge": k3s.image_minimum_gc_age,
        }
    )
    return config


def kubelet_config(k3s: K3sSettings) -> str:
    """The kubelet drop-in's text (KubeletConfiguration YAML), the same on every node."""
    header = "# Written by sovereign-faas (Pulumi, kubelet-config.sh). Local changes are overwritten.\n"
    return header + yaml.safe_dump(kubelet_configuration(k3s), sort_keys=False, default_flow_style=False)


def etcd_snapshots(backups: BackupsSettings) -> dict[str, Any]:
    """The servers' config.yaml keys for etcd snapshots (K3s flag names). The S3 keys are plain
    text here: config.yaml travels as a Pulumi secret, on stdin."""
    config: dict[str, Any] = {"etcd-snapshot-schedule-cron": backups.schedule, "etcd-snapshot-retention": backups.retention}
    if backups.s3 and backups.s3_credentials:
        config.update({"etcd-s3": True, "etcd-s3-endpoint": backups.s3_endpoint, "etcd-s3-bucket": backups.s3_bucket})
        if backups.s3_region:
            config["etcd-s3-region"] = backups.s3_region
        if backups.s3_folder:
            config["etcd-s3-folder"] = backups.s3_folder
        config["etcd-s3-access-key"] = backups.s3_credentials.access_key.get_secret_value()
        config["etcd-s3-secret-key"] = backups.s3_credentials.secret_key.get_secret_value()
    return config


def public_kubeconfig(text: str, host: str) -> str:
    """K3s writes its kubeconfig for https://127.0.0.1:6443; point it at the public address."""
    doc = yaml.safe_load(text)
    if not isinstance(doc, dict) or not doc.get("clusters"):
        raise ValueError("the server's /etc/rancher/k3s/k3s.yaml has no clusters")
    for cluster in doc["clusters"]:
        cluster["cluster"]["server"] = api_url(host)
    return yaml.safe_dump(doc, sort_keys=False)


def cluster_identifier(stack: str, first_server: str) -> str:
    """The Kubernetes provider's identity: the stack and its bootstrap server, which the
    stack refuses to change (settings/upgrades.py)."""
    return f"{stack}/{first_server}"

"""K3s: which release, which packaged components, and the flags the stack does not manage."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any

from pydantic import BeforeValidator, model_validator

from settings import versions
from settings.base import Section, key
from settings.errors import close_match, expected, refused, rules
from settings.types import K3S_VERSION, Bool, GoDuration, K3sVersion, between, one_of

COMPONENTS = ("coredns", "servicelb", "traefik", "local-storage", "metrics-server", "runtimes")
SNAPSHOTTERS = ("overlayfs", "stargz")
# K3s' defaults for the pod and service networks (k3s server --help); k3sExtraFlags may change them.
CLUSTER_CIDR = "10.42.0.0/16"
SERVICE_CIDR = "10.43.0.0/16"
# flannel's backends in K3s (docs: networking/basic-network-options.md); ipsec and the old
# wireguard backend were removed.
FLANNEL_BACKENDS = ("vxlan", "host-gw", "wireguard-native", "none")

# config.yaml keys the stack writes itself; `k3sExtraFlags` may not set them.
MANAGED_FLAGS: dict[str, str] = {
    "token": "the stack generates the cluster token",
    "server": "agents and extra servers join the first node",
    "cluster-init": "always on the first server: embedded etcd, so that snapshots exist",
    "node-name": "set from nodes[].name",
    "node-ip": "set from nodes[].privateAddress",
    "node-external-ip": "set from nodes[].host",
    "tls-san": "set from the server hosts",
    "disable": "use k3sDisable",
    "snapshotter": "use k3sSnapshotter",
    "write-kubeconfig-mode": "always 0600",
    "secrets-encryption": "always on",
    # etcd snapshots (settings/backups.py); the S3 credentials only ever travel in config.yaml.
    "etcd-disable-snapshots": "snapshots are always on",
    "etcd-snapshot-schedule-cron": "use etcdSnapshotSchedule",
    "etcd-snapshot-retention": "use etcdSnapshotRetention",
    "etcd-s3": "use etcdS3Bucket",
    "etcd-s3-endpoint": "use etcdS3Endpoint",
    "etcd-s3-bucket": "use etcdS3Bucket",
    "etcd-s3-region": "use etcdS3Region",
    "etcd-s3-folder": "use etcdS3Folder",
    "etcd-s3-access-key": "use etcdS3Credentials.accessKey, a secret",
    "etcd-s3-secret-key": "use etcdS3Credentials.secretKey, a secret",
    "system-default-registry": "use systemDefaultRegistry",
    "disable-default-registry-endpoint": "use registryMirrorsOnly",
    "embedded-registry": "use embeddedRegistry",
    "private-registry": "the stack writes /etc/rancher/k3s/registries.yaml (registryMirrors)",
    # Protections an extra flag could switch off, and sources it could add behind the
    # inventory's back (docs/sovereignty.md "Managed flags").
    "disable-network-policy": "the NetworkPolicies are the in-cluster firewall (function egress, the data services' fences)",
    "pause-image": "its registry would escape the egress inventory and the mirrors; use systemDefaultRegistry",
    "airgap-extra-registry": "an extra registry would escape the egress inventory; use registryMirrors",
    "etcd-snapshot-dir": "the snapshots' place is managed (etcdSnapshotSchedule, etcdS3Bucket)",
    "etcd-snapshot-compress": "the snapshots are managed (etcdSnapshotSchedule, etcdS3Bucket)",
    "etcd-snapshot-name": "the snapshots are managed (etcdSnapshotSchedule, etcdS3Bucket)",
    "etcd-s3-config-secret": "use etcdS3Bucket and etcdS3Credentials",
    "etcd-s3-proxy": "use etcdS3Endpoint",
    "etcd-s3-insecure": "the snapshots travel over verified TLS",
    "etcd-s3-skip-ssl-verify": "the snapshots travel over verified TLS",
    "kubelet-arg=pod-infra-container-image": "the pause image's registry would escape the egress inventory; use systemDefaultRegistry",
    "resolv-conf": "use dnsResolvers (the stack writes the file K3s gives the kubelet and CoreDNS)",
}
# From K3s 1.37 the Gateway API CRDs are a packaged component of their own (gateway-api-crd,
# Gateway API v1.6.1, not turned off by disabling traefik). With the edge on, the stack owns
# the CRDs at the version its Traefik supports (render/edge.py), so it turns K3s' off.
GATEWAY_API_CRD_SINCE = 37
# The kubelet image settings go into a KubeletConfiguration drop-in, which the kubelet reads
# from K3s' drop-in directory (K3s passes `--config-dir` itself). Why a file and not
# `kubelet-arg` flags: maxParallelImagePulls has no flag at all, so a drop-in is needed anyway,
# and one file for all five keeps them in one place, under their documented names, without the
# kubelet's deprecated flags; flags still override it, so `k3sExtraFlags: --kubelet-arg=...`
# remains the way out. The kubelet-config step writes it and restarts K3s once
# (render/node/scripts/kubelet-config/kubelet-config.sh).
DEFAULT_DATA_DIR = "/var/lib/rancher/k3s"
KUBELET_DROPIN_NAME = "50-sovereign-faas.conf"
KUBELET_CONFIG_DIR_SINCE = 32  # the first K3s minor whose docs give kubelet.conf.d as the way

_LIST_FLAG = re.compile(r".*-arg$|^(tls-san|node-label|node-taint|kube-.*-arg)$")
_FLAG = re.compile(r"--([a-z0-9]+(-[a-z0-9]+)*)(=.*)?", re.DOTALL)


def _cidrs(text: str) -> tuple[str, ...]:
    """`10.42.0.0/16` or a dual-stack `10.42.0.0/16,2001:db8:42::/56`: one network per family."""
    networks = []
    for part in text.split(","):
        try:
            networks.append(ipaddress.ip_network(part.strip(), strict=False))
        except ValueError:
            raise expected("expected CIDRs such as '10.42.0.0/16' or, dual-stack, '10.42.0.0/16,2001:db8:42::/56'") from None
    if len({n.version for n in networks}) != len(networks):
        raise expected("expected at most one CIDR per address family")
    return tuple(str(n) for n in networks)


def _flannel_backend(text: str) -> str:
    if text not in FLANNEL_BACKENDS:
        raise expected(f"expected a flannel backend ({', '.join(FLANNEL_BACKENDS)})", suggestion=close_match(text, FLANNEL_BACKENDS))
    return text


# The kubelet drop-in goes under the data directory, and components/scripts/kubelet-config.sh
# (check_file) refuses a path that is relative, holds '..' or anything but these characters:
# the same rule here, so the preview refuses what the node would, before any step ran.
_DATA_DIR = re.compile(r"/[A-Za-z0-9._/-]*[A-Za-z0-9._-][A-Za-z0-9._/-]*")


def _data_dir(text: str) -> str:
    if not _DATA_DIR.fullmatch(text) or ".." in text:
        raise expected("expected an absolute data directory such as '/srv/k3s' (letters, digits and . _ - /, no '..'; the kubelet drop-in step's rule)")
    return text


# Flags whose values the stack itself reads (the firewall admits these networks and opens
# flannel's ports; the kubelet drop-in goes under the data directory), so they are checked
# before anything uses them.
_VALUE_CHECKS: dict[str, Any] = {"cluster-cidr": _cidrs, "service-cidr": _cidrs, "flannel-backend": _flannel_backend, "data-dir": _data_dir}


def _flag(value: Any) -> str:
    if not isinstance(value, str) or "\n" in value or not _FLAG.fullmatch(value):
        raise expected("expected a K3s flag like '--kube-apiserver-arg=audit-log-maxage=30'")
    match = _FLAG.fullmatch(value)
    assert match
    name, assigned = match.group(1), match.group(3)
    if name in MANAGED_FLAGS:
        raise refused(f"'--{name}' is managed by the stack ({MANAGED_FLAGS[name]})")
    inner = f"{name}={(assigned or '=')[1:].split('=', 1)[0].lstrip('-')}"
    if inner in MANAGED_FLAGS:
        raise refused(f"'--{inner}' is managed by the stack ({MANAGED_FLAGS[inner]})")
    if name == "flannel-backend" and assigned == "=none":
        raise refused("'--flannel-backend=none' removes the CNI, and with it the NetworkPolicies the stack relies on")
    if name in _VALUE_CHECKS:
        if not assigned:
            raise expected(f"expected a value: '--{name}=...'")
        _VALUE_CHECKS[name](assigned[1:])
    return value


K3sFlag = Annotated[str, BeforeValidator(_flag)]


# Taint effects that keep pods without a toleration off a node (the data services tolerate none).
REPELLING_EFFECTS = ("NoSchedule", "NoExecute")


class K3sSettings(Section):
    version: K3sVersion = key("k3sVersion", versions.K3S, "K3s release to install (v1.<minor>.<patch>+k3s<n>); the pin lives in settings/versions.py")
    disable: tuple[Annotated[str, one_of(COMPONENTS, "a K3s packaged component")], ...] = key(
        "k3sDisable", ("traefik",), f"K3s packaged components to turn off ({', '.join(COMPONENTS)})"
    )
    snapshotter: Annotated[str, one_of(SNAPSHOTTERS, "'overlayfs' or 'stargz' (lazy image pulling, experimental)")] = key(
        "k3sSnapshotter", "overlayfs", "containerd snapshotter, overlayfs or stargz (lazy image pulling, experimental)"
    )
    extra_flags: tuple[K3sFlag, ...] = key("k3sExtraFlags", (), "Extra K3s flags for config.yaml, e.g. --kube-apiserver-arg=audit-log-maxage=30")
    ready_timeout: Annotated[int, between(30, 3600)] = key("k3sReadyTimeout", 300, "Seconds to wait for each node to be Ready (30-3600)")
    # Kubelet image pulls and image garbage collection (docs/configuration.md#node-tuning). The kubelet's
    # own defaults: serializeImagePulls true, maxParallelImagePulls unset (no limit),
    # imageGCHighThresholdPercent 85, imageGCLowThresholdPercent 80, imageMinimumGCAge 2m.
    # Parallel: a scale-up that lands several new functions on one node pulls them at once
    # instead of queueing each cold start behind the others.
    serialize_image_pulls: Bool = key(
        "kubeletSerializeImagePulls", False, "pull one image at a time (the kubelet's default); false pulls in parallel, up to kubeletMaxParallelImagePulls"
    )
    # 5: enough for a burst of new functions, few enough not to saturate a VPS uplink or the
    # registry's rate limit. Only used when pulls are parallel; the kubelet refuses a value
    # above 1 with serialized pulls, and so does the stack, when both are set by the user.
    max_parallel_image_pulls: Annotated[int, between(1, 20)] = key(
        "kubeletMaxParallelImagePulls", 5, "most images the kubelet pulls at once when kubeletSerializeImagePulls is false (1-20)"
    )
    # 90/80 instead of 85/80: image GC starts later (at 90% disk use) and frees down to 80%,
    # so the function images a node pulled stay on its disk longer and a scale-up finds them.
    image_gc_high: Annotated[int, between(1, 100, "a percentage")] = key(
        "imageGcHighThreshold", 90, "disk use (percent) at which the kubelet starts deleting unused images (1-100; kubelet default 85)"
    )
    image_gc_low: Annotated[int, between(1, 100, "a percentage")] = key(
        "imageGcLowThreshold", 80, "disk use (percent) image garbage collection frees down to; below imageGcHighThreshold (1-100)"
    )
    # 24h instead of 2m: an image a node pulled today survives until tomorrow's scale-up
    # (functions scaled to zero overnight come back to a warm disk). Images younger than this
    # are never collected, so the disk must hold a day's images; eviction still guards it.
    image_minimum_gc_age: GoDuration = key(
        "imageMinimumGcAge", "24h", "youngest unused image the kubelet may delete, a duration like '24h' (kubelet default 2m)"
    )

    @model_validator(mode="after")
    def _kubelet_rules(self) -> K3sSettings:
        given = self.model_fields_set
        rules([
            ("imageGcLowThreshold", f"{self.image_gc_low} must be below imageGcHighThreshold ({self.image_gc_high}): the kubelet frees disk from the high mark down to the low one")
            if self.image_gc_low >= self.image_gc_high
            else None,
            (
                "kubeletMaxParallelImagePulls",
                f"{self.max_parallel_image_pulls} parallel pulls contradict kubeletSerializeImagePulls: true (the kubelet refuses it); set one of them",
            )
            if self.serialize_image_pulls and self.max_parallel_image_pulls > 1 and "max_parallel_image_pulls" in given
            else None,
            (
                "k3sVersion",
                f"K3s v1.{self.minor} is too old for the kubelet image settings: the stack writes them to the kubelet drop-in "
                f"directory, read from K3s v1.{KUBELET_CONFIG_DIR_SINCE}",
            )
            if self.minor < KUBELET_CONFIG_DIR_SINCE
            else None,
        ])
        return self

    @property
    def kubernetes_version(self) -> str:
        """`v1.36.4+k3s1` -> `1.36.4`, the Kubernetes release this K3s ships."""
        return self.version[1:].split("+", 1)[0]

    @property
    def minor(self) -> int:
        match = K3S_VERSION.fullmatch(self.version)
        assert match
        return int(match.group(1))

    @property
    def extra_config(self) -> dict[str, Any]:
        """k3sExtraFlags as config.yaml data (repeatable flags become lists): a new dict each
        time, which render/k3s.py merges into the managed keys."""
        out: dict[str, Any] = {}
        for flag in self.extra_flags:
            name, sep, value = flag[2:].partition("=")
            item: Any = value if sep else True
            if _LIST_FLAG.match(name):
                out.setdefault(name, []).append(item)
            else:
                out[name] = item
        return out

    @property
    def repelling_taints(self) -> tuple[str, ...]:
        """The `--node-taint`s (every node gets them) whose effect keeps untolerating pods off."""
        taints = self.extra_config.get("node-taint", [])
        return tuple(t for t in taints if isinstance(t, str) and t.rpartition(":")[2] in REPELLING_EFFECTS)

    @property
    def networks(self) -> tuple[str, ...]:
        """The pod and service networks, canonical: what the host firewall admits from pods."""
        flags = self.extra_config
        return (*_cidrs(str(flags.get("cluster-cidr", CLUSTER_CIDR))), *_cidrs(str(flags.get("service-cidr", SERVICE_CIDR))))

    @property
    def flannel_backend(self) -> str:
        return str(self.extra_config.get("flannel-backend", "vxlan"))

    @property
    def data_dir(self) -> str:
        """K3s' data directory: its default, or `--data-dir` from k3sExtraFlags."""
        return str(self.extra_config.get("data-dir", DEFAULT_DATA_DIR)).rstrip("/") or DEFAULT_DATA_DIR

    @property
    def kubelet_dropin(self) -> str:
        """Where the kubelet drop-in goes: K3s' kubelet.conf.d (the kubelet reads *.conf there, in name order)."""
        return f"{self.data_dir}/agent/etc/kubelet.conf.d/{KUBELET_DROPIN_NAME}"

"""A VPS turned into a tuned K3s node, one idempotent remote step after another.

    sysctl -> host-tuning -> firewall -> kubelet-config -> registries -> k3s-config -> k3s-install -> ready

(registries only with image mirrors or the embedded registry; with `k3sAirgapDir`, the K3s
release assets are uploaded by `remote.CopyToRemote` before the install.)

Day two (README "Upgrading", "Removing a node"), on clusters of more than one node, around
k3s-install and run on the first server through `k3s kubectl`:

    [node-object] -> drain -> k3s-install -> ready (at the version) -> uncordon -> [evict]

`drain` cordons and drains the node when it runs an older K3s (a no-op on a first install),
`uncordon` undoes only what `drain` did. `evict` and `node-object` have no create: their
deletes run when the node leaves the config, in Pulumi's delete order (dependents first):
evict (drain) -> k3s-install (uninstall) -> node-object (delete the Node), so the kubelet is
gone before its Node object is deleted and cannot register it again.

Each step is a `remote.Command` running a script from `components/scripts/` over SSH (see
`components/remote.py` for how). The scripts compare before they change anything, so a
repeated `pulumi up` (or a retried failed create) leaves a healthy node alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_command import remote

from components.firewall import RULES_FILE
from components.remote import render_command
from settings.nodes import NodeSpec

SYSCTL_FILE = "/etc/sysctl.d/90-sovereign-faas.conf"

# SSH to a VPS that is still booting: 20 dials of at most 15 s each, then give up (~5 min).
DIAL_ERROR_LIMIT = 20
PER_DIAL_TIMEOUT = 15


def connection(spec: NodeSpec, private_key: pulumi.Input[str]) -> remote.ConnectionArgs:
    """SSH to `spec`. The private key is a secret, which makes the whole connection one."""
    return remote.ConnectionArgs(
        host=spec.host,
        port=spec.port,
        user=spec.user,
        private_key=private_key,
        host_key=spec.host_key,
        dial_error_limit=DIAL_ERROR_LIMIT,
        per_dial_timeout=PER_DIAL_TIMEOUT,
    )


def sysctl_conf(settings: tuple[tuple[str, str], ...]) -> str:
    lines = ["# Written by sovereign-faas (Pulumi). Local changes are overwritten."]
    lines += [f"{key} = {value}" for key, value in settings]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class NodeArgs:
    spec: NodeSpec
    private_key: pulumi.Input[str]
    k3s_version: str
    k3s_config: pulumi.Input[str]  # config.yaml text; carries the token, so a secret
    sysctl: tuple[tuple[str, str], ...]
    transparent_huge_pages: str  # never | madvise (settings/kernel.py)
    io_scheduler: str  # none | mq-deadline | kyber | bfq | keep
    kubelet_config: str  # the KubeletConfiguration drop-in (components/cluster.py)
    kubelet_dropin: str  # where it goes, in K3s' kubelet.conf.d
    ready_timeout: int
    checker: NodeSpec  # a server that can answer "is this node Ready?" (agents have no API)
    join_after: tuple[pulumi.Resource, ...] = ()  # e.g. the first server's readiness
    firewall: str | None = None  # the nftables ruleset (components/firewall.py); None: off
    registries: pulumi.Input[str] | None = None  # registries-apply.sh's stdin; None: no step
    install_source: tuple[str, ...] = ()  # k3s-install.sh's SOURCE (components/registries.py)
    uploads: tuple[tuple[str, str], ...] = ()  # (local file, remote path): air-gap assets
    drain: bool = False  # cordon and drain around an upgrade (clusters of more than one node)
    removable: bool = False  # drain and delete the Node when it leaves the config (not the first server)
    drain_timeout: int = 300


class Node(pulumi.ComponentResource):
    """One node of the cluster: kernel and host tuning, firewall, kubelet and K3s config, K3s
    install, readiness."""

    sysctl: remote.Command
    host_tuning: remote.Command
    firewall: remote.Command | None
    kubelet: remote.Command
    registries: remote.Command | None
    uploads: list[remote.CopyToRemote]
    config: remote.Command
    install: remote.Command
    ready: remote.Command
    drain: remote.Command | None
    uncordon: remote.Command | None
    node_object: remote.Command | None
    evict: remote.Command | None

    def __init__(self, name: str, args: NodeArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("sovereign-faas:index:Node", name, None, opts)
        spec = args.spec
        conn = connection(spec, args.private_key)
        # A new host is a new machine: replace the step there instead of re-running it here.
        on_host = [spec.host]

        self.sysctl = remote.Command(
            f"{name}-sysctl",
            connection=conn,
            create=render_command("sysctl-apply.sh", (SYSCTL_FILE,), sudo=spec.sudo),
            delete=render_command("sysctl-remove.sh", (SYSCTL_FILE,), sudo=spec.sudo),
            stdin=sysctl_conf(args.sysctl),
            triggers=on_host,
            opts=pulumi.ResourceOptions(parent=self),
        )
        # Transparent huge pages and the disks' I/O scheduler. Delete before replace: the
        # apply script saves the host's values only on its first run, so the old step's
        # delete (which restores them) must run before the new one saves them again.
        self.host_tuning = remote.Command(
            f"{name}-host-tuning",
            connection=conn,
            create=render_command("host-tuning-apply.sh", (args.transparent_huge_pages, args.io_scheduler), sudo=spec.sudo),
            delete=render_command("host-tuning-remove.sh", (), sudo=spec.sudo),
            triggers=on_host,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.sysctl], delete_before_replace=True),
        )
        self.firewall = None
        if args.firewall is not None:
            # Before K3s opens its ports; the script refuses a ruleset that would shut this
            # SSH session's address out of the next connection.
            self.firewall = remote.Command(
                f"{name}-firewall",
                connection=conn,
                create=render_command("firewall-apply.sh", (RULES_FILE,), sudo=spec.sudo, ssh_client=True),
                delete=render_command("firewall-remove.sh", (RULES_FILE,), sudo=spec.sudo),
                stdin=args.firewall,
                triggers=on_host,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.host_tuning]),
            )
        # The kubelet's image settings, a drop-in K3s' kubelet reads (settings/k3s.py says why
        # a file); a change restarts K3s once, if it is installed.
        self.kubelet = remote.Command(
            f"{name}-kubelet-config",
            connection=conn,
            create=render_command("kubelet-config.sh", (spec.role, args.kubelet_dropin), sudo=spec.sudo),
            delete=render_command("kubelet-config-remove.sh", (spec.role, args.kubelet_dropin), sudo=spec.sudo),
            stdin=args.kubelet_config,
            triggers=on_host,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.firewall or self.host_tuning], delete_before_replace=True),
        )
        # The image mirrors (components/registries.py); a change restarts K3s once, if installed.
        self.registries = None
        if args.registries is not None:
            self.registries = remote.Command(
                f"{name}-registries",
                connection=conn,
                create=render_command("registries-apply.sh", (spec.role,), sudo=spec.sudo),
                delete=render_command("registries-remove.sh", (spec.role,), sudo=spec.sudo),
                stdin=args.registries,
                triggers=on_host,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.kubelet], delete_before_replace=True),
            )
        self.config = remote.Command(
            f"{name}-k3s-config",
            connection=conn,
            create=render_command("k3s-config.sh", (spec.role,), sudo=spec.sudo),
            delete=render_command("k3s-config-remove.sh", (), sudo=spec.sudo),
            stdin=args.k3s_config,
            triggers=on_host,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.registries or self.kubelet]),
        )
        # Air gap: the release assets from the operator's machine, verified by k3s-install.sh.
        self.uploads = [
            remote.CopyToRemote(
                f"{name}-k3s-asset-{local.rsplit('/', 1)[-1]}",
                connection=conn,
                source=pulumi.FileAsset(local),
                remote_path=remote_path,
                triggers=on_host,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.config]),
            )
            for local, remote_path in args.uploads
        ]
        checker = args.checker
        on_checker = connection(checker, args.private_key)
        before_install: list[pulumi.Resource] = [self.config, *self.uploads, *args.join_after]
        self.node_object = self.evict = self.drain = self.uncordon = None
        if args.removable:
            # No create; its delete runs after the uninstall (k3s-install depends on it).
            self.node_object = remote.Command(
                f"{name}-node-object",
                connection=on_checker,
                delete=render_command("k3s-node-delete.sh", (spec.name, str(args.drain_timeout)), sudo=checker.sudo),
                triggers=[spec.host, spec.role],
                opts=pulumi.ResourceOptions(parent=self, depends_on=before_install, delete_before_replace=True),
            )
            before_install.append(self.node_object)
        if args.drain:
            # Re-runs when the version changes (it is an argument); does nothing unless the node
            # is registered at another version.
            self.drain = remote.Command(
                f"{name}-drain",
                connection=on_checker,
                create=render_command("k3s-drain.sh", (spec.name, str(args.drain_timeout), args.k3s_version), sudo=checker.sudo),
                triggers=[spec.host, args.k3s_version],
                opts=pulumi.ResourceOptions(parent=self, depends_on=before_install),
            )
            before_install.append(self.drain)
        self.install = remote.Command(
            f"{name}-k3s-install",
            connection=conn,
            create=render_command("k3s-install.sh", (args.k3s_version, spec.role, *args.install_source), sudo=spec.sudo),
            delete=render_command("k3s-uninstall.sh", (), sudo=spec.sudo),
            # A role change means uninstall, then install: the old delete must run first, or
            # it would remove the K3s that the new create just installed on the same host.
            triggers=[spec.host, spec.role],
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=before_install,
                delete_before_replace=True,
            ),
        )
        self.ready = remote.Command(
            f"{name}-ready",
            connection=on_checker,
            # Ready, and at the version: a node that came back at the old one is not done.
            create=render_command("k3s-ready.sh", (spec.name, str(args.ready_timeout), args.k3s_version), sudo=checker.sudo),
            # Check again after anything that restarts K3s on this node.
            triggers=[spec.host, spec.role, args.k3s_version, args.kubelet_config, *([args.registries] if args.registries is not None else [])],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.install]),
        )
        if args.drain:
            self.uncordon = remote.Command(
                f"{name}-uncordon",
                connection=on_checker,
                create=render_command("k3s-uncordon.sh", (spec.name,), sudo=checker.sudo),
                triggers=[spec.host, args.k3s_version],
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.ready]),
            )
        if args.removable:
            # No create; its delete (drain) runs before the uninstall: it depends on
            # k3s-install, and Pulumi deletes dependents first.
            self.evict = remote.Command(
                f"{name}-evict",
                connection=on_checker,
                delete=render_command("k3s-drain.sh", (spec.name, str(args.drain_timeout)), sudo=checker.sudo),
                triggers=[spec.host, spec.role],
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.install], delete_before_replace=True),
            )
        self.register_outputs({"ready": self.ready.stdout})

    @property
    def done(self) -> pulumi.Resource:
        """This node's last step: the next node's install (or drain) waits for it."""
        return self.uncordon or self.ready

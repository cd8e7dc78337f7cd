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
        self._name, self._args = name, args
        self._on_node = connection(args.spec, args.private_key)
        self._on_checker = connection(args.checker, args.private_key)
        self._prepare_host()
        self._install()
        self._after_install()
        self.register_outputs({"ready": self.ready.stdout})

    def _step(
        self,
        step: str,
        *,
        create: tuple[str, tuple[str, ...]] | None = None,
        delete: tuple[str, tuple[str, ...]] | None = None,
        on_checker: bool = False,
        stdin: pulumi.Input[str] | None = None,
        triggers: list[pulumi.Input[str]] | None = None,
        after: list[pulumi.Resource] | None = None,
        delete_first: bool = False,
        ssh_client: bool = False,
    ) -> remote.Command:
        """One remote step `<node>-<step>`: (script, args) to run on create and on delete, on
        this node or on the checker. By default it is replaced on a new host: a new machine."""
        spec = self._args.checker if on_checker else self._args.spec
        return remote.Command(
            f"{self._name}-{step}",
            connection=self._on_checker if on_checker else self._on_node,
            create=render_command(*create, sudo=spec.sudo, ssh_client=ssh_client) if create else None,
            delete=render_command(*delete, sudo=spec.sudo) if delete else None,
            stdin=stdin,
            triggers=triggers if triggers is not None else [self._args.spec.host],
            opts=pulumi.ResourceOptions(parent=self, depends_on=after or [], delete_before_replace=delete_first),
        )

    def _prepare_host(self) -> None:
        """Everything on the host before K3s: kernel, host tuning, firewall, kubelet settings,
        image mirrors, K3s' config, and for an air gap the release assets."""
        args, spec = self._args, self._args.spec
        self.sysctl = self._step(
            "sysctl", create=("sysctl-apply.sh", (SYSCTL_FILE,)), delete=("sysctl-remove.sh", (SYSCTL_FILE,)), stdin=sysctl_conf(args.sysctl)
        )
        # Transparent huge pages and the disks' I/O scheduler. Delete before replace: the
        # apply script saves the host's values only on its first run, so the old step's
        # delete (which restores them) must run before the new one saves them again.
        self.host_tuning = self._step(
            "host-tuning",
            create=("host-tuning-apply.sh", (args.transparent_huge_pages, args.io_scheduler)),
            delete=("host-tuning-remove.sh", ()),
            after=[self.sysctl],
            delete_first=True,
        )
        self.firewall = None
        if args.firewall is not None:
            # Before K3s opens its ports; the script refuses a ruleset that would shut this
            # SSH session's address out of the next connection.
            self.firewall = self._step(
                "firewall",
                create=("firewall-apply.sh", (RULES_FILE,)),
                delete=("firewall-remove.sh", (RULES_FILE,)),
                stdin=args.firewall,
                after=[self.host_tuning],
                ssh_client=True,
            )
        # The kubelet's image settings, a drop-in K3s' kubelet reads (settings/k3s.py says why
        # a file); a change restarts K3s once, if it is installed.
        self.kubelet = self._step(
            "kubelet-config",
            create=("kubelet-config.sh", (spec.role, args.kubelet_dropin)),
            delete=("kubelet-config-remove.sh", (spec.role, args.kubelet_dropin)),
            stdin=args.kubelet_config,
            after=[self.firewall or self.host_tuning],
            delete_first=True,
        )
        # The image mirrors (components/registries.py); a change restarts K3s once, if installed.
        self.registries = None
        if args.registries is not None:
            self.registries = self._step(
                "registries",
                create=("registries-apply.sh", (spec.role,)),
                delete=("registries-remove.sh", (spec.role,)),
                stdin=args.registries,
                after=[self.kubelet],
                delete_first=True,
            )
        self.config = self._step(
            "k3s-config",
            create=("k3s-config.sh", (spec.role,)),
            delete=("k3s-config-remove.sh", ()),
            stdin=args.k3s_config,
            after=[self.registries or self.kubelet],
        )
        # Air gap: the release assets from the operator's machine, verified by k3s-install.sh.
        self.uploads = [
            remote.CopyToRemote(
                f"{self._name}-k3s-asset-{local.rsplit('/', 1)[-1]}",
                connection=self._on_node,
                source=pulumi.FileAsset(local),
                remote_path=remote_path,
                triggers=[spec.host],
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.config]),
            )
            for local, remote_path in args.uploads
        ]

    def _install(self) -> None:
        """K3s itself, with what day two puts before it: the removal's last step, the drain."""
        args, spec = self._args, self._args.spec
        before_install: list[pulumi.Resource] = [self.config, *self.uploads, *args.join_after]
        self.node_object = self.drain = None
        if args.removable:
            # No create; its delete runs after the uninstall (k3s-install depends on it).
            self.node_object = self._step(
                "node-object",
                delete=("k3s-node-delete.sh", (spec.name, str(args.drain_timeout))),
                on_checker=True,
                triggers=[spec.host, spec.role],
                after=list(before_install),
                delete_first=True,
            )
            before_install.append(self.node_object)
        if args.drain:
            # Re-runs when the version changes (it is an argument); does nothing unless the node
            # is registered at another version.
            self.drain = self._step(
                "drain",
                create=("k3s-drain.sh", (spec.name, str(args.drain_timeout), args.k3s_version)),
                on_checker=True,
                triggers=[spec.host, args.k3s_version],
                after=list(before_install),
            )
            before_install.append(self.drain)
        # A role change means uninstall, then install: the old delete must run first, or it
        # would remove the K3s that the new create just installed on the same host.
        self.install = self._step(
            "k3s-install",
            create=("k3s-install.sh", (args.k3s_version, spec.role, *args.install_source)),
            delete=("k3s-uninstall.sh", ()),
            triggers=[spec.host, spec.role],
            after=before_install,
            delete_first=True,
        )

    def _after_install(self) -> None:
        """Ready at the version, then the day-two steps after it: uncordon, and the removal's
        first step (evict)."""
        args, spec = self._args, self._args.spec
        # Ready, and at the version: a node that came back at the old one is not done. Checked
        # again after anything that restarts K3s on this node.
        self.ready = self._step(
            "ready",
            create=("k3s-ready.sh", (spec.name, str(args.ready_timeout), args.k3s_version)),
            on_checker=True,
            triggers=[spec.host, spec.role, args.k3s_version, args.kubelet_config, *([args.registries] if args.registries is not None else [])],
            after=[self.install],
        )
        self.uncordon = self.evict = None
        if args.drain:
            self.uncordon = self._step(
                "uncordon",
                create=("k3s-uncordon.sh", (spec.name,)),
                on_checker=True,
                triggers=[spec.host, args.k3s_version],
                after=[self.ready],
            )
        if args.removable:
            # No create; its delete (drain) runs before the uninstall: it depends on
            # k3s-install, and Pulumi deletes dependents first.
            self.evict = self._step(
                "evict",
                delete=("k3s-drain.sh", (spec.name, str(args.drain_timeout))),
                on_checker=True,
                triggers=[spec.host, spec.role],
                after=[self.install],
                delete_first=True,
            )

    @property
    def done(self) -> pulumi.Resource:
        """This node's last step: the next node's install (or drain) waits for it."""
        return self.uncordon or self.ready

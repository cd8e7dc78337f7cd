"""The node's steps, as one table: a VPS turned into a tuned K3s node, one idempotent remote
step after another.

    sysctl -> host-tuning -> [resolvers] -> [host-endpoints] -> [firewall] -> kubelet-config -> [registries] -> k3s-config
           -> [k3s-assets] -> k3s-install -> ready

(resolvers with dnsResolvers; host-endpoints with ntpServers, aptMirror or distroPhoneHome: off; firewall while `firewall` is on; registries only with image mirrors or the embedded
registry; k3s-assets, the K3s release assets uploaded by `remote.CopyToRemote`, only with
`k3sAirgapDir`.)

Day two (docs/operations/upgrading.md, docs/operations/removing-a-node.md), on clusters of more than one node, around
k3s-install and run on the first server through `k3s kubectl`:

    [node-object] -> drain -> k3s-install -> ready (at the version) -> uncordon -> [evict]

`drain` cordons and drains the node when it runs an older K3s (a no-op on a first install),
`uncordon` undoes only what `drain` did. `evict` and `node-object` have no create: their
deletes run when the node leaves the config, in Pulumi's delete order (dependents first):
evict (drain) -> k3s-install (uninstall) -> node-object (delete the Node), so the kubelet is
gone before its Node object is deleted and cannot register it again.

Each step runs a script from `scripts/<step>/` (render/node/command.py says how it becomes a
command string). The scripts compare before they change anything, so a repeated `pulumi up`
(or a retried failed create) leaves a healthy node alone.

Adding a step is one entry in `table()` and two scripts:

1. `scripts/<step>/<step>-apply.sh` and `<step>-remove.sh`: start with the shebang and
   `set -euo pipefail`, set `readonly SELF=<file name>`, use die/report from lib/common.bash,
   end with `report changed|unchanged ...`; the file names must be new (the command string
   carries only the name). tests/test_scripts.py shellchecks every script it finds.
2. `Step("<step>", apply=run("<step>-apply.sh", ARGS...), remove=run("<step>-remove.sh"))`
   where the step belongs in the order: it follows the entry before it, and the entry after
   it now follows it. Add `when=` if only some nodes get it, `stdin=` for what it must not
   take as an argument (anything secret: `Secret` or a `Slot`), `delete_first=True` if its
   remove restores what its apply saved on the same host.

tests/test_node_steps.py does exactly this with a throwaway step and sees it registered.
"""

from __future__ import annotations

from dataclasses import dataclass

from render.addresses import host_port
from render.node import command, firewall, registries
from render.node.table import JOIN_AFTER, Entry, NodeSteps, Secret, Slot, Step, Uploads, render_steps, run
from settings.backups import BackupsSettings
from settings.firewall import FirewallSettings
from settings.host import HostSettings
from settings.k3s import K3sSettings
from settings.kernel import KernelSettings
from settings.mirrors import MirrorsSettings
from settings.nodes import NodeSpec
from settings.upgrades import UpgradeSettings

SYSCTL_FILE = "/etc/sysctl.d/90-sovereign-faas.conf"
K3S_CONFIG = Slot("k3s-config")  # /etc/rancher/k3s/config.yaml: it carries the token
UPLOADS = "k3s-assets"
LAST = "uncordon"  # the next node waits for it (or, on one node, for what it follows: ready)
# K3s' install waits for its config, its assets and the node before it; drain and the Node
# object's removal go in between.
BEFORE_INSTALL = ("k3s-config", UPLOADS, JOIN_AFTER)


@dataclass(frozen=True)
class NodeFacts:
    """One node and what its steps read: the settings sections as they are, and the values
    derived from the whole stack, named (node_facts() derives them)."""

    spec: NodeSpec
    checker: NodeSpec  # the first server: agents have no API to ask "is this node Ready?"
    k3s: K3sSettings
    kernel: KernelSettings
    upgrades: UpgradeSettings
    kubelet_config: str  # the KubeletConfiguration drop-in's text
    firewall: str | None  # this node's nftables ruleset; None: the firewall is off
    registries: str | Secret | None  # registries-apply.sh's stdin; None: nothing to write
    install_source: tuple[str, ...]  # k3s-install.sh's SOURCE: a mirror, the uploaded assets, or upstream
    uploads: tuple[tuple[str, str], ...]  # (local file, remote path): the air-gap assets
    drain: bool  # cordon and drain around an upgrade: the pods have another node to go to
    removable: bool  # drain and delete the Node when it leaves the config
    # firewall-apply.sh's --api=HOST:PORT: the API server the node must still reach once its
    # output policy is on (or the previous firewall is put back); empty: nothing to check.
    api_check: tuple[str, ...] = ()
    resolvers: tuple[str, ...] = ()  # dnsResolvers: the node's and CoreDNS' in-country resolvers
    host_endpoints: tuple[str, ...] = ()  # host-endpoints-apply.sh's arguments; empty: no such step

    def __post_init__(self) -> None:
        if self.checker.role != "server":
            raise ValueError(f"node {self.spec.name}: the checker {self.checker.name!r} must be a server (agents have no API)")
        if self.removable and (self.spec.name == self.checker.name or not self.drain):
            raise ValueError(f"node {self.spec.name}: only a node of a cluster of several, not the first server, is removable")


def node_facts(
    spec: NodeSpec,
    *,
    nodes: tuple[NodeSpec, ...],
    k3s: K3sSettings,
    kernel: KernelSettings,
    firewall_settings: FirewallSettings,
    mirrors: MirrorsSettings,
    upgrades: UpgradeSettings,
    public_ports: tuple[int, ...],
    kubelet_config: str,
    host: HostSettings | None = None,
    backups: BackupsSettings | None = None,
    metrics: bool = False,
) -> NodeFacts:
    """`spec` of `nodes` (the first is the bootstrap server) with what its steps need."""
    first = nodes[0]
    ruleset = None
    egress = firewall.node_egress(host, mirrors, backups or BackupsSettings()) if host else None
    if firewall_settings.enabled:
        ruleset = firewall.ruleset(
            spec, nodes, firewall_settings, k3s, embedded_registry=mirrors.embedded_registry, public_ports=public_ports, egress=egress,
            metrics_ports=firewall.METRICS_PORTS if metrics else (),
        )
    # The first server's API is on its own loopback, which the policy always admits.
    api_check = (f"--api={host_port(first.address, firewall.API_PORT)}",) if egress and spec.name != first.name else ()
    stdin = registries.registries_stdin(mirrors)
    return NodeFacts(
        spec=spec,
        checker=first,
        k3s=k3s,
        kernel=kernel,
        upgrades=upgrades,
        kubelet_config=kubelet_config,
        firewall=ruleset,
        # Credentials make the whole file a secret; without them it is shown in the preview.
        registries=Secret(stdin) if stdin is not None and mirrors.registry_auth else stdin,
        install_source=registries.install_source(spec, mirrors, k3s.version),
        uploads=registries.airgap_uploads(spec, mirrors, k3s.version),
        # One node has nowhere to move its pods to: it is upgraded in place.
        drain=len(nodes) > 1,
        removable=spec.name != first.name,
        api_check=api_check if ruleset else (),
        resolvers=host.dns_resolvers if host else (),
        host_endpoints=host_endpoint_args(host) if host else (),
    )


def host_endpoint_args(host: HostSettings) -> tuple[str, ...]:
    """host-endpoints-apply.sh's arguments: only what the stack sets."""
    args = [f"--ntp={','.join(host.ntp_servers)}"] if host.ntp_servers else []
    args += [f"--apt={host.apt_mirror}"] if host.apt_mirror else []
    args += ["--phone-home=off"] if host.phone_home == "off" else []
    return tuple(args)


def sysctl_conf(settings: tuple[tuple[str, str], ...]) -> str:
    lines = ["# Written by sovereign-faas (Pulumi). Local changes are overwritten."]
    lines += [f"{key} = {value}" for key, value in settings]
    return "\n".join(lines) + "\n"


def table(n: NodeFacts) -> tuple[Entry, ...]:
    """Every step a node can have, in order; `when` says whether this one has it."""
    role, version, host = n.spec.role, n.k3s.version, n.spec.host
    name, drain_timeout, dropin = n.spec.name, str(n.upgrades.drain_timeout), n.k3s.kubelet_dropin
    return (
        Step(
            "sysctl",
            apply=run("sysctl-apply.sh", SYSCTL_FILE),
            remove=run("sysctl-remove.sh", SYSCTL_FILE),
            stdin=sysctl_conf(n.kernel.sysctl),
        ),
        # Transparent huge pages and the disks' I/O scheduler. Delete before replace: the
        # apply script saves the host's values only on its first run, so the old step's
        # delete (which restores them) must run before the new one saves them again.
        Step(
            "host-tuning",
            apply=run("host-tuning-apply.sh", n.kernel.transparent_huge_pages, n.kernel.io_scheduler),
            remove=run("host-tuning-remove.sh"),
            delete_first=True,
        ),
        # The in-country resolvers, before the output policy refuses every other one: for the
        # node's own lookups and for CoreDNS (K3s' resolv-conf, render/k3s.py).
        Step(
            "resolvers",
            when=bool(n.resolvers),
            apply=run("resolvers-apply.sh", *n.resolvers),
            remove=run("resolvers-remove.sh"),
        ),
        # NTP, the package mirror and the distribution's calls home, before the output policy
        # refuses the defaults. Delete before replace: the remove puts back what the apply
        # kept (the distribution's sources, chrony.conf, the services it disabled).
        Step(
            "host-endpoints",
            when=bool(n.host_endpoints),
            apply=run("host-endpoints-apply.sh", *n.host_endpoints),
            remove=run("host-endpoints-remove.sh"),
            delete_first=True,
        ),
        # Before K3s opens its ports; the script refuses a ruleset that would shut this SSH
        # session's address out of the next connection, or (with the output policy) this
        # node out of the API server.
        Step(
            "firewall",
            when=n.firewall is not None,
            apply=run("firewall-apply.sh", firewall.RULES_FILE, *n.api_check),
            remove=run("firewall-remove.sh", firewall.RULES_FILE),
            stdin=n.firewall,
            ssh_client=True,
        ),
        # The kubelet's image settings, a drop-in K3s' kubelet reads (settings/k3s.py says why
        # a file); a change restarts K3s once, if it is installed.
        Step(
            "kubelet-config",
            apply=run("kubelet-config.sh", role, dropin),
            remove=run("kubelet-config-remove.sh", role, dropin),
            stdin=n.kubelet_config,
            delete_first=True,
        ),
        # The image mirrors (render/node/registries.py); a change restarts K3s once, if installed.
        Step(
            "registries",
            when=n.registries is not None,
            apply=run("registries-apply.sh", role),
            remove=run("registries-remove.sh", role),
            stdin=n.registries,
            delete_first=True,
        ),
        Step("k3s-config", apply=run("k3s-config.sh", role), remove=run("k3s-config-remove.sh"), stdin=K3S_CONFIG),
        # Air gap: the release assets from the operator's machine, verified by k3s-install.sh.
        Uploads(UPLOADS, files=n.uploads, when=bool(n.uploads)),
        # No create; its delete runs after the uninstall (k3s-install follows it).
        Step(
            "node-object",
            when=n.removable,
            remove=run("k3s-node-delete.sh", name, drain_timeout),
            runs_on="checker",
            triggers=(host, role),
            follows=BEFORE_INSTALL,
            delete_first=True,
        ),
        # Re-runs when the version changes (it is an argument); does nothing unless the node
        # is registered at another version.
        Step(
            "drain",
            when=n.drain,
            apply=run("k3s-drain.sh", name, drain_timeout, version),
            runs_on="checker",
            triggers=(host, version),
            follows=(*BEFORE_INSTALL, "node-object"),
        ),
        # A role change means uninstall, then install: the old delete must run first, or it
        # would remove the K3s that the new create just installed on the same host.
        Step(
            "k3s-install",
            apply=run("k3s-install.sh", version, role, *n.install_source),
            remove=run("k3s-uninstall.sh"),
            triggers=(host, role),
            follows=(*BEFORE_INSTALL, "node-object", "drain"),
            delete_first=True,
        ),
        # Ready, and at the version: a node that came back at the old one is not done. Checked
        # again after anything that restarts K3s on this node.
        Step(
            "ready",
            apply=run("k3s-ready.sh", name, str(n.k3s.ready_timeout), version),
            runs_on="checker",
            triggers=(host, role, version, n.kubelet_config, *(() if n.registries is None else (n.registries,))),
        ),
        Step("uncordon", when=n.drain, apply=run("k3s-uncordon.sh", name), runs_on="checker", triggers=(host, version)),
        # No create; its delete (drain) runs before the uninstall: it follows k3s-install,
        # and Pulumi deletes dependents first.
        Step(
            "evict",
            when=n.removable,
            remove=run("k3s-drain.sh", name, drain_timeout),
            runs_on="checker",
            triggers=(host, role),
            follows=("k3s-install",),
            delete_first=True,
        ),
    )


def node_steps(n: NodeFacts) -> NodeSteps:
    """The node's steps as the component registers them."""
    return render_steps(table(n), n.spec, n.checker, command.SCRIPTS, last=LAST)

"""A VPS turned into a tuned K3s node: the steps render/node/steps.py lists, registered in
order, each a `remote.Command` over SSH (the air-gap assets a `remote.CopyToRemote` each).

What the steps are, what each one follows and why: render/node/steps.py. This module only
turns each entry into a resource and fills in what only Pulumi has: the SSH connections (the
private key is a secret), the K3s config (it carries the token), secrets, and the previous
node's last step.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_command import remote

from render.node.steps import K3S_CONFIG
from render.node.table import JOIN_AFTER, NodeStep, NodeSteps, NodeUploads, Secret, Slot, Value
from settings.nodes import NodeSpec

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


@dataclass(frozen=True)
class NodeArgs:
    steps: NodeSteps  # render/node/steps.py node_steps()
    private_key: pulumi.Input[str]
    k3s_config: pulumi.Input[str]  # config.yaml text (the K3S_CONFIG slot); carries the token, so a secret
    join_after: tuple[pulumi.Resource, ...] = ()  # the previous node's last step(s)


class Node(pulumi.ComponentResource):
    """One node of the cluster: kernel and host tuning, firewall, kubelet and K3s config, K3s
    install, readiness, and the day-two steps around the install."""

    steps: dict[str, remote.Command]  # by step name; the resource is `<node>-<step>`
    uploads: list[remote.CopyToRemote]

    def __init__(self, name: str, args: NodeArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("sovereign-faas:index:Node", name, None, opts)
        self._name, self._host = name, args.steps.spec.host
        self._connections = {
            "node": connection(args.steps.spec, args.private_key),
            "checker": connection(args.steps.checker, args.private_key),
        }
        self._slots: dict[str, pulumi.Input[str]] = {K3S_CONFIG.name: args.k3s_config}
        self.steps, self.uploads = {}, []
        registered: dict[str, list[pulumi.Resource]] = {JOIN_AFTER: list(args.join_after)}
        for entry in args.steps.entries:
            after = [r for wanted in entry.after for r in registered[wanted]]
            if isinstance(entry, NodeUploads):
                self.uploads = self._uploads(entry, after)
                registered[entry.name] = list(self.uploads)
            else:
                self.steps[entry.name] = self._command(entry, after)
                registered[entry.name] = [self.steps[entry.name]]
        self._done = tuple(r for wanted in args.steps.last for r in registered[wanted])
        self.register_outputs({"ready": self.ready.stdout})

    def _command(self, step: NodeStep, after: list[pulumi.Resource]) -> remote.Command:
        return remote.Command(
            f"{self._name}-{step.name}",
            connection=self._connections[step.runs_on],
            create=step.create,
            delete=step.delete,
            stdin=None if step.stdin is None else self._value(step.stdin),
            triggers=[self._value(t) for t in step.triggers],
            opts=pulumi.ResourceOptions(parent=self, depends_on=after, delete_before_replace=step.delete_first),
        )

    def _uploads(self, entry: NodeUploads, after: list[pulumi.Resource]) -> list[remote.CopyToRemote]:
        return [
            remote.CopyToRemote(
                f"{self._name}-k3s-asset-{local.rsplit('/', 1)[-1]}",
                connection=self._connections["node"],
                source=pulumi.FileAsset(local),
                remote_path=remote_path,
                triggers=[self._host],
                opts=pulumi.ResourceOptions(parent=self, depends_on=after),
            )
            for local, remote_path in entry.files
        ]

    def _value(self, value: Value) -> pulumi.Input[str]:
        if isinstance(value, Slot):
            if value.name not in self._slots:
                raise ValueError(f"node {self._name}: no value for the slot {value.name!r} (have: {', '.join(self._slots)})")
            return self._slots[value.name]
        if isinstance(value, Secret):
            return pulumi.Output.secret(value.text)
        return value

    @property
    def config(self) -> remote.Command:
        """The K3s config step (its stdin is config.yaml)."""
        return self.steps["k3s-config"]

    @property
    def ready(self) -> remote.Command:
        return self.steps["ready"]

    @property
    def done(self) -> tuple[pulumi.Resource, ...]:
        """This node's last step: the next node's install (or drain) waits for it."""
        return self._done

"""What an entry of a node's step table is, and how the table becomes the node's steps.

A `Step` is one remote command on the node (or on the checker server): the script it runs on
create (`apply`) and on delete (`remove`), its stdin, what it follows, when it applies. An
`Uploads` entry is the air-gap assets the component copies with `remote.CopyToRemote`.
`render_steps` keeps the entries that apply, works out what each one waits for and renders
the command strings; the component (components/node.py) only registers the result, in order.

What a step follows: the entry before it in the table, unless it names its own list. A name
that does not apply on this node stands for what that entry followed, so the chain closes
over it (without a firewall, kubelet-config follows host-tuning). Besides the table's names a
step may follow JOIN_AFTER: the previous node's last step, which the component fills in.

Values a step reads (stdin, triggers) are text, `Secret` text (the component hands it to
Pulumi as a secret) or a `Slot` (a value only the component has, such as the K3s config that
carries the token, a Pulumi output).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from render.node.command import Scripts
from settings.nodes import NodeSpec

Where = Literal["node", "checker"]
JOIN_AFTER = "previous-node"  # the previous node's last step: nodes join one at a time


@dataclass(frozen=True)
class Run:
    """A script, by its file name (render/node/scripts/<step>/<script>), and its arguments."""

    script: str
    args: tuple[str, ...] = ()


def run(script: str, *args: str) -> Run:
    return Run(script, args)


@dataclass(frozen=True)
class Secret:
    """Text that must reach Pulumi as a secret (registries.yaml with a mirror's password)."""

    text: str


@dataclass(frozen=True)
class Slot:
    """A value the component fills in: it exists only as a Pulumi output."""

    name: str


Value = str | Secret | Slot


@dataclass(frozen=True)
class Step:
    """One entry of the table: a remote command `<node>-<name>`."""

    name: str
    apply: Run | None = None  # on create (and when its inputs change)
    remove: Run | None = None  # on delete
    stdin: Value | None = None
    follows: tuple[str, ...] | None = None  # None: the entry before it in the table
    when: bool = True  # False: the node has no such step
    runs_on: Where = "node"  # or the checker: the first server, which can ask `k3s kubectl`
    triggers: tuple[Value, ...] | None = None  # what replaces it; None: the node's host (a new machine)
    delete_first: bool = False  # on replace, the old delete runs before the new create
    ssh_client: bool = False  # `apply` gets one more argument: this SSH session's client address


@dataclass(frozen=True)
class Uploads:
    """One entry of the table: files copied from this machine to the node, one resource each."""

    name: str
    files: tuple[tuple[str, str], ...]  # (local file, remote path)
    follows: tuple[str, ...] | None = None
    when: bool = True


Entry = Step | Uploads


@dataclass(frozen=True)
class NodeStep:
    """A step as the component registers it."""

    name: str
    create: str | None  # command strings (render/node/command.py)
    delete: str | None
    stdin: Value | None
    after: tuple[str, ...]  # registered entries (and JOIN_AFTER), in order
    runs_on: Where
    triggers: tuple[Value, ...]
    delete_first: bool


@dataclass(frozen=True)
class NodeUploads:
    name: str
    files: tuple[tuple[str, str], ...]
    after: tuple[str, ...]


Rendered = NodeStep | NodeUploads


@dataclass(frozen=True)
class NodeSteps:
    """One node's steps, in registration order, and the ones the next node waits for."""

    spec: NodeSpec
    checker: NodeSpec
    entries: tuple[Rendered, ...]
    last: tuple[str, ...]


def render_steps(entries: tuple[Entry, ...], spec: NodeSpec, checker: NodeSpec, scripts: Scripts, *, last: str) -> NodeSteps:
    """The entries of `entries` that apply to `spec`, each with what it waits for; `last` is
    the entry the next node waits for (or what it followed, if it does not apply)."""
    _check(entries, last)
    stands_for: dict[str, tuple[str, ...]] = {JOIN_AFTER: (JOIN_AFTER,)}
    rendered: list[Rendered] = []
    previous: tuple[str, ...] = ()
    for entry in entries:
        wanted = entry.follows if entry.follows is not None else previous
        after = tuple(dict.fromkeys(name for w in wanted for name in stands_for[w]))
        stands_for[entry.name] = (entry.name,) if entry.when else after
        previous = (entry.name,)
        if entry.when:
            rendered.append(_rendered(entry, after, spec, checker, scripts))
    return NodeSteps(spec=spec, checker=checker, entries=tuple(rendered), last=stands_for[last])


def _rendered(entry: Entry, after: tuple[str, ...], spec: NodeSpec, checker: NodeSpec, scripts: Scripts) -> Rendered:
    if isinstance(entry, Uploads):
        return NodeUploads(name=entry.name, files=entry.files, after=after)
    sudo = (checker if entry.runs_on == "checker" else spec).sudo
    apply, remove = entry.apply, entry.remove
    return NodeStep(
        name=entry.name,
        create=scripts.command(apply.script, apply.args, sudo=sudo, ssh_client=entry.ssh_client) if apply else None,
        delete=scripts.command(remove.script, remove.args, sudo=sudo) if remove else None,
        stdin=entry.stdin,
        after=after,
        runs_on=entry.runs_on,
        triggers=entry.triggers if entry.triggers is not None else (spec.host,),
        delete_first=entry.delete_first,
    )


def _check(entries: tuple[Entry, ...], last: str) -> None:
    """A table names each entry once, follows only earlier entries, and runs something."""
    seen: set[str] = {JOIN_AFTER}
    for entry in entries:
        if entry.name in seen:
            raise ValueError(f"step table: {entry.name!r} is declared twice (or is the reserved name {JOIN_AFTER!r})")
        unknown = [name for name in entry.follows or () if name not in seen]
        if unknown:
            named, have = ", ".join(map(repr, unknown)), ", ".join(sorted(seen))
            raise ValueError(f"step table: {entry.name!r} follows {named}, not an entry before it (have: {have})")
        if isinstance(entry, Step) and entry.apply is None and entry.remove is None:
            raise ValueError(f"step table: {entry.name!r} runs no script: give it apply, remove or both")
        seen.add(entry.name)
    if last not in seen:
        raise ValueError(f"step table: the last step {last!r} is not in the table")

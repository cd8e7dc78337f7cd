"""`make plan`: run the stack offline and write what it would deploy to build/<stack>/.

    build/<stack>/plan.json              every resource in registration order + stack outputs
    build/<stack>/manifests/*.yaml       every Kubernetes object, one file each
    build/<stack>/node/<node>/*.sh       the command each remote step runs on that node
    build/<stack>/node/<node>/*.stdin    what it reads on stdin (kernel settings, firewall)
    build/<stack>/node/order.txt         the day-two order: a rolling upgrade, a node's removal
    build/<stack>/helm/<release>.values.yaml
    build/<stack>/egress.json, egress.md  every endpoint outside the cluster (render/egress.py)

It prints the resources by type, the egress summary, and the gateway's and the functions'
URLs from the stack outputs. Secrets appear as "[secret]". Two runs write byte-identical files.
"""

from __future__ import annotations

import gc

if __name__ == "__main__":
    gc.disable()  # the command (see command()), from before the imports: 0.1 s fewer collections

import argparse
import json
import re
import shutil
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from functions import FUNCTIONS
from render import egress
from settings.errors import ConfigError, Origin, keys_given
from settings.source import parse_yaml, read_text
from settings.stack import Settings, from_config
from tools.harness import (
    PROJECT_DIR,
    ProgramError,
    Registration,
    StackRun,
    encode_config,
    masked,
    project_name,
    run_stack,
    sorted_keys,
    stack_config,
    unwrap,
)

# Types that are Kubernetes objects only in the provider's hands, not manifests.
_NOT_OBJECTS = ("kubernetes:helm.sh/", "kubernetes:yaml/", "pulumi:providers:")


def is_kubernetes_object(r: Registration) -> bool:
    return r.type.startswith("kubernetes:") and not r.type.startswith(_NOT_OBJECTS)


def shown(r: Registration) -> dict[str, Any]:
    """A resource's inputs as every output file shows them: secret leaves masked, keys sorted."""
    return sorted_keys(masked(r.inputs))


def manifest(r: Registration, inputs: dict[str, Any] | None = None) -> dict[str, Any]:
    """The object the provider would send to the API server (secret leaves masked);
    `inputs`: `shown(r)` where the caller has it already."""
    obj = shown(r) if inputs is None else inputs
    meta = obj.get("metadata") or {}
    if not meta.get("name"):
        raise ProgramError(f"{r.type} {r.name!r} has no metadata.name: give every object an explicit name")
    return obj


def manifest_filename(obj: dict[str, Any]) -> str:
    meta = obj["metadata"]
    parts = [obj["kind"].lower(), meta.get("namespace") or "", meta["name"]]
    return "-".join(p for p in parts if p) + ".yaml"


def plan_document(run: StackRun, inputs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """plan.json; `inputs`: each resource's `shown()` inputs, where the caller has them."""
    inputs = [shown(r) for r in run.resources] if inputs is None else inputs
    return {
        "stack": run.stack,
        "resources": [r.plan_entry(i) for r, i in zip(run.resources, inputs, strict=True)],
        "outputs": sorted_keys(masked(run.outputs)),
    }


WIDTH = 100  # the manifests' line width: a longer scalar is folded onto the next line
# libyaml's emitter, where PyYAML was built with it: 500 functions' manifests in a third of the time.
_FAST_DUMPER = getattr(yaml, "CSafeDumper", None)
_PLAIN_KEY = re.compile(r"[ -~]+")  # printable ASCII, not empty


def _dump(data: Any) -> str:
    """`data` as the pure-Python SafeDumper writes it (width 100), through libyaml when that
    gives the same bytes. The emitters differ where a scalar is folded at the width (libyaml
    breaks a double-quoted one at a space, PyYAML escapes the break) and on odd keys (an
    empty one, a control character, 123 to 128 characters). Neither folds a line that fits,
    so libyaml's text without folding is the answer when every line fits and every key is
    plain; otherwise (a long script or config file) PyYAML writes it."""
    if _FAST_DUMPER is not None and _plain_keys(data):
        text = yaml.dump(data, Dumper=_FAST_DUMPER, sort_keys=False, default_flow_style=False, width=-1)  # -1: never fold
        if max(map(len, text.split("\n"))) <= WIDTH:  # a key of 123+ characters makes a longer line
            return text
    return yaml.dump(data, Dumper=yaml.SafeDumper, sort_keys=False, default_flow_style=False, width=WIDTH)


def _plain_keys(data: Any) -> bool:
    if isinstance(data, dict):
        return all(isinstance(k, str) and _PLAIN_KEY.fullmatch(k) and _plain_keys(v) for k, v in data.items())
    if isinstance(data, list):
        return all(_plain_keys(v) for v in data)
    return True


def write_plan(run: StackRun, out: Path) -> None:
    inputs = [shown(r) for r in run.resources]  # once, for plan.json and the files
    document = json.dumps(plan_document(run, inputs), indent=2, sort_keys=False) + "\n"  # before the old plan goes
    if out.exists():
        shutil.rmtree(out)
    (out / "manifests").mkdir(parents=True)
    (out / "plan.json").write_text(document)
    for r, given in zip(run.resources, inputs, strict=True):
        if is_kubernetes_object(r):
            obj = manifest(r, given)
            (out / "manifests" / manifest_filename(obj)).write_text(_dump(obj))
        elif r.type == "kubernetes:helm.sh/v3:Release":
            (out / "helm").mkdir(exist_ok=True)
            values = given.get("values") or {}
            release = r.inputs.get("name") or r.name  # the Helm release's own name
            (out / "helm" / f"{release}.values.yaml").write_text(_dump(values))
        elif r.type == "command:remote:Command":
            folder = out / "node" / (r.parent or "cluster")
            folder.mkdir(parents=True, exist_ok=True)
            for verb in ("create", "update", "delete"):
                command = r.inputs.get(verb)
                if command:
                    (folder / f"{r.name}.{verb}.sh").write_text(str(command) + "\n")
            stdin = masked(r.inputs.get("stdin"))
            if stdin:  # what the script reads; secret ones (the K3s config) stay "[secret]"
                (folder / f"{r.name}.stdin").write_text(str(stdin))
    (out / "node").mkdir(exist_ok=True)
    (out / "node" / "order.txt").write_text(day_two_order(run))


UPGRADE_STEPS = ("drain", "k3s-install", "ready", "uncordon")
REMOVAL_STEPS = ("evict", "k3s-install", "node-object")


def _script(command: Any) -> str:
    """`k3s-drain.sh bergen-2 300` out of a rendered command string (its last line)."""
    return str(command).rsplit("\n", 1)[-1].lstrip(")\" ") if command else "-"


def day_two_order(run: StackRun) -> str:
    """The order `pulumi up` runs the upgrade steps in (the program's construction order is a
    dependency order, and each node's first step waits for the node before it), and the order
    a removed node's deletes run in (dependents first)."""
    commands = [r for r in run.resources if r.type == "command:remote:Command" and r.parent]
    lines = ["# A new k3sVersion: each node in turn (create or update, in this order)"]
    lines += [f"{r.name}: {_script(r.inputs.get('create'))}" for r in commands if r.name.removeprefix(f"{r.parent}-") in UPGRADE_STEPS]
    lines.append("\n# A node removed from nodes: its day-two deletes, in this order (then its host steps)")
    removals = []
    for node in dict.fromkeys(r.parent for r in commands):
        steps = {r.name.removeprefix(f"{node}-"): r for r in commands if r.parent == node}
        if "evict" in steps:  # every node but the first server (components/cluster.py: removable)
            removals += [f"{steps[s].name}: {_script(steps[s].inputs.get('delete'))}" for s in REMOVAL_STEPS]
    first = masked(run.outputs.get("firstServer")) or "the first server"
    lines += removals or [f"(none: no node but {first}, the first server, which cannot be removed)"]
    return "\n".join(lines) + "\n"


def stack_settings(stack: str, config: dict[str, Any] | None = None, overrides: dict[str, Any] | None = None) -> Settings:
    """The settings the program reads for `stack` (as run_stack's `config`/`overrides`)."""
    config_map, secret_keys = stack_config(stack, overrides=overrides) if config is None else encode_config(config, keep_secrets=True)
    prefix = f"{project_name()}:"
    raw = {k[len(prefix):]: v for k, v in config_map.items() if k.startswith(prefix)}
    secrets = {k[len(prefix):] for k in secret_keys if k.startswith(prefix)}
    try:
        return from_config(raw, secrets, stack, secret=lambda v: v, typed_functions=FUNCTIONS)
    except ConfigError as err:
        raise ProgramError(str(err)) from None


def egress_endpoints(run: StackRun, settings: Settings | None = None) -> list[egress.Endpoint]:
    """The inventory, with the images read from the objects the program registered (the
    settings: those the program loaded, unless given)."""
    settings = settings or run.settings
    if settings is None:
        raise ProgramError("the program defines no `settings`: the egress inventory needs the stack's settings")
    images = [w for r in run.resources if is_kubernetes_object(r) for w in egress.workloads_of(unwrap(r.inputs))]
    return egress.inventory(settings, images)


def write_egress(run: StackRun, endpoints: list[egress.Endpoint], out: Path) -> None:
    (out / "egress.json").write_text(egress.as_json(run.stack, endpoints))
    (out / "egress.md").write_text(egress.as_markdown(run.stack, endpoints))


def summary(run: StackRun) -> str:
    counts = Counter(r.type for r in run.resources)
    width = max(len(t) for t in counts) if counts else 4
    lines = [f"{'type'.ljust(width)}  count", f"{'-' * width}  -----"]
    lines += [f"{t.ljust(width)}  {n:5d}" for t, n in sorted(counts.items())]
    lines.append(f"{'total'.ljust(width)}  {sum(counts.values()):5d}")
    return "\n".join(lines)


# --- the command line ----------------------------------------------------------------------

CONFIG_HELP = """
Config for this plan only (the stack file is not changed), later ones winning:
  --set-file FILE        a YAML map of keys to values (make plan SET_FILE=FILE): for maps and
                         lists, which SET cannot carry (make splits SET on spaces); a value
                         written {secure: VALUE} is a secret
  --set KEY=VALUE        one key, VALUE is YAML (make plan SET="KEY=VALUE KEY=VALUE")
  --set-secret KEY=VALUE one secret key, as `pulumi config set --secret` would store it
                         (make plan SECRET="openfaasLicense=..."): like the stack file's
                         secure values, the plan uses "[secret]" in place of each value
A secret scalar the stack file leaves out (sshPrivateKey, openfaasLicense, acmeEabHmacKey)
needs none of these: the plan puts "[secret]" in its place. A secret map (functionSecrets,
registryAuth, etcdS3Credentials) needs its keys: SET_FILE with {secure: VALUE} leaves.
"""


@dataclass
class GivenConfig:
    """Config keys from the command line (names without the project prefix) and, for each,
    where it was given: a problem with one names that place, not the stack file."""

    values: dict[str, Any] = field(default_factory=dict)
    origins: dict[str, Origin] = field(default_factory=dict)

    def add(self, key: str, value: Any, where: str, as_secret: str) -> None:
        key = key.removeprefix(f"{project_name()}:")
        self.values[key] = value
        self.origins[key] = Origin(where, as_secret)


# make splits SET on spaces: `SET="nodes=[{name: a}]"` arrives as two broken halves.
_SPLIT_HINT = " (make plan splits SET and SECRET on spaces: give maps and lists in a file, SET_FILE=plan.yaml)"


def _pair(item: str, option: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key:
        hint = _SPLIT_HINT if option in ("set", "set-secret") else ""
        raise ConfigError(f"--{option} expects KEY=VALUE, got {item!r}{hint}")
    return key, value


def _value(text: str, option: str, key: str) -> Any:
    try:
        return parse_yaml(text, f"--{option} {key}")
    except ConfigError as err:
        raise ConfigError(f"{err}{_SPLIT_HINT}") from None


def _secured(value: Any) -> Any:
    """`value` as `pulumi config set --secret` stores it: each scalar in it secure."""
    if isinstance(value, dict):
        return {k: _secured(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_secured(v) for v in value]
    return {"secure": value}


def _set_file(path: Path) -> dict[str, Any]:
    name = f"{path} (--set-file)"
    doc = parse_yaml(read_text(path, name), name)
    if doc is None:  # an empty file: nothing to change
        return {}
    if not isinstance(doc, dict):
        raise ConfigError(f"{name}: expected a map of config keys to values (domain: faas.example.no), got {type(doc).__name__}")
    odd = [k for k in doc if not isinstance(k, str) or not k]
    if odd:
        raise ConfigError(f"{name}: keys must be config keys like `domain` or `{project_name()}:domain`, got {odd[0]!r}")
    return doc


def given_config(args: argparse.Namespace) -> GivenConfig:
    """What --set-file, --set and --set-secret give, in the order they win."""
    given = GivenConfig()
    for path in args.set_file:
        for key, value in _set_file(path).items():
            given.add(key, value, f"{path} (--set-file, make plan SET_FILE)", f"`{key}: {{secure: VALUE}}` in {path}")
    for item in args.set:
        key, text = _pair(item, "set")
        value = _value(text, "set", key)
        given.add(key, value, f"--set {key} (make plan SET)", f'--set-secret {key}=VALUE (make plan SECRET="{key}=VALUE")')
    for item in args.set_secret:
        key, text = _pair(item, "set-secret")
        value = _secured(_value(text, "set-secret", key))
        given.add(key, value, f"--set-secret {key} (make plan SECRET)", f"--set-secret {key}=VALUE")
    return given


def previous_outputs(items: list[str]) -> dict[str, Any]:
    found = {}
    for item in items:
        key, text = _pair(item, "previous")
        found[key] = parse_yaml(text, f"--previous {key}")
    return found


def parser() -> argparse.ArgumentParser:
    found = argparse.ArgumentParser(description=__doc__, epilog=CONFIG_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    found.add_argument("--stack", default="oslo")
    found.add_argument("--out", type=Path, default=None, help="default: build/<stack>")
    found.add_argument("--set-file", action="append", default=[], type=Path, metavar="FILE", help="config keys from a YAML map (see below)")
    found.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="one config key, e.g. --set domain=faas.example.no (VALUE is YAML)")
    found.add_argument("--set-secret", action="append", default=[], metavar="KEY=VALUE", help="one secret config key, e.g. --set-secret openfaasLicense=...")
    found.add_argument(
        "--previous", action="append", default=[], metavar="OUTPUT=VALUE",
        help="an output of the previous deployment, e.g. --previous k3sVersion=v1.35.2+k3s1 (default: a first deploy)",
    )
    return found


def addresses(run: StackRun, most: int = 10) -> str:
    """The gateway's URL and each function's, from the stack outputs (the first `most`)."""
    outputs = masked(run.outputs)
    lines = [f"gateway: {outputs.get('gatewayUrl', '(no gatewayUrl output)')}"]
    functions = outputs.get("functions") or {}
    if functions:
        listed = list(functions.items())[:most]
        width = max(len(name) for name, _ in listed)
        lines.append("functions:")
        lines += [f"  {name.ljust(width)}  {url}" for name, url in listed]
        if len(functions) > most:
            lines.append(f"  ... and {len(functions) - most} more (plan.json: outputs.functions)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        given = given_config(args)
        previous = previous_outputs(args.previous)
        with keys_given(given.origins):
            run = run_stack(args.stack, overrides=given.values, previous=previous)
    except (ConfigError, ProgramError) as err:
        print(f"plan failed: {err}", file=sys.stderr)
        return 2
    out = args.out or PROJECT_DIR / "build" / args.stack
    # The inventory first: a stack it cannot describe writes nothing (the old plan stays).
    endpoints = egress_endpoints(run)
    write_plan(run, out)
    write_egress(run, endpoints, out)
    for message in run.warnings():
        print(f"warning: {message}", file=sys.stderr)
    print(summary(run))
    print(egress.summary(endpoints))
    print(addresses(run))
    print(f"\nwrote {out.relative_to(PROJECT_DIR) if out.is_relative_to(PROJECT_DIR) else out}/")
    return 0


def command() -> None:
    """`python -m tools.plan`: `main()` in a process of its own, without the cyclic garbage
    collector (turned off at the top of this module, before the SDK's imports). A plan keeps
    nearly all it allocates until it ends (modules, resources, outputs, the documents it
    writes), so the collector would only rescan the same objects over and over (measured at
    500 functions: 1.6 s of collections, a fifth of the process, to free some 10 MB); and,
    frozen, it does not traverse them all once more at exit (0.3-0.4 s). Reference counting
    still frees the rest; exit handlers still run and open files are still flushed."""
    gc.disable()
    code = main()
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    command()

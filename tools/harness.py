"""Run the stack's `__main__.py` under Pulumi's mock engine and record what it registers.

The one place that knows how to run the program offline: `make plan` (tools/plan.py) and the
unit tests both use `run_stack()`. No Pulumi CLI or provider plugin is involved; the mocks
answer for the providers with deterministic values, so two runs give identical records.

What the engine would do and the mocks do not, done here instead:
- read `Pulumi.<stack>.yaml` (values under `secure:` become the placeholder "[secret]" and are
  marked secret);
- record each registration's options (parent, provider, dependsOn, deleteBeforeReplace, ...),
  which `pulumi.runtime.Mocks` never sees;
- collect the stack outputs after the program finishes.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import gc
import hashlib
import json
import logging
import runpy
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime import mocks, rpc
from pulumi.runtime import resource as sdk_resource
from pulumi.runtime.proto import resource_pb2, source_pb2
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _ensure_event_loop, _sync_await

from settings.errors import ConfigError
from settings.source import parse_yaml, read_text
from settings.stack import Settings

PROJECT_DIR = Path(__file__).resolve().parents[1]
SECRET = "[secret]"

# A kubeconfig shaped like the one K3s writes, for the mocked `cat /etc/rancher/k3s/k3s.yaml`.
K3S_KUBECONFIG = """apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: Q0EtREFUQQ==
    server: https://127.0.0.1:6443
  name: default
contexts:
- context:
    cluster: default
    user: default
  name: default
current-context: default
kind: Config
preferences: {}
users:
- name: default
  user:
    client-certificate-data: Q0VSVA==
    client-key-data: S0VZ
"""


class ProgramError(Exception):
    """The program stopped with a message for the user (pulumi.RunError)."""

    def __init__(self, message: str, registered: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.registered = registered  # what had been registered before it stopped


@dataclass
class Registration:
    """One resource as the engine received it."""

    type: str
    name: str
    urn: str
    custom: bool
    parent: str | None
    provider: str | None
    inputs: dict[str, Any]  # raw: secrets still wrapped, see `masked()`
    options: dict[str, Any]

    def plan_entry(self, shown_inputs: dict[str, Any] | None = None) -> dict[str, Any]:
        """The resource in plan.json (`shown_inputs`: the masked, sorted inputs, if at hand)."""
        return {
            "type": self.type,
            "name": self.name,
            "parent": self.parent,
            "provider": self.provider,
            "inputs": sorted_keys(masked(self.inputs)) if shown_inputs is None else shown_inputs,
            "options": self.options,
        }


@dataclass
class StackRun:
    stack: str
    resources: list[Registration]
    outputs: dict[str, Any]  # raw: secrets still wrapped
    logs: list[tuple[str, str]] = field(default_factory=list)
    references: list[str] = field(default_factory=list)  # stacks read through a StackReference
    # The Settings the program validated (its global `settings`): what the plan's inventory
    # reads, so the config is not validated a second time. None if the program has none.
    settings: Settings | None = None

    def get(self, name: str) -> Registration:
        for r in self.resources:
            if r.name == name:
                return r
        raise KeyError(f"no resource named {name!r}; have: {[r.name for r in self.resources]}")

    def of_type(self, type_: str) -> list[Registration]:
        return [r for r in self.resources if r.type == type_]

    def children(self, parent: str) -> list[Registration]:
        return [r for r in self.resources if r.parent == parent]

    def warnings(self) -> list[str]:
        return [m for level, m in self.logs if level == "WARNING"]


# --- secrets --------------------------------------------------------------------------------


def is_secret(value: Any) -> bool:
    return rpc.is_rpc_secret(value)


def unwrap(value: Any) -> Any:
    """The plain value with every secret wrapper removed (for assertions on content)."""
    if is_secret(value):
        return unwrap(rpc.unwrap_rpc_secret(value))
    if isinstance(value, dict):
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return _plain_number(value)


def masked(value: Any, inside_secret: bool = False) -> Any:
    """The value with every secret leaf replaced by "[secret]" (keys stay visible)."""
    if is_secret(value):
        return masked(rpc.unwrap_rpc_secret(value), True)
    if isinstance(value, dict):
        return {k: masked(v, inside_secret) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v, inside_secret) for v in value]
    if isinstance(value, (pulumi.asset.Asset, pulumi.asset.Archive)):
        return SECRET if inside_secret else _asset(value)
    return SECRET if inside_secret and value is not None else _plain_number(value)


def _asset(value: pulumi.asset.Asset | pulumi.asset.Archive) -> dict[str, Any]:
    """An asset or archive as the plan shows it: its kind and where its content comes from
    (the air gap's FileAssets: a path on the operator's machine), never the content itself,
    which can be an images tarball of a gigabyte, or a secret."""
    kind = type(value).__name__[0].lower() + type(value).__name__[1:]  # fileAsset, remoteArchive, ...
    if isinstance(value, pulumi.asset.AssetArchive):
        return {kind: {name: masked(item) for name, item in sorted(value.assets.items())}}
    source = getattr(value, "path", None) or getattr(value, "uri", None)
    if source is None:  # a StringAsset: its text may be anything, its digest says when it changes
        source = "sha256:" + hashlib.sha256(str(getattr(value, "text", "")).encode()).hexdigest()
    return {kind: str(source)}


def sorted_keys(value: Any) -> Any:
    """Maps with their keys sorted. The wire format (a protobuf Struct) keeps no key order,
    so sorting is what makes two runs of the same program print the same bytes."""
    if isinstance(value, dict):
        return {k: sorted_keys(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [sorted_keys(v) for v in value]
    return value


def _plain_number(value: Any) -> Any:
    # The wire carries every number as a double; 1.0 means the program said 1.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# --- config ---------------------------------------------------------------------------------


@functools.cache
def project_name() -> str:
    return yaml.safe_load((PROJECT_DIR / "Pulumi.yaml").read_text())["name"]


def stack_config(stack: str, path: Path | None = None, overrides: Mapping[str, Any] | None = None) -> tuple[dict[str, str], list[str]]:
    """`Pulumi.<stack>.yaml` as the engine hands it over: `{"proj:key": "text"}` + secret keys;
    `overrides` (keys without the prefix) change it as `pulumi config set` would."""
    path = path or PROJECT_DIR / f"Pulumi.{stack}.yaml"
    if not path.exists():
        raise ProgramError(f"{path.name}: no such stack file (make plan STACK=name reads Pulumi.name.yaml)")
    try:
        doc = parse_yaml(read_text(path, path.name), path.name)
    except ConfigError as err:
        raise ProgramError(str(err)) from None
    # What the Pulumi CLI itself refuses before a program runs: the file's shape.
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise ProgramError(f"{path.name}: expected a map with a `config:` key, got {type(doc).__name__}")
    config = doc.get("config") or {}
    if not isinstance(config, dict):
        raise ProgramError(f"{path.name}: config: expected a map of `{project_name()}:<key>: value`, got {type(config).__name__}")
    odd = [k for k in config if not isinstance(k, str)]
    if odd:
        raise ProgramError(f"{path.name}: config: keys must be text like `{project_name()}:nodes`, got {odd[0]!r}")
    values = dict(config)
    values.update({f"{project_name()}:{k}": v for k, v in (overrides or {}).items()})
    # A plan never needs real secrets: a required secret the stack file leaves out (it lives
    # in the user's encrypted config, not in the repo) becomes the "[secret]" placeholder.
    for key in required_secrets():
        if key not in values and f"{project_name()}:{key}" not in values:
            values[key] = {"secure": SECRET}
    # A secret map another key of the file needs (etcdS3Credentials beside etcdS3Bucket) lives
    # in the user's encrypted config too: each of its leaves becomes the placeholder.
    for key, (needed_with, leaves) in secret_maps_needed().items():
        given = {k.removeprefix(f"{project_name()}:") for k in values}
        if needed_with in given and key not in given:
            values[key] = {leaf: {"secure": SECRET} for leaf in leaves}
    config, secret_keys = encode_config(values)
    return {k: _stand_in(k) if v == SECRET and k in secret_keys else v for k, v in config.items()}, secret_keys


def _stand_in(full_key: str) -> str:
    """What a plan reads for a secret it cannot decrypt: the key's declared stand-in, shaped
    like the real value where the settings check its format (acmeEabHmacKey), else "[secret]"."""
    from settings.stack import KEY_SECTION, SECTIONS

    key = full_key.removeprefix(f"{project_name()}:")
    fields = {str(f.alias): f for f in SECTIONS[KEY_SECTION[key]].model_fields.values()} if key in KEY_SECTION else {}
    extra = fields[key].json_schema_extra if key in fields else None
    return str(extra.get("stand_in", SECRET)) if isinstance(extra, dict) else SECRET


def secret_maps_needed() -> dict[str, tuple[str, tuple[str, ...]]]:
    """Secret object keys a plan fills with placeholders when the key they go with is set:
    key -> (that key, the object's leaves), from the settings' `stand_in_with`."""
    from settings.stack import SECTIONS

    fields = [f for m in SECTIONS.values() for f in m.model_fields.values() if isinstance(f.json_schema_extra, dict)]
    return {
        str(f.alias): (str(f.json_schema_extra["stand_in_with"]), tuple(f.json_schema_extra["stand_in_leaves"]))  # type: ignore[index,arg-type]
        for f in fields
        if "stand_in_with" in f.json_schema_extra  # type: ignore[operator]
    }


def required_secrets() -> list[str]:
    """The secret scalar keys (sshPrivateKey, openfaasLicense, ...), which a stack file in the
    repository never holds: a plan gets a placeholder for each."""
    from settings.stack import SECRET_KEYS, SECTIONS

    objects = {str(f.alias) for m in SECTIONS.values() for f in m.model_fields.values() if (f.json_schema_extra or {}).get("kind") == "object"}  # type: ignore[union-attr]
    return [k for k in SECRET_KEYS if k not in objects]


def _reveal(value: Any, keep: bool) -> tuple[Any, bool]:
    """The value with every `{secure: x}` replaced (by x, or "[secret]"), and whether there was
    one: `pulumi config set --secret --path a.b` makes one leaf secure and the whole key secret."""
    if isinstance(value, dict) and set(value) == {"secure"}:
        return (str(value["secure"]) if keep else SECRET), True
    if isinstance(value, dict):
        pairs = {k: _reveal(v, keep) for k, v in value.items()}
        return {k: v for k, (v, _) in pairs.items()}, any(s for _, s in pairs.values())
    if isinstance(value, list):
        items = [_reveal(v, keep) for v in value]
        return [v for v, _ in items], any(s for _, s in items)
    return value, False


def encode_config(values: Mapping[str, Any], keep_secrets: bool = False) -> tuple[dict[str, str], list[str]]:
    """Config as the engine passes it. A stack file's `secure:` values are ciphertext and
    become "[secret]"; a test's inline `{"secure": "value"}` keeps its value (`keep_secrets`)."""
    project = project_name()
    config: dict[str, str] = {}
    secret_keys: list[str] = []
    for key, value in values.items():
        full = key if ":" in key else f"{project}:{key}"
        plain, secret = _reveal(value, keep_secrets)
        # `pulumi config set key ""` stores text; YAML null from `--set key=` means the same.
        config[full] = plain if isinstance(plain, str) else "" if plain is None else json.dumps(plain)
        if secret:
            secret_keys.append(full)
    return config, secret_keys


# --- the mock engine ------------------------------------------------------------------------


def _fake_secret(name: str, length: int) -> str:
    """Stands in for a random provider result: stable per resource name."""
    digest = hashlib.sha256(name.encode()).hexdigest()
    return (digest * (length // len(digest) + 1))[:length]


class StackMocks(mocks.Mocks):
    """Answers for the providers. Like the real ones, the results are not secret by
    themselves: only the program's own `Output.secret` (or the engine) makes them so."""

    def __init__(self, previous: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        self.previous = dict(previous or {})  # the previous deployment's stack outputs
        self.references: list[str] = []  # the stacks the program read through a StackReference

    def new_resource(self, args: mocks.MockResourceArgs) -> tuple[str | None, dict]:
        if args.typ == "pulumi:pulumi:StackReference":
            # components/history.py reads this stack's own previous outputs.
            self.references.append(str(args.inputs.get("name")))
            return args.resource_id or args.name, {"name": args.inputs.get("name"), "outputs": self.previous, "secret_output_names": []}
        if args.typ.startswith("kubernetes:") and "metadata" in args.inputs:
            # Only metadata is read back by the program (e.g. a namespace's name); echoing a
            # whole Deployment would only cost serialisation time.
            return f"{args.name}-id", {k: args.inputs[k] for k in ("apiVersion", "kind", "metadata") if k in args.inputs}
        state = dict(args.inputs)
        if args.typ == "random:index/randomPassword:RandomPassword":
            state["result"] = _fake_secret(args.name, int(args.inputs.get("length", 32)))
        elif args.typ == "command:remote:Command":
            create = str(args.inputs.get("create", ""))
            state["stdout"] = K3S_KUBECONFIG if "k3s-kubeconfig.sh" in create else ""
            state["stderr"] = ""
        return f"{args.name}-id", state

    def call(self, args: mocks.MockCallArgs) -> tuple[dict, list[tuple[str, str]]]:
        return {}, []


class RecordingMonitor(mocks.MockMonitor):
    """The mock monitor, plus a record of every registration with its options."""

    def __init__(self, stack_mocks: mocks.Mocks) -> None:
        super().__init__(stack_mocks)
        self.registrations: list[Registration] = []
        self._names: dict[str, str] = {}  # urn -> name
        self._taken: set[str] = set()

    def RegisterResource(self, request: Any) -> Any:
        # MockMonitor.RegisterResource, plus the record; the inputs are deserialised once.
        urn = self.make_urn(request.parent, request.type, request.name)
        if request.type == "pulumi:pulumi:Stack":
            return resource_pb2.RegisterResourceResponse(urn=urn)
        _ensure_event_loop()
        inputs = rpc.deserialize_properties(request.object)
        self._record(request, urn, inputs)
        id_, state = self.mocks.new_resource(
            mocks.MockResourceArgs(
                typ=request.type,
                name=request.name,
                inputs=inputs,
                provider=request.provider,
                resource_id=request.importId,
                custom=request.custom or False,
            )
        )
        id_ = id_ or ""
        self.resources[urn] = mocks.MockMonitor.ResourceRegistration(urn, id_, state)
        state_proto = _sync_await(rpc.serialize_properties(state, {}))
        return resource_pb2.RegisterResourceResponse(urn=urn, id=id_, object=state_proto)

    def _record(self, request: Any, urn: str, inputs: dict[str, Any]) -> None:
        if request.name in self._taken:
            raise ProgramError(f"two resources are named {request.name!r}: names must be unique in the stack")
        self._names[urn] = request.name
        self._taken.add(request.name)
        self.registrations.append(
            Registration(
                type=request.type,
                name=request.name,
                urn=urn,
                custom=bool(request.custom),
                parent=self._names.get(request.parent),
                provider=self._names.get(request.provider.rsplit("::", 1)[0]) if request.provider else None,
                inputs=inputs,
                options={
                    "dependsOn": sorted(str(self._names.get(u, u)) for u in request.dependencies),
                    "deleteBeforeReplace": bool(request.deleteBeforeReplace),
                    "additionalSecretOutputs": list(request.additionalSecretOutputs),
                    "protect": bool(request.protect),
                    "ignoreChanges": list(request.ignoreChanges),
                    "replaceOnChanges": list(request.replaceOnChanges),
                    **_custom_timeouts(request),
                },
            )
        )


def _custom_timeouts(request: Any) -> dict[str, Any]:
    """`customTimeouts` ({create, update, delete}, those set) when the resource has any: recorded
    only then, so the plan of a resource without them keeps its shape."""
    timeouts = getattr(request, "customTimeouts", None)
    given = {k: getattr(timeouts, k) for k in ("create", "update", "delete") if timeouts is not None and getattr(timeouts, k)}
    return {"customTimeouts": given} if given else {}


class _LogCapture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append((record.levelname, record.getMessage()))


def _resolve(value: Any) -> Any:
    """A stack output's value, with secrets wrapped like the engine's wire form."""
    output = pulumi.Output.from_input(value)
    plain = _sync_await(output.future())
    secret = _sync_await(output.is_secret())
    return rpc.wrap_rpc_secret(plain) if secret else plain


@contextlib.contextmanager
def _without_source_positions() -> Iterator[None]:
    """For each resource the SDK walks the Python stack (traceback.extract_stack, every
    frame's source line read) to send the engine where it was constructed, for the engine's
    messages. The mocks drop it, and it was 8% of a 500-function run: here it is left out.
    (A newer SDK without the function: nothing to leave out, nothing changes.)"""
    collect = getattr(sdk_resource, "_get_stack_trace", None)
    if collect is None:
        yield
        return
    sdk_resource._get_stack_trace = source_pb2.StackTrace  # an empty trace: no source position
    try:
        yield
    finally:
        sdk_resource._get_stack_trace = collect


def _record_construction_order(order: dict[str, int]) -> None:
    """Fill `order` (resource name -> its place in the program's own order) as the program
    constructs resources. A resource whose inputs wait on another's outputs registers whenever
    those resolve, which varies from run to run; the order the program constructed them in
    does not (and a resource can only depend on ones constructed before it, so it is also a
    dependency order). A stack transformation runs synchronously in every Resource's
    constructor, and returning None leaves the resource as it was."""

    def record(args: pulumi.ResourceTransformationArgs) -> None:
        order.setdefault(args.name, len(order))

    pulumi.runtime.register_stack_transformation(record)


def run_stack(
    stack: str = "oslo",
    config: Mapping[str, Any] | None = None,
    *,
    program: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    previous: Mapping[str, Any] | None = None,
) -> StackRun:
    """Run `__main__.py` for `stack` and return what it registered.

    `config` (keys without the project prefix, YAML-shaped values) replaces the stack file's
    config when given, so a test can describe a whole stack inline. `previous` is what the
    previous deployment exported (`k3sVersion`, `firstServer`); none: a first deploy.
    """
    if config is None:
        config_map, secret_keys = stack_config(stack, overrides=overrides)
    else:
        config_map, secret_keys = encode_config(config, keep_secrets=True)
    project = project_name()
    loop = asyncio.new_event_loop()
    # One worker: the SDK sends registrations through the default executor, one at a time.
    # Their arrival order still varies (see _record_construction_order), so the record is sorted.
    loop.set_default_executor(concurrent.futures.ThreadPoolExecutor(max_workers=1))
    asyncio.set_event_loop(loop)
    logger = logging.getLogger(f"sovereign-faas.harness.{id(loop)}")
    logger.propagate = False
    logger.setLevel(logging.INFO)  # the program's info lines (the egress summary) too
    capture = _LogCapture()
    logger.addHandler(capture)
    pulumi.runtime.settings.reset_options(project=project, stack=stack)
    stack_mocks = StackMocks(previous)
    monitor = RecordingMonitor(stack_mocks)
    # "organization": what the CLI passes with a self-managed backend (s3://, file://).
    mocks.set_mocks(stack_mocks, project=project, stack=stack, preview=False, logger=logger, monitor=monitor, organization="organization")
    pulumi.runtime.set_all_config(config_map, secret_keys)
    path = program or PROJECT_DIR / "__main__.py"
    sys.path.insert(0, str(PROJECT_DIR))
    order: dict[str, int] = {}
    namespace: dict[str, Any] = {}  # the program's globals, once it has run
    # A run allocates many objects that live to its end (resources, outputs, their futures)
    # and little garbage in cycles: the cyclic collector would rescan the live ones again and
    # again (at 500 functions some 1.5 s, for 10 MB it would free). Reference counting still
    # frees the rest. It resumes after the run if it was on (tests); `make plan` keeps it off
    # to the end (tools/plan.py: command).
    collecting = gc.isenabled()
    gc.disable()
    try:
        def main() -> None:
            _record_construction_order(order)
            namespace.update(runpy.run_path(str(path), run_name="__main__"))

        with _without_source_positions():
            _sync_await(run_pulumi_func(main))
        root = pulumi.runtime.settings.get_root_resource()
        outputs = {k: _resolve(v) for k, v in sorted(getattr(root, "outputs", {}).items())}
    except pulumi.RunError as err:
        raise ProgramError(str(err), tuple(r.name for r in monitor.registrations)) from None
    finally:
        if collecting:
            gc.enable()
        sys.path.remove(str(PROJECT_DIR))
        logger.removeHandler(capture)
        asyncio.set_event_loop(None)
        loop.close()
    resources = sorted(monitor.registrations, key=lambda r: order.get(r.name, len(order)))
    return StackRun(
        stack=stack, resources=resources, outputs=outputs, logs=capture.records, references=stack_mocks.references, settings=_settings_in(namespace)
    )


def _settings_in(namespace: Mapping[str, Any]) -> Settings | None:
    found = namespace.get("settings")
    return found if isinstance(found, Settings) else None

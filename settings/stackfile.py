"""Read a faas-cli `stack.yml` into typed Functions, the way faas-cli reads it.

faas-cli (go-sdk `stack.ParseYAMLData`) substitutes variables in the whole text with
drone/envsubst (upstream/drone_envsubst.py, an exact port), then decodes it with yaml.v3 into typed
structs (go-sdk stack/schema.go). This module does the same:

- Substitution errors are reported with their line (`functions/stack.yml: line 3: ...`).
- The text must be UTF-8 and YAML; a key given twice (a function declared twice included) is
  refused with its line, as yaml.v3 refuses it.
- An empty file or one without `provider.name: openfaas` is refused, as ParseYAMLData does
  (`['openfaas'] is the only valid "provider.name" for the OpenFaaS CLI, but you gave: `).
- Scalars are read as yaml.v3 reads them into Go types: a string field takes any scalar as
  written (`1.50` stays `1.50`, `yes` stays `yes`), never a list or a map; a bool field takes
  `true`/`false` (any case as YAML 1.2 writes it) and YAML 1.1's `yes`/`no`/`on`/`off`/`y`/`n`;
  null is the zero value.
- Every field is type-checked, build-only ones included (`build_options` list of strings,
  `skip_build` bool, `platforms` string, `build_secrets` and `build_args` maps of strings,
  `configuration.templates` a list of `{name, source}`, `configuration.copy` a list of strings).
- Unknown keys are refused (faas-cli ignores them): stricter, to catch typos.
- `environment_file` entries are read relative to the stack file, must stay inside the project
  directory (symlinks resolved), and are merged in order after `environment` (later files win).
Every mistake is reported with the file, the function and the key; no message shows more than a
short excerpt of a file.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from settings import source
from settings.errors import ConfigError, Report, short, suggest
from settings.function_spec import Function, Resources
from upstream.drone_envsubst import SubstitutionError, substitute

TOP_KEYS = ("version", "provider", "functions", "configuration")
PROVIDER_KEYS = ("name", "gateway", "network")
CONFIGURATION_KEYS = ("templates", "copy")
TEMPLATE_KEYS = ("name", "source")
FUNCTION_KEYS = (
    "lang", "handler", "image", "fprocess", "environment", "environment_file", "secrets",
    "skip_build", "constraints", "labels", "annotations", "limits", "requests",
    "readonly_root_filesystem", "namespace", "build_args", "build_options", "build_secrets",
    "platforms",
)
RESOURCE_KEYS = ("memory", "cpu")
PROVIDER_NAME = "openfaas"
SCHEMA_VERSIONS = ("1.0",)
_TRUE_12, _FALSE_12 = ("true", "True", "TRUE"), ("false", "False", "FALSE")  # yaml.v3's core schema
_TRUE_11 = ("y", "Y", "yes", "Yes", "YES", "on", "On", "ON")  # yaml.v3 decode.go, into a bool only
_FALSE_11 = ("n", "N", "no", "No", "NO", "off", "Off", "OFF")

__all__ = ["load", "substitute"]


class Scalar(str):
    """A YAML scalar as written; `plain` is False when it was quoted or a block scalar."""

    plain: bool

    def __new__(cls, value: str, plain: bool) -> Scalar:
        obj = super().__new__(cls, value)
        obj.plain = plain
        return obj


class _RawLoader(source.StrictLoader):  # type: ignore[misc, valid-type]
    """Keeps every scalar as the text written (yaml.v3 decodes a string field from it);
    only null and merge keys (`<<`) are resolved."""


_RawLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag in ("tag:yaml.org,2002:null", "tag:yaml.org,2002:merge")]
    for first, resolvers in yaml.resolver.Resolver.yaml_implicit_resolvers.items()
}


def _scalar(loader: Any, node: yaml.ScalarNode) -> Scalar:
    return Scalar(loader.construct_scalar(node), plain=node.style in (None, ""))


_RawLoader.add_constructor("tag:yaml.org,2002:str", _scalar)


def _cut(text: str) -> str:
    """A name or value from a file, cut to a short excerpt."""
    return text if len(text) <= 60 else text[:57] + "..."


def _kind(raw: Any) -> str:
    if isinstance(raw, dict):
        return "a map"
    if isinstance(raw, list):
        return "a list"
    return short(str(raw) if isinstance(raw, str) else raw)


class _Reader:
    """Reads one stack file, reporting problems as `<file>: functions.<fn>.<key>: ...`."""

    def __init__(self, path: Path, display: str, root: Path, problems: Report) -> None:
        self.path = path
        self.display = display
        self.root = root
        self.problems = problems

    def problem(self, key: str, message: str) -> None:
        self.problems.add_file(self.display, key, message)

    def keys(self, obj: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
        for key in obj:
            if key not in allowed:
                self.problem(f"{where}.{key}" if where else str(key), "unknown key" + suggest(str(key), allowed))

    def mapping(self, raw: Any, where: str) -> dict[str, Any]:
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            self.problem(where, f"expected a map, got {_kind(raw)}")
            return {}
        return {str(k): v for k, v in raw.items()}

    def text(self, raw: Any, where: str) -> str | None:
        """A Go string field: any scalar as written, null the empty string (None here)."""
        if raw is None:
            return None
        if isinstance(raw, (dict, list)):
            self.problem(where, f"expected a string, got {_kind(raw)}")
            return None
        if isinstance(raw, bool):  # only through an explicit tag such as `!!bool true`
            return "true" if raw else "false"
        return str(raw)

    def boolean(self, raw: Any, where: str) -> bool:
        """A Go bool field, as yaml.v3 decodes one."""
        if raw is None:
            return False
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, Scalar):
            if raw.plain and raw in _TRUE_12 + _FALSE_12:
                return raw in _TRUE_12
            if raw in _TRUE_11 + _FALSE_11:
                return raw in _TRUE_11
        self.problem(where, f"expected true or false, got {_kind(raw)}")
        return False

    def strings(self, raw: Any, where: str) -> dict[str, str]:
        """A Go map[string]string: every value a scalar, sent as written."""
        out: dict[str, str] = {}
        for key, value in self.mapping(raw, where).items():
            if isinstance(value, (dict, list)):
                self.problem(f"{where}.{key}", f"expected a string, number or boolean, got {_kind(value)}")
            else:
                out[key] = self.text(value, f"{where}.{key}") or ""
        return out

    def string_list(self, raw: Any, where: str) -> tuple[str, ...]:
        """A Go []string."""
        if raw is None:
            return ()
        if not isinstance(raw, list):
            self.problem(where, f"expected a list of strings, got {_kind(raw)}")
            return ()
        out = []
        for i, item in enumerate(raw):
            if isinstance(item, (dict, list)):
                self.problem(f"{where}[{i}]", f"expected a string, got {_kind(item)}")
            else:
                out.append(self.text(item, f"{where}[{i}]") or "")
        return tuple(out)

    def resources(self, raw: Any, where: str) -> Resources | None:
        if raw is None:
            return None
        values = self.mapping(raw, where)
        self.keys(values, RESOURCE_KEYS, where)
        memory, cpu = (self.text(values.get(k), f"{where}.{k}") for k in RESOURCE_KEYS)
        return Resources(memory=memory or None, cpu=cpu or None)

    def configuration(self, raw: Any) -> None:
        """Build-time only (faas-cli template pull, build context), type-checked all the same."""
        config = self.mapping(raw, "configuration")
        self.keys(config, CONFIGURATION_KEYS, "configuration")
        templates = config.get("templates")
        if templates is not None and not isinstance(templates, list):
            self.problem("configuration.templates", f"expected a list of {{name, source}}, got {_kind(templates)}")
        for i, template in enumerate(templates if isinstance(templates, list) else []):
            where = f"configuration.templates[{i}]"
            entry = self.mapping(template, where)
            self.keys(entry, TEMPLATE_KEYS, where)
            for key in TEMPLATE_KEYS:
                self.text(entry.get(key), f"{where}.{key}")
        self.string_list(config.get("copy"), "configuration.copy")

    def inside(self, file: Path) -> bool:
        """Whether `file`, symlinks resolved, is inside the project directory (a name the
        system cannot even look up, e.g. too long, is not)."""
        try:
            return file.resolve().is_relative_to(self.root.resolve())
        except (OSError, ValueError):
            return False

    def env_files(self, raw: Any, where: str) -> dict[str, str]:
        merged: dict[str, str] = {}
        for i, name in enumerate(self.string_list(raw, where)):
            key = f"{where}[{i}]"
            file = self.path.parent / name
            if not self.inside(file):
                self.problem(key, f"{_cut(name)} is outside the project directory (symlinks resolved): keep environment files in the project")
                continue
            if not file.is_file():
                self.problem(key, f"{_cut(name)}: no such file (read relative to {self.display})")
                continue
            try:
                doc = source.parse_yaml(source.read_text(file, name), name, _RawLoader)
            except ConfigError as err:
                self.problem(key, str(err))
                continue
            if doc is not None and (not isinstance(doc, dict) or set(doc) - {"environment"}):
                self.problem(key, f"{_cut(name)} must hold only an `environment:` map")
                continue
            merged.update(self.strings((doc or {}).get("environment"), f"{key}:{name}.environment"))
        return merged


def load(
    path: Path, display: str, env: Mapping[str, str], namespace: str, problems: Report, root: Path | None = None
) -> tuple[Function, ...]:
    """The functions of the stack file at `path` (`display` is how messages name it; files it
    names must stay inside `root`, by default the stack file's directory)."""
    reader = _Reader(path, display, root or path.parent, problems)
    if not path.is_file():
        problems.add("functionsFile", f"{display}: no such file")
        return ()
    try:
        text = source.read_text(path, display)
    except ConfigError as err:
        reader.problem("(file)", str(err).removeprefix(f"{display}: "))
        return ()
    try:
        text = substitute(text, env)
    except SubstitutionError as err:
        reader.problem(f"line {err.line}", f"{err.message} (variable substitution, as faas-cli does it)")
        return ()
    try:
        doc = source.parse_yaml(text, display, _RawLoader)
    except ConfigError as err:
        reader.problem("(file)", str(err).removeprefix(f"{display}: "))
        return ()
    if doc is None:
        reader.problem("(file)", f"empty: faas-cli refuses it (a stack file needs at least `provider: {{name: {PROVIDER_NAME}}}` and `functions`)")
        return ()
    top = reader.mapping(doc, "(file)")
    if not isinstance(doc, dict):
        return ()
    reader.keys(top, TOP_KEYS, "")
    version = reader.text(top.get("version"), "version")
    if version and version not in SCHEMA_VERSIONS:
        reader.problem("version", f"expected '1.0' (the only stack file version faas-cli knows), got {short(version)}")
    provider = reader.mapping(top.get("provider"), "provider")
    reader.keys(provider, PROVIDER_KEYS, "provider")
    name = reader.text(provider.get("name"), "provider.name")
    if not name:
        reader.problem("provider.name", f"required: faas-cli refuses a stack file without it ('{PROVIDER_NAME}' is the only valid provider.name)")
    elif name != PROVIDER_NAME:
        reader.problem("provider.name", f"expected '{PROVIDER_NAME}', got {short(name)}")
    for key in ("gateway", "network"):
        reader.text(provider.get(key), f"provider.{key}")
    reader.configuration(top.get("configuration"))
    functions = reader.mapping(top.get("functions"), "functions")
    return tuple(f for fn_name, raw in functions.items() if (f := _function(reader, fn_name, raw, namespace)))


def _function(reader: _Reader, name: str, raw: Any, namespace: str) -> Function | None:
    where = f"functions.{name}"
    spec = reader.mapping(raw, where)
    reader.keys(spec, FUNCTION_KEYS, where)
    # Build-only fields: not deployed, but a wrong type fails faas-cli, so it fails here.
    reader.boolean(spec.get("skip_build"), f"{where}.skip_build")
    reader.text(spec.get("platforms"), f"{where}.platforms")
    reader.string_list(spec.get("build_options"), f"{where}.build_options")
    reader.strings(spec.get("build_secrets"), f"{where}.build_secrets")
    reader.string_list(spec.get("constraints"), f"{where}.constraints")  # CE ignores them
    image = reader.text(spec.get("image"), f"{where}.image")
    namespace_given = reader.text(spec.get("namespace"), f"{where}.namespace")
    if namespace_given not in (None, "", namespace):
        reader.problem(f"{where}.namespace", f"functions deploy to openfaasFunctionNamespace ({namespace!r}), got {short(namespace_given)}")
    read_only = reader.boolean(spec.get("readonly_root_filesystem"), f"{where}.readonly_root_filesystem")
    environment = reader.strings(spec.get("environment"), f"{where}.environment")
    environment.update(reader.env_files(spec.get("environment_file"), f"{where}.environment_file"))
    annotations = reader.strings(spec.get("annotations"), f"{where}.annotations")
    secrets = reader.string_list(spec.get("secrets"), f"{where}.secrets")
    labels = reader.strings(spec.get("labels"), f"{where}.labels")
    limits = reader.resources(spec.get("limits"), f"{where}.limits")
    requests = reader.resources(spec.get("requests"), f"{where}.requests")
    fprocess = reader.text(spec.get("fprocess"), f"{where}.fprocess")
    lang = reader.text(spec.get("lang"), f"{where}.lang")
    handler = reader.text(spec.get("handler"), f"{where}.handler")
    build_args = reader.strings(spec.get("build_args"), f"{where}.build_args")
    if image is None:  # absent, or `image:` with nothing after it
        reader.problem(f"{where}.image", f"required: the container image function {name!r} runs, e.g. ghcr.io/you/{name}:1.0.0")
        return None
    if not image.strip():
        reader.problem(f"{where}.image", f"required: the container image function {name!r} runs, got {short(image)}")
        return None
    return Function(
        name=name,
        image=image,
        environment=environment,
        annotations={k: v for k, v in annotations.items() if k != "topic"},
        read_only_root_filesystem=read_only,
        topic=annotations.get("topic") or None,
        source=reader.display,
        secrets=secrets,
        labels=labels,
        limits=limits,
        requests=requests,
        fprocess=fprocess,
        lang=lang,
        handler=handler,
        build_args=build_args,
    )

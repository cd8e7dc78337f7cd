"""Read a faas-cli `stack.yml` into typed Functions, the way faas-cli reads it.

- Environment variables are substituted in the whole text before parsing, as faas-cli does:
  `${VAR}`, `${VAR:-default}` (unset or empty), `${VAR-default}` and `${VAR=default}` (unset),
  `${VAR:=default}` (unset or empty). An unset variable becomes the empty string.
- `environment_file` entries are read relative to the stack file and merged in order after
  `environment` (later files win).
- Unquoted numbers and booleans in labels, annotations and environment become the strings
  faas-cli would send (`true`, `1`).
- `configuration`, `provider.gateway` and the build-only fields are accepted; only what
  Kubernetes needs is deployed.
Every mistake is reported with the file, the function and the key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from settings.errors import Report, suggest
from settings.functions import Function, Resources

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-=])([^}]*))?\}")

TOP_KEYS = ("version", "provider", "functions", "configuration")
PROVIDER_KEYS = ("name", "gateway", "network")
FUNCTION_KEYS = (
    "lang", "handler", "image", "fprocess", "environment", "environment_file", "secrets",
    "skip_build", "constraints", "labels", "annotations", "limits", "requests",
    "readonly_root_filesystem", "namespace", "build_args", "build_options", "build_secrets",
    "platforms",
)
RESOURCE_KEYS = ("memory", "cpu")
# libyaml's loader where PyYAML has it: a stack file of hundreds of functions parses 10x faster.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _parse(text: str) -> Any:
    return yaml.load(text, Loader=_LOADER)  # noqa: S506 - a safe loader, C or Python


def substitute(text: str, env: Mapping[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name, op, default = match.group(1), match.group(2), match.group(3) or ""
        current = env.get(name)
        if op in (":-", ":=") and not current:
            return default
        if op in ("-", "=") and current is None:
            return default
        return current or ""

    return _VARIABLE.sub(value, text)


class _Reader:
    """Reads one stack file, reporting problems as `<file>: functions.<fn>.<key>: ...`."""

    def __init__(self, path: Path, display: str, problems: Report) -> None:
        self.path = path
        self.display = display
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
            self.problem(where, f"expected a map, got {type(raw).__name__} {raw!r}")
            return {}
        return raw

    def strings(self, raw: Any, where: str) -> dict[str, str]:
        """A map of scalars as faas-cli sends it: every value a string."""
        out: dict[str, str] = {}
        for key, value in self.mapping(raw, where).items():
            if isinstance(value, bool):
                out[str(key)] = "true" if value else "false"
            elif isinstance(value, (str, int, float)):
                out[str(key)] = str(value)
            elif value is None:
                out[str(key)] = ""
            else:
                self.problem(f"{where}.{key}", f"expected a string, number or boolean, got {type(value).__name__} {value!r}")
        return out

    def string_list(self, raw: Any, where: str) -> tuple[str, ...]:
        if raw is None:
            return ()
        if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
            self.problem(where, f"expected a list of strings, got {raw!r}")
            return ()
        return tuple(raw)

    def string(self, raw: Any, where: str) -> str | None:
        if raw is None or isinstance(raw, str):
            return raw
        self.problem(where, f"expected a string, got {type(raw).__name__} {raw!r}")
        return None

    def resources(self, raw: Any, where: str) -> Resources | None:
        if raw is None:
            return None
        values = self.strings(raw, where)
        self.keys(values, RESOURCE_KEYS, where)
        return Resources(memory=values.get("memory"), cpu=values.get("cpu"))

    def env_files(self, raw: Any, where: str) -> dict[str, str]:
        merged: dict[str, str] = {}
        for i, name in enumerate(self.string_list(raw, where)):
            file = self.path.parent / name
            if not file.is_file():
                self.problem(f"{where}[{i}]", f"{name}: no such file (read relative to {self.display})")
                continue
            try:
                doc = _parse(file.read_text()) or {}
            except yaml.YAMLError as err:
                self.problem(f"{where}[{i}]", f"{name} is not valid YAML: {err}")
                continue
            if not isinstance(doc, dict) or set(doc) - {"environment"}:
                self.problem(f"{where}[{i}]", f"{name} must hold only an `environment:` map")
                continue
            merged.update(self.strings(doc.get("environment"), f"{where}[{i}]:{name}.environment"))
        return merged


def load(path: Path, display: str, env: Mapping[str, str], namespace: str, problems: Report) -> tuple[Function, ...]:
    """The functions of the stack file at `path` (`display` is how messages name it)."""
    reader = _Reader(path, display, problems)
    if not path.is_file():
        problems.add("functionsFile", f"{display}: no such file")
        return ()
    try:
        doc = _parse(substitute(path.read_text(), env))
    except yaml.YAMLError as err:
        reader.problem("(file)", f"not valid YAML: {err}")
        return ()
    top = reader.mapping(doc, "(file)")
    reader.keys(top, TOP_KEYS, "")
    if "version" in top and str(top["version"]) != "1.0":
        reader.problem("version", f"expected '1.0' (the only stack file version faas-cli knows), got {top['version']!r}")
    provider = reader.mapping(top.get("provider"), "provider")
    reader.keys(provider, PROVIDER_KEYS, "provider")
    if provider and provider.get("name") != "openfaas":
        reader.problem("provider.name", f"expected 'openfaas', got {provider.get('name')!r}")
    reader.mapping(top.get("configuration"), "configuration")  # templates/copy: build-time only
    functions = reader.mapping(top.get("functions"), "functions")
    return tuple(f for name, raw in functions.items() if (f := _function(reader, str(name), raw, namespace)))


def _function(reader: _Reader, name: str, raw: Any, namespace: str) -> Function | None:
    where = f"functions.{name}"
    spec = reader.mapping(raw, where)
    reader.keys(spec, FUNCTION_KEYS, where)
    image = spec.get("image")
    if not isinstance(image, str) or not image.strip():
        reader.problem(f"{where}.image", f"required: the image to deploy, got {image!r}")
        return None
    if spec.get("namespace") not in (None, "", namespace):
        reader.problem(f"{where}.namespace", f"functions deploy to openfaasFunctionNamespace ({namespace!r}), got {spec['namespace']!r}")
    read_only = spec.get("readonly_root_filesystem", False)
    if not isinstance(read_only, bool):
        reader.problem(f"{where}.readonly_root_filesystem", f"expected true or false, got {read_only!r}")
        read_only = False
    environment = reader.strings(spec.get("environment"), f"{where}.environment")
    environment.update(reader.env_files(spec.get("environment_file"), f"{where}.environment_file"))
    annotations = reader.strings(spec.get("annotations"), f"{where}.annotations")
    reader.string_list(spec.get("constraints"), f"{where}.constraints")  # CE ignores them
    return Function(
        name=name,
        image=image,
        environment=environment,
        secrets=reader.string_list(spec.get("secrets"), f"{where}.secrets"),
        labels=reader.strings(spec.get("labels"), f"{where}.labels"),
        annotations={k: v for k, v in annotations.items() if k != "topic"},
        limits=reader.resources(spec.get("limits"), f"{where}.limits"),
        requests=reader.resources(spec.get("requests"), f"{where}.requests"),
        read_only_root_filesystem=read_only,
        topic=annotations.get("topic") or None,
        fprocess=reader.string(spec.get("fprocess"), f"{where}.fprocess"),
        lang=reader.string(spec.get("lang"), f"{where}.lang"),
        handler=reader.string(spec.get("handler"), f"{where}.handler"),
        build_args=reader.strings(spec.get("build_args"), f"{where}.build_args"),
        source=reader.display,
    )

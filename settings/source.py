"""Reading YAML the way Go's yaml.v3 does for the files we are given: duplicate keys refused
(PyYAML keeps the last one silently), text that is not UTF-8 or not YAML refused with the line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from settings.errors import ConfigError

# libyaml's loader where PyYAML has it: a stack file of hundreds of functions parses 10x faster.
_BASE = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _StrictLoader(_BASE):  # type: ignore[misc, valid-type]
    """A safe loader whose mappings refuse a key given twice."""


def _mapping(loader: Any, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(None, None, "a key must be a plain value, not a list or map", key_node.start_mark) from None
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} is given twice (first on line {seen[key]}); YAML would keep only the last", key_node.start_mark
            )
        seen[key] = key_node.start_mark.line + 1
    return loader.construct_mapping(node, deep=True)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)
StrictLoader = _StrictLoader


def parse_yaml(text: str, name: str, loader: type[Any] | None = None) -> Any:
    """The YAML document in `text`; a ConfigError naming `name` and the line if it is not one.
    `loader` is a subclass of StrictLoader (e.g. one that keeps scalars as written)."""
    try:
        return yaml.load(text, Loader=loader or _StrictLoader)  # noqa: S506 - a safe loader
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        lines = text.splitlines()
        if mark is not None and mark.line < len(lines) and "\t" in lines[mark.line]:
            problem += " (a tab: YAML indents with spaces only)"
        raise ConfigError(f"{name}: not valid YAML{where}: {problem}") from None
    except (ValueError, RecursionError) as err:  # e.g. an integer of thousands of digits
        raise ConfigError(f"{name}: cannot be read: {str(err)[:100]}") from None


def read_text(path: Path, name: str) -> str:
    """The file's text; a ConfigError if it is missing, not a file or not UTF-8."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{name}: no such file") from None
    except OSError as err:
        raise ConfigError(f"{name}: cannot be read ({err.strerror})") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise ConfigError(f"{name}: not UTF-8 text (line {line}, byte {err.start}): save it as UTF-8") from None

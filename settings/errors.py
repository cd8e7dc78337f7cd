"""One message for every mistake in the stack config, in our words on top of pydantic's.

Each problem is one line: the file, the key path as the user wrote it
(`sovereign-faas:nodes[1].port`), what was expected, what was given (short) and, for a near
miss, "did you mean". All problems are reported together, so one preview shows all of them.
"""

from __future__ import annotations

import contextlib
import difflib
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticCustomError

PROJECT = "sovereign-faas"
_GIVEN_MAX = 60  # characters of the given value a message shows: never a whole file


class ConfigError(Exception):
    """A user mistake in the stack config or a file it names. The message is for people."""


# --- where a key was given --------------------------------------------------------------


@dataclass(frozen=True)
class Origin:
    """Where a config key was given when not in the stack file (`make plan SET=...`): a
    problem with it names that place, and says how to give it as a secret there."""

    where: str  # "--set domain (make plan SET)"
    as_secret: str  # "--set-secret openfaasLicense=VALUE (make plan SECRET=...)"


_ORIGINS: dict[str, Origin] = {}  # top-level key -> where it was given; empty: the stack file


@contextlib.contextmanager
def keys_given(origins: Mapping[str, Origin]) -> Iterator[None]:
    """Within: problems with these keys (names without the project prefix) name their origin."""
    saved = dict(_ORIGINS)
    _ORIGINS.update(origins)
    try:
        yield
    finally:
        _ORIGINS.clear()
        _ORIGINS.update(saved)


def origin(key: str) -> Origin | None:
    """Where the key path's top-level key (`nodes` of `nodes[1].port`) was given, if it was
    not the stack file."""
    return _ORIGINS.get(re.split(r"[.\[]", key, maxsplit=1)[0])


def secret_advice(alias: str, command: str) -> str:
    """How to give `alias` as a secret: `command` (pulumi config set --secret ...) for the
    stack file, or the way its origin takes one."""
    given = origin(alias)
    return f"give it with {given.as_secret}" if given else f"set it again with `{command}`"


def expected(message: str, suggestion: str = "") -> PydanticCustomError:
    """The error a domain type raises: `message` says what was expected; the formatter adds
    what was given, then the suggestion ("; did you mean ...?", which may also end `message`)."""
    message, sep, hint = message.partition("; did you mean")
    # The text travels in the context, not as pydantic's template: braces in it stay braces.
    return PydanticCustomError("expected", "{message}", {"message": message, "suggestion": suggestion or sep + hint})


def refused(message: str) -> PydanticCustomError:
    """An error whose message says it all: the given value is not repeated (it may be long,
    or a secret)."""
    return PydanticCustomError("refused", "{message}", {"message": message})


def rules(found: Iterable[tuple[str, str] | None]) -> None:
    """Raise the problems a cross-field rule found, each as (key path, message)."""
    problems = [p for p in found if p]
    if problems:
        raise PydanticCustomError("rules", "cross-field rules", {"problems": problems})


def short(value: Any) -> str:
    """`value` as the user would recognise it, cut to a line."""
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,20}(\.[0-9]+)?", value):
        return value  # top-level numbers reach the program as text; the user wrote a number
    text = without_userinfo(repr(value))  # before the cut, which could leave half a password
    return text if len(text) <= _GIVEN_MAX else text[: _GIVEN_MAX - 3] + "..."


def close_match(word: str, choices: Iterable[str]) -> str:
    """"; did you mean 'x'?" for a near miss, else nothing."""
    close = difflib.get_close_matches(word, sorted(set(choices)), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def suggest(word: str, choices: Iterable[str]) -> str:
    """"; did you mean 'x'?" for a near miss, else the list of what is allowed."""
    options = sorted(set(choices))
    return close_match(word, options) or f"; expected one of: {', '.join(options)}"


_PLAIN_KEY = re.compile(r"[A-Za-z0-9_./@:-]+")


def key_path(loc: Sequence[str | int], sections: Iterable[str] = ()) -> str:
    """('nodes', 1, 'port') -> 'nodes[1].port'; a leading section name is dropped, since
    the user's keys are flat."""
    parts = list(loc)
    if parts and parts[0] in set(sections):
        parts = parts[1:]
    out = ""
    for part in parts:
        if part == "[key]":  # pydantic's marker for a map's key; the key itself is next to it
            continue
        if isinstance(part, int) or not _PLAIN_KEY.fullmatch(part):
            out += f"[{part!r}]"  # an index, or a key with spaces or control characters in it
        else:
            out += f".{part}" if out else str(part)
    return out


# Credentials in a URL (`https://user:password@host`, or `user:password@host` without a
# scheme): never printed, whatever part of a message they reach (a key, a given value). An
# image digest (`app:1.0@sha256:...`) is no userinfo and stays.
_USERINFO_AFTER_SCHEME = re.compile(r"://[^/@\s'\"]*@")
_USERINFO_BARE = re.compile(r"(^|['\"\s,\[{(.])([^/@\s'\":.]+:[^/@\s'\"]*)@(?![A-Za-z0-9+._-]+:[0-9a-fA-F]{32,})")


def without_userinfo(text: str) -> str:
    """`text` with the userinfo of every URL in it replaced by `***`."""
    return _USERINFO_BARE.sub(r"\1***@", _USERINFO_AFTER_SCHEME.sub("://***@", text))


class Report:
    """Problems collected for one message: `<file>: <key>: <what was wrong>` per line."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.lines: list[str] = []

    def add(self, key: str, message: str, file: str | None = None) -> None:
        """A problem with a stack config key (`file` None) or with a key in another file. A
        key given elsewhere than the stack file (the command line) names that place."""
        key, message = without_userinfo(key), without_userinfo(message)  # each on its own: the project prefix has a ':'
        given = origin(key) if file is None else None
        if given:
            top = re.split(r"[.\[]", key, maxsplit=1)[0]
            line = f"{given.where}: {message}" if key == top else f"{given.where}: {key}: {message}"
        else:
            where = f"{PROJECT}:{key}" if file is None else key
            line = f"{file or self.source}: {where}: {message}"
        if line not in self.lines:
            self.lines.append(line)

    def add_file(self, file: str, key: str, message: str) -> None:
        """A problem in a file the config names (functions/stack.yml): `key` is its own path."""
        self.add(key, message, file)

    def add_validation(self, err: ValidationError, model: type[BaseModel], prefix: str = "", file: str | None = None) -> None:
        """pydantic's errors, in our words. `prefix` is put in front of each key path."""
        sections = section_names(model)
        for item in err.errors(include_url=False):
            loc = tuple(item["loc"])
            base = key_path(loc, sections)
            if item["type"] == "rules":  # (key, message) pairs from a cross-field rule
                for key, message in item.get("ctx", {})["problems"]:
                    self.add(_join(prefix, _join(base, key)), message, file)
            else:
                self.add(_join(prefix, base) or "(top level)", describe(item, model, loc), file)

    def raise_if_any(self) -> None:
        if self.lines:
            count = "problem" if len(self.lines) == 1 else "problems"
            listing = "\n".join(f"  - {line}" for line in self.lines)
            raise ConfigError(f"{len(self.lines)} {count} in the stack config:\n{listing}")


def _join(left: str, right: str) -> str:
    if not left or not right:
        return left or right
    return f"{left}{right}" if right.startswith("[") else f"{left}.{right}"


def section_names(model: type[BaseModel]) -> set[str]:
    """Fields of `model` that hold a flat section (their keys sit at the top level)."""
    return {name for name, f in model.model_fields.items() if (f.json_schema_extra or {}) == {"section": True}}


def _fields_along(model: type[BaseModel], loc: Sequence[str | int]) -> list[tuple[type[BaseModel] | None, Any]]:
    """For each element of `loc`: the model it is looked up in, and the field it names (or None)."""
    found: list[tuple[type[BaseModel] | None, Any]] = []
    current: type[BaseModel] | None = model
    for part in loc:
        if current is None or isinstance(part, int):
            found.append((current, None))
            continue
        fields = {(f.alias or n): f for n, f in current.model_fields.items()} | dict(current.model_fields)
        info = fields.get(part)
        found.append((current, info))
        current = _model_in(info.annotation) if info else None
    return found


def field_at(model: type[BaseModel], loc: Sequence[str | int]) -> tuple[type[BaseModel] | None, Any]:
    """The model that holds the last element of `loc`, and that field (or None)."""
    along = _fields_along(model, loc)
    return along[-1] if along else (model, None)


def is_secret(model: type[BaseModel], loc: Sequence[str | int]) -> bool:
    """Whether `loc` is inside a key whose value is a secret: its value is never shown."""
    for _, info in _fields_along(model, loc):
        extra = getattr(info, "json_schema_extra", None)
        if isinstance(extra, dict) and extra.get("secret"):
            return True
    return False


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found:
            return found
    return None


def _keys_of(model: type[BaseModel]) -> list[str]:
    keys: list[str] = []
    for name, info in model.model_fields.items():
        if name in section_names(model):
            keys += _keys_of(_model_in(info.annotation) or BaseModel)
        else:
            keys.append(info.alias or name)
    return keys


def describe(item: Any, model: type[BaseModel], loc: tuple[str | int, ...]) -> str:
    """One pydantic error as "expected ..., got ..."."""
    kind, given = item["type"], item.get("input")
    ctx = item.get("ctx") or {}
    if is_secret(model, loc):
        given = "[secret]"  # what was given stays unprinted, whatever it was
    if kind == "expected":
        return f"{item['msg']}, got {given if given == '[secret]' else short(given)}{ctx.get('suggestion', '')}"
    if kind == "refused":
        return item["msg"]
    if kind == "extra_forbidden":
        holder, _ = field_at(model, loc)
        return "unknown key" + suggest(str(loc[-1]), _keys_of(holder or model))
    if kind == "missing":
        _, info = field_at(model, loc)
        hint = f": {info.description}" if info is not None and info.description else ""
        return f"required{hint}"
    shown = given if given == "[secret]" else short(given)
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return f"expected a map of keys to values, got {shown}"
    if kind in ("list_type", "tuple_type"):
        return f"expected a list, got {shown}"
    return f"{item['msg'][0].lower()}{item['msg'][1:]}, got {shown}"

"""Small checks every part of the stack config uses, and the one way problems are reported.

A `Problems` collects every mistake with its key path, so one preview reports all of them in
one message: the file, the key, what was expected, what was found.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from typing import Any

PROJECT = "sovereign-faas"


class ConfigError(Exception):
    """A user mistake in the stack config. The message is for people: no traceback needed."""


class Problems:
    def __init__(self, source: str) -> None:
        self.source = source
        self.items: list[str] = []

    def add(self, key: str, message: str) -> None:
        self.items.append(f"{PROJECT}:{key}: {message}")

    def add_file(self, file: str, key: str, message: str) -> None:
        """A mistake in a file the config points to (e.g. functions/stack.yml)."""
        self.items.append(f"{file}: {key}: {message}")

    def raise_if_any(self) -> None:
        if self.items:
            lines = "\n".join(f"  - {p}" for p in self.items)
            count = "problem" if len(self.items) == 1 else "problems"
            raise ConfigError(f"{self.source}: {len(self.items)} {count} in the stack config:\n{lines}")


def suggest(word: str, choices: list[str] | tuple[str, ...]) -> str:
    """"; did you mean 'x'?" for a near miss, else the list of what is allowed."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else f"; expected one of: {', '.join(sorted(choices))}"


def check_keys(obj: Mapping[str, Any], allowed: tuple[str, ...], path: str, problems: Problems) -> None:
    for key in obj:
        if key not in allowed:
            problems.add(f"{path}.{key}" if path else key, "unknown key" + suggest(str(key), allowed))


DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_int(raw: Any, key: str, low: int, high: int, problems: Problems) -> int | None:
    value = raw
    if isinstance(raw, str) and raw.strip().lstrip("-").isdigit():
        value = int(raw)
    if not is_int(value) or not low <= value <= high:
        problems.add(key, f"expected an integer from {low} to {high}, got {value!r}")
        return None
    return value


def parse_bool(raw: Any, key: str, problems: Problems) -> bool | None:
    """true/false as YAML or `pulumi config set` writes them."""
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    problems.add(key, f"expected true or false, got {raw!r}")
    return None


def string_list(raw: Any, key: str, problems: Problems) -> tuple[str, ...] | None:
    if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
        problems.add(key, f"expected a list of strings, got {raw!r}")
        return None
    return tuple(raw)


# --- Go durations ("65s", "1m5s"): what OpenFaaS reads its timeouts with ----------------------

_DURATION = re.compile(r"^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def duration_seconds(text: str) -> float:
    return sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(text))


def parse_duration(raw: Mapping[str, Any], key: str, default: str, problems: Problems) -> str | None:
    value = raw.get(key, default)
    if not isinstance(value, str) or not _DURATION.match(value) or duration_seconds(value) <= 0:
        problems.add(key, f"expected a duration with a unit, like '65s' or '1m5s', got {value!r}")
        return None
    return value


# --- Kubernetes quantities ("512Mi", "500m", "1Gi") -----------------------------------------

_QUANTITY = re.compile(r"^([0-9]+(\.[0-9]+)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)?$")
_SUFFIX = {
    "": 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
}
# What people write instead, and what Kubernetes means by it.
_HINTS = {"KB": "k", "MB": "M", "GB": "G", "TB": "T", "KIB": "Ki", "MIB": "Mi", "GIB": "Gi", "K": "Ki"}


def quantity_value(text: str) -> float:
    """'512Mi' -> 536870912.0, '500m' -> 0.5."""
    match = _QUANTITY.match(text)
    if not match:
        raise ValueError(f"not a Kubernetes quantity: {text!r}")
    return float(match.group(1)) * _SUFFIX[match.group(3) or ""]


def quantity_problem(value: Any) -> str | None:
    """Why `value` is not a Kubernetes quantity (with a hint for '512MB'), or None."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return f"expected a Kubernetes quantity like '512Mi' or '500m', got {value!r}"
    text = str(value)
    if _QUANTITY.match(text):
        return None
    number = re.match(r"^([0-9.]+)\s*([A-Za-z]+)$", text)
    if number and number.group(2).upper() in _HINTS:
        fix = f"{number.group(1)}{_HINTS[number.group(2).upper()]}"
        return f"expected a Kubernetes quantity, got {text!r}; did you mean '{fix}'? (Mi/Gi are powers of 1024, M/G of 1000)"
    return f"expected a Kubernetes quantity like '512Mi' or '500m', got {text!r}"


def parse_quantity(raw: Any, key: str, problems: Problems) -> str | None:
    problem = quantity_problem(raw)
    if problem:
        problems.add(key, problem)
        return None
    return str(raw)

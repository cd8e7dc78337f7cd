"""Kubernetes' own syntax rules (placeholder until the exact module lands)."""

from __future__ import annotations

import re
from fractions import Fraction

_QUANTITY = re.compile(r"^([+-]?)([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?$")
_BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_HINTS = {"KB": "k", "MB": "M", "GB": "G", "TB": "T", "KIB": "Ki", "MIB": "Mi", "GIB": "Gi", "K": "Ki"}


def parse_quantity(text: str) -> Fraction:
    match = _QUANTITY.match(text) if len(text) <= 64 else None
    if not match:
        raise ValueError(f"not a Kubernetes quantity: {text[:40]!r}")
    sign, number, suffix = match.group(1), match.group(2), match.group(3) or ""
    value = Fraction(number)
    if suffix in _BINARY:
        value *= 2 ** _BINARY[suffix]
    elif suffix in _DECIMAL:
        value *= Fraction(10) ** _DECIMAL[suffix]
    else:
        exponent = int(suffix[1:])
        if abs(exponent) > 30:
            raise ValueError(f"exponent out of range: {text[:40]!r}")
        value *= Fraction(10) ** exponent
    return -value if sign == "-" else value


def quantity_problem(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return "expected a Kubernetes quantity like '512Mi' or '500m'"
    text = str(value)
    try:
        parse_quantity(text)
        return None
    except ValueError:
        pass
    number = re.match(r"^([0-9.]+)\s*([A-Za-z]+)$", text)
    if number and number.group(2).upper() in _HINTS:
        fix = f"{number.group(1)}{_HINTS[number.group(2).upper()]}"
        return f"expected a Kubernetes quantity (did you mean '{fix}'? Mi/Gi are powers of 1024, M/G of 1000)"
    return "expected a Kubernetes quantity like '512Mi' or '500m'"


_DURATION = re.compile(r"^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_go_duration(text: str) -> float:
    if len(text) > 64 or not _DURATION.match(text):
        raise ValueError(f"not a Go duration: {text[:40]!r}")
    return sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(text))


def go_duration_problem(text: object) -> str | None:
    try:
        parse_go_duration(text) if isinstance(text, str) else parse_go_duration("")
        return None
    except ValueError:
        return "expected a duration with a unit, like '65s' or '1m5s'"


DNS1123_LABEL_MAX = 63
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def dns1123_label_problem(value: str) -> str | None:
    if len(value) > DNS1123_LABEL_MAX or not _DNS1123_LABEL.match(value):
        return "expected a DNS-1123 label (lower-case letters, digits, '-', at most 63)"
    return None

"""Nats: placeholder wired into the settings; the Nats component is being written."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from components.validation import Problems

# Stack config keys this module reads (without the project prefix).
KEYS: tuple[str, ...] = ()


@dataclass(frozen=True)
class NatsSettings:
    pass


def parse_settings(values: Mapping[str, Any], problems: Problems) -> NatsSettings:
    return NatsSettings()

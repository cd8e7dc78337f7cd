"""Redis: placeholder wired into the settings; the Redis component is being written."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from components.validation import Problems

# Stack config keys this module reads (without the project prefix).
KEYS: tuple[str, ...] = ()


@dataclass(frozen=True)
class RedisSettings:
    pass


def parse_settings(values: Mapping[str, Any], problems: Problems) -> RedisSettings:
    return RedisSettings()

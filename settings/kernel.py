"""Kernel settings (sysctl) every node gets: the defaults, merged with the stack's own."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator

from settings.base import Section, key
from settings.errors import expected

# Why each one: README "Node tuning".
DEFAULT_SYSCTL: dict[str, str] = {
    "vm.overcommit_memory": "1",  # Redis forks for persistence; it warns (and may fail) without
    "net.core.somaxconn": "65535",  # host accept queue; pods set their own (per netns)
    "vm.panic_on_oom": "0",  # K3s CIS guide: let the OOM killer act, do not panic
    "kernel.panic": "10",  # K3s CIS guide: reboot 10 s after a panic
    "kernel.panic_on_oops": "1",  # K3s CIS guide
    "fs.inotify.max_user_instances": "8192",  # many pods on one node exhaust the default 128
    "fs.inotify.max_user_watches": "524288",
}

# The pod sysctl the kubelet must allow so Redis can raise its own accept queue.
POD_SYSCTLS_ALLOWED = ("net.core.somaxconn",)

_KEY = re.compile(r"[a-z0-9_]+(\.[a-zA-Z0-9_-]+)+")


def _key(value: Any) -> str:
    if not isinstance(value, str) or len(value) > 200 or not _KEY.fullmatch(value):
        raise expected("expected a sysctl key shaped like 'a.b.c' (e.g. net.core.somaxconn)")
    return value


def _value(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise expected("expected a scalar value (a number or a string like '4096 87380 6291456')")
    text = str(value)
    if "\n" in text or not text.strip() or len(text) > 4096:
        raise expected("expected a one-line, non-empty value")
    return " ".join(text.split())


class KernelSettings(Section):
    overrides: dict[Annotated[str, BeforeValidator(_key)], Annotated[str, BeforeValidator(_value)]] = key(
        "sysctl", {}, "kernel settings merged over the defaults, e.g. {vm.swappiness: 10} (README: Node tuning)", kind="object"
    )

    @property
    def sysctl(self) -> tuple[tuple[str, str], ...]:
        """The defaults with the stack's values over them, in a stable order."""
        return tuple({**DEFAULT_SYSCTL, **self.overrides}.items())

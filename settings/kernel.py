"""Kernel settings every node gets: sysctl (the defaults, merged with the stack's own),
transparent huge pages and the I/O scheduler of its NVMe and virtio disks (why:
docs/configuration.md#node-tuning; applied by render/node/scripts/host-tuning/host-tuning-apply.sh)."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator

from settings.base import Section, key
from settings.errors import expected
from settings.types import one_of

# Why each one: docs/configuration.md#node-tuning.
DEFAULT_SYSCTL: dict[str, str] = {
    "vm.overcommit_memory": "1",  # Redis forks for persistence; it warns (and may fail) without
    "net.core.somaxconn": "65535",  # host accept queue; pods set their own (per netns)
    "vm.panic_on_oom": "0",  # K3s CIS guide: let the OOM killer act, do not panic
    "kernel.panic": "10",  # K3s CIS guide: reboot 10 s after a panic
    "kernel.panic_on_oops": "1",  # K3s CIS guide
    "fs.inotify.max_user_instances": "8192",  # many pods on one node exhaust the default 128
    "fs.inotify.max_user_watches": "524288",
}

# What /sys/kernel/mm/transparent_hugepage/enabled may be set to. Not `always`: Redis and
# Valkey warn at start-up exactly when it is `[always]` (checkTHPEnabled() in src/syscheck.c),
# because fork() for BGSAVE/AOF rewrite then copies 2 MB pages for one changed byte.
THP_MODES = ("never", "madvise")
# `keep`: leave the kernel's choice (no udev rule).
IO_SCHEDULERS = ("none", "mq-deadline", "kyber", "bfq", "keep")

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
        "sysctl", {}, "kernel settings merged over the defaults, e.g. {vm.swappiness: 10} (docs/configuration.md#node-tuning)", kind="object"
    )
    # `never` rather than `madvise`: Redis' check (src/syscheck.c checkTHPEnabled) accepts both
    # and warns only on `[always]`, but `never` also covers every other process on the node
    # (Redis' own `disable-thp` covers only Redis), and nothing the platform runs asks for
    # huge pages with madvise(). `madvise` is there for nodes whose other workloads do.
    transparent_huge_pages: Annotated[str, one_of(THP_MODES)] = key(
        "transparentHugePages",
        "never",
        "transparent huge pages on every node, 'never' or 'madvise' (never 'always': Redis warns and forks slowly with it; docs/configuration.md#node-tuning)",
    )
    # `keep` by default: the kernel already gives multi-queue devices (NVMe, virtio-blk with
    # several queues) `none` and single-queue ones `mq-deadline`, which is what suits fast
    # disks; forcing one scheduler on every image would fail the step on a disk that does not
    # offer it (kyber and bfq are often modules) for no gain. Set it when a provider's image
    # chose badly.
    io_scheduler: Annotated[str, one_of(IO_SCHEDULERS)] = key(
        "ioScheduler",
        "keep",
        "I/O scheduler for the NVMe and virtio disks of every node: none, mq-deadline, kyber, bfq, or keep (the kernel's choice; docs/configuration.md#node-tuning)",
    )

    @property
    def sysctl(self) -> tuple[tuple[str, str], ...]:
        """The defaults with the stack's values over them, in a stable order."""
        return tuple({**DEFAULT_SYSCTL, **self.overrides}.items())

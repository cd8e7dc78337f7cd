"""Shared fixtures: stacks described as data, run through the one mock harness."""

from __future__ import annotations

import copy
import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from settings.stack import Settings, from_config
from tools.harness import PROJECT_DIR, StackRun, run_stack

# Values under {"secure": ...} are secrets, as in a stack file.
SSH_KEY = {"secure": "-----BEGIN OPENSSH PRIVATE KEY-----\nTEST-KEY-MATERIAL\n-----END OPENSSH PRIVATE KEY-----\n"}


def stack(**overrides: Any) -> dict[str, Any]:
    """A valid one-node stack config (keys without the project prefix), with overrides."""
    config: dict[str, Any] = {
        "nodes": [{"name": "oslo-1", "host": "203.0.113.10"}],
        "sshPrivateKey": SSH_KEY,
        "adminCidrs": ["192.0.2.0/24"],
    }
    config.update(copy.deepcopy(overrides))
    return config


def settings_for(config: dict[str, Any], secret_keys: tuple[str, ...] = ("sshPrivateKey",), **kw: Any) -> Settings:
    """`config` through the settings layer as the engine hands it over: values as text
    (objects as JSON), `{"secure": x}` as the secret x; secrets stay plain for assertions."""
    def reveal(value: Any) -> Any:
        if isinstance(value, dict) and set(value) == {"secure"}:
            return value["secure"]
        if isinstance(value, dict):
            return {k: reveal(v) for k, v in value.items()}
        return [reveal(v) for v in value] if isinstance(value, list) else value

    raw = {}
    for key, value in config.items():
        value = reveal(value)
        raw[key] = value if isinstance(value, str) else json.dumps(value)
    kw.setdefault("env", {})
    return from_config(raw, set(secret_keys), kw.pop("stack", "oslo"), secret=lambda v: v, **kw)


THREE_NODES = [
    {"name": "bergen-1", "host": "198.51.100.1", "privateAddress": "10.0.0.1"},
    {"name": "bergen-2", "host": "198.51.100.2", "user": "ops", "port": 2222, "privateAddress": "10.0.0.2"},
    {"name": "bergen-3", "host": "198.51.100.3", "privateAddress": "10.0.0.3"},
]


@pytest.fixture(scope="session")
def oslo() -> StackRun:
    """The example stack, from Pulumi.oslo.yaml, as `make plan` runs it."""
    return run_stack("oslo")


@pytest.fixture(scope="session")
def three_agents() -> StackRun:
    """One server (bergen-1), two agents; bergen-2 logs in as a sudoer."""
    return run_stack("bergen", stack(nodes=THREE_NODES))


@pytest.fixture(scope="session")
def ha() -> StackRun:
    """Three servers: an HA control plane with embedded etcd."""
    nodes = [dict(n, role="server") for n in THREE_NODES]
    return run_stack("bergen-ha", stack(nodes=nodes))


def project_scratch() -> Path:
    """A fresh folder inside the project (under build/, ignored by git): files the stack reads
    must stay in the project directory, so a test's stack files go here, not to /tmp."""
    base = PROJECT_DIR / "build" / "test-files"
    base.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="t-", dir=base))


@pytest.fixture
def project_tmp() -> Iterator[Path]:
    path = project_scratch()
    yield path
    shutil.rmtree(path, ignore_errors=True)

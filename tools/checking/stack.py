"""What the check needs to know of the stack: its outputs and its stack file's settings."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from settings import outputs as out
from settings.data_services import DataSettings
from settings.edge import CERT_MANAGER_NAMESPACE
from settings.edge import NAMESPACE as EDGE_NAMESPACE
from settings.openfaas import OpenFaaSSettings
from tools.checking.clients import Deadline, Unreachable, last_line

ROOT = Path(__file__).resolve().parent.parent.parent
PROJECT = "sovereign-faas"  # Pulumi.yaml's name: the prefix of the stack file's keys
# The monitoring stack's namespace key (issue 20, a parallel branch); absent: "not deployed".
MONITORING_KEY, MONITORING_DEFAULT = "monitoringNamespace", "monitoring"


@dataclass(frozen=True)
class Stack:
    outputs: Mapping[str, Any]
    config: Mapping[str, Any] = field(default_factory=dict)  # the stack file's keys, prefix removed

    def setting(self, model: type, name: str) -> Any:
        info = model.model_fields[name]  # type: ignore[attr-defined]
        return self.config.get(str(info.alias), info.default)

    @property
    def openfaas_namespace(self) -> str:
        return str(self.setting(OpenFaaSSettings, "namespace"))

    @property
    def function_namespace(self) -> str:
        return str(self.setting(OpenFaaSSettings, "function_namespace"))

    @property
    def data_namespace(self) -> str:
        return str(self.setting(DataSettings, "namespace"))

    @property
    def platform_namespaces(self) -> tuple[str, ...]:
        monitoring = str(self.config.get(MONITORING_KEY, MONITORING_DEFAULT))
        found = (
            "kube-system",  # K3s' own: CoreDNS, local-path-provisioner, metrics-server
            self.openfaas_namespace,
            self.function_namespace,
            self.data_namespace,
            EDGE_NAMESPACE,
            CERT_MANAGER_NAMESPACE,
            monitoring,
        )
        return tuple(dict.fromkeys(found))

    @property
    def functions(self) -> dict[str, str]:
        return dict(sorted((self.outputs.get(out.FUNCTIONS) or {}).items()))


def read_stack_file(stack: str, root: Path = ROOT) -> dict[str, Any]:
    path = root / f"Pulumi.{stack}.yaml"
    if not path.exists():
        return {}
    config = (yaml.safe_load(path.read_text()) or {}).get("config") or {}
    return {k.removeprefix(f"{PROJECT}:"): v for k, v in config.items()}


def stack_outputs(stack: str, deadline: Deadline) -> dict[str, Any]:
    pulumi = shutil.which("pulumi")
    if not pulumi:
        raise Unreachable(f"no cluster to check: no pulumi CLI on PATH to read stack {stack}'s outputs")
    argv = [pulumi, "stack", "output", "--json", "--show-secrets", "--stack", stack]
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=deadline.timeout(60), check=False
        )
    except subprocess.TimeoutExpired:
        raise Unreachable(f"no cluster to check: `pulumi stack output --stack {stack}` took more than 60 s") from None
    if done.returncode != 0:
        raise Unreachable(f"no cluster to check: `pulumi stack output --stack {stack}` failed: {last_line(done.stderr)}")
    return parse_outputs(done.stdout, f"stack {stack}")


def parse_outputs(text: str, where: str) -> dict[str, Any]:
    try:
        found = json.loads(text or "{}")
    except json.JSONDecodeError:
        raise Unreachable(f"no cluster to check: {where}'s outputs are not JSON") from None
    if not isinstance(found, dict) or not found.get(out.KUBECONFIG) or not found.get(out.GATEWAY_URL):
        raise Unreachable(
            f"no cluster to check: {where} has no {out.KUBECONFIG}/{out.GATEWAY_URL} outputs (was `pulumi up` run?)"
        )
    return found


def ssh_key(stack: str, deadline: Deadline) -> str:
    argv = [shutil.which("pulumi") or "pulumi", "config", "get", "sshPrivateKey", "--stack", stack]
    done = subprocess.run(
        argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=deadline.timeout(30), check=False
    )
    if done.returncode != 0 or not done.stdout.strip():
        raise RuntimeError(f"`pulumi config get sshPrivateKey --stack {stack}` failed: {last_line(done.stderr)}")
    return done.stdout

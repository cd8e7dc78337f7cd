"""The stack's functions: typed `Function`s, the keys that say where they come from, and the
rules they must meet (OpenFaaS CE's among them) before anything is deployed.

A function is declared in the faas-cli stack file (`functionsFile`, read by
settings/stackfile.py) or as a typed Python object (functions/__init__.py); components/function.py
renders each into the Deployment and Service faas-netes would have made.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import BeforeValidator, SecretStr, ValidationInfo, field_validator

from settings.base import Section, require_secret, secret_key
from settings.base import key as config_key
from settings.errors import expected
from settings.kubernetes import dns1123_label_problem, quantity_problem
from settings.types import Bool

PORT = 8080
# Secrets faas-netes creates carry this label; ours do too, so `faas-cli secret list` shows them.
SECRET_LABELS = {"app.kubernetes.io/managed-by": "openfaas"}
# Secrets the platform itself publishes in the function namespace (components/redis.py).
PLATFORM_SECRETS = ("redis-password",)

SCALE_MIN = "com.openfaas.scale.min"
SCALE_MAX = "com.openfaas.scale.max"
SCALE_FACTOR = "com.openfaas.scale.factor"
PRO_SCALE_LABELS = (
    "com.openfaas.scale.zero",
    "com.openfaas.scale.zero-duration",
    "com.openfaas.scale.target",
    "com.openfaas.scale.type",
    "com.openfaas.scale.target-proportion",
)
CE_MAX_FUNCTIONS = 15
CE_MAX_REPLICAS = 5
CE_NOTE = "; OpenFaaS CE allows {allowed}; openfaasEdition 'pro' lifts this"

_SECRET_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")


def _secret_name(value: Any) -> str:
    if not isinstance(value, str) or not _SECRET_NAME.fullmatch(value):
        raise expected("expected a Kubernetes Secret name (lower-case letters, digits, '-', '.')")
    if value in PLATFORM_SECRETS:
        raise expected("expected a name of your own: this one is published by the platform itself")
    return value


def _secret_value(value: Any) -> Any:
    if not isinstance(value, str):
        raise expected("expected a map of secret name to value: pulumi config set --secret --path 'functionSecrets.api-key' VALUE")
    return value


class FunctionsSettings(Section):
    file: str = config_key("functionsFile", "functions/stack.yml", 'The faas-cli stack file to deploy, relative to the project ("" for none)')
    secrets: dict[Annotated[str, BeforeValidator(_secret_name)], Annotated[SecretStr, BeforeValidator(_secret_value)]] = secret_key(
        "functionSecrets",
        "map of secret name to value, each a Secret functions can mount (pulumi config set --secret --path 'functionSecrets.<name>' VALUE)",
        default={},
        kind="object",
    )
    non_root: Bool = config_key("functionsNonRoot", True, "Run function containers as a non-root user (uid 12000) unless a typed Function says otherwise")

    @field_validator("file", mode="before")
    @classmethod
    def _path(cls, value: Any) -> Any:
        if not isinstance(value, str) or "\x00" in value:
            raise expected("expected a path relative to the project")
        return value

    @field_validator("secrets", mode="after")
    @classmethod
    def _secret(cls, value: dict[str, SecretStr], info: ValidationInfo) -> dict[str, SecretStr]:
        return require_secret(value or None, info, "functionSecrets", "pulumi config set --secret --path 'functionSecrets.<name>' VALUE") or {}


@dataclass(frozen=True)
class Resources:
    memory: str | None = None
    cpu: str | None = None

    def as_dict(self) -> dict[str, str]:
        return {k: v for k, v in (("memory", self.memory), ("cpu", self.cpu)) if v}


@dataclass(frozen=True)
class Function:
    """One function, as stack.yml describes it (plus what only a typed object can say)."""

    name: str
    image: str
    environment: Mapping[str, str] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    limits: Resources | None = None
    requests: Resources | None = None
    read_only_root_filesystem: bool = False
    topic: str | None = None
    fprocess: str | None = None
    scale_min: int | None = None
    scale_max: int | None = None
    scale_factor: int | None = None
    non_root: bool | None = None  # None: the stack's functionsNonRoot
    image_pull_secrets: tuple[str, ...] = ()  # private registries: Pro only
    # Build-only (faas-cli build/push); kept so the stack file round-trips, never deployed.
    lang: str | None = None
    handler: str | None = None
    build_args: Mapping[str, str] = field(default_factory=dict)
    source: str = "python"  # where it was declared, for messages: a file name or "python"

    def pod_labels(self) -> dict[str, str]:
        labels = dict(self.labels)
        for name, value in ((SCALE_MIN, self.scale_min), (SCALE_MAX, self.scale_max), (SCALE_FACTOR, self.scale_factor)):
            if value is not None:
                labels[name] = str(value)
        return {**labels, "faas_function": self.name}

    def pod_annotations(self) -> dict[str, str]:
        annotations = {"prometheus.io.scrape": "false", **self.annotations}
        if self.topic:
            annotations["topic"] = self.topic  # what the nats-connector looks for
        return annotations

    def replicas(self) -> int:
        minimum = int(self.pod_labels().get(SCALE_MIN, "1"))
        return minimum if minimum > 0 else 1


# --- the rules -----------------------------------------------------------------------------


def problems_with(fn: Function, pro: bool) -> list[tuple[str, str]]:
    """(key, message) for everything wrong with `fn`; keys are relative to the function."""
    found: list[tuple[str, str]] = []
    if dns1123_label_problem(fn.name):
        found.append(("name", f"expected a DNS-1123 label (lower-case letters, digits, '-', at most 63), got {fn.name!r}"))
    if not fn.image or not isinstance(fn.image, str):
        found.append(("image", "required: the function's container image, e.g. ghcr.io/you/fn:1.0.0"))
    for part, res in (("limits", fn.limits), ("requests", fn.requests)):
        for name, value in (res.as_dict() if res else {}).items():
            problem = quantity_problem(value)
            if problem:
                found.append((f"{part}.{name}", f"{problem}, got {value!r}"))
    labels = fn.pod_labels()
    found += _scale_problems(labels, pro)
    if not pro:
        found += _ce_problems(fn, labels)
    return found


def _scale_problems(labels: Mapping[str, str], pro: bool) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    values: dict[str, int] = {}
    for key in (SCALE_MIN, SCALE_MAX, SCALE_FACTOR):
        if key in labels:
            text = labels[key]
            if not re.fullmatch(r"\d+", text):
                found.append((f"labels.{key}", f"expected a whole number, got {text!r}"))
            else:
                values[key] = int(text)
    low, high = values.get(SCALE_MIN), values.get(SCALE_MAX)
    if not pro:
        if low is not None and not 1 <= low <= CE_MAX_REPLICAS:
            found.append((f"labels.{SCALE_MIN}", f"got {low}" + CE_NOTE.format(allowed=f"1 to {CE_MAX_REPLICAS} (no scale to zero)")))
        if high is not None and not 1 <= high <= CE_MAX_REPLICAS:
            found.append((f"labels.{SCALE_MAX}", f"got {high}" + CE_NOTE.format(allowed=f"at most {CE_MAX_REPLICAS} replicas")))
    if low is not None and high is not None and low > high:
        found.append((f"labels.{SCALE_MIN}", f"{low} is larger than {SCALE_MAX} ({high})"))
    return found


def _ce_problems(fn: Function, labels: Mapping[str, str]) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for key in PRO_SCALE_LABELS:
        if key in labels:
            found.append((f"labels.{key}", "is an OpenFaaS Pro scaling label" + CE_NOTE.format(allowed="only com.openfaas.scale.min/max/factor")))
    if fn.topic and "," in fn.topic:
        found.append(("topic", f"{fn.topic!r} names several topics" + CE_NOTE.format(allowed="one topic per function")))
    for key in fn.annotations:
        if "amazonaws.com" in key or "gke.io" in key:
            found.append((f"annotations.{key}", "is refused by faas-netes CE (cloud annotations)" + CE_NOTE.format(allowed="no amazonaws.com or gke.io annotations")))
    if fn.image_pull_secrets:
        found.append(("image_pull_secrets", "private registries need image pull secrets" + CE_NOTE.format(allowed="public images only")))
    return found


def ce_count_problem(count: int) -> str | None:
    if count > CE_MAX_FUNCTIONS:
        return f"{count} functions" + CE_NOTE.format(allowed=f"at most {CE_MAX_FUNCTIONS} (with more, every call answers 405)")
    return None

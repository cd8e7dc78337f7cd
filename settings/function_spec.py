"""The stack's functions: typed `Function`s, the keys that say where they come from, and the
rules they must meet (OpenFaaS CE's among them) before anything is deployed.

A function is declared in the faas-cli stack file (`functionsFile`, read by
settings/stackfile.py) or as a typed Python object (functions/__init__.py); render/function_objects.py
renders each into the Deployment and Service faas-netes would have made.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Annotated, Any

from pydantic import BeforeValidator, SecretStr, ValidationInfo, field_validator

from settings.base import Section, require_secret, secret_key
from settings.base import key as config_key
from settings.errors import expected, short
from settings.types import Bool, LocalPath, cli_scalar
from upstream.kubernetes import (
    DNS1123_LABEL_MAX_LENGTH,
    TOTAL_ANNOTATION_SIZE_LIMIT_B,
    annotation_key_problem,
    dns1123_label_problem,
    env_var_name_problem,
    image_reference_problem,
    label_value_problem,
    parse_go_duration,
    parse_quantity,
    qualified_name_problem,
    quantity_problem,
    service_name_problem,
)
from upstream.nats import is_valid_subject
from upstream.robfig_cron import schedule_problem

PORT = 8080
CRON_TOPIC = "cron-function"  # the topic the cron-connector looks for (its main.go), compared exactly
SCHEDULE = "schedule"  # the annotation it reads the cron schedule from
SECRETS_VOLUME_SUFFIX = "-projected-secrets"  # faas-netes' projected volume: <fn>-projected-secrets
# The least memory limit we accept: dockerd's linuxMinMemory (moby daemon/daemon_unix.go, 6 MiB, "to
# account for overhead during startup"). containerd and the kubelet check no floor; below it runc's
# init is OOM-killed before the function starts ("container init was OOM-killed (memory limit too low?)").
MIN_MEMORY_LIMIT = 6 * 1024 * 1024
# Secrets faas-netes creates carry this label; ours do too, so `faas-cli secret list` shows them.
SECRET_LABELS = {"app.kubernetes.io/managed-by": "openfaas"}
# Secrets the platform itself publishes in the function namespace (render/redis.py, render/nats.py).
PLATFORM_SECRETS = ("redis-password", "nats-credentials")

SCALE_MIN = "com.openfaas.scale.min"
SCALE_MAX = "com.openfaas.scale.max"
SCALE_FACTOR = "com.openfaas.scale.factor"
# faas-netes CE 0.18.17 pkg/handlers/validate.go validateScalingLabels: refused whatever their value
# (com.openfaas.scale.zero only when "true": see _ce_problems).
PRO_SCALE_LABELS = (
    "com.openfaas.scale.zero-duration",
    "com.openfaas.scale.target",
    "com.openfaas.scale.type",
)
SCALE_ZERO = "com.openfaas.scale.zero"
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
    value = cli_scalar(value)  # a PIN of digits stays its text
    if not isinstance(value, str):
        raise expected("expected a map of secret name to value: pulumi config set --secret --path 'functionSecrets.api-key' VALUE")
    return value


class FunctionsSettings(Section):
    file: LocalPath = config_key("functionsFile", "functions/stack.yml", 'The faas-cli stack file to deploy, relative to the project ("" for none)')
    secrets: dict[Annotated[str, BeforeValidator(_secret_name)], Annotated[SecretStr, BeforeValidator(_secret_value)]] = secret_key(
        "functionSecrets",
        "map of secret name to value, each a Secret functions can mount (pulumi config set --secret --path 'functionSecrets.<name>' VALUE)",
        default={},
        kind="object",
    )
    non_root: Bool = config_key("functionsNonRoot", True, "Run function containers as a non-root user (uid 12000) unless a typed Function says otherwise")

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

    @property
    def topics(self) -> tuple[str, ...]:
        """The topics `topic` lists, comma-separated as the connectors split it."""
        return tuple(t.strip() for t in (self.topic or "").split(",") if t.strip())

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


# --- probes ------------------------------------------------------------------------------

# Per-function probe annotations (OpenFaaS Pro: openfaas/docs docs/reference/workloads.md "Custom HTTP
# health checks"; `initialDelay` as a Go duration is the spelling of faas-netes' last open-source
# pkg/k8s/probes.go, before commit 8c7ff3d9 of 2022). The stack renders the Deployment itself, so it
# honours them on both editions.
READY, HEALTH = "com.openfaas.ready.http", "com.openfaas.health.http"
PROBE_DEFAULTS = {READY: ("/_/health", 0, 1), HEALTH: ("/_/health", 2, 5)}  # path, initial delay, period
_INT32_MAX = 2**31 - 1


@dataclass(frozen=True)
class Probe:
    path: str
    initial_delay: int
    period: int


def _probe_seconds(text: str, least: int) -> int:
    """Whole seconds from `30` (the documented form) or a Go duration (`2s`, `1m30s`), truncated as
    Go's int32(d.Seconds()) truncates it."""
    seconds = int(text) if re.fullmatch(r"[0-9]+", text) else int(parse_go_duration(text))
    if not least <= seconds <= _INT32_MAX:
        raise ValueError(f"expected at least {least} second{'s' if least != 1 else ''}")
    return seconds


def probes(fn: Function) -> tuple[dict[str, Probe], list[tuple[str, str]]]:
    """The readiness (READY) and liveness (HEALTH) probes `fn`'s annotations ask for, and what is
    wrong with them. Readiness uses the health path unless it names its own (as OpenFaaS Pro does)."""
    found: list[tuple[str, str]] = []
    got: dict[str, Probe] = {}
    for prefix in (HEALTH, READY):
        path, initial, period = PROBE_DEFAULTS[prefix]
        if prefix == READY and f"{HEALTH}.path" in fn.annotations:
            path = got[HEALTH].path
        given = fn.annotations.get(f"{prefix}.path")
        if given is not None:
            if given.startswith("/") and all(" " < c <= "~" for c in given):
                path = given
            else:
                found.append((f"annotations.{prefix}.path", f"expected an HTTP path starting with '/' (no spaces), got {short(given)}"))
        for names, least in (((f"{prefix}.initialDelay", f"{prefix}.initialDelaySeconds"), 0), ((f"{prefix}.periodSeconds",), 1)):
            for name in names:
                if name not in fn.annotations:
                    continue
                try:
                    value = _probe_seconds(fn.annotations[name], least)
                except ValueError as err:
                    found.append((f"annotations.{name}", f"{err}: seconds ('30') or a Go duration ('2s', '1m30s'), got {short(fn.annotations[name])}"))
                    continue
                if least == 0:
                    initial = value
                else:
                    period = value
        got[prefix] = Probe(path, initial, period)
    return got, found


# --- the rules -----------------------------------------------------------------------------


def problems_with(fn: Function, pro: bool) -> list[tuple[str, str]]:
    """(key, message) for everything wrong with `fn`; keys are relative to the function."""
    found: list[tuple[str, str]] = []
    if dns1123_label_problem(fn.name):
        found.append(("name", f"expected a DNS-1123 label (lower-case letters, digits, '-', at most 63), got {short(fn.name)}"))
    elif problem := service_name_problem(fn.name):
        found.append(("name", f"the function's Service is named like it: {problem}, got {fn.name!r}"))
    elif fn.secrets and len(fn.name + SECRETS_VOLUME_SUFFIX) > DNS1123_LABEL_MAX_LENGTH:
        most = DNS1123_LABEL_MAX_LENGTH - len(SECRETS_VOLUME_SUFFIX)
        found.append(("name", f"with secrets, its volume '{fn.name}{SECRETS_VOLUME_SUFFIX}' would be longer than a Kubernetes volume name may be "
                      f"({DNS1123_LABEL_MAX_LENGTH}): a function with secrets may have at most {most} characters"))
    if not fn.image or not isinstance(fn.image, str):
        found.append(("image", "required: the function's container image, e.g. ghcr.io/you/fn:1.0.0"))
    elif problem := image_reference_problem(fn.image):
        found.append(("image", f"{problem}, got {short(fn.image)}"))
    found += _resource_problems(fn)
    found += _metadata_problems(fn)
    found += probes(fn)[1]
    found += _cron_problems(fn, pro)
    found += _topic_problems(fn)
    labels = fn.pod_labels()
    found += _scale_problems(labels)
    if not pro:
        found += _ce_problems(fn, labels)
    return found


def _cron_problems(fn: Function, pro: bool) -> list[tuple[str, str]]:
    """The CE cron-connector compares the topic exactly; the Pro one (settings/versions.py
    CRON_CONNECTOR_PRO_IMAGE) also takes cron-function in a list beside other connectors' topics."""
    if CRON_TOPIC not in fn.topics:
        return []
    if fn.topic != CRON_TOPIC and not pro:
        return [("topic", f"the cron-connector schedules only a function whose topic is exactly {CRON_TOPIC!r}, got {short(fn.topic)}"
                 + CE_NOTE.format(allowed="cron-function alone"))]
    schedule = fn.annotations.get(SCHEDULE)
    if schedule is None:
        return [(f"annotations.{SCHEDULE}", f"required with topic {CRON_TOPIC!r}: when to call the function, e.g. '*/5 * * * *'")]
    problem = schedule_problem(schedule)
    return [(f"annotations.{SCHEDULE}", f"{problem}, got {short(schedule)}")] if problem else []


def _topic_problems(fn: Function) -> list[tuple[str, str]]:
    """A topic becomes a subject in NATS' permissions (render/nats.py), and nats-server does not
    start with an invalid one: refuse it here instead."""
    topics = [t.strip() for t in (fn.topic or "").split(",") if t.strip()]
    return [
        ("topic", f"{short(t)} is not a NATS subject: expected tokens joined by '.', none empty, no whitespace, '>' only last (e.g. 'image-upload')")
        for t in topics
        if t != CRON_TOPIC and not is_valid_subject(t)
    ]


def cron_ce_problem(functions: tuple[Function, ...]) -> str | None:
    """OpenFaaS CE runs the cron-connector only without other connectors (openfaas/docs
    docs/reference/cron.md); here the other connector is the nats-connector, for other topics."""
    cron = [fn.name for fn in functions if fn.topic == CRON_TOPIC]
    others = sorted({fn.name for fn in functions if fn.topic and fn.topic != CRON_TOPIC})
    if cron and others:
        return (
            f"functions {', '.join(cron)} need the cron-connector and {', '.join(others)} the nats-connector"
            + CE_NOTE.format(allowed="the cron-connector only with no other connector")
        )
    return None


def _resource_problems(fn: Function) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    parsed: dict[tuple[str, str], Fraction] = {}
    for part, res in (("limits", fn.limits), ("requests", fn.requests)):
        for name, value in (res.as_dict() if res else {}).items():
            problem = quantity_problem(value)
            if problem:
                found.append((f"{part}.{name}", f"{problem}, got {short(value)}"))
            else:
                parsed[(part, name)] = parse_quantity(value)
    for name in ("memory", "cpu"):
        limit, request = parsed.get(("limits", name)), parsed.get(("requests", name))
        if limit is not None and request is not None and request > limit:
            found.append((f"requests.{name}", f"{request_text(fn, name)} is more than limits.{name} ({limit_text(fn, name)}): Kubernetes refuses requests above limits"))
    limit = parsed.get(("limits", "memory"))
    if limit is not None and limit < MIN_MEMORY_LIMIT:
        given = limit_text(fn, "memory")
        hint = f"; a number without a unit is bytes: did you mean '{given}Mi'?" if given.isdigit() else ""
        found.append(("limits.memory", f"{given!r} is below {MIN_MEMORY_LIMIT // 2**20}Mi, too little for any container to start{hint}"))
    return found


def limit_text(fn: Function, name: str) -> str:
    return (fn.limits.as_dict() if fn.limits else {}).get(name, "")


def request_text(fn: Function, name: str) -> str:
    return (fn.requests.as_dict() if fn.requests else {}).get(name, "")


def _cut(text: str) -> str:
    return text if len(text) <= 60 else text[:57] + "..."


def _metadata_problems(fn: Function) -> list[tuple[str, str]]:
    """What the API server refuses in the Deployment's labels, annotations and env names."""
    found: list[tuple[str, str]] = []
    for key, value in fn.pod_labels().items():
        if problem := qualified_name_problem(key):
            found.append((f"labels.{_cut(key)}", f"a label key: {problem}"))
        elif problem := label_value_problem(value):
            found.append((f"labels.{key}", f"{problem}, got {short(value)}"))
    annotations = fn.pod_annotations()
    for key in annotations:
        if problem := annotation_key_problem(key):
            found.append((f"annotations.{_cut(key)}", problem))
    total = sum(len(k.encode()) + len(v.encode()) for k, v in annotations.items())
    if total > TOTAL_ANNOTATION_SIZE_LIMIT_B:
        found.append(("annotations", f"{total} bytes in all (keys plus values); Kubernetes allows at most {TOTAL_ANNOTATION_SIZE_LIMIT_B}"))
    for key in fn.environment:
        if problem := env_var_name_problem(key):
            found.append((f"environment.{_cut(key)}", f"{problem}, got {short(key)}"))
    return found


def _go_atoi(text: str) -> int | None:
    """Go's strconv.Atoi: an optional sign and ASCII digits, nothing else (no spaces)."""
    return int(text) if re.fullmatch(r"[+-]?[0-9]+", text) else None


def _scale_problems(labels: Mapping[str, str]) -> list[tuple[str, str]]:
    """The stack's own rules for the scaling labels (both editions): it computes replicas from them."""
    found: list[tuple[str, str]] = []
    values: dict[str, int] = {}
    for key in (SCALE_MIN, SCALE_MAX, SCALE_FACTOR):
        if key in labels:
            text = labels[key]
            if not re.fullmatch(r"[0-9]+", text):
                found.append((f"labels.{key}", f"expected a whole number, got {short(text)}"))
            else:
                values[key] = int(text)
    low, high = values.get(SCALE_MIN), values.get(SCALE_MAX)
    if low is not None and high is not None and low > high:
        found.append((f"labels.{SCALE_MIN}", f"{low} is larger than {SCALE_MAX} ({high})"))
    return found


def _ce_problems(fn: Function, labels: Mapping[str, str]) -> list[tuple[str, str]]:
    """Exactly what faas-netes CE 0.18.17 refuses (docs/functions.md#what-openfaas-ce-refuses)."""
    found: list[tuple[str, str]] = []
    # pkg/handlers/validate.go validateScalingLabels
    if labels.get(SCALE_ZERO) == "true":
        found.append((f"labels.{SCALE_ZERO}", "scale to zero is not available for Community Edition" + CE_NOTE.format(allowed=f"{SCALE_ZERO} only as 'false'")))
    for key in PRO_SCALE_LABELS:
        if key in labels:
            found.append((f"labels.{key}", "is an OpenFaaS Pro scaling label, not available for Community Edition" + CE_NOTE.format(allowed="only com.openfaas.scale.min/max/factor")))
    for key in (SCALE_MAX, SCALE_MIN):
        number = _go_atoi(labels[key]) if key in labels else None
        if number is not None and number > CE_MAX_REPLICAS:
            found.append((f"labels.{key}", f"got {number}, too high for Community Edition" + CE_NOTE.format(allowed=f"at most {CE_MAX_REPLICAS} replicas")))
    # pkg/handlers/deploy.go buildAnnotations
    if fn.topic and "," in fn.topic:
        found.append(("topic", f"{short(fn.topic)} names several topics" + CE_NOTE.format(allowed="one topic per function")))
    for key in fn.annotations:
        if "amazonaws.com" in key or "gke.io" in key:
            found.append((f"annotations.{key}", "is refused by faas-netes CE (cloud annotations)" + CE_NOTE.format(allowed="no amazonaws.com or gke.io annotations")))
    # pkg/handlers/validate.go isAnonymous: public images only, so no pull secrets
    if fn.image_pull_secrets:
        found.append(("image_pull_secrets", "private registries need image pull secrets" + CE_NOTE.format(allowed="public images only")))
    return found


def ce_count_problem(count: int) -> str | None:
    if count > CE_MAX_FUNCTIONS:
        return f"{count} functions" + CE_NOTE.format(allowed=f"at most {CE_MAX_FUNCTIONS} (with more, every call answers 405)")
    return None

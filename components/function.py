"""Typed OpenFaaS functions, and the Kubernetes objects faas-netes would have made for them.

faas-netes (CE) treats any Deployment in the function namespace labelled `faas_function` as a
function, and invokes it through the ClusterIP Service named exactly like it, on port 8080.
The stack owns those objects, so `faas-cli list` and `/function/<name>` work on them, and it
picks better defaults than CE where users gain (each is explained where it is set).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from components.validation import DNS_LABEL, quantity_problem

PORT = 8080
SECRETS_PATH = "/var/openfaas/secrets"
NON_ROOT_UID = 12000  # the uid faas-netes' own setNonRootUser uses
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
        for key, value in ((SCALE_MIN, self.scale_min), (SCALE_MAX, self.scale_max), (SCALE_FACTOR, self.scale_factor)):
            if value is not None:
                labels[key] = str(value)
        return {**labels, "faas_function": self.name}

    def pod_annotations(self) -> dict[str, str]:
        annotations = {"prometheus.io.scrape": "false", **self.annotations}
        if self.topic:
            annotations["topic"] = self.topic  # what the nats-connector looks for
        return annotations

    def replicas(self) -> int:
        minimum = int(self.pod_labels().get(SCALE_MIN, "1"))
        return minimum if minimum > 0 else 1


# --- validation ----------------------------------------------------------------------------


def problems_with(fn: Function, pro: bool) -> list[tuple[str, str]]:
    """(key, message) for everything wrong with `fn`; keys are relative to the function."""
    found: list[tuple[str, str]] = []
    if not DNS_LABEL.match(fn.name):
        found.append(("name", f"expected a DNS-1123 label (lower-case letters, digits, '-', at most 63), got {fn.name!r}"))
    if not fn.image or not isinstance(fn.image, str):
        found.append(("image", "required: the function's container image, e.g. ghcr.io/you/fn:1.0.0"))
    for part, res in (("limits", fn.limits), ("requests", fn.requests)):
        for key, value in (res.as_dict() if res else {}).items():
            problem = quantity_problem(value)
            if problem:
                found.append((f"{part}.{key}", problem))
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


# --- the Kubernetes objects ----------------------------------------------------------------


def pull_policy(image: str) -> str:
    """IfNotPresent for an image pinned by digest or a real tag: the node's copy is the one
    asked for, and a restart needs no registry. `latest` or no tag can move: Always."""
    if "@sha256:" in image:
        return "IfNotPresent"
    last = image.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else "latest"
    return "Always" if tag == "latest" else "IfNotPresent"


def _probe(period: int, initial_delay: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": "/_/health", "port": PORT, "scheme": "HTTP"},
        "initialDelaySeconds": initial_delay,
        "periodSeconds": period,
        "timeoutSeconds": 1,
        "failureThreshold": 3,
    }


def _security_context(fn: Function, non_root: bool) -> dict[str, Any]:
    context: dict[str, Any] = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
    if non_root:
        context.update({"runAsNonRoot": True, "runAsUser": NON_ROOT_UID})
    if fn.read_only_root_filesystem:
        context["readOnlyRootFilesystem"] = True
    return context


def _volumes(fn: Function) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    volumes: list[dict[str, Any]] = []
    mounts: list[dict[str, Any]] = []
    if fn.secrets:
        name = f"{fn.name}-projected-secrets"
        volumes.append({"name": name, "projected": {"sources": [{"secret": {"name": s}} for s in fn.secrets]}})
        mounts.append({"name": name, "mountPath": SECRETS_PATH, "readOnly": True})
    if fn.read_only_root_filesystem:
        volumes.append({"name": "temp", "emptyDir": {}})
        mounts.append({"name": "temp", "mountPath": "/tmp", "readOnly": False})
    return volumes, mounts


def container(fn: Function, non_root: bool) -> dict[str, Any]:
    env = ([{"name": "fprocess", "value": fn.fprocess}] if fn.fprocess else []) + [
        {"name": k, "value": v} for k, v in sorted(fn.environment.items())
    ]
    spec: dict[str, Any] = {
        "name": fn.name,
        "image": fn.image,
        "imagePullPolicy": pull_policy(fn.image),
        "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
        "env": env,
        # Every second from the start: a new replica takes traffic as soon as it is healthy,
        # where CE waits 2 s and then checks every 2 s.
        "readinessProbe": _probe(period=1, initial_delay=0),
        # Liveness stays patient: a slow first request must not get the pod killed.
        "livenessProbe": _probe(period=5, initial_delay=2),
        "securityContext": _security_context(fn, non_root),
    }
    resources = {k: r.as_dict() for k, r in (("limits", fn.limits), ("requests", fn.requests)) if r and r.as_dict()}
    if resources:
        spec["resources"] = resources
    _, mounts = _volumes(fn)
    if mounts:
        spec["volumeMounts"] = mounts
    return spec


def deployment(fn: Function, namespace: str, non_root: bool) -> dict[str, Any]:
    """The Deployment faas-netes would create for `fn`, with the stack's defaults
    (`non_root` is the stack's functionsNonRoot; the function's own `non_root` wins)."""
    non_root = non_root if fn.non_root is None else fn.non_root
    selector = {"faas_function": fn.name}
    annotations = fn.pod_annotations()
    volumes, _ = _volumes(fn)
    pod: dict[str, Any] = {
        "containers": [container(fn, non_root)],
        # Functions talk HTTP; they need neither the API token nor service env variables.
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
    }
    if volumes:
        pod["volumes"] = volumes
    if fn.image_pull_secrets:
        pod["imagePullSecrets"] = [{"name": s} for s in fn.image_pull_secrets]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": fn.name, "namespace": namespace, "labels": selector, "annotations": annotations},
        "spec": {
            "replicas": fn.replicas(),
            "selector": {"matchLabels": selector},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {"metadata": {"labels": fn.pod_labels(), "annotations": annotations}, "spec": pod},
        },
    }


def service(fn: Function, namespace: str) -> dict[str, Any]:
    """The Service the gateway resolves: named like the function, port 8080."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": fn.name, "namespace": namespace, "annotations": {"prometheus.io.scrape": "false"}},
        "spec": {
            "type": "ClusterIP",
            "selector": {"faas_function": fn.name},
            "ports": [{"name": "http", "port": PORT, "targetPort": PORT, "protocol": "TCP"}],
        },
    }


def topics(functions: tuple[Function, ...]) -> tuple[str, ...]:
    """Every topic some function listens to, sorted: what the nats-connector subscribes to."""
    return tuple(sorted({t.strip() for fn in functions if fn.topic for t in fn.topic.split(",") if t.strip()}))

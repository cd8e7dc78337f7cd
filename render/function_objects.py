"""The Kubernetes objects faas-netes would have made for a typed `Function`.

faas-netes (CE) treats any Deployment in the function namespace labelled `faas_function` as a
function, and invokes it through the ClusterIP Service named exactly like it, on port 8080.
The stack owns those objects, so `faas-cli list` and `/function/<name>` work on them, and it
picks better defaults than CE where users gain (each is explained where it is set). What a
function may be is settings/function_spec.py's business.
"""

from __future__ import annotations

from typing import Any

from settings.function_spec import CRON_TOPIC, HEALTH, PORT, READY, Function, Probe, probes

SECRETS_PATH = "/var/openfaas/secrets"
NON_ROOT_UID = 12000  # the uid faas-netes' own setNonRootUser uses

def pull_policy(image: str) -> str:
    """IfNotPresent for an image pinned by digest or a real tag: the node's copy is the one
    asked for, and a restart needs no registry. `latest` or no tag can move: Always."""
    if "@sha256:" in image:
        return "IfNotPresent"
    last = image.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else "latest"
    return "Always" if tag == "latest" else "IfNotPresent"


def _probe(probe: Probe) -> dict[str, Any]:
    return {
        "httpGet": {"path": probe.path, "port": PORT, "scheme": "HTTP"},
        "initialDelaySeconds": probe.initial_delay,
        "periodSeconds": probe.period,
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
    wanted, _ = probes(fn)
    spec: dict[str, Any] = {
        "name": fn.name,
        "image": fn.image,
        "imagePullPolicy": pull_policy(fn.image),
        "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
        "env": env,
        # By default (settings.function_spec.PROBE_DEFAULTS) readiness every second from the start: a
        # new replica takes traffic as soon as it is healthy, where CE waits 2 s and then checks
        # every 2 s; liveness stays patient: a slow first request must not get the pod killed.
        # The com.openfaas.ready.http.* / health.http.* annotations change them.
        "readinessProbe": _probe(wanted[READY]),
        "livenessProbe": _probe(wanted[HEALTH]),
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
    """Every topic some function listens to, sorted: what the nats-connector subscribes to
    (`cron-function` is the cron-connector's, not a NATS topic)."""
    return tuple(sorted({t for fn in functions for t in fn.topics} - {CRON_TOPIC}))


def cron_functions(functions: tuple[Function, ...]) -> tuple[str, ...]:
    """The functions the cron-connector calls, sorted: topic cron-function, alone (CE) or in a
    list beside other topics (Pro; settings refuse a list on CE)."""
    return tuple(sorted(fn.name for fn in functions if CRON_TOPIC in fn.topics))

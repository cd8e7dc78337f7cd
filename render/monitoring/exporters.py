"""The data services' exporters: prometheus-nats-exporter for NATS, redis_exporter for Valkey.

Each is its own Deployment in the data namespace, beside (not inside) the server's pod: the
servers' StatefulSets (render/nats.py, render/redis.py) stay as they are, and their own
NetworkPolicies stay closed; a policy of ours (render/monitoring/policies.py) admits only the
exporter to the server's monitoring or client port. For replicated servers (issue 19) the
exporters take a list of addresses: nats-exporter one URL per server (main.go adds a server per
argument), redis_exporter one entry per address in its password file.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from render import stateful as data
from render.monitoring import ports
from settings import versions
from settings.data_services import nats_host, redis_host

NATS_EXPORTER = "nats-exporter"
REDIS_EXPORTER = "redis-exporter"
REDIS_EXPORTER_SECRET = "redis-exporter-auth"  # key passwords.json
REDIS_PASSWORD_DIR = "/etc/redis-exporter"
REDIS_PASSWORD_FILE = "passwords.json"
EXPORTER_RESOURCES = {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "100m", "memory": "48Mi"}}


def nats_monitor_urls(namespace: str) -> tuple[str, ...]:
    return (f"http://{nats_host(namespace)}:{ports.NATS_MONITOR}",)


def redis_urls(namespace: str) -> tuple[str, ...]:
    return (f"redis://{redis_host(namespace)}:{ports.REDIS}",)


def nats_exporter_args(urls: Iterable[str]) -> list[str]:
    """The exporter's flags (nats-io/prometheus-nats-exporter main.go, v0.20.1): server, JetStream
    (every level: `-jsz=all`, exporter.go accepts it), connections, routes, subscriptions and
    health, then the monitoring URLs."""
    urls = list(urls)
    named = ["-use_internal_server_name"] if len(urls) == 1 else []  # the server_name label, one server only
    return [f"-port={ports.NATS_EXPORTER}", "-varz", "-jsz=all", "-connz", "-routez", "-subz", "-healthz", *named, *urls]


def nats_exporter_container(urls: Iterable[str]) -> dict[str, Any]:
    return {
        "name": NATS_EXPORTER,
        "image": versions.NATS_EXPORTER_IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "args": nats_exporter_args(urls),  # the image's entrypoint is the exporter
        "ports": [{"name": "metrics", "containerPort": ports.NATS_EXPORTER, "protocol": "TCP"}],
        "resources": EXPORTER_RESOURCES,
        # No health endpoint of its own: the port answering is the exporter running.
        "readinessProbe": {"tcpSocket": {"port": "metrics"}, "periodSeconds": 10, "timeoutSeconds": 5},
        "livenessProbe": {"tcpSocket": {"port": "metrics"}, "periodSeconds": 30, "timeoutSeconds": 5},
        "securityContext": dict(data.CONTAINER_SECURITY),
    }


def redis_password_file(password: str, urls: Iterable[str]) -> str:
    """redis_exporter's --redis.password-file: JSON, address -> password (exporter/pwd_file.go
    LoadPwdFile; exporter/redis.go looks the scraped URI up in it, `redis://` included). The
    password reaches the exporter only as this file, from a Secret."""
    return json.dumps(dict.fromkeys(urls, password), indent=2, sort_keys=True) + "\n"


def redis_exporter_container(urls: Iterable[str]) -> dict[str, Any]:
    urls = list(urls)
    return {
        "name": REDIS_EXPORTER,
        "image": versions.REDIS_EXPORTER_IMAGE,
        "imagePullPolicy": "IfNotPresent",
        # oliver006/redis_exporter main.go v1.88.0: the password file is read when
        # --redis.password is empty, as it is here.
        "args": [
            f"--redis.addr={urls[0]}",
            f"--redis.password-file={REDIS_PASSWORD_DIR}/{REDIS_PASSWORD_FILE}",
            f"--web.listen-address=:{ports.REDIS_EXPORTER}",
        ],
        "ports": [{"name": "metrics", "containerPort": ports.REDIS_EXPORTER, "protocol": "TCP"}],
        "resources": EXPORTER_RESOURCES,
        "readinessProbe": {"httpGet": {"path": "/health", "port": "metrics"}, "periodSeconds": 10, "timeoutSeconds": 5},
        "livenessProbe": {"httpGet": {"path": "/health", "port": "metrics"}, "periodSeconds": 30, "timeoutSeconds": 5},
        "securityContext": dict(data.CONTAINER_SECURITY),
        "volumeMounts": [{"name": "auth", "mountPath": REDIS_PASSWORD_DIR, "readOnly": True}],
    }


def deployment(app: str, namespace: str, container: dict[str, Any], volumes: list[dict[str, Any]], annotations: Mapping[str, str] | None = None) -> dict[str, Any]:
    """One replica, no API token, no service links, the data services' pod security."""
    pod: dict[str, Any] = {
        "containers": [container],
        "securityContext": dict(data.POD_SECURITY),
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
    }
    if volumes:
        pod["volumes"] = volumes
    template: dict[str, Any] = {"metadata": {"labels": data.labels(app)}, "spec": pod}
    if annotations:
        template["metadata"]["annotations"] = dict(annotations)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": app, "namespace": namespace, "labels": data.labels(app)},
        "spec": {"replicas": 1, "selector": {"matchLabels": data.selector(app)}, "template": template},
    }


def manifests(data_namespace: str) -> dict[str, dict[str, Any]]:
    """The two exporters' Deployments (Secret redis-exporter-auth is the component's: it
    carries the password)."""
    auth = [{"name": "auth", "secret": {"secretName": REDIS_EXPORTER_SECRET, "defaultMode": 0o440}}]
    return {
        "nats-exporter": deployment(NATS_EXPORTER, data_namespace, nats_exporter_container(nats_monitor_urls(data_namespace)), []),
        "redis-exporter": deployment(REDIS_EXPORTER, data_namespace, redis_exporter_container(redis_urls(data_namespace)), auth),
    }

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
from urllib.parse import urlsplit

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


NATS_APP = "nats"  # render/nats.py's StatefulSet
REDIS_APP = "redis"  # render/redis.py's StatefulSet


def nats_monitor_urls(namespace: str, replicas: int = 1) -> tuple[str, ...]:
    """Every NATS server's monitoring URL: the Service, or each replica's pod."""
    if replicas == 1:
        return (f"http://{nats_host(namespace)}:{ports.NATS_MONITOR}",)
    return tuple(f"http://{data.pod_host(NATS_APP, namespace, i)}:{ports.NATS_MONITOR}" for i in range(replicas))


def redis_urls(namespace: str, replicas: int = 1) -> tuple[str, ...]:
    """Every Valkey instance's URI: the Service, or each replica's pod."""
    if replicas == 1:
        return (f"redis://{redis_host(namespace)}:{ports.REDIS}",)
    return tuple(f"redis://{data.pod_host(REDIS_APP, namespace, i)}:{ports.REDIS}" for i in range(replicas))


def _server_id(url: str) -> str:
    """The pod's name, the first label of its DNS name (`nats-0`)."""
    return (urlsplit(url).hostname or url).split(".")[0]


def nats_exporter_args(urls: Iterable[str]) -> list[str]:
    """The exporter's flags (nats-io/prometheus-nats-exporter main.go, v0.20.1): server, JetStream
    (every level: `-jsz=all`, exporter.go accepts it), connections, routes, subscriptions and
    health, then the monitoring URLs: one, named by the server's own server_name; several, each
    `id,url` with its pod's name as id (main.go parseServerIDAndURL splits at the last comma)."""
    urls = list(urls)
    if len(urls) == 1:
        servers = ["-use_internal_server_name", *urls]  # main.go reads it only with one URL
    else:
        servers = [f"{_server_id(u)},{u}" for u in urls]
    return [f"-port={ports.NATS_EXPORTER}", "-varz", "-jsz=all", "-connz", "-routez", "-subz", "-healthz", *servers]


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


def redis_exporter_args(urls: Iterable[str]) -> list[str]:
    """One instance: its address, scraped at /metrics. Several: none (upstream's README: "so it
    won't try to access the local instance"), each scraped at /scrape?target=<uri>."""
    urls = list(urls)
    return [
        f"--redis.addr={urls[0] if len(urls) == 1 else ''}",
        f"--redis.password-file={REDIS_PASSWORD_DIR}/{REDIS_PASSWORD_FILE}",
        f"--web.listen-address=:{ports.REDIS_EXPORTER}",
    ]


def redis_exporter_container(urls: Iterable[str]) -> dict[str, Any]:
    return {
        "name": REDIS_EXPORTER,
        "image": versions.REDIS_EXPORTER_IMAGE,
        "imagePullPolicy": "IfNotPresent",
        # oliver006/redis_exporter main.go v1.88.0: the password file is read when
        # --redis.password is empty, as it is here, for /metrics and /scrape alike.
        "args": redis_exporter_args(urls),
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
    return data.deployment(app, namespace, pod, annotations)


def redis_exporter_host(data_namespace: str) -> str:
    """The exporter's Service (replicated only): where Prometheus asks /scrape?target=."""
    return f"{REDIS_EXPORTER}.{data_namespace}.svc.cluster.local:{ports.REDIS_EXPORTER}"


def manifests(data_namespace: str, replicas: int = 1) -> dict[str, dict[str, Any]]:
    """The two exporters' Deployments, and replicated the redis exporter's Service (Secret
    redis-exporter-auth is the component's: it carries the password)."""
    auth = [{"name": "auth", "secret": {"secretName": REDIS_EXPORTER_SECRET, "defaultMode": 0o440}}]
    found = {
        "nats-exporter": deployment(NATS_EXPORTER, data_namespace, nats_exporter_container(nats_monitor_urls(data_namespace, replicas)), []),
        "redis-exporter": deployment(REDIS_EXPORTER, data_namespace, redis_exporter_container(redis_urls(data_namespace, replicas)), auth),
    }
    if replicas > 1:
        found["redis-exporter-service"] = data.service(REDIS_EXPORTER, data_namespace, REDIS_EXPORTER, {"metrics": ports.REDIS_EXPORTER})
    return found

"""OpenFaaS' cron-connector: calls the functions annotated `topic: cron-function` on their
`schedule` (upstream/robfig_cron.py validates it as the connector's parser does).

Deployed only when some function has that topic, in the OpenFaaS namespace, like the chart
`cron-connector` 0.6.16 of faas-netes would: the Community Edition image, the gateway with basic
auth from the stack's `basic-auth` Secret, synchronous calls. It listens on nothing, so its
NetworkPolicy admits no ingress; it calls only the gateway (which admits anyone on 8080).
"""

from __future__ import annotations

from typing import Any

from render import stateful as data
from settings import versions

CRON_CONNECTOR = "cron-connector"
AUTH_MOUNT = "/var/secrets"  # the chart's secret_mount_path, where Secret basic-auth is mounted
CRON_RESOURCES = {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "100m", "memory": "64Mi"}}


def cron_env(openfaas_namespace: str) -> dict[str, str]:
    """The connector's environment (its config.go and types/credentials.go read these)."""
    return {
        "gateway_url": f"http://gateway.{openfaas_namespace}:8080",
        "asynchronous_invocation": "false",  # the chart's default: the call's status is logged
        "content_type": "text/plain",
        "basic_auth": "true",  # it lists functions through the authenticated /system/functions
        "secret_mount_path": AUTH_MOUNT,
        "rebuild_interval": "30s",  # the chart's: a new schedule is picked up within 30 s
        "print_response_body": "false",  # never the functions' answers in the log
    }


def cron_manifests(openfaas_namespace: str) -> dict[str, dict[str, Any]]:
    container = {
        "image": versions.CRON_CONNECTOR_IMAGE,
        "env": [{"name": k, "value": v} for k, v in cron_env(openfaas_namespace).items()],
        "resources": CRON_RESOURCES,
    }
    spec = {
        "replicas": 1,  # one scheduler: each schedule fires once
        "strategy": {"type": "Recreate"},  # never two schedulers during a rollout
    }
    return data.gateway_client(CRON_CONNECTOR, openfaas_namespace, container, AUTH_MOUNT, spec)



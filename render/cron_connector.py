"""OpenFaaS' cron-connector: calls the functions annotated `topic: cron-function` on their
`schedule` (upstream/robfig_cron.py validates it as the connector's parser does).

Deployed only when some function has that topic, in the OpenFaaS namespace, like the chart
`cron-connector` 0.6.16 of faas-netes would: the Community Edition image (on Pro, the Pro image
with the license, as the chart's `openfaasPro: true`), the gateway with basic auth from the
stack's `basic-auth` Secret, synchronous calls. It listens on nothing, so its NetworkPolicy
admits no ingress; it calls only the gateway (which admits anyone on 8080).
"""

from __future__ import annotations

from typing import Any

from render import stateful as data
from render.openfaas import LICENSE_SECRET
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


LICENSE_MOUNT = f"{AUTH_MOUNT}/license"  # the chart's, for the Pro image's -license-file
PRO_COMMAND = ["/usr/bin/cron-connector", f"-license-file={LICENSE_MOUNT}/license"]


def cron_manifests(openfaas_namespace: str, pro: bool = False) -> dict[str, dict[str, Any]]:
    container = {
        "image": versions.CRON_CONNECTOR_PRO_IMAGE if pro else versions.CRON_CONNECTOR_IMAGE,
        **({"command": PRO_COMMAND} if pro else {}),
        "env": [{"name": k, "value": v} for k, v in cron_env(openfaas_namespace).items()],
        "resources": CRON_RESOURCES,
    }
    spec = {
        "replicas": 1,  # one scheduler: each schedule fires once
        "strategy": {"type": "Recreate"},  # never two schedulers during a rollout
    }
    manifests = data.gateway_client(CRON_CONNECTOR, openfaas_namespace, container, AUTH_MOUNT, spec)
    if pro:
        _mount_license(manifests["deployment"]["spec"]["template"]["spec"])
    return manifests


def _mount_license(pod: dict[str, Any]) -> None:
    """The Pro image reads the OpenFaaS license (Secret openfaas-license, key `license`, which
    the OpenFaaS component writes on Pro) from LICENSE_MOUNT, as the chart mounts it."""
    pod["volumes"].append({"name": "license", "secret": {"secretName": LICENSE_SECRET, "defaultMode": 0o440}})
    pod["containers"][0]["volumeMounts"].append({"name": "license", "mountPath": LICENSE_MOUNT, "readOnly": True})



"""OpenFaaS' chart as data: its repository, the values the stack writes (each one a key of the
chart's values.yaml), and the gateway's URL. components/openfaas.py installs it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from render.addresses import endpoint
from settings.openfaas import OpenFaaSSettings

CHART_REPO = "https://openfaas.github.io/faas-netes/"
CHART = "openfaas"
ADMIN_USER = "admin"  # the chart's alertmanager config hard-codes this user name
LICENSE_SECRET = "openfaas-license"  # name and key the chart looks for in Pro


# The chart values this module may write, as dotted paths, from chart 15.x's values.yaml
# (see shared/reference/openfaas.md). A test checks every key we write is in this list, so a
# typo such as `gateway.upstreamTimout` fails the tests instead of being ignored by Helm.
OPENFAAS_CHART_KEYS = frozenset(
    {
        "functionNamespace",
        "clusterRole",
        "basic_auth",
        "generateBasicAuth",
        "exposeServices",
        "serviceType",
        "async",
        "openfaasPro",
        "openfaasImagePullPolicy",
        "securityContext",
        "operator.create",
        "gateway.readTimeout",
        "gateway.writeTimeout",
        "gateway.upstreamTimeout",
        "gateway.nodePort",
        "gatewayExternal.annotations",
        "queueWorker.ackWait",
        "nats.external.enabled",
        "nats.external.host",
        "nats.external.port",
        "nats.external.clusterName",
        # The queue-worker's stream replicas (env nats_stream_replicas of
        # templates/queueworker-dep.yaml and event-worker-dep.yaml; values.yaml default 1).
        "nats.streamReplication",
        "functions.httpProbe",
        "functions.setNonRootUser",
        "prometheus.create",
        "alertmanager.create",
    }
)


@dataclass(frozen=True)
class ExternalNats:
    """A NATS server OpenFaaS Pro uses for its JetStream queue instead of its own."""

    host: str
    port: int = 4222
    cluster_name: str = "faas-cluster"
    # Replicas of the stream Pro's queue-worker creates for /async-function: one per NATS
    # server, as OpenFaaS' docs advise for 3 (openfaas/docs, openfaas-pro/jetstream.md).
    stream_replication: int = 1


def chart_values(settings: OpenFaaSSettings, external_nats: ExternalNats | None = None) -> dict[str, Any]:
    """The chart's values, as data. Every key exists in chart 15.x (tests/test_openfaas.py)."""
    values: dict[str, Any] = {
        "functionNamespace": settings.function_namespace,
        "clusterRole": False,  # one function namespace: a Role there is enough
        "basic_auth": True,
        "generateBasicAuth": False,  # the stack makes Secret basic-auth
        "exposeServices": True,
        "serviceType": settings.service_type,
        "async": True,
        "openfaasPro": settings.pro,
        "openfaasImagePullPolicy": "IfNotPresent",  # the chart pins its images by tag
        "operator": {"create": False},  # CE would fail the render; Pro does not need it here
        "gateway": {
            "readTimeout": settings.read_timeout,
            "writeTimeout": settings.write_timeout,
            "upstreamTimeout": settings.upstream_timeout,
        },
        "queueWorker": {"ackWait": settings.ack_wait},
    }
    if settings.service_type == "NodePort":
        values["gateway"]["nodePort"] = settings.node_port
    if settings.pro and external_nats:
        nats: dict[str, Any] = {
            "external": {
                "enabled": True,
                "host": external_nats.host,
                "port": external_nats.port,
                "clusterName": external_nats.cluster_name,
            }
        }
        if external_nats.stream_replication > 1:  # 1 is the chart's default: left unwritten
            nats["streamReplication"] = external_nats.stream_replication
        values["nats"] = nats
    return values


def gateway_url(settings: OpenFaaSSettings, public_host: str) -> str:
    return endpoint("http", public_host, settings.public_port)



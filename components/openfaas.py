"""OpenFaaS on the cluster: its namespaces, the gateway's credentials, the Helm release.

The chart creates no namespace, and its own `generateBasicAuth` runs as a Helm hook with a
random password that Pulumi cannot see; so the stack makes both namespaces and the `basic-auth`
Secret itself (password from pulumi-random, a secret end to end) before the release.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.cluster import endpoint
from components.kube import helm_release, namespace, network_policies
from components.policies import openfaas_policies
from settings import versions
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
    # What must be running before the release: the Pro gateway and queue-worker connect at
    # start, and the atomic install would roll back if they crash-looped waiting for it.
    server: pulumi.Resource | None = field(default=None, compare=False)


@dataclass(frozen=True)
class OpenFaaSArgs:
    settings: OpenFaaSSettings
    provider: k8s.Provider
    public_host: str  # where users reach the gateway (the first server)
    external_nats: ExternalNats | None = None  # Pro only; CE keeps its bundled queue
    license: pulumi.Input[str] | None = field(default=None, repr=False)  # Pro only; a secret
    chart_repo: str = CHART_REPO  # chartRepositories.openfaas, if set


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
        values["nats"] = {
            "external": {
                "enabled": True,
                "host": external_nats.host,
                "port": external_nats.port,
                "clusterName": external_nats.cluster_name,
            }
        }
    return values


def gateway_url(settings: OpenFaaSSettings, public_host: str) -> str:
    return endpoint("http", public_host, settings.public_port)


class OpenFaaS(pulumi.ComponentResource):
    """The OpenFaaS control plane, installed from the official chart."""

    namespace: k8s.core.v1.Namespace
    function_namespace: k8s.core.v1.Namespace
    policies: list[k8s.networking.v1.NetworkPolicy]
    password: pulumi.Output[str]
    release: k8s.helm.v3.Release
    gateway_url: str

    def __init__(self, name: str, args: OpenFaaSArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("sovereign-faas:index:OpenFaaS", name, None, opts)
        settings = args.settings
        on_cluster = pulumi.ResourceOptions(parent=self, provider=args.provider)

        self.namespace = namespace(f"{name}-namespace", settings.namespace, on_cluster, part_of="openfaas")
        self.function_namespace = namespace(f"{name}-function-namespace", settings.function_namespace, on_cluster, part_of="openfaas")
        password = random.RandomPassword(
            f"{name}-admin-password",
            length=32,
            special=False,  # typed into faas-cli and curl; length gives the strength
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.password = pulumi.Output.secret(password.result)
        auth = self._secret(
            f"{name}-basic-auth",
            "basic-auth",
            {"basic-auth-user": ADMIN_USER, "basic-auth-password": self.password},
            on_cluster,
        )
        self.policies = network_policies(f"{name}-policy", openfaas_policies(settings.namespace), on_cluster, [self.namespace])
        before_release: list[pulumi.Resource] = [self.namespace, self.function_namespace, auth]
        if settings.pro:
            assert args.license is not None  # settings refuse pro without one
            before_release.append(self._secret(f"{name}-license", LICENSE_SECRET, {"license": args.license}, on_cluster))
            if args.external_nats and args.external_nats.server:
                before_release.append(args.external_nats.server)

        self.release = helm_release(
            f"{name}-release", CHART, args.chart_repo, versions.OPENFAAS_CHART, settings.namespace, chart_values(settings, args.external_nats), on_cluster, before_release
        )
        self.gateway_url = gateway_url(settings, args.public_host)
        self.register_outputs({"gatewayUrl": self.gateway_url, "password": self.password})

    def _secret(self, resource: str, name: str, data: dict[str, Any], opts: pulumi.ResourceOptions) -> k8s.core.v1.Secret:
        return k8s.core.v1.Secret(
            resource,
            metadata=k8s.meta.v1.ObjectMetaArgs(name=name, namespace=self.namespace.metadata.name),
            type="Opaque",
            string_data=pulumi.Output.secret(data),
            opts=opts,
        )


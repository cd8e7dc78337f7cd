"""OpenFaaS on the cluster: its namespaces, the gateway's credentials, the Helm release.

The chart creates no namespace, and its own `generateBasicAuth` runs as a Helm hook with a
random password that Pulumi cannot see; so the stack makes both namespaces and the `basic-auth`
Secret itself (password from pulumi-random, a secret end to end) before the release. The
chart's values are render/openfaas.py's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.registration import helm_release, namespace, network_policies, password, secret
from render.openfaas import ADMIN_USER, CHART, CHART_REPO, LICENSE_SECRET, ExternalNats, chart_values, gateway_url
from render.policies import PlatformEgress, openfaas_egress_policies, openfaas_policies
from settings import versions
from settings.openfaas import OpenFaaSSettings


@dataclass(frozen=True)
class OpenFaaSArgs:
    settings: OpenFaaSSettings
    provider: k8s.Provider
    public_host: str  # where users reach the gateway (the first server)
    external_nats: ExternalNats | None = None  # Pro only; CE keeps its bundled queue
    # What must be running before the release: the Pro gateway and queue-worker connect to the
    # external NATS at start, and the atomic install would roll back if they crash-looped.
    nats_server: pulumi.Resource | None = None
    license: pulumi.Input[str] | None = field(default=None, repr=False)  # Pro only; a secret
    chart_repo: str = CHART_REPO  # chartRepositories.openfaas, if set
    egress: PlatformEgress | None = None  # platformEgress restricted; None: open


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
        self.password = password(f"{name}-admin-password", self)
        auth = self._secret(
            f"{name}-basic-auth",
            "basic-auth",
            {"basic-auth-user": ADMIN_USER, "basic-auth-password": self.password},
            on_cluster,
        )
        found = openfaas_policies(settings.namespace)
        if args.egress:
            found += openfaas_egress_policies(settings.namespace, args.egress)
        self.policies = network_policies(f"{name}-policy", found, on_cluster, [self.namespace])
        before_release: list[pulumi.Resource] = [self.namespace, self.function_namespace, auth]
        if settings.pro:
            assert args.license is not None  # settings refuse pro without one
            before_release.append(self._secret(f"{name}-license", LICENSE_SECRET, {"license": args.license}, on_cluster))
            if args.external_nats and args.nats_server:
                before_release.append(args.nats_server)

        self.release = helm_release(
            f"{name}-release", CHART, args.chart_repo, versions.OPENFAAS_CHART, settings.namespace, chart_values(settings, args.external_nats), on_cluster, before_release
        )
        self.gateway_url = gateway_url(settings, args.public_host)
        self.register_outputs({"gatewayUrl": self.gateway_url, "password": self.password})

    def _secret(self, resource: str, name: str, data: dict[str, Any], opts: pulumi.ResourceOptions) -> k8s.core.v1.Secret:
        return secret(resource, name, self.namespace.metadata.name, data, opts)

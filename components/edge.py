"""TLS at the edge on the cluster: the Gateway API CRDs, Traefik and cert-manager from their
charts, and the custom objects render/edge.py builds (issuers, certificate, Gateway, routes)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from components import registration
from components.registration import helm_release, namespace
from render.edge import (
    CERT_MANAGER_REPO,
    EAB_SECRET,
    EAB_SECRET_KEY,
    TRAEFIK_REPO,
    cert_manager_policies,
    cert_manager_values,
    manifests,
    network_policies,
    traefik_values,
)
from render.labels import MANAGED_BY
from render.policies import PlatformEgress
from settings import versions
from settings.edge import CERT_MANAGER_NAMESPACE, NAMESPACE, EdgeSettings


def gateway_api_crds(resource: str, url: str, opts: pulumi.ResourceOptions) -> k8s.yaml.v2.ConfigFile:
    """The Gateway API's standard-channel CRDs, from the pinned release's standard-install.yaml
    (or its in-country copy, `gatewayApiCrds`). Pulumi applies them server-side and keeps them
    up to date on a bump (unlike a chart's crds/ folder, which Helm installs once). The
    provider fetches the file where `pulumi up` runs: not pinned by digest (the release
    publishes no checksum file)."""
    return k8s.yaml.v2.ConfigFile(resource, file=url, opts=opts)


@dataclass(frozen=True)
class EdgeArgs:
    settings: EdgeSettings
    openfaas_namespace: str
    gateway_service: str  # the chart's ClusterIP Service in front of the gateway
    gateway_port: int
    provider: k8s.Provider
    after: tuple[pulumi.Resource, ...] = ()  # the OpenFaaS release (the route's backend)
    chart_repos: Mapping[str, str] = field(default_factory=dict)  # chartRepositories
    crds_url: str = versions.GATEWAY_API_CRDS  # gatewayApiCrds, or the pinned release's
    eab_hmac_key: pulumi.Input[str] | None = field(default=None, repr=False)  # acmeEabHmacKey, a secret
    egress: PlatformEgress | None = None  # platformEgress restricted; None: open


class Edge(pulumi.ComponentResource):
    """Traefik and cert-manager, the issuers, the certificate, the Gateway and its routes."""

    url: str
    gateway_api: k8s.yaml.v2.ConfigFile
    policies: list[k8s.networking.v1.NetworkPolicy]
    objects: dict[str, k8s.apiextensions.CustomResource]

    def __init__(self, name: str, args: EdgeArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("sovereign-faas:index:Edge", name, None, opts)
        on_cluster = pulumi.ResourceOptions(parent=self, provider=args.provider)
        edge_ns = namespace(f"{name}-namespace", NAMESPACE, on_cluster, part_of="edge")
        cm_ns = namespace(f"{name}-cert-manager-namespace", CERT_MANAGER_NAMESPACE, on_cluster, part_of="edge")
        # The Gateway API CRDs first: Traefik's Gateway provider and cert-manager's Gateway
        # support both need them at start.
        self.policies = registration.network_policies(f"{name}-policy", network_policies(args.openfaas_namespace, args.egress), on_cluster, [edge_ns])
        self.policies += registration.network_policies(f"{name}-cert-manager-policy", cert_manager_policies(args.egress), on_cluster, [cm_ns])
        self.gateway_api = gateway_api_crds(f"{name}-gateway-api-crds", args.crds_url, on_cluster)
        traefik = helm_release(
            f"{name}-traefik", "traefik", args.chart_repos.get("traefik", TRAEFIK_REPO), versions.TRAEFIK_CHART, NAMESPACE, traefik_values(), on_cluster, [edge_ns, self.gateway_api]
        )
        cert_manager = helm_release(
            f"{name}-cert-manager", "cert-manager", args.chart_repos.get("cert-manager", CERT_MANAGER_REPO), versions.CERT_MANAGER_CHART, CERT_MANAGER_NAMESPACE, cert_manager_values(), on_cluster, [cm_ns, traefik]
        )
        before: list[pulumi.Resource] = [traefik, cert_manager, *args.after]
        if args.settings.acme_server and args.settings.eab_key_id and args.eab_hmac_key is not None:
            before.append(
                k8s.core.v1.Secret(
                    f"{name}-acme-eab",
                    metadata=k8s.meta.v1.ObjectMetaArgs(name=EAB_SECRET, namespace=CERT_MANAGER_NAMESPACE, labels={**MANAGED_BY}),
                    type="Opaque",
                    string_data={EAB_SECRET_KEY: pulumi.Output.secret(args.eab_hmac_key)},
                    opts=pulumi.ResourceOptions.merge(on_cluster, pulumi.ResourceOptions(depends_on=[cm_ns])),
                )
            )
        crds = pulumi.ResourceOptions.merge(on_cluster, pulumi.ResourceOptions(depends_on=before))
        self.objects = {
            role: k8s.apiextensions.CustomResource(
                f"{name}-{role}",
                api_version=obj["apiVersion"],
                kind=obj["kind"],
                metadata=obj["metadata"],
                spec=obj["spec"],
                opts=crds,
            )
            for role, obj in manifests(args.settings, args.openfaas_namespace, args.gateway_service, args.gateway_port).items()
        }
        self.url = args.settings.url
        self.register_outputs({"url": self.url})

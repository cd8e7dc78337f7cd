"""OpenFaaS' cron-connector on the cluster (render/cron_connector.py builds its objects)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.registration import gateway_client
from render.cron_connector import cron_manifests


@dataclass(frozen=True)
class CronConnectorArgs:
    functions: tuple[str, ...]  # the functions it calls (for the outputs; it finds them itself)
    openfaas_namespace: str
    provider: k8s.Provider
    after: tuple[pulumi.Resource, ...] = ()  # OpenFaaS' release: the gateway and basic-auth
    pro: bool = False  # the Pro image, with the license (Secret openfaas-license)


class CronConnector(pulumi.ComponentResource):
    """OpenFaaS' cron-connector: schedules in, function calls out."""

    deployment: k8s.apps.v1.Deployment

    def __init__(self, name: str, args: CronConnectorArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        if not args.functions:
            raise ValueError("a cron-connector needs at least one function with topic cron-function")
        super().__init__("sovereign-faas:index:CronConnector", name, None, opts)
        on_cluster = pulumi.ResourceOptions(parent=self, provider=args.provider, depends_on=list(args.after))
        self.deployment = gateway_client(name, cron_manifests(args.openfaas_namespace, args.pro), on_cluster)
        self.register_outputs({"functions": list(args.functions)})

"""NATS on the cluster: the server (render/nats.py builds its objects) and the nats-connector."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.registration import gateway_client, stateful_service
from render import nats
from render.openfaas import ExternalNats
from settings.data_services import NatsSettings


@dataclass(frozen=True)
class NatsArgs:
    settings: NatsSettings
    namespace: str  # the data namespace
    openfaas_namespace: str
    function_namespace: str
    provider: k8s.Provider
    after: tuple[pulumi.Resource, ...] = ()  # the data namespace


class Nats(pulumi.ComponentResource):
    """The NATS server: config, Service, StatefulSet (JetStream on local-path), NetworkPolicy."""

    host: str
    url: str
    objects: dict[str, pulumi.CustomResource]

    def __init__(self, name: str, args: NatsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("sovereign-faas:index:Nats", name, None, opts)
        on_cluster = pulumi.ResourceOptions(parent=self, provider=args.provider, depends_on=list(args.after))
        objs = nats.manifests(args.settings, args.namespace, args.openfaas_namespace, args.function_namespace)
        self.objects = stateful_service(name, objs, on_cluster)
        self.host = nats.host(args.namespace)
        self.url = nats.url(args.namespace)
        self.register_outputs({"url": self.url})

    @property
    def external(self) -> ExternalNats:
        """How OpenFaaS Pro reaches this server as its external NATS."""
        return ExternalNats(host=self.host, port=nats.CLIENT_PORT)

    @property
    def server(self) -> pulumi.Resource:
        """What must run before a client that connects at start (the Pro gateway, queue-worker)."""
        return self.objects["statefulset"]


@dataclass(frozen=True)
class NatsConnectorArgs:
    topics: tuple[str, ...]  # the union of the functions' topics, sorted, no repeats
    broker_host: str  # Nats.host
    openfaas_namespace: str
    upstream_timeout: str  # the gateway's
    provider: k8s.Provider
    after: tuple[pulumi.Resource, ...] = ()  # OpenFaaS' release: the gateway and basic-auth


class NatsConnector(pulumi.ComponentResource):
    """OpenFaaS' nats-connector: NATS topics in, function calls out."""

    deployment: k8s.apps.v1.Deployment

    def __init__(self, name: str, args: NatsConnectorArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        if not args.topics:
            raise ValueError("a nats-connector needs at least one topic: create none without topics")
        super().__init__("sovereign-faas:index:NatsConnector", name, None, opts)
        on_cluster = pulumi.ResourceOptions(parent=self, provider=args.provider, depends_on=list(args.after))
        objs = nats.connector_manifests(args.topics, args.broker_host, args.openfaas_namespace, args.upstream_timeout)
        self.deployment = gateway_client(name, objs, on_cluster)
        self.register_outputs({"topics": list(args.topics)})

"""NATS on the cluster: the server (render/nats.py builds its objects), its users' passwords
from pulumi-random (secrets end to end), the clients' copies of them, and the nats-connector."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from components import registration
from components.registration import gateway_client, stateful_service
from render import nats
from render.openfaas import ExternalNats
from render.stateful import labels
from settings.data_services import NatsSettings
from settings.function_spec import SECRET_LABELS


@dataclass(frozen=True)
class NatsArgs:
    settings: NatsSettings
    namespace: str  # the data namespace
    openfaas_namespace: str
    function_namespace: str
    provider: k8s.Provider
    clients: nats.NatsClients = field(default_factory=nats.NatsClients)
    after: tuple[pulumi.Resource, ...] = ()  # the data namespace
    replicas: int = 1  # Settings.data_replicas: more than one is a JetStream cluster


def secret(
    resource: str, name: str, namespace: str, labels_: Mapping[str, str], string_data: pulumi.Output[dict[str, str]], opts: pulumi.ResourceOptions
) -> k8s.core.v1.Secret:
    """A Secret of the NATS server's (labelled as its objects are), data a Pulumi secret."""
    return registration.secret(resource, name, namespace, string_data, opts, labels={**labels(nats.APP), **labels_})


class Nats(pulumi.ComponentResource):
    """The NATS server: its users' passwords, Secret nats-auth, config, Service, StatefulSet
    (JetStream on local-path), NetworkPolicy; replicated, also the route password, the headless
    Service and the PodDisruptionBudget."""

    host: str
    url: str  # every server's, comma-separated, when replicated
    replicas: int
    passwords: dict[str, pulumi.Output[str]]  # user -> password, for NatsCredentials
    objects: dict[str, pulumi.CustomResource]

    def __init__(self, name: str, args: NatsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("sovereign-faas:index:Nats", name, None, opts)
        on_cluster = pulumi.ResourceOptions(parent=self, provider=args.provider, depends_on=list(args.after))
        self.passwords = {user: registration.password(f"{name}-{user}-password", self) for user in args.clients.password_users}
        files = pulumi.Output.all(**self.passwords).apply(lambda pws: {nats.PASSWORDS_FILE: nats.passwords_config(pws)})
        self.replicas = args.replicas
        if args.replicas > 1:
            # The servers' own password for their routes: no client has it.
            urls = nats.route_urls(args.namespace, args.replicas)
            route_password = registration.password(f"{name}-route-password", self)
            files = pulumi.Output.all(files, route_password).apply(lambda f: {**f[0], nats.ROUTES_FILE: nats.routes_config(f[1], urls)})
        auth = secret(f"{name}-auth", nats.SERVER_SECRET, args.namespace, {}, files, on_cluster)
        objs = nats.manifests(args.settings, args.namespace, args.openfaas_namespace, args.function_namespace, args.clients, args.replicas)
        self.objects = {"auth": auth, **stateful_service(name, objs, on_cluster, mounts=(auth,))}
        self.host = nats.host(args.namespace)
        self.url = nats.url(args.namespace, args.replicas)
        self.register_outputs({"url": self.url})

    @property
    def external(self) -> ExternalNats:
        """How OpenFaaS Pro reaches this server as its external NATS. The chart takes one host
        (nats.external.host): the Service, which reaches any ready server; the client then
        learns the others from the server's INFO (connect_urls, advertised: render/nats.py)."""
        return ExternalNats(host=self.host, port=nats.CLIENT_PORT, stream_replication=self.replicas)

    @property
    def server(self) -> pulumi.Resource:
        """What must run before a client that connects at start (the Pro gateway, queue-worker)."""
        return self.objects["statefulset"]


@dataclass(frozen=True)
class NatsCredentialsArgs:
    passwords: Mapping[str, pulumi.Output[str]]  # Nats.passwords
    openfaas_namespace: str
    function_namespace: str
    provider: k8s.Provider
    after: tuple[pulumi.Resource, ...] = ()  # both namespaces (OpenFaaS registers them after Nats)


class NatsCredentials(pulumi.ComponentResource):
    """The clients' copies of their NATS passwords, each in its client's namespace: Secret
    nats-credentials for functions, nats-connector-credentials for the connector (if any)."""

    secret_names: tuple[str, ...] = (nats.FUNCTION_SECRET,)
    function_secret: k8s.core.v1.Secret
    connector_secrets: tuple[k8s.core.v1.Secret, ...]  # one when there is a connector, else none

    def __init__(self, name: str, args: NatsCredentialsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("sovereign-faas:index:NatsCredentials", name, None, opts)
        on_cluster = pulumi.ResourceOptions(parent=self, provider=args.provider, depends_on=list(args.after))
        function_password = args.passwords[nats.FUNCTION_USER]
        self.function_secret = secret(
            f"{name}-function", nats.FUNCTION_SECRET, args.function_namespace, SECRET_LABELS, function_password.apply(nats.function_credentials), on_cluster
        )
        self.connector_secrets = ()
        if nats.CONNECTOR_USER in args.passwords:
            connector_password = args.passwords[nats.CONNECTOR_USER].apply(lambda pw: {"password": pw})
            self.connector_secrets = (secret(f"{name}-connector", nats.CONNECTOR_SECRET, args.openfaas_namespace, {}, connector_password, on_cluster),)
        self.register_outputs({})


@dataclass(frozen=True)
class NatsConnectorArgs:
    topics: tuple[str, ...]  # the union of the functions' topics, sorted, no repeats
    broker_host: str  # Nats.host
    openfaas_namespace: str
    upstream_timeout: str  # the gateway's
    provider: k8s.Provider
    after: tuple[pulumi.Resource, ...] = ()  # OpenFaaS' release (the gateway, basic-auth), its NATS password's Secret


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

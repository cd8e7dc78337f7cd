"""sovereign-faas: OpenFaaS on K3s on your own VPS nodes, as one Pulumi stack.

Thin on purpose: read the settings, compose the components, export. Everything else lives in
`components/`.
"""

import pulumi

from components import history
from components.cluster import Cluster, ClusterArgs
from components.cron_connector import CronConnector, CronConnectorArgs
from components.data_backups import DataBackups, DataBackupsArgs
from components.data_namespace import data_namespace
from components.edge import Edge, EdgeArgs
from components.function_objects import Functions, FunctionsArgs
from components.monitoring import Monitoring, MonitoringArgs
from components.nats import Nats, NatsArgs, NatsConnector, NatsConnectorArgs, NatsCredentials, NatsCredentialsArgs
from components.openfaas import OpenFaaS, OpenFaaSArgs
from components.redis import Redis, RedisArgs
from functions import FUNCTIONS
from render import data_backups, egress
from render import monitoring as monitoring_objects
from render.function_objects import topics
from render.monitoring import alertmanager as alert_routes
from render.nats import NatsClients
from render.openfaas import CHART_REPO as openfaas_chart_repo
from render.policies import function_egress, platform_egress
from settings import outputs
from settings import stack as stack_settings
from settings.data_services import REDIS_MASTER_NAME
from settings.openfaas import GATEWAY_PORT
from settings.upgrades import history_problems

try:
    settings = stack_settings.load(FUNCTIONS)
except stack_settings.ConfigError as err:
    # A user mistake: say what is wrong, register nothing, no traceback.
    raise pulumi.RunError(str(err)) from None

for warning in settings.warnings:
    pulumi.log.warn(warning)

# What the running cluster must not be asked to do: a downgrade, a skipped minor, a new
# bootstrap server (docs/operations/upgrading.md, docs/operations/removing-a-node.md). Nothing is registered yet.
problems = history_problems(
    history.previous_outputs(),
    settings.k3s.version,
    settings.upgrades.acknowledge,
    settings.first_server.name,
    tuple(n.name for n in settings.nodes),
)
if problems:
    raise pulumi.RunError("\n".join(problems))

# What the stack depends on outside the cluster (docs/sovereignty.md); strict
# mode refuses what is not in the country before anything is registered.
endpoints = egress.inventory(settings)
try:
    egress.check_strict(settings, endpoints)
except stack_settings.ConfigError as err:
    raise pulumi.RunError(str(err)) from None

cluster = Cluster("cluster", ClusterArgs.of(settings))
data = data_namespace(settings.data.namespace, cluster.provider)
nats = Nats(
    "nats",
    NatsArgs(
        settings=settings.nats,
        namespace=settings.data.namespace,
        openfaas_namespace=settings.openfaas.namespace,
        function_namespace=settings.openfaas.function_namespace,
        provider=cluster.provider,
        # Its users: functions, the nats-connector if any topic, Pro's queue (docs/data.md).
        clients=NatsClients(topics(settings.functions.functions), pro_queue=settings.openfaas.pro, backup=settings.backups.data_on),
        after=(data,),
        replicas=settings.data_replicas,
    ),
)
openfaas = OpenFaaS(
    "openfaas",
    OpenFaaSArgs(
        settings=settings.openfaas,
        provider=cluster.provider,
        public_host=settings.first_server.host,
        external_nats=nats.external,  # Pro queues in this NATS' JetStream; CE ignores it
        nats_server=nats.server,
        license=settings.openfaas_license,
        chart_repo=settings.mirrors.chart_repository("openfaas", openfaas_chart_repo),
        egress=platform_egress(settings),
    ),
)
# HTTPS for the gateway, only with a domain; without one the gateway keeps its own port.
edge = None
if settings.edge.enabled:
    edge = Edge(
        "edge",
        EdgeArgs(
            settings=settings.edge,
            openfaas_namespace=settings.openfaas.namespace,
            gateway_service="gateway",
            gateway_port=GATEWAY_PORT,
            provider=cluster.provider,
            after=(openfaas.release,),
            chart_repos=settings.mirrors.chart_repositories,
            crds_url=settings.mirrors.gateway_api_crds_url,
            eab_hmac_key=settings.acme_eab_hmac_key,
            egress=platform_egress(settings),
        ),
    )
gateway_url = edge.url if edge else openfaas.gateway_url

nats_credentials = NatsCredentials(
    "nats-credentials",
    NatsCredentialsArgs(
        passwords=nats.passwords,
        openfaas_namespace=settings.openfaas.namespace,
        function_namespace=settings.openfaas.function_namespace,
        provider=cluster.provider,
        after=(openfaas.namespace, openfaas.function_namespace),
    ),
)
redis = Redis(
    "redis",
    RedisArgs(
        settings=settings.redis,
        namespace=settings.data.namespace,
        function_namespace=settings.openfaas.function_namespace,
        node_sysctl=settings.kernel.sysctl,
        provider=cluster.provider,
        after=(data, openfaas.function_namespace),
        replicas=settings.data_replicas,
    ),
)
# Valkey's RDB and JetStream's streams to the etcd snapshots' bucket (docs/operations/data-backups.md).
if settings.backups.data_on:
    DataBackups(
        "data-backups",
        DataBackupsArgs(
            config=data_backups.of(settings),
            nats_passwords=nats.passwords,
            provider=cluster.provider,
            after=(data, redis.objects["statefulset"], nats.server),
        ),
    )

functions = Functions(
    "functions",
    FunctionsArgs(
        settings=settings.functions,
        namespace=settings.openfaas.function_namespace,
        openfaas_namespace=settings.openfaas.namespace,
        provider=cluster.provider,
        after=(openfaas.release, redis.function_secret, nats_credentials.function_secret),
        egress=function_egress(settings.sovereignty, settings.data.namespace, redis_sentinels=settings.data_replicas > 1),
    ),
)
if functions.topics:  # no topics, no connector
    NatsConnector(
        "nats-connector",
        NatsConnectorArgs(
            topics=functions.topics,
            broker_host=nats.host,
            openfaas_namespace=settings.openfaas.namespace,
            upstream_timeout=settings.openfaas.upstream_timeout,
            provider=cluster.provider,
            after=(openfaas.release, *nats_credentials.connector_secrets),
        ),
    )
if functions.cron:  # no cron functions, no connector
    CronConnector(
        "cron-connector",
        CronConnectorArgs(
            functions=functions.cron,
            openfaas_namespace=settings.openfaas.namespace,
            provider=cluster.provider,
            after=(openfaas.release,),
            pro=settings.openfaas.pro,
        ),
    )

# Metrics, dashboards and alerts, in the country: after the data services and OpenFaaS,
# whose namespaces it adds scrape policies to (docs/operations/monitoring.md).
monitoring = None
if settings.monitoring.enabled:
    monitoring = Monitoring(
        "monitoring",
        MonitoringArgs(
            settings=settings.monitoring,
            inputs=monitoring_objects.inputs(settings),
            placement=monitoring_objects.placement(settings),
            nodes=settings.nodes,
            redis_password=redis.password,
            provider=cluster.provider,
            egress=platform_egress(settings),
            alert_receivers=alert_routes.destinations(settings.alerting),
            alert_secrets=alert_routes.secret_files(settings),
            after=(data, nats.server, redis.objects["statefulset"], openfaas.release, *(edge.policies if edge else ())),
        ),
    )

pulumi.log.info(egress.summary(endpoints))

pulumi.export(outputs.KUBECONFIG, cluster.kubeconfig)
pulumi.export(outputs.NODES, {n.name: {"host": n.host, "role": n.role} for n in settings.nodes})
pulumi.export(outputs.K3S_VERSION, settings.k3s.version)  # read back by the next deployment (components/history.py)
pulumi.export(outputs.FIRST_SERVER, settings.first_server.name)
pulumi.export(outputs.GATEWAY_URL, gateway_url)
pulumi.export(outputs.ADMIN_PASSWORD, openfaas.password)
pulumi.export(outputs.OPENFAAS_EDITION, settings.openfaas.edition)
pulumi.export(outputs.NATS_URL, nats.url)
pulumi.export(outputs.REDIS_ADDRESS, redis.address)
if redis.sentinels:  # replicated: what a Sentinel-aware client is given (docs/data.md)
    pulumi.export(outputs.REDIS_SENTINELS, {"masterName": REDIS_MASTER_NAME, "sentinels": list(redis.sentinels)})
pulumi.export(outputs.FUNCTIONS, {name: f"{gateway_url}/function/{name}" for name in sorted(functions.deployments)})
if monitoring:
    pulumi.export(outputs.GRAFANA, monitoring_objects.grafana_hint(settings.monitoring.namespace))
    pulumi.export(outputs.GRAFANA_PASSWORD, monitoring.grafana_password)

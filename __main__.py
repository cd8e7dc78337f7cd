"""sovereign-faas: OpenFaaS on K3s on your own VPS nodes, as one Pulumi stack.

Thin on purpose: read the settings, compose the components, export. Everything else lives in
`components/`.
"""

import pulumi

from components import settings as stack_settings
from components.cluster import Cluster, ClusterArgs
from components.functions import Functions, FunctionsArgs
from components.openfaas import OpenFaaS, OpenFaaSArgs

try:
    settings = stack_settings.load()
except stack_settings.ConfigError as err:
    # A user mistake: say what is wrong, register nothing, no traceback.
    raise pulumi.RunError(str(err)) from None

for warning in settings.warnings:
    pulumi.log.warn(warning)

cluster = Cluster("cluster", ClusterArgs(settings=settings))
openfaas = OpenFaaS(
    "openfaas",
    OpenFaaSArgs(settings=settings.openfaas, provider=cluster.provider, public_host=settings.first_server.host),
)

functions = Functions(
    "functions",
    FunctionsArgs(
        settings=settings.functions,
        namespace=settings.openfaas.function_namespace,
        openfaas_namespace=settings.openfaas.namespace,
        provider=cluster.provider,
        after=(openfaas.release,),
    ),
)

pulumi.export("kubeconfig", cluster.kubeconfig)
pulumi.export("nodes", {n.name: {"host": n.host, "role": n.role} for n in settings.nodes})
pulumi.export("k3sVersion", settings.k3s.version)
pulumi.export("gatewayUrl", openfaas.gateway_url)
pulumi.export("adminPassword", openfaas.password)
pulumi.export("openfaasEdition", settings.openfaas.edition)
pulumi.export("functions", {name: f"{openfaas.gateway_url}/function/{name}" for name in sorted(functions.deployments)})

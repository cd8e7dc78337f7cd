"""The stack's functions on the cluster: their Secrets, Deployments and Services.

Built from the typed `Function` objects as render/function_objects.py renders them, after OpenFaaS is installed,
in the function namespace, on the cluster's provider.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.registration import network_policies, secret
from render.function_objects import cron_functions, deployment, service, topics
from render.policies import FunctionEgress, function_egress_policies, function_policies
from settings.function_spec import SECRET_LABELS, Function
from settings.stack import FunctionSet

DEPLOY_TIMEOUT = "3m"  # how long `pulumi up` waits for a function's pods to become ready


@dataclass(frozen=True)
class FunctionsArgs:
    settings: FunctionSet
    namespace: str  # the function namespace faas-netes watches
    openfaas_namespace: str  # where the gateway runs: the only one that may call functions
    provider: k8s.Provider
    after: tuple[pulumi.Resource, ...] = ()  # OpenFaaS' release (and its namespace)
    egress: FunctionEgress | None = None  # where functions may connect; None: functionEgress open


class Functions(pulumi.ComponentResource):
    """Every function of the stack, as faas-netes would have deployed it."""

    deployments: dict[str, k8s.apps.v1.Deployment]
    services: dict[str, k8s.core.v1.Service]
    secrets: dict[str, k8s.core.v1.Secret]
    policies: list[k8s.networking.v1.NetworkPolicy]
    topics: tuple[str, ...]
    cron: tuple[str, ...]  # the functions the cron-connector calls

    def __init__(self, name: str, args: FunctionsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("sovereign-faas:index:Functions", name, None, opts)
        on_cluster = pulumi.ResourceOptions(parent=self, provider=args.provider, depends_on=list(args.after))
        found = function_policies(args.namespace, args.openfaas_namespace)
        if args.egress is not None:
            found += function_egress_policies(args.namespace, args.openfaas_namespace, args.egress)
        self.policies = network_policies("functions-policy", found, on_cluster, [])
        self.secrets = {
            secret: self._secret(secret, value, args.namespace, on_cluster) for secret, value in args.settings.secrets
        }
        self.deployments, self.services = {}, {}
        for fn in args.settings.functions:
            # A function's pods mount its secrets: they must exist first.
            needs = [self.secrets[s] for s in fn.secrets if s in self.secrets]
            self.deployments[fn.name], self.services[fn.name] = self._function(fn, args, on_cluster, needs)
        self.topics = topics(args.settings.functions)
        self.cron = cron_functions(args.settings.functions)
        self.register_outputs({"functions": sorted(self.deployments)})

    def _function(
        self, fn: Function, args: FunctionsArgs, opts: pulumi.ResourceOptions, needs: list[k8s.core.v1.Secret]
    ) -> tuple[k8s.apps.v1.Deployment, k8s.core.v1.Service]:
        manifest = deployment(fn, args.namespace, args.settings.non_root)
        dep = k8s.apps.v1.Deployment(
            f"function-{fn.name}",
            metadata=_as_input(manifest["metadata"]),
            spec=_as_input(manifest["spec"]),
            opts=pulumi.ResourceOptions.merge(
                opts,
                pulumi.ResourceOptions(
                    depends_on=needs,
                    # faas-netes' autoscaler owns replicas after create: under server-side apply the
                    # provider then leaves the field out of the patch (or re-sends the live value),
                    # so an image change does not scale a busy function back to its minimum (and
                    # does not fail on a field-manager conflict). `replicas` stays in the spec for
                    # the create. (research: pulumi-kubernetes #2566, provider await/await.go.)
                    ignore_changes=["spec.replicas"],
                    # An image that cannot be pulled fails `pulumi up` after 3 minutes, naming the
                    # Deployment ("'<fn>' timed out waiting to be Ready ... ImagePullBackOff"),
                    # instead of the provider's 10-minute default.
                    custom_timeouts=pulumi.CustomTimeouts(create=DEPLOY_TIMEOUT, update=DEPLOY_TIMEOUT),
                ),
            ),
        )
        svc_manifest = service(fn, args.namespace)
        svc = k8s.core.v1.Service(
            f"function-{fn.name}-service",
            metadata=_as_input(svc_manifest["metadata"]),
            spec=_as_input(svc_manifest["spec"]),
            opts=opts,
        )
        return dep, svc

    def _secret(self, name: str, value: pulumi.Input[str], namespace: str, opts: pulumi.ResourceOptions) -> k8s.core.v1.Secret:
        return secret(f"function-secret-{name}", name, namespace, {name: value}, opts, labels=SECRET_LABELS)


def _as_input(data: dict[str, Any]) -> Any:
    """A manifest fragment (camelCase, as Kubernetes writes it) as a Pulumi input: the SDK
    sends dict keys as they are, so the object is exactly what render/function_objects.py built."""
    return data

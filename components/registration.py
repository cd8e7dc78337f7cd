"""How components register what render builds: namespaces, charts, policies, and the object
sets of a stateful service and of a gateway client. Named `<component>-<role>`, each
registered exactly as render built it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from render.labels import MANAGED_BY


def namespace(resource: str, name: str, opts: pulumi.ResourceOptions, part_of: str) -> k8s.core.v1.Namespace:
    """A namespace the stack owns, labelled so `kubectl get ns -l ...` finds it."""
    return k8s.core.v1.Namespace(
        resource,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=name, labels={"app.kubernetes.io/part-of": part_of, **MANAGED_BY}),
        opts=opts,
    )


def helm_release(
    resource: str,
    chart: str,
    repo: str,
    version: str,
    ns: str,
    values: dict[str, Any],
    opts: pulumi.ResourceOptions,
    after: list[pulumi.Resource],
) -> k8s.helm.v3.Release:
    """A pinned chart as one Helm release that Pulumi waits for. Atomic: a failed install or
    upgrade rolls back, so nothing is left half-applied. `repo`: an https Helm repository, or
    an `oci://` registry path, which goes into `chart` with no repository (chartRepositories)."""
    oci = repo.startswith("oci://")
    return k8s.helm.v3.Release(
        resource,
        name=chart,
        chart=f"{repo.rstrip('/')}/{chart}" if oci else chart,
        version=version,
        repository_opts=None if oci else k8s.helm.v3.RepositoryOptsArgs(repo=repo),
        namespace=ns,
        values=values,
        create_namespace=False,  # the stack owns its namespaces
        skip_await=False,  # wait for the rollout
        timeout=600,
        atomic=True,
        cleanup_on_fail=True,
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=after)),
    )


def network_policies(prefix: str, objects: list[dict[str, Any]], opts: pulumi.ResourceOptions, after: list[pulumi.Resource]) -> list[k8s.networking.v1.NetworkPolicy]:
    """Register NetworkPolicies built as data (render/policies.py), named `<prefix>-<name>`."""
    on = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=after))
    return [policy(f"{prefix}-{obj['metadata']['name']}", obj, on) for obj in objects]


def stateful_service(
    name: str, objs: Mapping[str, dict[str, Any]], opts: pulumi.ResourceOptions, mounts: tuple[pulumi.Resource, ...] = ()
) -> dict[str, pulumi.CustomResource]:
    """Register a stateful service's objects (`config`, `service`, `statefulset`, `policy`, as
    render/nats.py and render/redis.py build them; replicated, also `headless` and `budget`
    when the dict has them), named `<name>-<role>`. The StatefulSet waits for what its pod
    mounts (the ConfigMap, and `mounts`) and for its governing headless Service: without them
    the pod would sit in ContainerCreating, or have no DNS name to find its peers by."""
    config = k8s.core.v1.ConfigMap(f"{name}-config", metadata=objs["config"]["metadata"], data=objs["config"]["data"], opts=opts)
    registered: dict[str, pulumi.CustomResource] = {"config": config}
    registered["service"] = k8s.core.v1.Service(f"{name}-service", metadata=objs["service"]["metadata"], spec=objs["service"]["spec"], opts=opts)
    if "headless" in objs:
        headless = objs["headless"]
        registered["headless"] = k8s.core.v1.Service(f"{name}-headless", metadata=headless["metadata"], spec=headless["spec"], opts=opts)
    governing = [registered["headless"]] if "headless" in registered else []
    registered["statefulset"] = k8s.apps.v1.StatefulSet(
        f"{name}-statefulset",
        metadata=objs["statefulset"]["metadata"],
        spec=objs["statefulset"]["spec"],
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[config, *mounts, *governing])),
    )
    if "budget" in objs:
        budget = objs["budget"]
        registered["budget"] = k8s.policy.v1.PodDisruptionBudget(f"{name}-budget", metadata=budget["metadata"], spec=budget["spec"], opts=opts)
    registered["policy"] = policy(f"{name}-policy", objs["policy"], opts)
    return registered



def gateway_client(name: str, objs: Mapping[str, dict[str, Any]], opts: pulumi.ResourceOptions) -> k8s.apps.v1.Deployment:
    """Register a connector's Deployment and its NetworkPolicy (render/stateful.py
    `gateway_client`), named `<name>-deployment` and `<name>-policy`."""
    deployment = k8s.apps.v1.Deployment(f"{name}-deployment", metadata=objs["deployment"]["metadata"], spec=objs["deployment"]["spec"], opts=opts)
    policy(f"{name}-policy", objs["policy"], opts)
    return deployment


def policy(resource: str, obj: Mapping[str, Any], opts: pulumi.ResourceOptions) -> k8s.networking.v1.NetworkPolicy:
    return k8s.networking.v1.NetworkPolicy(resource, metadata=obj["metadata"], spec=obj["spec"], opts=opts)


def password(resource: str, parent: pulumi.Resource, length: int = 32) -> pulumi.Output[str]:
    """A generated password, a Pulumi secret from the start. Alphanumeric (no `special`): each
    one lands in some syntax (nats-server.conf, redis.conf, YAML, a URL, a shell typed by hand)
    where punctuation would need quoting; the length gives the strength."""
    generated = random.RandomPassword(resource, length=length, special=False, opts=pulumi.ResourceOptions(parent=parent))
    return pulumi.Output.secret(generated.result)


def secret(
    resource: str,
    name: str,
    namespace: pulumi.Input[str],
    string_data: pulumi.Input[Mapping[str, pulumi.Input[str]]],
    opts: pulumi.ResourceOptions,
    labels: Mapping[str, str] | None = None,
) -> k8s.core.v1.Secret:
    """An Opaque Secret whose data is a Pulumi secret end to end (never plain in state)."""
    return k8s.core.v1.Secret(
        resource,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=name, namespace=namespace, labels=dict(labels) if labels is not None else None),
        type="Opaque",
        string_data=pulumi.Output.secret(string_data),
        opts=opts,
    )

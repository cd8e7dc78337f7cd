"""Kubernetes building blocks more than one component uses."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

MANAGED_BY = {"app.kubernetes.io/managed-by": "sovereign-faas"}


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
    """Register NetworkPolicies built as data (components/policies.py), named `<prefix>-<name>`."""
    on = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=after))
    return [
        k8s.networking.v1.NetworkPolicy(f"{prefix}-{obj['metadata']['name']}", metadata=obj["metadata"], spec=obj["spec"], opts=on)
        for obj in objects
    ]

"""Kubernetes building blocks more than one component uses."""

from __future__ import annotations

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

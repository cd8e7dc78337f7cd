"""The data namespace NATS and Redis live in."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.registration import namespace, network_policies
from render import policies


def data_namespace(name: str, provider: k8s.Provider) -> k8s.core.v1.Namespace:
    """Apart from OpenFaaS so policies can fence it; its pods reach nothing outside it but DNS
    (egress policies)."""
    ns = namespace("data-namespace", name, pulumi.ResourceOptions(provider=provider), part_of="sovereign-faas-data")
    network_policies("data-policy", policies.data_egress_policies(name), pulumi.ResourceOptions(provider=provider), [ns])
    return ns

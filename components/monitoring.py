"""The in-country monitoring stack on the cluster: its namespace, the objects
render/monitoring builds, its NetworkPolicies, Grafana's admin password, the redis
exporter's password file and Alertmanager's receiver credentials (Pulumi secrets end to end)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import registration
from render.monitoring import objects as monitoring
from render.monitoring import policies
from render.monitoring.exporters import (
    REDIS_EXPORTER,
    REDIS_EXPORTER_SECRET,
    REDIS_PASSWORD_FILE,
    redis_password_file,
    redis_urls,
)
from render.policies import PlatformEgress
from render.stateful import labels
from settings.monitoring import MonitoringSettings
from settings.nodes import NodeSpec


@dataclass(frozen=True)
class MonitoringArgs:
    settings: MonitoringSettings
    inputs: monitoring.Inputs  # render/monitoring.inputs(settings)
    placement: policies.Placement
    nodes: tuple[NodeSpec, ...]
    redis_password: pulumi.Output[str]  # Redis.password, for the exporter's password file
    provider: k8s.Provider
    egress: PlatformEgress | None = None  # platformEgress restricted; None: open
    # Where Alertmanager may send under platformEgress restricted: (cidr, ports) of the
    # receivers the alerting settings name (e-mail smarthost, webhooks); none: nowhere.
    alert_receivers: tuple[tuple[str, tuple[int, ...]], ...] = ()
    # Alertmanager's receiver credentials, file name -> Pulumi secret
    # (render/monitoring/alertmanager.secret_files); none: no Secret (its mount is optional).
    alert_secrets: Mapping[str, pulumi.Input[str]] = field(default_factory=dict, repr=False)
    after: tuple[pulumi.Resource, ...] = ()  # the data services and OpenFaaS (the namespaces it adds policies to)


def _meta(obj: Mapping[str, Any]) -> Any:
    return obj["metadata"]


# How each kind of object render builds is registered: only the fields it has.
_KINDS: dict[str, Callable[[str, Mapping[str, Any], pulumi.ResourceOptions], pulumi.CustomResource]] = {
    "ServiceAccount": lambda n, o, opts: k8s.core.v1.ServiceAccount(n, metadata=_meta(o), opts=opts),
    "ClusterRole": lambda n, o, opts: k8s.rbac.v1.ClusterRole(n, metadata=_meta(o), rules=o["rules"], opts=opts),
    "ClusterRoleBinding": lambda n, o, opts: k8s.rbac.v1.ClusterRoleBinding(n, metadata=_meta(o), role_ref=o["roleRef"], subjects=o["subjects"], opts=opts),
    "ConfigMap": lambda n, o, opts: k8s.core.v1.ConfigMap(n, metadata=_meta(o), data=o["data"], opts=opts),
    "Service": lambda n, o, opts: k8s.core.v1.Service(n, metadata=_meta(o), spec=o["spec"], opts=opts),
    "StatefulSet": lambda n, o, opts: k8s.apps.v1.StatefulSet(n, metadata=_meta(o), spec=o["spec"], opts=opts),
    "Deployment": lambda n, o, opts: k8s.apps.v1.Deployment(n, metadata=_meta(o), spec=o["spec"], opts=opts),
    "DaemonSet": lambda n, o, opts: k8s.apps.v1.DaemonSet(n, metadata=_meta(o), spec=o["spec"], opts=opts),
}
# What a workload mounts or runs as must exist first, or its pod waits (ContainerCreating).
_NEEDS = {
    "prometheus-statefulset": ("prometheus-config", "prometheus-rules", "prometheus-serviceaccount"),
    "alertmanager-deployment": ("alertmanager-config", "alertmanager-secret"),
    "grafana-statefulset": ("grafana-config", "grafana-datasources", "grafana-dashboard-provider", "grafana-dashboards", "grafana-secret"),
    "kube-state-metrics-deployment": ("kube-state-metrics-serviceaccount", monitoring.KSM_CONFIG),
    "redis-exporter": ("redis-exporter-secret",),
}

# Registered only when there is something to put in it: the pod mounts it `optional`.
_OPTIONAL = {"alertmanager-secret"}


class Monitoring(pulumi.ComponentResource):
    """Prometheus, Alertmanager, Grafana, node-exporter, kube-state-metrics and the exporters."""

    grafana_password: pulumi.Output[str]
    objects: dict[str, pulumi.CustomResource]

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("sovereign-faas:index:Monitoring", name, None, opts)
        p = args.placement
        replicas = args.inputs.targets.data_replicas
        base = pulumi.ResourceOptions(parent=self, provider=args.provider)
        ns = registration.namespace(f"{name}-namespace", p.namespace, base, part_of="monitoring")
        on_cluster = pulumi.ResourceOptions.merge(base, pulumi.ResourceOptions(depends_on=[ns, *args.after]))
        found = policies.ingress_policies(p) + (policies.egress_policies(p, args.egress, args.nodes, args.alert_receivers) if args.egress else [])
        registration.network_policies(f"{name}-policy", found, base, [ns, *args.after])

        self.grafana_password = registration.password(f"{name}-grafana-admin-password", self)
        secret_key = registration.password(f"{name}-grafana-secret-key", self)
        done: dict[str, pulumi.CustomResource] = {
            "grafana-secret": registration.secret(
                f"{name}-grafana-secret",
                monitoring.GRAFANA_SECRET,
                p.namespace,
                pulumi.Output.all(self.grafana_password, secret_key).apply(lambda pw: {"admin-password": pw[0], "secret-key": pw[1]}),
                on_cluster,
                labels=labels("grafana"),
            ),
            "redis-exporter-secret": registration.secret(
                f"{name}-redis-exporter-secret",
                REDIS_EXPORTER_SECRET,
                p.data_namespace,
                args.redis_password.apply(lambda pw: {REDIS_PASSWORD_FILE: redis_password_file(pw, redis_urls(p.data_namespace, replicas))}),
                on_cluster,
                labels=labels(REDIS_EXPORTER),
            ),
        }
        if args.alert_secrets:
            done["alertmanager-secret"] = registration.secret(
                f"{name}-alertmanager-secret",
                monitoring.ALERTMANAGER_SECRETS,
                p.namespace,
                pulumi.Output.all(**dict(sorted(args.alert_secrets.items()))),
                on_cluster,
                labels=labels("alertmanager"),
            )
        for role, obj in monitoring.manifests(args.settings, args.inputs).items():
            needs = [done[r] for r in _NEEDS.get(role, ()) if r in done or r not in _OPTIONAL]
            role_opts = pulumi.ResourceOptions.merge(on_cluster, pulumi.ResourceOptions(depends_on=needs)) if needs else on_cluster
            done[role] = _KINDS[obj["kind"]](f"{name}-{role}", obj, role_opts)
        self.objects = done
        self.register_outputs({})

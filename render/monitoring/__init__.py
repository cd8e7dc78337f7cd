"""The in-country monitoring stack, as data: Prometheus (scrape.py: its prometheus.yml),
Alertmanager, Grafana, node-exporter, kube-state-metrics (objects.py), the data services'
exporters (exporters.py), and who may reach them (policies.py). The alerting side renders the
rule files, dashboards and alertmanager.yml (rules.py, dashboards.py, alertmanager.py).
docs/operations/monitoring.md says why these parts and what they cost."""

from __future__ import annotations

from typing import Any

from render.monitoring import alertmanager, dashboards, rules
from render.monitoring.objects import Inputs, manifests
from render.monitoring.policies import Placement
from render.monitoring.scrape import ScrapeTargets
from settings.stack import Settings


def inputs(settings: Settings) -> Inputs:
    return Inputs(
        targets=ScrapeTargets.of(settings),
        rule_files=rules.rule_files(settings),
        dashboards=dashboards.dashboards(settings),
        alertmanager_config=alertmanager.alertmanager_config(settings.alerting),
        ksm_config=rules.ksm_custom_resource_config(),
    )


def placement(settings: Settings) -> Placement:
    return Placement(settings.monitoring.namespace, settings.openfaas.namespace, settings.data.namespace, settings.edge.enabled)


def all_objects(settings: Settings) -> dict[str, dict[str, Any]]:
    """Every object the monitoring stack renders but its Secrets and policies (none when off)."""
    return manifests(settings.monitoring, inputs(settings)) if settings.monitoring.enabled else {}


def grafana_hint(namespace: str) -> str:
    """Grafana is published nowhere: the stack output says how to open it."""
    return f"kubectl --kubeconfig <kubeconfig> -n {namespace} port-forward svc/grafana 3000:3000, then http://localhost:3000 (user admin)"

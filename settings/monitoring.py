"""The in-country monitoring stack: Prometheus, Alertmanager, Grafana, node-exporter,
kube-state-metrics and the data services' exporters (render/monitoring/, docs/operations/monitoring.md)."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, model_validator

from settings.base import Section, key
from settings.errors import expected, rules
from settings.types import Bool, Cpu, Namespace, at_least
from upstream.kubernetes import parse_quantity

# Prometheus' duration syntax (prometheus/common model.ParseDuration): units from the largest
# down, each at most once, no fractions, e.g. '15d', '2w', '1d12h'.
_PROMETHEUS_DURATION = re.compile(r"(?=.)([0-9]+y)?([0-9]+w)?([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?([0-9]+ms)?")
_DURATION_HINT = "a Prometheus duration like '15d', '2w' or '1d12h' (units y, w, d, h, m, s, ms, largest first)"


def _prometheus_duration(value: Any) -> str:
    text = value if isinstance(value, str) else None
    if text is None or not _PROMETHEUS_DURATION.fullmatch(text) or not any(c in "123456789" for c in text):
        raise expected(f"expected {_DURATION_HINT}")
    return text


PrometheusDuration = Annotated[str, BeforeValidator(_prometheus_duration)]


class MonitoringSettings(Section):
    enabled: Bool = key("monitoring", True, "The in-country monitoring stack: Prometheus, Alertmanager, Grafana, node and object metrics")
    namespace: Namespace = key("monitoringNamespace", "monitoring", "Namespace of the monitoring stack")
    retention: PrometheusDuration = key("monitoringRetention", "15d", "How long Prometheus keeps samples (a Prometheus duration, e.g. 15d)")
    retention_size: Annotated[str, at_least("64Mi")] = key(
        "monitoringRetentionSize", "4Gi", "Prometheus drops its oldest blocks beyond this size; must be below monitoringStorage"
    )
    storage: Annotated[str, at_least("256Mi")] = key("monitoringStorage", "5Gi", "Prometheus' volume (local-path)")
    grafana_storage: Annotated[str, at_least("64Mi")] = key("monitoringGrafanaStorage", "1Gi", "Grafana's volume (local-path): its database")
    prometheus_memory: Annotated[str, at_least("128Mi")] = key(
        "monitoringPrometheusMemory", "512Mi", "Prometheus' memory (request and limit)"
    )
    prometheus_cpu: Cpu = key("monitoringPrometheusCpuLimit", "1", "Prometheus' CPU limit (10m-64)")
    scrape_interval: PrometheusDuration = key("monitoringScrapeInterval", "30s", "How often Prometheus scrapes every target")

    @model_validator(mode="after")
    def _retention_fits(self) -> MonitoringSettings:
        # Prometheus counts the WAL and the head chunks in its size (storage/tsdb: the size
        # retention includes them), but compactions need room beside the blocks: a size at or
        # above the volume would fill the disk before retention acts.
        rules([
            (
                "monitoringRetentionSize",
                f"{self.retention_size} must be smaller than monitoringStorage ({self.storage}): Prometheus needs room beyond its "
                "retained blocks for the write-ahead log and compactions; e.g. 80% of the volume",
            )
            if parse_quantity(self.retention_size) >= parse_quantity(self.storage)
            else None
        ])
        return self

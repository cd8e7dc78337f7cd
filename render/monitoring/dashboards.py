"""Placeholder until the alerts helper's dashboards land (issue 20, item 2): Grafana dashboards
as JSON text, which the monitoring stack provisions. The merger takes the alerts helper's version."""

from __future__ import annotations

from typing import Any


def dashboards(settings: Any) -> dict[str, str]:
    """File name -> dashboard JSON text."""
    return {}

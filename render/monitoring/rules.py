"""Placeholder until the alerts helper's rules land (issue 20, item 3): the rule files the
monitoring stack mounts at /etc/prometheus/rules. The merger takes the alerts helper's version."""

from __future__ import annotations

from typing import Any


def rule_files(settings: Any) -> dict[str, str]:
    """File name -> rule file YAML text."""
    return {}

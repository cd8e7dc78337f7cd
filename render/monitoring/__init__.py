"""The in-country monitoring stack: Prometheus, Alertmanager, Grafana and the exporters, as
plain manifests, with the alert rules, dashboards and Alertmanager config as data."""

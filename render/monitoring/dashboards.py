"""The Grafana dashboards, as data: functions, nodes, data services and the edge. Grafana's
provisioning reads them from a ConfigMap (the monitoring component); every panel queries the
Prometheus datasource by its fixed uid, every dashboard has a fixed uid, and the JSON is sorted,
so the same settings give the same bytes. tests/test_dashboards.py parses every expression with
promtool. docs/operations/dashboards.md lists the panels.

Metric names, besides those of rules.py: the gateway's gateway_functions_seconds (histogram,
function_name) and gateway_service_count (replicas) (openfaas/faas gateway/metrics/metrics.go);
kube-state-metrics' kube_pod_created and kube_pod_status_ready_time (the Ready condition's last
transition, internal/store/pod.go); the kubelet's kubelet_image_pull_duration_seconds, an ALPHA
histogram since Kubernetes 1.30 (pkg/kubelet/metrics/metrics.go ImagePullDurationKey, label
image_size_in_bytes); prometheus-nats-exporter's jetstream_stream_total_messages and
jetstream_consumer_num_{pending,ack_pending,redelivered} (collector/jsz.go); redis_exporter's
redis_memory_used_bytes, redis_memory_max_bytes, redis_keyspace_{hits,misses}_total,
redis_connected_slaves (exporter/exporter.go metric maps); Traefik's
traefik_entrypoint_requests_total, traefik_service_requests_total,
traefik_service_request_duration_seconds and traefik_tls_certs_not_after (its metrics docs);
cert-manager's certmanager_certificate_ready_status.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from settings.stack import Settings

DATASOURCE = {"type": "prometheus", "uid": "prometheus"}
TAG = "sovereign-faas"
WIDTH = 24  # Grafana's grid columns


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""


@dataclass(frozen=True)
class Panel:
    title: str
    queries: tuple[Query, ...]
    unit: str = "short"
    description: str = ""
    kind: str = "timeseries"  # or "stat", "table"
    width: int = 12


@dataclass(frozen=True)
class Variable:
    name: str
    metric: str  # label_values(<metric>, <label>)
    label: str


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    description: str
    panels: tuple[Panel, ...]
    variables: tuple[Variable, ...] = field(default=())


def _functions(settings: Settings) -> Dashboard:
    fn_ns = settings.openfaas.function_namespace
    calls = 'gateway_function_invocation_total{job="openfaas-gateway",function_name=~"$function"}'
    errors = 'gateway_function_invocation_total{job="openfaas-gateway",function_name=~"$function",code=~"5.."}'
    latency = 'gateway_functions_seconds_bucket{job="openfaas-gateway",function_name=~"$function"}'
    pods = f'namespace="{fn_ns}",job="kube-state-metrics"'
    return Dashboard(
        "sf-functions",
        "Functions",
        "Calls, failures, latency and replicas of the functions, through the gateway",
        (
            Panel("Invocations per second", (Query(f"sum by (function_name) (rate({calls}[$__rate_interval]))", "{{function_name}}"),), "reqps"),
            Panel(
                "Errors (5xx) per second",
                (Query(f"sum by (function_name, code) (rate({errors}[$__rate_interval]))", "{{function_name}} {{code}}"),),
                "reqps",
            ),
            Panel(
                "Latency percentiles",
                tuple(
                    Query(f"histogram_quantile({q}, sum by (le, function_name) (rate({latency}[$__rate_interval])))", f"p{round(q * 100)} {{{{function_name}}}}")
                    for q in (0.5, 0.95, 0.99)
                ),
                "s",
                "Time the gateway waited for the function (gateway_functions_seconds)",
            ),
            Panel("Replicas", (Query('max by (function_name) (gateway_service_count{job="openfaas-gateway",function_name=~"$function"})', "{{function_name}}"),),
                  "short", "Replicas the gateway sees for each function (gateway_service_count)"),
            Panel(
                "Cold start: pod created to Ready",
                (Query(f"max by (pod) (kube_pod_status_ready_time{{{pods}}} - kube_pod_created{{{pods}}})", "{{pod}}"),),
                "s",
                "For each function pod: seconds from the Pod object's creation (the scale-up) to its Ready condition, "
                "scheduling, image pull, start and readiness probe included. A pod that was Ready, lost it and regained it "
                "shows the later time.",
                width=24,
            ),
        ),
        (Variable("function", 'gateway_function_invocation_total{job="openfaas-gateway"}', "function_name"),),
    )


def _nodes(settings: Settings) -> Dashboard:
    node = 'job="node",instance=~"$instance"'
    fs = f'{node},fstype!~"tmpfs|ramfs|overlay|squashfs|nsfs|fuse.lxcfs"'
    net = f'{node},device!~"lo|veth.*|cni.*|flannel.*"'
    return Dashboard(
        "sf-nodes",
        "Nodes",
        "CPU, memory, disk, network and image pulls of every node",
        (
            Panel("CPU busy", (Query(f'100 * (1 - avg by (instance) (rate(node_cpu_seconds_total{{{node},mode="idle"}}[$__rate_interval])))', "{{instance}}"),), "percent"),
            Panel("Memory in use", (Query(f"100 * (1 - node_memory_MemAvailable_bytes{{{node}}} / node_memory_MemTotal_bytes{{{node}}})", "{{instance}}"),), "percent"),
            Panel("Disk used", (Query(f"100 * (1 - node_filesystem_avail_bytes{{{fs}}} / node_filesystem_size_bytes{{{fs}}})", "{{instance}} {{mountpoint}}"),), "percent",
                  f"NodeDiskFull fires above {settings.alerting.disk_percent}%"),
            Panel(
                "Network",
                (
                    Query(f"sum by (instance) (rate(node_network_receive_bytes_total{{{net}}}[$__rate_interval]))", "{{instance}} in"),
                    Query(f"-sum by (instance) (rate(node_network_transmit_bytes_total{{{net}}}[$__rate_interval]))", "{{instance}} out"),
                ),
                "Bps",
            ),
            Panel(
                "Image pull time (p95, last hour)",
                (Query('histogram_quantile(0.95, sum by (le, instance) (rate(kubelet_image_pull_duration_seconds_bucket{job="kubelet"}[1h])))', "{{instance}}"),),
                "s",
                "The kubelet's image pull duration (an ALPHA metric since Kubernetes 1.30); slow pulls make slow cold starts",
            ),
            Panel("Nodes Ready", (Query('sum(kube_node_status_condition{job="kube-state-metrics",condition="Ready",status="true"})', "Ready"),
                                  Query('count(kube_node_info{job="kube-state-metrics"})', "nodes")), "short", kind="stat"),
        ),
        (Variable("instance", 'node_uname_info{job="node"}', "instance"),),
    )


def _data(settings: Settings) -> Dashboard:
    nats, valkey = 'job="nats"', 'job="valkey"'
    by_consumer = "max by (stream_name, consumer_name)"
    return Dashboard(
        "sf-data",
        "Data services",
        "NATS JetStream streams and consumers; Valkey memory, hit rate and replication",
        (
            Panel("Stream depth (messages)", (Query(f"max by (stream_name) (jetstream_stream_total_messages{{{nats}}})", "{{stream_name}}"),), "short"),
            Panel("Consumer pending", (Query(f"{by_consumer} (jetstream_consumer_num_pending{{{nats}}})", "{{stream_name}}/{{consumer_name}}"),), "short",
                  "Messages not yet delivered to each consumer (NatsStreamBacklogGrowing)"),
            Panel("Redelivered", (Query(f"{by_consumer} (jetstream_consumer_num_redelivered{{{nats}}})", "{{stream_name}}/{{consumer_name}}"),), "short",
                  "Messages delivered more than once: a function slower than queueAckWait, or failing"),
            Panel("Awaiting acknowledgement", (Query(f"{by_consumer} (jetstream_consumer_num_ack_pending{{{nats}}})", "{{stream_name}}/{{consumer_name}}"),), "short"),
            Panel(
                "Valkey memory",
                (Query(f"redis_memory_used_bytes{{{valkey}}}", "{{instance}} used"), Query(f"redis_memory_max_bytes{{{valkey}}}", "{{instance}} maxmemory")),
                "bytes",
            ),
            Panel(
                "Valkey hit rate",
                (Query(f"sum(rate(redis_keyspace_hits_total{{{valkey}}}[$__rate_interval])) / (sum(rate(redis_keyspace_hits_total{{{valkey}}}[$__rate_interval])) "
                       f"+ sum(rate(redis_keyspace_misses_total{{{valkey}}}[$__rate_interval])))", "hit rate"),),
                "percentunit",
            ),
            Panel(
                "Valkey replication",
                (
                    Query(f'redis_connected_slaves{{{valkey}}} and on (instance) redis_instance_info{{{valkey},role="master"}}', "{{instance}} replicas"),
                    Query(f"redis_master_link_up{{{valkey}}}", "{{instance}} link up"),
                ),
                "short",
                "Replicas connected to the primary, and each replica's link (1: up)",
                width=24,
            ),
        ),
    )


def _edge(settings: Settings) -> Dashboard:
    traefik = 'job="traefik"'
    return Dashboard(
        "sf-edge",
        "Edge",
        "Requests through Traefik and the certificates it serves",
        (
            Panel("Requests per second by entrypoint", (Query(f"sum by (entrypoint, code) (rate(traefik_entrypoint_requests_total{{{traefik}}}[$__rate_interval]))",
                                                              "{{entrypoint}} {{code}}"),), "reqps"),
            Panel("Requests per second by service", (Query(f"sum by (service, code) (rate(traefik_service_requests_total{{{traefik}}}[$__rate_interval]))",
                                                           "{{service}} {{code}}"),), "reqps"),
            Panel("Service latency (p95)", (Query(f"histogram_quantile(0.95, sum by (le, service) (rate(traefik_service_request_duration_seconds_bucket{{{traefik}}}[$__rate_interval])))",
                                                  "{{service}}"),), "s"),
            Panel(
                "TLS certificates: days left",
                (
                    Query(f"(min by (cn) (traefik_tls_certs_not_after{{{traefik}}}) - time()) / 86400", "served: {{cn}}"),
                    Query('(certmanager_certificate_expiration_timestamp_seconds{job="cert-manager"} - time()) / 86400', "cert-manager: {{namespace}}/{{name}}"),
                ),
                "d",
                "CertificateExpiringSoon fires under 14 days; cert-manager renews at 30",
            ),
            Panel("cert-manager certificates Ready", (Query('sum by (namespace, name) (certmanager_certificate_ready_status{job="cert-manager",condition="True"})',
                                                            "{{namespace}}/{{name}}"),), "short", kind="stat", width=24),
        ),
    )


BUILDERS = (_functions, _nodes, _data, _edge)


def all_dashboards(settings: Settings) -> list[Dashboard]:
    return [build(settings) for build in BUILDERS]


def _panel_json(panel: Panel, number: int, x: int, y: int) -> dict[str, Any]:
    return {
        "id": number,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": {"x": x, "y": y, "w": panel.width, "h": 8},
        "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True}, "tooltip": {"mode": "multi", "sort": "desc"}},
        "targets": [
            {"refId": chr(ord("A") + i), "datasource": DATASOURCE, "expr": q.expr, "legendFormat": q.legend or "__auto", "range": True}
            for i, q in enumerate(panel.queries)
        ],
    }


def _variable_json(var: Variable) -> dict[str, Any]:
    query = f"label_values({var.metric}, {var.label})"
    return {
        "name": var.name,
        "label": var.label,
        "type": "query",
        "datasource": DATASOURCE,
        "definition": query,
        "query": {"query": query, "refId": var.name},
        "refresh": 2,  # on time range change: new functions appear without a reload
        "includeAll": True,
        "allValue": ".*",
        "multi": True,
        "current": {"text": "All", "value": "$__all"},
        "sort": 1,
    }


def dashboard_json(dash: Dashboard) -> dict[str, Any]:
    panels, x, y = [], 0, 0
    for number, panel in enumerate(dash.panels, start=1):
        if x + panel.width > WIDTH:
            x, y = 0, y + 8
        panels.append(_panel_json(panel, number, x, y))
        x += panel.width
    return {
        "uid": dash.uid,
        "title": dash.title,
        "description": dash.description,
        "tags": [TAG],
        "editable": False,
        "schemaVersion": 39,
        "version": 1,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "1m",
        "timezone": "browser",
        "templating": {"list": [_variable_json(v) for v in dash.variables]},
        "panels": panels,
    }


def dashboards(settings: Settings) -> dict[str, str]:
    """File name (`sf-functions.json`) -> the dashboard's JSON: same settings, same bytes."""
    return {f"{d.uid}.json": json.dumps(dashboard_json(d), indent=2, sort_keys=True) + "\n" for d in all_dashboards(settings)}

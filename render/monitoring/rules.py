"""The alert rules, as data: Prometheus rule groups rendered to YAML, one file per group, which
the monitoring component mounts at /etc/prometheus/rules/. Every alert names its runbook
(docs/operations/alerts.md#<alert name in lower case>); tests/test_alerts.py checks each file
with `promtool check rules` and each alert, both ways, with `promtool test rules`
(tests/data/monitoring/*.test.yml).

The `job` labels are the scrape jobs of render/monitoring/scrape.py (the design of issue 20).
Metric names are the exporters' own, read in their source:
- kube-state-metrics (kubernetes/kube-state-metrics internal/store/{node,pod,cronjob}.go):
  kube_node_status_condition{node,condition,status}, kube_pod_container_status_waiting_reason,
  kube_pod_container_status_restarts_total, kube_cronjob_status_last_successful_time,
  kube_cronjob_created.
- node-exporter: node_filesystem_{avail,size}_bytes, node_memory_Mem{Available,Total}_bytes.
- the API server (kubernetes staging/src/k8s.io/apiserver/pkg/authentication/request/x509/x509.go):
  apiserver_client_certificate_expiration_seconds, a histogram of the remaining lifetime of the
  client certificate of every request authenticated by one (observed before verification, so an
  expired one counts too); its buckets are 0, 30m, 1h, 2h, 6h, 12h, 1d, 2d, 4d, 1w, 30d (2592000),
  3 months, 6 months, 1 year.
- cert-manager: certmanager_certificate_expiration_timestamp_seconds{namespace,name};
  Traefik (docs, metrics/overview.md): traefik_tls_certs_not_after{cn,...}, a Unix time.
- prometheus-nats-exporter -jsz=all (nats-io/prometheus-nats-exporter collector/jsz.go):
  jetstream_consumer_num_pending{account,stream_name,consumer_name,...}.
- redis_exporter (oliver006/redis_exporter exporter/info.go, exporter.go): redis_up,
  redis_master_link_up (replicas only: master_link_status == "up"), redis_instance_info{role}.
- the OpenFaaS gateway (openfaas/faas gateway/metrics/metrics.go):
  gateway_function_invocation_total{function_name,code}.
- K3s' etcd snapshots: ETCDSnapshotFile objects (k3s.cattle.io/v1; k3s pkg/apis/k3s.cattle.io/v1
  types.go: spec.nodeName, spec.location, status.creationTime, status.readyToUse), which
  kube-state-metrics exposes through the custom-resource-state config below.
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml

from render.monitoring.schedule import humanize, max_gap_seconds
from settings.edge import CERT_MANAGER_NAMESPACE
from settings.edge import NAMESPACE as EDGE_NAMESPACE
from settings.stack import Settings

RUNBOOKS = "docs/operations/alerts.md"
KSM = 'job="kube-state-metrics"'
# The data services' backup CronJobs (issue 19's design: both in the data namespace).
BACKUP_CRONJOBS = ("valkey-backup", "nats-backup")
# kube-state-metrics' metric names for ETCDSnapshotFile (ksm_custom_resource_config below).
SNAPSHOT_PREFIX = "k3s_etcd_snapshot_file"
SNAPSHOT_CREATED = f"{SNAPSHOT_PREFIX}_creation_timestamp_seconds"
SNAPSHOT_READY = f"{SNAPSHOT_PREFIX}_ready"
CLIENT_CERT_BUCKET = 2592000  # 30 days: the histogram's bucket boundary nearest above 14 days
CERT_DAYS = 14
MIN_CALLS = 10  # a function's calls in 5 minutes below which one failure is no "rate"


@dataclass(frozen=True)
class Alert:
    name: str
    expr: str
    severity: str  # critical: someone acts now; warning: within the working day
    summary: str
    description: str
    for_: str = "5m"

    def rule(self) -> dict[str, object]:
        rule: dict[str, object] = {"alert": self.name, "expr": self.expr}
        if self.for_ != "0m":
            rule["for"] = self.for_
        rule["labels"] = {"severity": self.severity}
        rule["annotations"] = {"summary": self.summary, "description": self.description, "runbook_url": runbook(self.name)}
        return rule


def runbook(alert: str) -> str:
    """The alert's section in the runbooks: MkDocs anchors a heading by its text in lower case."""
    return f"{RUNBOOKS}#{alert.lower()}"


def platform_namespaces(settings: Settings) -> tuple[str, ...]:
    """Where the platform's own pods run: K3s' (kube-system), OpenFaaS', the data services',
    the edge's, cert-manager's and the monitoring stack's. Functions are the user's: their
    failures show as FunctionErrorRate."""
    names = {"kube-system", settings.openfaas.namespace, settings.data.namespace, settings.monitoring.namespace}
    if settings.edge.enabled:
        names |= {EDGE_NAMESPACE, CERT_MANAGER_NAMESPACE}
    return tuple(sorted(names))


def snapshot_limit_seconds(settings: Settings) -> int:
    """Twice the longest gap the etcd snapshot schedule allows."""
    return 2 * max_gap_seconds(settings.backups.schedule)


def _nodes(settings: Settings) -> list[Alert]:
    alerting = settings.alerting
    fs = 'job="node",fstype!~"tmpfs|ramfs|overlay|squashfs|nsfs|fuse.lxcfs"'
    return [
        Alert(
            "NodeNotReady",
            f'max by (node) (kube_node_status_condition{{{KSM},condition="Ready",status="true"}}) == 0',
            "critical",
            "Node {{ $labels.node }} is not Ready",
            "The kubelet on {{ $labels.node }} has not reported Ready for 5 minutes: its pods are not running or not reachable.",
        ),
        Alert(
            "NodeDiskFull",
            f"max by (instance, mountpoint) (100 * (1 - node_filesystem_avail_bytes{{{fs}}} / node_filesystem_size_bytes{{{fs}}})) "
            f"> {alerting.disk_percent}",
            "warning",
            "Disk {{ $labels.mountpoint }} on {{ $labels.instance }} is {{ $value | printf \"%.0f\" }}% full",
            f"More than {alerting.disk_percent}% (alertDiskPercent) of the filesystem is used for 10 minutes; "
            "at 85-90% the kubelet starts evicting pods and garbage-collecting images.",
            for_="10m",
        ),
        Alert(
            "NodeMemoryPressure",
            f'max by (node) (kube_node_status_condition{{{KSM},condition="MemoryPressure",status="true"}}) == 1 '
            f'or max by (instance) (100 * (1 - node_memory_MemAvailable_bytes{{job="node"}} / node_memory_MemTotal_bytes{{job="node"}})) '
            f"> {alerting.memory_percent}",
            "warning",
            "Memory pressure on {{ $labels.node }}{{ $labels.instance }}",
            f"The kubelet reports MemoryPressure (it evicts pods), or more than {alerting.memory_percent}% (alertMemoryPercent) "
            "of the node's memory is in use, for 5 minutes.",
        ),
    ]


def _platform(settings: Settings) -> list[Alert]:
    namespaces = "|".join(platform_namespaces(settings))
    where = f'{KSM},namespace=~"{namespaces}"'
    by = "max by (namespace, pod, container)"
    return [
        Alert(
            "PlatformPodCrashLooping",
            f'{by} (max_over_time(kube_pod_container_status_waiting_reason{{{where},reason="CrashLoopBackOff"}}[5m])) >= 1 '
            f"or {by} (increase(kube_pod_container_status_restarts_total{{{where}}}[15m])) > 3",
            "critical",
            "{{ $labels.namespace }}/{{ $labels.pod }} ({{ $labels.container }}) is crash-looping",
            f"A container of the platform ({namespaces.replace('|', ', ')}) is in CrashLoopBackOff or restarted more than 3 times "
            "in 15 minutes, for 5 minutes.",
        ),
    ]


def _certificates(settings: Settings) -> list[Alert]:
    days = CERT_DAYS * 86400
    return [
        Alert(
            "CertificateExpiringSoon",
            f'min by (namespace, name) (certmanager_certificate_expiration_timestamp_seconds{{job="cert-manager"}}) - time() < {days} '
            f'or min by (cn) (traefik_tls_certs_not_after{{job="traefik"}}) - time() < {days}',
            "warning",
            "Certificate {{ $labels.namespace }}/{{ $labels.name }}{{ $labels.cn }} expires in {{ $value | humanizeDuration }}",
            f"An edge certificate (cert-manager's, or one Traefik serves) expires within {CERT_DAYS} days: cert-manager renews "
            "30 days before expiry, so renewal has been failing for two weeks.",
            for_="1h",
        ),
        Alert(
            "K3sClientCertificateExpiring",
            "sum by (job, instance) (rate(apiserver_client_certificate_expiration_seconds_bucket"
            f'{{job="apiserver",le="{CLIENT_CERT_BUCKET}"}}[1h])) > 0',
            "warning",
            "A client certificate used with the API server on {{ $labels.instance }} expires within 30 days",
            "Requests reach the API server with a client certificate (a kubelet's, K3s' controllers', an admin kubeconfig's) that "
            "has less than 30 days left. The API server's histogram cannot tell 14 days from 29 (its buckets are 1 week and 30 days), "
            "so this fires at 30: K3s renews its certificates at a restart within 90 days of expiry, so one this close was not renewed.",
            for_="15m",
        ),
    ]


def _backups(settings: Settings) -> list[Alert]:
    limit = snapshot_limit_seconds(settings)
    hours = settings.alerting.backup_max_age_hours
    jobs = f'{KSM},namespace="{settings.data.namespace}",cronjob=~"{"|".join(BACKUP_CRONJOBS)}"'
    by = "max by (namespace, cronjob)"
    return [
        Alert(
            "EtcdSnapshotTooOld",
            f"time() - max by (node, bucket) ({SNAPSHOT_CREATED}{{{KSM}}} and on (name) ({SNAPSHOT_READY}{{{KSM}}} == 1)) > {limit}",
            "critical",
            'The newest etcd snapshot of {{ $labels.node }}{{ if and $labels.bucket (ne $labels.bucket "<nil>") }} in bucket '
            "{{ $labels.bucket }}{{ end }} is {{ $value | humanizeDuration }} old",
            f"No snapshot ready to restore from {{{{ $labels.node }}}} for more than {humanize(limit)}: twice the longest gap of "
            f"etcdSnapshotSchedule ({settings.backups.schedule!r}). A restore would lose everything since.",
            for_="10m",
        ),
        Alert(
            "DataBackupMissing",
            f"time() - {by} (kube_cronjob_status_last_successful_time{{{jobs}}}) > {hours * 3600} "
            f"or (time() - {by} (kube_cronjob_created{{{jobs}}}) > {hours * 3600} "
            f"unless on (namespace, cronjob) kube_cronjob_status_last_successful_time{{{jobs}}})",
            "critical",
            "Backup CronJob {{ $labels.namespace }}/{{ $labels.cronjob }} has not succeeded for {{ $value | humanizeDuration }}",
            f"The last successful run is older than {hours}h (alertBackupMaxAgeHours), or the CronJob has existed that long "
            "without ever succeeding.",
            for_="10m",
        ),
    ]


def _data(settings: Settings) -> list[Alert]:
    pending = settings.alerting.nats_pending
    by = "max by (account, stream_name, consumer_name)"
    valkey = 'job="valkey"'
    return [
        Alert(
            "NatsStreamBacklogGrowing",
            f'{by} (jetstream_consumer_num_pending{{job="nats"}}) > {pending} '
            f'and {by} (delta(jetstream_consumer_num_pending{{job="nats"}}[15m])) > 0',
            "warning",
            "Consumer {{ $labels.consumer_name }} of stream {{ $labels.stream_name }} has {{ $value }} messages pending",
            f"More than {pending} (alertNatsPendingMessages) messages wait for the consumer and the backlog grew over the last "
            "15 minutes: its subscriber (the queue-worker, a connector) is gone, stuck or slower than the traffic.",
            for_="10m",
        ),
        Alert(
            "ValkeyReplicationBroken",
            f"max by (instance) (redis_up{{{valkey}}}) == 0 "
            f"or max by (instance) (redis_master_link_up{{{valkey}}}) == 0 "
            f'or count by (job) (redis_instance_info{{{valkey},role="master"}}) > 1 '
            f'or absent(redis_instance_info{{{valkey},role="master"}})',
            "critical",
            "Valkey replication is broken{{ if $labels.instance }} on {{ $labels.instance }}{{ end }}",
            "A Valkey instance is down, a replica has lost its link to the primary, there is more than one primary (split brain), "
            "or none at all, for 5 minutes.",
        ),
        Alert(
            "ValkeyFailover",
            f'max by (instance) (max_over_time(redis_instance_info{{{valkey},role="master"}}[10m])) '
            f'unless on (instance) redis_instance_info{{{valkey},role="master"}}',
            "warning",
            "Valkey instance {{ $labels.instance }} was the primary in the last 10 minutes and is not now",
            "Sentinel failed over (or the primary went away): clients reconnect to the new primary; writes acknowledged by the "
            "old one and not yet replicated may be lost.",
            for_="0m",
        ),
    ]


def _functions(settings: Settings) -> list[Alert]:
    ratio = settings.alerting.function_error_ratio
    calls = 'gateway_function_invocation_total{job="openfaas-gateway"}'
    errors = 'gateway_function_invocation_total{job="openfaas-gateway",code=~"5.."}'
    return [
        Alert(
            "FunctionErrorRate",
            f"sum by (function_name) (rate({errors}[5m])) / sum by (function_name) (rate({calls}[5m])) > {ratio} "
            f"and sum by (function_name) (increase({calls}[5m])) >= {MIN_CALLS}",
            "critical",
            "Function {{ $labels.function_name }} fails {{ $value | humanizePercentage }} of its calls",
            f"More than {ratio:.0%} (alertFunctionErrorRatio) of the calls through the gateway answer 5xx, for 5 minutes "
            f"(counted when the function had at least {MIN_CALLS} calls in 5 minutes).",
        ),
    ]


GROUPS = (("nodes", _nodes), ("platform", _platform), ("certificates", _certificates), ("backups", _backups), ("data", _data),
          ("functions", _functions))


def alerts(settings: Settings) -> dict[str, list[Alert]]:
    """Group name -> its alerts."""
    return {name: build(settings) for name, build in GROUPS}


def rule_files(settings: Settings) -> dict[str, str]:
    """File name (`nodes.yml`) -> a Prometheus rule file, same settings, same bytes."""
    out = {}
    for name, group in alerts(settings).items():
        doc = {"groups": [{"name": name, "rules": [a.rule() for a in group]}]}
        out[f"{name}.yml"] = yaml.safe_dump(doc, sort_keys=False, default_flow_style=False, width=1000, allow_unicode=True)
    return out


def ksm_custom_resource_config() -> str:
    """kube-state-metrics' --custom-resource-state-config-file: K3s' ETCDSnapshotFile objects
    as metrics. K3s records every snapshot (on a server's disk and in S3) as one such
    cluster-scoped object; kube-state-metrics reads custom resources only through this config
    (pkg/customresourcestate: a Gauge's string value in RFC 3339 becomes its Unix time,
    registry_factory.go toFloat64; metric names are metricNamePrefix_name). Its ServiceAccount
    needs list and watch on etcdsnapshotfiles.k3s.cattle.io."""
    resource = {
        "groupVersionKind": {"group": "k3s.cattle.io", "version": "v1", "kind": "ETCDSnapshotFile"},
        "metricNamePrefix": SNAPSHOT_PREFIX,
        # spec.nodeName: the server that took it; spec.s3.bucket: set on the copy in S3 (k3s
        # pkg/etcd/snapshot.go reads spec.s3 to tell the two apart), so the local snapshots and
        # the uploads are watched apart: uploads can stop while local snapshots go on. A local
        # one has no spec.s3: kube-state-metrics leaves the label empty, or writes "<nil>" in
        # releases whose addPathLabels formats a missing value with %v; either groups apart.
        "labelsFromPath": {"name": ["metadata", "name"], "node": ["spec", "nodeName"], "bucket": ["spec", "s3", "bucket"]},
        "metrics": [
            {
                "name": SNAPSHOT_CREATED.removeprefix(f"{SNAPSHOT_PREFIX}_"),
                "help": "When etcd took the snapshot (status.creationTime), Unix seconds.",
                "each": {"type": "Gauge", "gauge": {"path": ["status", "creationTime"]}},
            },
            {
                "name": SNAPSHOT_READY.removeprefix(f"{SNAPSHOT_PREFIX}_"),
                "help": "1 when the snapshot can be restored from (status.readyToUse).",
                "each": {"type": "Gauge", "gauge": {"path": ["status", "readyToUse"], "nilIsZero": True}},
            },
        ],
    }
    doc = {"kind": "CustomResourceStateMetrics", "spec": {"resources": [resource]}}
    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=False)

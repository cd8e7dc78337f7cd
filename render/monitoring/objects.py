"""The monitoring stack's Kubernetes objects, as data (components/monitoring.py registers them).

    Prometheus          StatefulSet, its TSDB on a local-path volume, retention by time and size
    Alertmanager        Deployment (silences and notification state on an emptyDir)
    Grafana             StatefulSet, its database on a local-path volume; datasource and
                        dashboards provisioned from ConfigMaps; ClusterIP only
    node-exporter       DaemonSet on every node, on the host network
    kube-state-metrics  Deployment, reading the API (never Secrets or ConfigMaps)
    nats-/redis-exporter  Deployments in the data namespace (render/monitoring/exporters.py)

Sizes are for a 2-4 vCPU VPS: every container states its requests and limits (RESOURCES),
and docs/operations/monitoring.md gives what they add up to per node (`requested`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from render import stateful as data
from render.monitoring import alertmanager, ports, scrape
from render.monitoring.exporters import manifests as exporter_manifests
from settings import versions
from settings.monitoring import MonitoringSettings
from upstream.kubernetes import parse_quantity

NOBODY = 65534  # the user the Prometheus project's images run as
CONFIG_DIR = "/etc/prometheus/config"
PROMETHEUS_FILE = "prometheus.yml"
TSDB_DIR = "/prometheus"
ALERTMANAGER_DIR = "/etc/alertmanager"
ALERTMANAGER_SECRETS = "alertmanager-secrets"  # the receivers' passwords and URLs (alerting), optional
GRAFANA_SECRET = "grafana-admin"  # keys admin-password, secret-key (components/monitoring.py)
GRAFANA_SECRET_DIR = "/etc/grafana/secrets"
GRAFANA_CONFIG_DIR = "/etc/grafana/config"
GRAFANA_PROVISIONING = "/etc/grafana/provisioning"
GRAFANA_DASHBOARDS = "/var/lib/grafana-dashboards"
GRAFANA_DATA = "/var/lib/grafana"
KSM_CONFIG = "kube-state-metrics-config"  # the custom-resource-state config (rules.ksm_custom_resource_config)
KSM_CONFIG_DIR = "/etc/kube-state-metrics"
KSM_CONFIG_FILE = "custom-resource-state.yml"

# (requests, limits) per container; Prometheus' memory is the setting (request = limit).
RESOURCES = {
    "alertmanager": ({"cpu": "10m", "memory": "32Mi"}, {"cpu": "200m", "memory": "64Mi"}),
    "grafana": ({"cpu": "50m", "memory": "128Mi"}, {"cpu": "500m", "memory": "384Mi"}),
    "node-exporter": ({"cpu": "20m", "memory": "24Mi"}, {"cpu": "200m", "memory": "64Mi"}),
    "kube-state-metrics": ({"cpu": "20m", "memory": "48Mi"}, {"cpu": "200m", "memory": "128Mi"}),
}
# Read-only cluster access for Prometheus' discovery and the node proxy (kubelet, cAdvisor),
# and the API server's own /metrics.
PROMETHEUS_RULES = [
    {"apiGroups": [""], "resources": ["nodes", "nodes/metrics", "nodes/proxy", "services", "endpoints", "pods"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["get", "list", "watch"]},
    {"nonResourceURLs": ["/metrics"], "verbs": ["get"]},
]
# kube-state-metrics' resources (its --resources): the upstream default list without
# secrets and configmaps, so its token cannot read a Secret (examples/standard/cluster-role.yaml
# at v2.20.0 lists both), nor the admission, RBAC and lease objects nobody here graphs.
KSM_RESOURCES = {
    "": ["namespaces", "nodes", "persistentvolumeclaims", "persistentvolumes", "pods", "services"],
    "apps": ["daemonsets", "deployments", "replicasets", "statefulsets"],
    "batch": ["cronjobs", "jobs"],
    "autoscaling": ["horizontalpodautoscalers"],
}
# The custom resources of its --custom-resource-state-config-file, and how it finds them.
# kubernetes/kube-state-metrics v2.20.0: internal/discovery/discovery.go StartDiscovery watches
# customresourcedefinitions.apiextensions.k8s.io to learn which configured kinds are served,
# and its custom-resource-state page (metrics/extend/customresourcestate-metrics.md in its docs,
# "RBAC-enabled Clusters") asks list and
# watch on them and on the resources read. Not in --resources: PollForCacheUpdates enables each
# discovered custom resource itself (storeBuilder.WithEnabledResources), while a name in
# --resources must be a built-in store at start (internal/store/builder.go WithEnabledResources
# refuses any other: "resource ... does not exist").
KSM_CUSTOM_RESOURCES = {
    "apiextensions.k8s.io": ["customresourcedefinitions"],
    "k3s.cattle.io": ["etcdsnapshotfiles"],  # K3s' ETCDSnapshotFile (rules.ksm_custom_resource_config)
}


def resources(name: str) -> dict[str, Any]:
    requests, limits = RESOURCES[name]
    return {"requests": dict(requests), "limits": dict(limits)}


def retention_size(settings: MonitoringSettings) -> str:
    """--storage.tsdb.retention.size in Prometheus' units (alecthomas/units Base2Bytes: MB is 2^20)."""
    return f"{int(parse_quantity(settings.retention_size)) // 2**20}MB"


@dataclass(frozen=True)
class Inputs:
    """What the objects are made of besides the settings: the scrape targets, and the text the
    alerting side renders (rule files, dashboards, alertmanager.yml)."""

    targets: scrape.ScrapeTargets
    rule_files: Mapping[str, str]
    dashboards: Mapping[str, str]
    alertmanager_config: str
    ksm_config: str  # kube-state-metrics' custom-resource-state config (rules.ksm_custom_resource_config)


# --- RBAC -----------------------------------------------------------------------------------


def service_account(name: str, ns: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": ns, "labels": data.labels(name)}}


def cluster_role(name: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": f"monitoring-{name}", "labels": data.labels(name)}, "rules": rules}


def cluster_role_binding(name: str, ns: str) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": f"monitoring-{name}", "labels": data.labels(name)},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": f"monitoring-{name}"},
        "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": ns}],
    }


def ksm_rules() -> list[dict[str, Any]]:
    groups = {**KSM_RESOURCES, **KSM_CUSTOM_RESOURCES}
    return [{"apiGroups": [group], "resources": sorted(res), "verbs": ["list", "watch"]} for group, res in groups.items()]


def rbac(name: str, ns: str, rules: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        f"{name}-serviceaccount": service_account(name, ns),
        f"{name}-clusterrole": cluster_role(name, rules),
        f"{name}-clusterrolebinding": cluster_role_binding(name, ns),
    }


# --- shared shapes --------------------------------------------------------------------------


def _http_probe(path: str, port: str, period: int, failures: int = 3) -> dict[str, Any]:
    return {"httpGet": {"path": path, "port": port, "scheme": "HTTP"}, "periodSeconds": period, "timeoutSeconds": 5, "failureThreshold": failures}


def _security(user: int = data.RUN_AS) -> dict[str, Any]:
    return {**data.POD_SECURITY, "runAsUser": user, "runAsGroup": user, "fsGroup": user}




def _with_token(statefulset: dict[str, Any], account: str) -> dict[str, Any]:
    """render/stateful.py's StatefulSet gives no API token; Prometheus needs its account's."""
    pod = statefulset["spec"]["template"]["spec"]
    pod["serviceAccountName"] = account
    pod["automountServiceAccountToken"] = True
    return statefulset


# --- Prometheus -----------------------------------------------------------------------------


def prometheus_container(settings: MonitoringSettings) -> dict[str, Any]:
    return {
        "name": "prometheus",
        "image": versions.PROMETHEUS_IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "args": prometheus_args(settings, CONFIG_DIR, TSDB_DIR),
        "env": [{"name": "GOMEMLIMIT", "value": data.gomemlimit(settings.prometheus_memory)}],
        "ports": [{"name": "http", "containerPort": ports.PROMETHEUS, "protocol": "TCP"}],
        "resources": data.resources(settings.prometheus_cpu, settings.prometheus_memory),
        # Replaying the write-ahead log after a restart takes a while on a slow disk: up to
        # 10 minutes before liveness counts.
        "startupProbe": _http_probe("/-/ready", "http", period=5, failures=120),
        "livenessProbe": _http_probe("/-/healthy", "http", period=15),
        "readinessProbe": _http_probe("/-/ready", "http", period=5),
        "securityContext": dict(data.CONTAINER_SECURITY),
        "volumeMounts": [
            {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
            {"name": "rules", "mountPath": scrape.RULES_DIR, "readOnly": True},
            {"name": data.DATA_VOLUME, "mountPath": TSDB_DIR},
        ],
    }


def prometheus_args(settings: MonitoringSettings, config_dir: str, tsdb_dir: str) -> list[str]:
    """Flags both Prometheus 3 and 2.42 take (the tests start Debian's 2.42 with these)."""
    return [
        f"--config.file={config_dir}/{PROMETHEUS_FILE}",
        f"--storage.tsdb.path={tsdb_dir}",
        f"--storage.tsdb.retention.time={settings.retention}",
        f"--storage.tsdb.retention.size={retention_size(settings)}",
        f"--web.listen-address=:{ports.PROMETHEUS}",
    ]


def prometheus_objects(settings: MonitoringSettings, inputs: Inputs) -> dict[str, dict[str, Any]]:
    ns = inputs.targets.namespace
    text = scrape.render(scrape.prometheus_config(inputs.targets))
    rule_text = "".join(f"{k}\n{v}" for k, v in sorted(inputs.rule_files.items()))
    volumes = [
        {"name": "config", "configMap": {"name": "prometheus-config"}},
        {"name": "rules", "configMap": {"name": "prometheus-rules"}},
    ]
    statefulset = data.stateful_set(
        "prometheus",
        ns,
        "prometheus",
        prometheus_container(settings),
        volumes,
        settings.storage,
        # Prometheus rereads neither file by itself: a change rolls the pod.
        {"checksum/config": data.checksum(text + rule_text)},
        _security(NOBODY),
    )
    return {
        **rbac("prometheus", ns, PROMETHEUS_RULES),
        "prometheus-config": data.config_map("prometheus-config", ns, "prometheus", {PROMETHEUS_FILE: text}),
        "prometheus-rules": data.config_map("prometheus-rules", ns, "prometheus", dict(sorted(inputs.rule_files.items()))),
        "prometheus-service": data.service("prometheus", ns, "prometheus", {"http": ports.PROMETHEUS}),
        "prometheus-statefulset": _with_token(statefulset, "prometheus"),
    }


# --- Alertmanager ---------------------------------------------------------------------------


def alertmanager_objects(inputs: Inputs) -> dict[str, dict[str, Any]]:
    ns = inputs.targets.namespace
    container = {
        "name": "alertmanager",
        "image": versions.ALERTMANAGER_IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "args": [
            f"--config.file={ALERTMANAGER_DIR}/config/alertmanager.yml",
            "--storage.path=/alertmanager",
            f"--web.listen-address=:{ports.ALERTMANAGER}",
            # One Alertmanager: no gossip port (9094) listening for peers.
            "--cluster.listen-address=",
        ],
        "ports": [{"name": "http", "containerPort": ports.ALERTMANAGER, "protocol": "TCP"}],
        "resources": resources("alertmanager"),
        "livenessProbe": _http_probe("/-/healthy", "http", period=15),
        "readinessProbe": _http_probe("/-/ready", "http", period=5),
        "securityContext": dict(data.CONTAINER_SECURITY),
        "volumeMounts": [
            {"name": "config", "mountPath": f"{ALERTMANAGER_DIR}/config", "readOnly": True},
            # Where alertmanager.yml's *_file keys point (render/monitoring/alertmanager.py).
            {"name": "secrets", "mountPath": alertmanager.SECRETS_DIR, "readOnly": True},
            {"name": "state", "mountPath": "/alertmanager"},
        ],
    }
    pod = {
        "containers": [container],
        "volumes": [
            {"name": "config", "configMap": {"name": "alertmanager-config"}},
            # The receivers' credentials, when the alerting settings name any: the component
            # registers the Secret only then, and a missing optional Secret mounts empty.
            {"name": "secrets", "secret": {"secretName": ALERTMANAGER_SECRETS, "defaultMode": 0o440, "optional": True}},
            {"name": "state", "emptyDir": {"sizeLimit": "64Mi"}},
        ],
        "securityContext": _security(NOBODY),
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
    }
    text = inputs.alertmanager_config
    return {
        "alertmanager-config": data.config_map("alertmanager-config", ns, "alertmanager", {"alertmanager.yml": text}),
        "alertmanager-service": data.service("alertmanager", ns, "alertmanager", {"http": ports.ALERTMANAGER}),
        "alertmanager-deployment": data.deployment("alertmanager", ns, pod, {"checksum/config": data.checksum(text)}),
    }


# --- Grafana --------------------------------------------------------------------------------

# grafana.ini: the keys that would send data out of the country are off (Grafana's
# conf/defaults.ini names each: [analytics] reporting to stats.grafana.org and the version
# checks, [security] gravatar images, [snapshots] publishing to snapshots.raintank.io, [news]
# the grafana.com feed, [plugins] the preinstaller and signing-key fetch from grafana.com).
GRAFANA_INI: dict[str, dict[str, str]] = {
    "server": {"http_port": str(ports.GRAFANA), "root_url": f"http://localhost:{ports.GRAFANA}/"},
    "analytics": {
        "reporting_enabled": "false",
        "check_for_updates": "false",
        "check_for_plugin_updates": "false",
        "feedback_links_enabled": "false",
    },
    "security": {"admin_user": "admin", "disable_gravatar": "true", "cookie_samesite": "strict"},
    "snapshots": {"external_enabled": "false"},
    "news": {"news_feed_enabled": "false"},
    "plugins": {"preinstall_disabled": "true", "public_key_retrieval_disabled": "true", "plugin_admin_enabled": "false"},
    "users": {"allow_sign_up": "false"},
    "auth.anonymous": {"enabled": "false"},
    "log": {"mode": "console"},
}
# Data-leaving paths, by grafana.ini section and key, and the value that closes each.
PHONE_HOME_KEYS = {
    ("analytics", "reporting_enabled"): "false",
    ("analytics", "check_for_updates"): "false",
    ("analytics", "check_for_plugin_updates"): "false",
    ("analytics", "feedback_links_enabled"): "false",
    ("security", "disable_gravatar"): "true",
    ("snapshots", "external_enabled"): "false",
    ("news", "news_feed_enabled"): "false",
    ("plugins", "preinstall_disabled"): "true",
    ("plugins", "public_key_retrieval_disabled"): "true",
}


def ini(sections: Mapping[str, Mapping[str, str]]) -> str:
    return "\n".join(f"[{name}]\n" + "".join(f"{k} = {v}\n" for k, v in keys.items()) for name, keys in sections.items())


def grafana_datasources(ns: str) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": 1,
            "datasources": [
                {
                    "name": "Prometheus",
                    "uid": "prometheus",
                    "type": "prometheus",
                    "access": "proxy",
                    "url": f"http://{scrape.host('prometheus', ns, ports.PROMETHEUS)}",
                    "isDefault": True,
                    "editable": False,
                }
            ],
        },
        sort_keys=False,
    )


def grafana_dashboard_provider() -> str:
    return yaml.safe_dump(
        {
            "apiVersion": 1,
            "providers": [
                {
                    "name": "sovereign-faas",
                    "folder": "sovereign-faas",
                    "type": "file",
                    "disableDeletion": True,
                    "allowUiUpdates": False,  # the dashboards are code: edits go through the repository
                    "options": {"path": GRAFANA_DASHBOARDS},
                }
            ],
        },
        sort_keys=False,
    )


def grafana_container() -> dict[str, Any]:
    return {
        "name": "grafana",
        "image": versions.GRAFANA_IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "env": [
            # The image's run.sh starts grafana with these paths.
            {"name": "GF_PATHS_CONFIG", "value": f"{GRAFANA_CONFIG_DIR}/grafana.ini"},
            {"name": "GF_PATHS_DATA", "value": GRAFANA_DATA},
            {"name": "GF_PATHS_LOGS", "value": f"{GRAFANA_DATA}/log"},
            {"name": "GF_PATHS_PLUGINS", "value": f"{GRAFANA_DATA}/plugins"},
            {"name": "GF_PATHS_PROVISIONING", "value": GRAFANA_PROVISIONING},
            # `__FILE`: Grafana reads the value from the file (the Secret), not the variable.
            {"name": "GF_SECURITY_ADMIN_PASSWORD__FILE", "value": f"{GRAFANA_SECRET_DIR}/admin-password"},
            {"name": "GF_SECURITY_SECRET_KEY__FILE", "value": f"{GRAFANA_SECRET_DIR}/secret-key"},
        ],
        "ports": [{"name": "http", "containerPort": ports.GRAFANA, "protocol": "TCP"}],
        "resources": resources("grafana"),
        "startupProbe": _http_probe("/api/health", "http", period=5, failures=60),  # database migrations at first start
        "livenessProbe": _http_probe("/api/health", "http", period=15),
        "readinessProbe": _http_probe("/api/health", "http", period=5),
        "securityContext": dict(data.CONTAINER_SECURITY),
        "volumeMounts": [
            {"name": "config", "mountPath": GRAFANA_CONFIG_DIR, "readOnly": True},
            {"name": "secrets", "mountPath": GRAFANA_SECRET_DIR, "readOnly": True},
            {"name": "datasources", "mountPath": f"{GRAFANA_PROVISIONING}/datasources", "readOnly": True},
            {"name": "dashboard-provider", "mountPath": f"{GRAFANA_PROVISIONING}/dashboards", "readOnly": True},
            {"name": "dashboards", "mountPath": GRAFANA_DASHBOARDS, "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
            {"name": data.DATA_VOLUME, "mountPath": GRAFANA_DATA},
        ],
    }


def grafana_objects(settings: MonitoringSettings, inputs: Inputs) -> dict[str, dict[str, Any]]:
    ns = inputs.targets.namespace
    files = {
        "grafana-config": {"grafana.ini": ini(GRAFANA_INI)},
        "grafana-datasources": {"prometheus.yml": grafana_datasources(ns)},
        "grafana-dashboard-provider": {"sovereign-faas.yml": grafana_dashboard_provider()},
        "grafana-dashboards": dict(sorted(inputs.dashboards.items())),
    }
    volumes = [
        {"name": "config", "configMap": {"name": "grafana-config"}},
        {"name": "secrets", "secret": {"secretName": GRAFANA_SECRET, "defaultMode": 0o440}},
        {"name": "datasources", "configMap": {"name": "grafana-datasources"}},
        {"name": "dashboard-provider", "configMap": {"name": "grafana-dashboard-provider"}},
        {"name": "dashboards", "configMap": {"name": "grafana-dashboards"}},
        {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
    ]
    # Dashboards are reread by the provider; the rest only at start.
    checksum = data.checksum("".join(yaml.safe_dump(files[k], sort_keys=True) for k in ("grafana-config", "grafana-datasources", "grafana-dashboard-provider")))
    statefulset = data.stateful_set("grafana", ns, "grafana", grafana_container(), volumes, settings.grafana_storage, {"checksum/config": checksum}, _security())
    return {
        **{role: data.config_map(role, ns, "grafana", content) for role, content in files.items()},
        # ClusterIP, admitting no one: kubectl port-forward (docs/operations/monitoring.md).
        "grafana-service": data.service("grafana", ns, "grafana", {"http": ports.GRAFANA}),
        "grafana-statefulset": statefulset,
    }


# --- node-exporter, kube-state-metrics -------------------------------------------------------

# What node-exporter skips: the container runtime's and kubelet's own mounts (one per pod).
FS_EXCLUDE = "^/(dev|proc|sys|run/k3s/containerd/.+|var/lib/kubelet/.+|var/lib/rancher/k3s/agent/containerd/.+)($|/)"


def node_exporter_daemonset(ns: str) -> dict[str, Any]:
    host_paths = {"proc": "/proc", "sys": "/sys", "root": "/"}
    container = {
        "name": "node-exporter",
        "image": versions.NODE_EXPORTER_IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "args": [
            "--path.procfs=/host/proc",
            "--path.sysfs=/host/sys",
            "--path.rootfs=/host/root",
            # The node's own address, not every interface: the host firewall admits it from
            # the pods and the other nodes only (render/node/firewall.py).
            f"--web.listen-address=$(HOST_IP):{ports.NODE_EXPORTER}",
            f"--collector.filesystem.mount-points-exclude={FS_EXCLUDE}",
        ],
        "env": [{"name": "HOST_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}}],
        "ports": [{"name": "metrics", "containerPort": ports.NODE_EXPORTER, "protocol": "TCP"}],
        "resources": resources("node-exporter"),
        "livenessProbe": _http_probe("/", "metrics", period=30),
        "readinessProbe": _http_probe("/", "metrics", period=10),
        "securityContext": dict(data.CONTAINER_SECURITY),
        "volumeMounts": [
            {"name": name, "mountPath": f"/host/{name}", "readOnly": True, **({"mountPropagation": "HostToContainer"} if name == "root" else {})}
            for name in host_paths
        ],
    }
    pod = {
        "containers": [container],
        "volumes": [{"name": name, "hostPath": {"path": path, "type": "Directory"}} for name, path in host_paths.items()],
        # The node's network and processes, as node-exporter's README deploys it.
        "hostNetwork": True,
        "hostPID": True,
        "securityContext": _security(NOBODY),
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "tolerations": [{"operator": "Exists"}],  # every node, tainted servers too
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "node-exporter", "namespace": ns, "labels": data.labels("node-exporter")},
        "spec": {
            "selector": {"matchLabels": data.selector("node-exporter")},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
            "template": {"metadata": {"labels": data.labels("node-exporter")}, "spec": pod},
        },
    }


def kube_state_metrics_objects(ns: str, custom_resource_config: str) -> dict[str, dict[str, Any]]:
    enabled = ",".join(sorted(r for res in KSM_RESOURCES.values() for r in res))
    container = {
        "name": "kube-state-metrics",
        "image": versions.KUBE_STATE_METRICS_IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "args": [
            f"--port={ports.KUBE_STATE_METRICS}",
            f"--telemetry-port={ports.KUBE_STATE_METRICS_TELEMETRY}",
            f"--resources={enabled}",
            # K3s' etcd snapshots as metrics (KSM_CUSTOM_RESOURCES says why not in --resources).
            # It rereads the file when it changes (internal/wrapper.go watches it and restarts).
            f"--custom-resource-state-config-file={KSM_CONFIG_DIR}/{KSM_CONFIG_FILE}",
        ],
        "ports": [
            {"name": "http-metrics", "containerPort": ports.KUBE_STATE_METRICS, "protocol": "TCP"},
            {"name": "telemetry", "containerPort": ports.KUBE_STATE_METRICS_TELEMETRY, "protocol": "TCP"},
        ],
        "resources": resources("kube-state-metrics"),
        # As upstream's examples/standard/deployment.yaml probes it.
        "livenessProbe": _http_probe("/livez", "http-metrics", period=10),
        "readinessProbe": _http_probe("/readyz", "telemetry", period=10),
        "securityContext": dict(data.CONTAINER_SECURITY),
        "volumeMounts": [{"name": "config", "mountPath": KSM_CONFIG_DIR, "readOnly": True}],
    }
    pod = {
        "containers": [container],
        "volumes": [{"name": "config", "configMap": {"name": KSM_CONFIG}}],
        "serviceAccountName": "kube-state-metrics",
        "automountServiceAccountToken": True,
        "securityContext": _security(NOBODY),
        "enableServiceLinks": False,
    }
    return {
        **rbac("kube-state-metrics", ns, ksm_rules()),
        KSM_CONFIG: data.config_map(KSM_CONFIG, ns, "kube-state-metrics", {KSM_CONFIG_FILE: custom_resource_config}),
        "kube-state-metrics-deployment": data.deployment("kube-state-metrics", ns, pod),
    }


# --- all of it ------------------------------------------------------------------------------


def manifests(settings: MonitoringSettings, inputs: Inputs) -> dict[str, dict[str, Any]]:
    """Every object of the monitoring stack but its Secrets and NetworkPolicies, by role."""
    ns = inputs.targets.namespace
    return {
        **prometheus_objects(settings, inputs),
        **alertmanager_objects(inputs),
        **grafana_objects(settings, inputs),
        "node-exporter-daemonset": node_exporter_daemonset(ns),
        **kube_state_metrics_objects(ns, inputs.ksm_config),
        **exporter_manifests(inputs.targets.data_namespace, inputs.targets.data_replicas),
    }


def containers_of(obj: Mapping[str, Any]) -> list[dict[str, Any]]:
    spec = obj.get("spec") or {}
    return list(((spec.get("template") or {}).get("spec") or {}).get("containers") or [])


@dataclass(frozen=True)
class Requested:
    """CPU (cores) and memory (bytes) the stack's pods request."""

    cpu: float
    memory: float

    def __add__(self, other: Requested) -> Requested:
        return Requested(self.cpu + other.cpu, self.memory + other.memory)

    def __str__(self) -> str:
        return f"{round(self.cpu * 1000)}m CPU, {round(self.memory / 2**20)}Mi memory"


def requested(objects: Iterable[Mapping[str, Any]]) -> tuple[Requested, Requested]:
    """(on every node, on the one node that runs the rest): the DaemonSets' requests, and
    every other workload's, as the scheduler counts them."""
    per_node, rest = Requested(0, 0), Requested(0, 0)
    for obj in objects:
        total = Requested(0, 0)
        for c in containers_of(obj):
            req = (c.get("resources") or {}).get("requests") or {}
            total += Requested(float(parse_quantity(req.get("cpu", "0"))), float(parse_quantity(req.get("memory", "0"))))
        if obj.get("kind") == "DaemonSet":
            per_node += total
        else:
            rest += total
    return per_node, rest

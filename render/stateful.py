"""What NATS and Redis share: how their sizes are read, and the shape of a stateful service
on K3s (a StatefulSet on local-path storage, a ClusterIP Service, a NetworkPolicy; when
replicated, one replica per node, a headless Service for their DNS names and a
PodDisruptionBudget).

Why a StatefulSet and not a Deployment with a PVC: a StatefulSet never runs two pods on the
same data directory (a Deployment's rolling update would start the new Redis or NATS next to
the old one on the same AOF/JetStream files unless told to `Recreate`), and its volume claim
outlives the workload (`Retain`), so removing the component or replacing the StatefulSet keeps
the data. The price: `volumeClaimTemplates` cannot change in place, so a new storage size
replaces the StatefulSet and the existing claim keeps its old size (local-path does not
enforce sizes anyway: the servers' own limits, rendered from the same setting, do).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from render import policies
from render.labels import MANAGED_BY
from upstream.kubernetes import parse_quantity

STORAGE_CLASS = "local-path"  # K3s' bundled provisioner: a directory on the node
DATA_VOLUME = "data"
# Any uid without a passwd entry works for these static servers; above 10000 it cannot be a
# host system user. local-path creates volume directories 0777, so no chown is needed.
RUN_AS = 10001
CPU_REQUEST = 0.1  # cores requested at most; the limit is the setting


def quantity_value(text: str) -> float:
    """'512Mi' -> 536870912.0, '500m' -> 0.5 (the settings have checked the text)."""
    return float(parse_quantity(text))


def resources(cpu_limit: str, memory_limit: str) -> dict[str, Any]:
    """Memory requested = limit: a stateful server must not be the one the node evicts when
    memory runs short. CPU: a small request, bursts up to the limit."""
    cpu_request = cpu_limit if quantity_value(cpu_limit) < CPU_REQUEST else f"{int(CPU_REQUEST * 1000)}m"
    return {
        "requests": {"cpu": cpu_request, "memory": memory_limit},
        "limits": {"cpu": cpu_limit, "memory": memory_limit},
    }


def gomemlimit(memory_limit: str) -> str:
    """GOMEMLIMIT for a Go server in a container: 90% of the limit, so the GC works harder
    before the kernel's OOM killer does."""
    return f"{int(quantity_value(memory_limit) * 0.9) // 2**20}MiB"


# --- objects ---------------------------------------------------------------------------------


def labels(app: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": app, **MANAGED_BY}


def selector(app: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": app}


def checksum(text: str) -> str:
    """Pod-template annotation value: a config change rolls the pod (neither server rereads
    its file by itself)."""
    return hashlib.sha256(text.encode()).hexdigest()


def config_map(name: str, ns: str, app: str, files: Mapping[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": ns, "labels": labels(app)},
        "data": dict(files),
    }


def service(name: str, ns: str, app: str, ports: Mapping[str, int]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": ns, "labels": labels(app)},
        "spec": {
            "type": "ClusterIP",
            "selector": selector(app),
            "ports": [{"name": port_name, "port": port, "targetPort": port_name, "protocol": "TCP"} for port_name, port in ports.items()],
        },
    }


def headless_service(name: str, ns: str, app: str, ports: Mapping[str, int]) -> dict[str, Any]:
    """The governing Service of a replicated set: a DNS name per pod (`<pod>.<name>`), published
    before the pod is ready, because the replicas must find each other to become ready."""
    obj = service(name, ns, app, ports)
    obj["spec"] = {**obj["spec"], "clusterIP": "None", "publishNotReadyAddresses": True}
    return obj


def headless_name(name: str) -> str:
    return f"{name}-headless"


def pod_host(name: str, ns: str, ordinal: int) -> str:
    """The stable DNS name of replica `ordinal` of StatefulSet `name` (its headless Service)."""
    return f"{name}-{ordinal}.{headless_name(name)}.{ns}.svc.cluster.local"


def disruption_budget(name: str, ns: str, app: str) -> dict[str, Any]:
    """At most one replica down by eviction (drain, upgrades, node removal): 3 keep 2, a
    majority. Drain waits on it (k3s-drain.sh): the second node's drain cannot start evicting
    until the first node's replica is back and ready. Single replicas get none: a budget that
    allows no eviction would block every drain until its timeout."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": name, "namespace": ns, "labels": labels(app)},
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector(app)}},
    }


def one_per_node(app: str) -> dict[str, Any]:
    """Required anti-affinity on the node's hostname: two replicas on one node would be lost
    together. A replica that finds no free node stays Pending rather than doubling up."""
    return {
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": selector(app)}, "topologyKey": "kubernetes.io/hostname"}
            ]
        }
    }


def ingress_policy(name: str, ns: str, pod_selector: Mapping[str, str], admitted: Mapping[int, tuple[str, ...]]) -> dict[str, Any]:
    """Ingress to the selected pods: only from the named namespaces, each on its ports
    (port -> namespaces)."""
    rules = [policies.rule([policies.peer(n) for n in namespaces], [port]) for port, namespaces in admitted.items() if namespaces]
    return policies.ingress_policy(name, ns, {"matchLabels": dict(pod_selector)}, rules)


POD_SECURITY: dict[str, Any] = {
    "runAsNonRoot": True,
    "runAsUser": RUN_AS,
    "runAsGroup": RUN_AS,
    "fsGroup": RUN_AS,  # mounted Secrets are group-readable (mode 0440) by this group only
    "seccompProfile": {"type": "RuntimeDefault"},
}
CONTAINER_SECURITY: dict[str, Any] = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,  # both servers write only to their data volume
    "capabilities": {"drop": ["ALL"]},
}


def deployment(app: str, ns: str, pod: Mapping[str, Any], annotations: Mapping[str, str] | None = None) -> dict[str, Any]:
    """One replica of `pod`, labelled and selected by `app` (annotations on its template)."""
    template: dict[str, Any] = {"metadata": {"labels": labels(app)}, "spec": dict(pod)}
    if annotations:
        template["metadata"]["annotations"] = dict(annotations)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": app, "namespace": ns, "labels": labels(app)},
        "spec": {"replicas": 1, "selector": {"matchLabels": selector(app)}, "template": template},
    }


def gateway_client(
    app: str, namespace: str, container: dict[str, Any], auth_mount: str, deployment_spec: Mapping[str, Any]
) -> dict[str, dict[str, Any]]:
    """A connector that calls functions through the gateway (the nats- and the cron-connector):
    one Deployment with Secret basic-auth mounted read-only at `auth_mount`, no API token, no
    service links, and a NetworkPolicy admitting no ingress (it listens on nothing).
    `deployment_spec` adds to the Deployment's spec (replicas, strategy)."""
    pod = {
        "containers": [
            {
                "name": app,
                "imagePullPolicy": "IfNotPresent",
                **container,
                "securityContext": dict(CONTAINER_SECURITY),
                "volumeMounts": [{"name": "auth", "mountPath": auth_mount, "readOnly": True}],
            }
        ],
        "volumes": [{"name": "auth", "secret": {"secretName": "basic-auth", "defaultMode": 0o440}}],
        "securityContext": dict(POD_SECURITY),
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
    }
    return {
        "deployment": {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": app, "namespace": namespace, "labels": labels(app)},
            "spec": {
                **deployment_spec,
                "selector": {"matchLabels": selector(app)},
                "template": {"metadata": {"labels": labels(app)}, "spec": pod},
            },
        },
        "policy": ingress_policy(app, namespace, selector(app), {}),
    }


def stateful_set(
    name: str,
    ns: str,
    app: str,
    container: dict[str, Any],
    volumes: list[dict[str, Any]],
    storage: str,
    annotations: Mapping[str, str],
    pod_security: Mapping[str, Any] = POD_SECURITY,
    replicas: int = 1,
    init_containers: list[dict[str, Any]] | None = None,
    sidecars: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """`replicas` servers, each with its own volume claim on local-path (see the module
    docstring). Replicated: one per node, governed by the headless Service, started together
    (`Parallel`: a clustered server is ready only once it has found its peers, so ordered
    start-up would wait forever for replica 0)."""
    pod: dict[str, Any] = {
        **({"initContainers": init_containers} if init_containers else {}),
        "containers": [container, *(sidecars or [])],
        "volumes": volumes,
        "securityContext": dict(pod_security),
        # Servers, not API clients: no token, and no environment variables for every Service.
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        **({"affinity": one_per_node(app)} if replicas > 1 else {}),
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name, "namespace": ns, "labels": labels(app)},
        "spec": {
            # The governing Service; required before Kubernetes 1.33 (k3sVersion may be older).
            # Not headless for one replica: it needs no per-pod DNS names.
            "serviceName": headless_name(name) if replicas > 1 else name,
            "replicas": replicas,
            **({"podManagementPolicy": "Parallel"} if replicas > 1 else {}),
            "selector": {"matchLabels": selector(app)},
            "updateStrategy": {"type": "RollingUpdate"},
            "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
            "template": {"metadata": {"labels": labels(app), "annotations": dict(annotations)}, "spec": pod},
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": DATA_VOLUME, "labels": labels(app)},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "storageClassName": STORAGE_CLASS,
                        "resources": {"requests": {"storage": storage}},
                    },
                }
            ],
        },
    }



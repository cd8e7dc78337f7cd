"""`make check` (tools/check.py) against real servers on 127.0.0.1.

What is real here: nats-server and redis-server with the stack's rendered configs (the
functions' NATS user and Valkey password), tools/checking/probe.sh run by sh against them (with
redis-cli for valkey-cli and tests/data/check/nc for busybox nc), a fake nats-connector that is
a real NATS subscriber with the connector's credentials, TLS handshakes with certificates made by
openssl, and the nodes' nft drop counter in a network namespace holding the rendered output
policy. What is played: the Kubernetes API and the OpenFaaS gateway, by HTTP servers answering
the documented paths with objects in the real APIs' JSON shapes (Kubernetes API reference:
Node, Pod, CronJob; faas-provider types.FunctionStatus; k3s ETCDSnapshotFile). What only a live
cluster exercises is listed in docs/operations/check.md.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import kubernetes_validate
import pytest

from render import nats
from render.node import firewall
from tests.servers import LOOPBACK, NatsClient, free_port, loopback_nats_config, loopback_redis_config, nats_server, redis_server
from tests.test_firewall import load, netns  # noqa: F401 (netns: a fixture)
from tests.test_manifests import kubernetes_minor
from tests.test_node_egress import RESTRICTED, egress_rules
from tests.test_scripts import assert_shellcheck_clean
from tools import check
from tools.checking import certificates, data, schedules
from tools.checking.clients import ApiServer, Clients, Deadline, Http, Kubectl, NodeShell, run_args
from tools.checking.rows import FAIL, OK, SKIP, Row, table, verdict
from tools.checking.stack import Stack

pytestmark = pytest.mark.servers

ROOT = Path(__file__).resolve().parent.parent
NC = Path(__file__).parent / "data" / "check" / "nc"
VERSION = "v1.36.4+k3s1"
TOPIC, FUNCTION = "image-upload", "img-resize"
REDIS_PASSWORD = "valkeypassword1"
ADMIN_PASSWORD = "adminpassword1"
NOW = dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.UTC)


def stamp(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


# --- certificates, made by openssl -------------------------------------------------------------


@dataclass(frozen=True)
class Cert:
    cert: Path
    key: Path

    def der(self) -> bytes:
        return ssl.PEM_cert_to_DER_cert(self.cert.read_text())


def make_cert(where: Path, days: int, name: str) -> Cert:
    cert, key = where / f"{name}.crt", where / f"{name}.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(key),
         "-out", str(cert), "-days", str(days), "-subj", f"/CN={LOOPBACK}", "-addext", f"subjectAltName=IP:{LOOPBACK}"],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    return Cert(cert, key)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Cert]:
    if shutil.which("openssl") is None:
        raise RuntimeError("openssl is not installed (Debian package openssl)")
    where = tmp_path_factory.mktemp("certs")
    return {"edge": make_cert(where, 90, "edge"), "soon": make_cert(where, 3, "soon"), "client": make_cert(where, 365, "client"),
            "client-soon": make_cert(where, 2, "client-soon")}  # fmt: skip


def kubeconfig(client: Cert) -> str:
    data = base64.b64encode(client.cert.read_bytes()).decode()
    return (
        "apiVersion: v1\nkind: Config\nclusters:\n- name: default\n  cluster:\n    server: https://203.0.113.10:6443\n"
        "users:\n- name: default\n  user:\n    client-certificate-data: " + data + "\n    client-key-data: c2VjcmV0\n"
    )


# --- the fake Kubernetes API: documented paths, objects in the API's JSON shape ----------------


def node(name: str, version: str = VERSION, ready: str = "True") -> dict[str, Any]:
    reason = "KubeletReady" if ready == "True" else "KubeletNotReady"
    return {
        "kind": "Node", "apiVersion": "v1",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "node-role.kubernetes.io/control-plane": "true"}},
        "status": {
            "conditions": [
                {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory"},
                {"type": "Ready", "status": ready, "reason": reason, "message": "kubelet is posting ready status"},
            ],
            "nodeInfo": {"kubeletVersion": version, "kubeProxyVersion": version, "containerRuntimeVersion": "containerd://2.1.5-k3s1",
                         "osImage": "Ubuntu 24.04.3 LTS", "architecture": "amd64"},
        },
    }  # fmt: skip


def pod(name: str, namespace: str, app: str, ready: bool = True, waiting: str | None = None) -> dict[str, Any]:
    state = {"waiting": {"reason": waiting}} if waiting else {"running": {"startedAt": stamp(NOW - dt.timedelta(hours=1))}}
    return {
        "kind": "Pod", "apiVersion": "v1",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": app}},
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": str(ready)}, {"type": "ContainersReady", "status": str(ready)}],
            "containerStatuses": [{"name": app, "ready": ready, "restartCount": 0 if ready else 7, "state": state}],
        },
    }  # fmt: skip


def snapshot(name: str, created: dt.datetime, ready: bool = True) -> dict[str, Any]:
    return {
        "apiVersion": "k3s.cattle.io/v1", "kind": "ETCDSnapshotFile", "metadata": {"name": name},
        "spec": {"snapshotName": name, "nodeName": "oslo-1", "location": f"file:///var/lib/rancher/k3s/server/db/snapshots/{name}"},
        "status": {"creationTime": stamp(created), "readyToUse": ready, "size": "28713504"},
    }  # fmt: skip


def cronjob(name: str, schedule: str, last: dt.datetime | None) -> dict[str, Any]:
    status = {"lastScheduleTime": stamp(NOW - dt.timedelta(hours=1))} | ({"lastSuccessfulTime": stamp(last)} if last else {})
    return {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": name, "namespace": "faas-data"},
            "spec": {"schedule": schedule, "jobTemplate": {"spec": {}}}, "status": status}  # fmt: skip


def healthy_cluster() -> dict[str, Any]:
    return {
        "nodes": [node("oslo-1")],
        "namespaces": {"openfaas", "openfaas-fn", "faas-data", "kube-system"},
        "pods": {
            "openfaas": [pod("gateway-6d9f7c7b9-abcde", "openfaas", "gateway"), pod("queue-worker-5c8f9-x2k4p", "openfaas", "queue-worker"),
                         pod("nats-connector-7f6b8-q9z8w", "openfaas", "nats-connector")],
            "openfaas-fn": [pod("img-resize-85f6d-7hj2k", "openfaas-fn", FUNCTION)],
            "faas-data": [pod("nats-0", "faas-data", "nats"), pod("redis-0", "faas-data", "redis")],
            "kube-system": [pod("coredns-7b98449c4-m5tq8", "kube-system", "coredns"),
                            pod("local-path-provisioner-595dcfc56f-k2x7d", "kube-system", "local-path-provisioner")],
        },
        "deployments": [{
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": FUNCTION, "namespace": "openfaas-fn"},
            "spec": {"template": {"metadata": {"annotations": {"topic": TOPIC}, "labels": {"faas_function": FUNCTION}}, "spec": {}}},
        }],
        "redis": {"spec": {"template": {"spec": {
            "securityContext": {"runAsNonRoot": True, "runAsUser": 999, "fsGroup": 999, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{"name": "redis", "image": "registry.example.no/valkey/valkey:9.1.4-alpine",
                            "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}}],
        }}}},
        "snapshots": [snapshot("etcd-snapshot-oslo-1-1764720000", NOW - dt.timedelta(hours=3)),
                      snapshot("etcd-snapshot-oslo-1-1764698400", NOW - dt.timedelta(hours=9))],
        "cronjobs": {},
    }  # fmt: skip


class Logs:
    """Pod logs with their times, filtered by sinceTime as the kubelet does."""

    def __init__(self) -> None:
        self.lines: dict[str, list[tuple[dt.datetime, str]]] = {}
        self.lock = threading.Lock()

    def add(self, pod_name: str, line: str, at: dt.datetime | None = None) -> None:
        with self.lock:
            self.lines.setdefault(pod_name, []).append((at or dt.datetime.now(dt.UTC), line))

    def since(self, pod_name: str, since: dt.datetime) -> str:
        with self.lock:
            return "".join(f"{line}\n" for t, line in self.lines.get(pod_name, []) if t >= since)


def _json(handler: BaseHTTPRequestHandler, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    handler.send_response(status)
    for k, v in {"Content-Type": "application/json", **(headers or {})}.items():
        handler.send_header(k, v)
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


def _not_found(handler: BaseHTTPRequestHandler) -> None:
    _json(handler, 404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404})


def _items(kind: str, items: list[Any]) -> dict[str, Any]:
    return {"kind": kind, "apiVersion": "v1", "metadata": {"resourceVersion": "4711"}, "items": items}


DISCOVERY = {
    "/api": {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}]},
    "/apis": {"kind": "APIGroupList", "apiVersion": "v1", "groups": []},
    "/api/v1": {"kind": "APIResourceList", "groupVersion": "v1", "resources": [
        {"name": "pods", "singularName": "pod", "namespaced": True, "kind": "Pod", "verbs": ["create", "delete", "get", "list", "watch"]},
    ]},
}  # fmt: skip


def api_handler(cluster: dict[str, Any], logs: Logs) -> type[BaseHTTPRequestHandler]:
    class Api(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            url = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            parts = url.path.strip("/").split("/")
            if url.path == "/version":
                return _json(self, 200, {"major": "1", "minor": "36", "gitVersion": VERSION})
            if url.path in DISCOVERY:  # what `kubectl run` asks before it builds a pod
                return _json(self, 200, DISCOVERY[url.path])
            if url.path == "/api/v1/nodes":
                return _json(self, 200, _items("NodeList", cluster["nodes"]))
            if parts[:3] == ["api", "v1", "namespaces"] and len(parts) == 4:
                return (
                    _json(self, 200, {"kind": "Namespace", "metadata": {"name": parts[3]}})
                    if parts[3] in cluster["namespaces"]
                    else _not_found(self)
                )
            if parts[:3] == ["api", "v1", "namespaces"] and parts[4:] == ["pods"]:
                found = cluster["pods"].get(parts[3], [])
                if "labelSelector" in query:
                    key, value = query["labelSelector"].split("=")
                    found = [p for p in found if p["metadata"]["labels"].get(key) == value]
                return _json(self, 200, _items("PodList", found))
            if parts[:3] == ["api", "v1", "namespaces"] and parts[4] == "pods" and parts[6:] == ["log"]:
                since = dt.datetime.strptime(query["sinceTime"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
                return _json(self, 200, logs.since(parts[5], since).encode(), {"Content-Type": "text/plain"})
            if url.path == "/apis/apps/v1/namespaces/openfaas-fn/deployments":
                return _json(self, 200, _items("DeploymentList", cluster["deployments"]))
            if url.path == "/apis/apps/v1/namespaces/faas-data/statefulsets/redis":
                return _json(self, 200, cluster["redis"])
            if url.path == "/apis/k3s.cattle.io/v1/etcdsnapshotfiles":
                return _json(self, 200, _items("ETCDSnapshotFileList", cluster["snapshots"]))
            if parts[:5] == ["apis", "batch", "v1", "namespaces", "faas-data"] and parts[5] == "cronjobs":
                return _json(self, 200, cluster["cronjobs"][parts[6]]) if parts[6] in cluster["cronjobs"] else _not_found(self)
            return _not_found(self)

    return Api


# --- the fake gateway: /healthz, /system/functions (basic auth), /function/, /async-function/ --


def gateway_handler(state: dict[str, Any], logs: Logs) -> type[BaseHTTPRequestHandler]:
    class Gateway(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            if self.path == "/healthz":
                return _json(self, state["healthz"], b"OK" if state["healthz"] == 200 else b"upstream unavailable")
            if self.path == "/system/functions":
                token = base64.b64encode(f"admin:{ADMIN_PASSWORD}".encode()).decode()
                if self.headers.get("Authorization") != f"Basic {token}":
                    return _json(self, 401, b"Unauthorized", {"WWW-Authenticate": 'Basic realm="Restricted"'})
                return _json(self, 200, state["functions"])
            match = re.fullmatch(r"/function/([a-z0-9-]+)/_/health", self.path)
            if match:
                return _json(self, state["health"].get(match[1], 404), b"OK")
            return _json(self, 404, b"404 page not found")

        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            match = re.fullmatch(r"/async-function/([a-z0-9-]+)(/.*)?", self.path)
            if not match or not state["async"]:
                return _json(self, 404, b"404 page not found")
            call_id = str(uuid.uuid4())
            if state["queue_worker"]:  # the CE queue-worker's lines for a message (nats-queue-worker main.go)
                logs.add(
                    "queue-worker-5c8f9-x2k4p",
                    f'[#1] Received on [faas-request]: \'data:"{{\\"Header\\":{{\\"X-Call-Id\\":[\\"{call_id}\\"]}}}}"\'',
                )
                logs.add("queue-worker-5c8f9-x2k4p", f"[#1] Invoked: {match[1]} [405] in 0.001s")
            _json(self, 202, b"", {"X-Call-Id": call_id, "X-Start-Time": "1764763200000000000"})

    return Gateway


@contextlib.contextmanager
def serve(handler: type[BaseHTTPRequestHandler], cert: Cert | None = None) -> Iterator[int]:
    """An HTTP(S) server on 127.0.0.1 in a thread; shut down on exit."""
    server = ThreadingHTTPServer((LOOPBACK, 0), handler)
    if cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert.cert, cert.key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


# --- the real data services and the connector ---------------------------------------------------


@dataclass(frozen=True)
class DataServers:
    nats_port: int
    redis_port: int


@pytest.fixture(scope="module")
def data_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DataServers]:
    where = tmp_path_factory.mktemp("data")
    nats_port, monitor, redis_port = free_port(), free_port(), free_port()
    config = (
        loopback_nats_config(where / "nats", nats_port, monitor, clients=nats.NatsClients((TOPIC,)))
        if (where / "nats").mkdir() is None
        else ""
    )
    with (
        nats_server(where / "nats", config, nats_port),
        redis_server(where / "redis", loopback_redis_config(where / "redis", redis_port, REDIS_PASSWORD), redis_port),
    ):
        yield DataServers(nats_port, redis_port)


@contextlib.contextmanager
def connector(port: int, logs: Logs, status: int = 400) -> Iterator[None]:
    """The nats-connector's part: subscribed to the topic with its own credentials and queue group
    (nats-connector 0.3.0); logs what connector-sdk's ResponsePrinter logs for each message."""
    stop = threading.Event()
    client = NatsClient(port, timeout=0.2, user=nats.CONNECTOR_USER, password=f"{nats.CONNECTOR_USER}-secret")
    client.subscribe(TOPIC, queue="openfaas_nats_worker_group")
    client.flush()

    def listen() -> None:
        while not stop.is_set():
            try:
                subject, payload = client.next_message()
            except TimeoutError:
                continue
            logs.add(
                "nats-connector-7f6b8-q9z8w",
                f"2026/12/03 12:00:00 connector-sdk got result: [{status}] {subject} => {FUNCTION} ({len(payload)}) bytes",
            )

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(10)
        client.close()


@dataclass(frozen=True)
class LocalProbe:
    """The probe pod's script run here by sh, against the real servers, with the Secrets' files
    in `secrets` (what the pod would mount); the pods asked for are kept for the assertions."""

    secrets: Path
    nats_port: int
    redis_port: int
    pods: list[Mapping[str, Any]] = field(default_factory=list)

    def __call__(self, pod: Mapping[str, Any], script: str) -> str:
        self.pods.append(pod)
        env = {e["name"]: e["value"] for e in pod["spec"]["containers"][0]["env"]}
        env |= {
            "REDIS_HOST": LOOPBACK,
            "REDIS_PORT": str(self.redis_port),
            "NATS_HOST": LOOPBACK,
            "NATS_PORT": str(self.nats_port),
        }
        env |= {"SECRETS": str(self.secrets), "VALKEY_CLI": "redis-cli", "NC": str(NC), "WAIT": "1", "PATH": os.environ["PATH"]}
        done = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True, timeout=30)
        return done.stdout + done.stderr


class LocalApi(ApiServer):
    """The fake API over HTTP for reads, the probe local."""

    def __init__(self, base: str, http: Http, local: LocalProbe) -> None:
        super().__init__(base, http)
        self.local = local

    def probe(self, namespace: str, pod: Mapping[str, Any], script: str) -> str:
        return self.local(pod, script)


class LocalKubectl(Kubectl):
    """The real kubectl (`get --raw`) against the fake API, the probe local."""

    def __init__(self, kubeconfig: str, deadline: Deadline, local: LocalProbe) -> None:
        super().__init__(kubeconfig, deadline)
        self.local = local

    def probe(self, namespace: str, pod: Mapping[str, Any], script: str) -> str:
        return self.local(pod, script)


def kubectl_config(server: str) -> str:
    """A kubeconfig for kubectl to reach the fake API over plain HTTP (no credentials)."""
    return (
        f"apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {server}\n"
        "contexts:\n- name: fake\n  context: {cluster: fake, user: nobody}\ncurrent-context: fake\nusers:\n- name: nobody\n  user: {}\n"
    )


@dataclass
class Setup:
    """One deployment as the check sees it; each test changes what it needs, then `run`s."""

    tmp: Path
    servers: DataServers
    certs: dict[str, Cert]
    cluster: dict[str, Any] = field(default_factory=healthy_cluster)
    gateway: dict[str, Any] = field(default_factory=lambda: {
        "healthz": 200, "async": True, "queue_worker": True, "health": {FUNCTION: 200},
        "functions": [{"name": FUNCTION, "image": "ghcr.io/sovereign-faas/img-resize:0.1.0", "namespace": "openfaas-fn",
                       "invocationCount": 12, "replicas": 1, "availableReplicas": 1, "labels": {"faas_function": FUNCTION},
                       "annotations": {"topic": TOPIC}}],
    })  # fmt: skip
    config: dict[str, Any] = field(default_factory=dict)
    edge_cert: str = "edge"
    trust: str | None = None  # the CA file the check trusts: by default the edge's own certificate
    client_cert: str = "client"
    nats_port: int | None = None
    redis_password: str = REDIS_PASSWORD
    connector_up: bool = True
    shell: NodeShell | None = None
    via_kubectl: bool = False
    admin_password: str = ADMIN_PASSWORD  # the adminPassword output
    logs: Logs = field(default_factory=Logs)
    local: LocalProbe | None = None

    def run(self) -> list[Row]:
        secrets = self.tmp / "secrets"
        secrets.mkdir(exist_ok=True)
        files = {
            "redis-password": self.redis_password,
            "nats-user": nats.FUNCTION_USER,
            "nats-password": f"{nats.FUNCTION_USER}-secret",
        }
        for name, value in files.items():
            (secrets / name).write_text(value)
        cafile = str(self.certs[self.trust or self.edge_cert].cert)
        http = Http(Deadline(60), cafile=cafile)
        with contextlib.ExitStack() as stack:
            api = stack.enter_context(serve(api_handler(self.cluster, self.logs)))
            gw = stack.enter_context(serve(gateway_handler(self.gateway, self.logs), self.certs[self.edge_cert]))
            if self.connector_up:
                stack.enter_context(connector(self.servers.nats_port, self.logs))
            gateway_url = f"https://{LOOPBACK}:{gw}"
            outputs = {
                "kubeconfig": kubeconfig(self.certs[self.client_cert]), "gatewayUrl": gateway_url, "adminPassword": self.admin_password,
                "k3sVersion": VERSION, "nodes": {"oslo-1": {"host": "203.0.113.10", "role": "server"}},
                "functions": {FUNCTION: f"{gateway_url}/function/{FUNCTION}"}, "firstServer": "oslo-1",
            }  # fmt: skip
            self.local = LocalProbe(secrets, self.nats_port or self.servers.nats_port, self.servers.redis_port)
            kube: ApiServer | Kubectl
            if self.via_kubectl:
                kube = LocalKubectl(kubectl_config(f"http://{LOOPBACK}:{api}"), Deadline(60), self.local)
                stack.callback(kube.close)
            else:
                kube = LocalApi(f"http://{LOOPBACK}:{api}", http, self.local)
            clients = Clients(kube, http, self.shell, now=lambda: dt.datetime.now(dt.UTC), poll=2, cafile=cafile)
            return check.run_checks(Stack(outputs, self.config), clients)


def statuses(rows: list[Row]) -> dict[tuple[str, str], str]:
    return {(r.check, r.target): r.status for r in rows}


def failed(rows: list[Row]) -> list[Row]:
    return [r for r in rows if r.status == FAIL]


@pytest.fixture
def setup(tmp_path: Path, data_servers: DataServers, certs: dict[str, Cert]) -> Setup:
    # The fake cluster's clock is the machine's: snapshots and backups relative to now.
    s = Setup(tmp_path, data_servers, certs)
    now = dt.datetime.now(dt.UTC)
    s.cluster["snapshots"] = [
        snapshot("etcd-snapshot-oslo-1-new", now - dt.timedelta(hours=3)),
        snapshot("etcd-snapshot-oslo-1-old", now - dt.timedelta(hours=9)),
    ]
    return s


# --- a healthy deployment: every check OK ---------------------------------------------------------


@pytest.mark.parametrize("via_kubectl", [False, True], ids=["api", "kubectl"])
def test_a_healthy_deployment_passes_every_check(setup: Setup, via_kubectl: bool) -> None:
    if via_kubectl and shutil.which("kubectl") is None:
        raise RuntimeError("kubectl is not installed (https://kubernetes.io/docs/tasks/tools/)")
    setup.via_kubectl = via_kubectl
    rows = setup.run()
    print(table(rows) + "\n" + verdict(rows)[0])  # pytest -s shows it (docs/operations/check.md)
    assert failed(rows) == []
    got = statuses(rows)
    expected_ok = [("node", "oslo-1"), ("pods", "kube-system"), ("pods", "openfaas"), ("pods", "openfaas-fn"), ("pods", "faas-data"), ("function", FUNCTION),
                   ("async", FUNCTION), ("valkey", "redis.faas-data:6379"), ("nats", "nats.faas-data:4222"), ("topic", TOPIC)]  # fmt: skip
    assert {name: got.get(name) for name in expected_ok} == dict.fromkeys(expected_ok, OK)
    assert [r.status for r in rows if r.check in ("gateway", "certificate", "client cert", "etcd snapshot")] == [OK] * 4
    # Not deployed here: the edge, cert-manager, monitoring, the backups; nodeEgress open: no counter.
    assert (
        got[("pods", "edge")]
        == got[("pods", "monitoring")]
        == got[("backup", "valkey-backup")]
        == got[("egress drops", "nodes")]
        == SKIP
    )
    assert verdict(rows)[1] == 0


def test_the_probe_pod_is_a_function_namespace_pod_with_the_live_valkey_image_and_no_token(setup: Setup) -> None:
    setup.run()
    assert setup.local is not None
    (pod,) = setup.local.pods
    spec = pod["spec"]
    (container,) = spec["containers"]
    assert container["image"] == "registry.example.no/valkey/valkey:9.1.4-alpine"  # as deployed (mirrored), not the pin
    assert spec["securityContext"]["runAsNonRoot"] is True and container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert spec["automountServiceAccountToken"] is False
    assert {s["secret"]["name"] for s in spec["volumes"][0]["projected"]["sources"]} == {"redis-password", "nats-credentials"}
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["TOPIC"] == TOPIC and "password" not in json.dumps(env).lower()  # no secret in the pod spec


def test_kubectl_run_makes_the_probe_pod_asked_for_and_the_api_would_accept_it(setup: Setup) -> None:
    """The real kubectl's client-side dry run of the probe's `kubectl run` (without -i/--rm, which
    a dry run refuses), against the fake API's discovery documents."""
    setup.run()
    assert setup.local is not None
    (pod,) = setup.local.pods
    script = data.PROBE_SCRIPT.read_text()
    with serve(api_handler(setup.cluster, setup.logs)) as api:
        kube = Kubectl(kubectl_config(f"http://{LOOPBACK}:{api}"), Deadline(60))
        try:
            dry_run = ("--dry-run=client", "--output=json")
            made = json.loads(kube._run(run_args("openfaas-fn", pod, script, attach=False, flags=dry_run)))
            merged = [a for a in run_args("openfaas-fn", pod, script, attach=False, flags=dry_run) if a != "--override-type=strategic"]
            lost = json.loads(kube._run(merged))
        finally:
            kube.close()
    (container,) = made["spec"]["containers"]
    assert container["image"] == pod["spec"]["containers"][0]["image"] and container["command"] == ["sh", "-c", script]
    assert container["env"] == pod["spec"]["containers"][0]["env"] and made["spec"]["volumes"] == pod["spec"]["volumes"]
    assert made["spec"]["securityContext"] == pod["spec"]["securityContext"] and made["metadata"]["namespace"] == "openfaas-fn"
    made["metadata"].pop("creationTimestamp", None)
    kubernetes_validate.validate(made, kubernetes_minor(), strict=True)
    # kubectl's default (a JSON merge patch) replaces the generated container with ours: no command,
    # so the image's own entrypoint (valkey-server) would run instead of the probe.
    assert "command" not in lost["spec"]["containers"][0]


# --- each failure is named ----------------------------------------------------------------------


def _node_not_ready(s: Setup) -> None:
    s.cluster["nodes"] = [node("oslo-1", ready="False")]


def _wrong_version(s: Setup) -> None:
    s.cluster["nodes"] = [node("oslo-1", version="v1.35.2+k3s1")]


def _extra_node_missing(s: Setup) -> None:
    s.cluster["nodes"] = []


def _pod_crashing(s: Setup) -> None:
    s.cluster["pods"]["openfaas"][0] = pod(
        "gateway-6d9f7c7b9-abcde", "openfaas", "gateway", ready=False, waiting="CrashLoopBackOff"
    )


def _gateway_500(s: Setup) -> None:
    s.gateway["healthz"] = 500


def _wrong_admin_password(s: Setup) -> None:
    s.admin_password = "stale-password"


def _function_404(s: Setup) -> None:
    s.gateway["health"] = {}


def _function_unlisted(s: Setup) -> None:
    s.gateway["functions"] = []


def _no_replica_available(s: Setup) -> None:  # answers (a stale endpoint), but nothing available
    s.gateway["functions"][0]["availableReplicas"] = 0


def _async_not_delivered(s: Setup) -> None:
    s.gateway["queue_worker"] = False


def _async_refused(s: Setup) -> None:
    s.gateway["async"] = False


def _connector_down(s: Setup) -> None:
    s.connector_up = False
    s.logs.add("nats-connector-7f6b8-q9z8w", f"connector-sdk got result: [200] {TOPIC} => {FUNCTION} (0) bytes",
               dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10))  # an old line must not count  # fmt: skip


def _redis_wrong_password(s: Setup) -> None:
    s.redis_password = "not-the-password"


def _cert_expiring(s: Setup) -> None:
    s.edge_cert = "soon"


def _client_cert_expiring(s: Setup) -> None:
    s.client_cert = "client-soon"


def _snapshot_too_old(s: Setup) -> None:
    now = dt.datetime.now(dt.UTC)
    # The newest is not usable (a failed snapshot); the usable one is 13 h old, the limit 12 h.
    s.cluster["snapshots"] = [
        snapshot("etcd-snapshot-failed", now - dt.timedelta(hours=1), ready=False),
        snapshot("etcd-snapshot-old", now - dt.timedelta(hours=13)),
    ]


def _no_snapshot(s: Setup) -> None:
    s.cluster["snapshots"] = []


def _backup_too_old(s: Setup) -> None:
    now = dt.datetime.now(dt.UTC)
    s.cluster["cronjobs"] = {"valkey-backup": cronjob("valkey-backup", "15 3 * * *", now - dt.timedelta(hours=50)),
                             "nats-backup": cronjob("nats-backup", "15 3 * * *", now - dt.timedelta(hours=20))}  # fmt: skip


def _backup_never(s: Setup) -> None:
    s.cluster["cronjobs"] = {"nats-backup": cronjob("nats-backup", "0 */6 * * *", None)}


def _broken_answer(s: Setup) -> None:  # an exception inside a check: its FAIL row, the others go on
    s.gateway["functions"] = "not a list of functions"


@pytest.mark.parametrize(
    ("change", "check_name", "target", "detail"),
    [
        (_node_not_ready, "node", "oslo-1", "not Ready (KubeletNotReady)"),
        (_wrong_version, "node", "oslo-1", f"runs v1.35.2+k3s1, the stack pins {VERSION}"),
        (_extra_node_missing, "node", "oslo-1", "in the stack's outputs, not in the cluster"),
        (_pod_crashing, "pods", "openfaas", "2/3 ready: gateway-6d9f7c7b9-abcde CrashLoopBackOff"),
        (_gateway_500, "gateway", None, "HTTP 500: upstream unavailable"),
        (_function_404, "function", FUNCTION, "GET /_/health: HTTP 404"),
        (_wrong_admin_password, "function", "/system/functions", "HTTP 401"),
        (_function_unlisted, "function", FUNCTION, "not listed by the gateway"),
        (_no_replica_available, "function", FUNCTION, "0/1 replicas available"),
        (_async_not_delivered, "async", FUNCTION, "but no queue-worker log names it"),
        (_async_refused, "async", FUNCTION, "HTTP 404"),
        (_connector_down, "topic", TOPIC, "the nats-connector logged no result"),
        (_redis_wrong_password, "valkey", "redis.faas-data:6379", "WRONGPASS"),
        (_cert_expiring, "certificate", None, "in 3 days"),
        (_client_cert_expiring, "client cert", "kubeconfig default", "in 2 days"),
        (
            _snapshot_too_old,
            "etcd snapshot",
            "etcd-snapshot-old",
            "newest 13.0 h old on oslo-1 (file), limit 12.0 h (2 x 0 */6 * * *)",
        ),
        (_no_snapshot, "etcd snapshot", "-", "no usable snapshot yet"),
        (_backup_too_old, "backup", "valkey-backup", "last success 2.1 days ago, limit 2.0 days (2 x 15 3 * * *)"),
        (_backup_never, "backup", "nats-backup", "never succeeded"),
        (_broken_answer, "function", "-", "string indices must be integers"),
    ],
    ids=lambda x: x.__name__.strip("_") if callable(x) else None,
)
def test_each_failure_is_a_fail_row_named_in_the_verdict(
    setup: Setup, change: Any, check_name: str, target: str | None, detail: str
) -> None:
    change(setup)
    rows = setup.run()
    bad = failed(rows)
    assert [r.check for r in bad] == [check_name], table(rows)
    (row,) = bad
    assert target is None or row.target == target
    assert detail in row.detail, row
    line, code = verdict(rows)
    assert code == 1 and line.startswith("FAILED (1): ") and check_name in line


def test_an_untrusted_edge_certificate_fails_however_far_it_expires(setup: Setup) -> None:
    setup.trust = "client"  # another certificate: the edge's does not chain to it
    rows = setup.run()
    (row,) = [r for r in rows if r.check == "certificate"]
    assert row.status == FAIL and row.detail.startswith("not trusted: ")
    assert verdict(rows)[1] == 1


def test_nats_down_fails_nats_and_the_topic(setup: Setup, tmp_path: Path) -> None:
    port, monitor = free_port(), free_port()
    (tmp_path / "gone").mkdir()
    with nats_server(
        tmp_path / "gone", loopback_nats_config(tmp_path / "gone", port, monitor, clients=nats.NatsClients((TOPIC,))), port
    ):
        pass  # started, then stopped: nothing listens there any more
    setup.nats_port = port
    rows = setup.run()
    assert {(r.check, r.status) for r in failed(rows)} == {("nats", FAIL), ("topic", FAIL)}
    assert "Connection refused" in next(r.detail for r in rows if r.check == "nats")


def test_a_topic_the_function_user_may_not_publish_to_fails_the_topic(setup: Setup) -> None:
    setup.cluster["deployments"][0]["spec"]["template"]["metadata"]["annotations"]["topic"] = "orders"  # not in NATS' config
    rows = setup.run()
    assert [(r.check, r.target) for r in failed(rows)] == [("topic", "orders")]
    assert "Permissions Violation for Publish" in failed(rows)[0].detail


def test_a_failed_backup_job_pod_is_left_to_the_backup_row(setup: Setup) -> None:
    job = pod("valkey-backup-29400-x7", "faas-data", "valkey-backup", ready=False)
    job["status"]["phase"] = "Failed"
    job["metadata"]["ownerReferences"] = [{"kind": "Job", "name": "valkey-backup-29400", "apiVersion": "batch/v1"}]
    setup.cluster["pods"]["faas-data"].append(job)
    assert failed(setup.run()) == []


# --- egress drops: the rendered output policy's counter, read by nft in a network namespace -----


class NetnsShell:
    """What `ssh node nft ...` gives, from a network namespace holding the node's table."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace

    def run(self, node: str, command: str) -> str:
        done = subprocess.run(
            ["ip", "netns", "exec", self.namespace, "sh", "-c", command], capture_output=True, text=True, timeout=30
        )
        if done.returncode != 0:
            raise RuntimeError(done.stderr.strip())
        return done.stdout


def _refused_datagrams(namespace: str, count: int) -> None:
    subprocess.run(
        ["ip", "netns", "exec", namespace, "ip", "link", "add", "d0", "type", "veth", "peer", "name", "d1"],
        check=True,
        timeout=10,
    )
    subprocess.run(["ip", "netns", "exec", namespace, "ip", "addr", "add", "10.99.0.1/24", "dev", "d0"], check=True, timeout=10)
    subprocess.run(["ip", "netns", "exec", namespace, "ip", "link", "set", "d0", "up"], check=True, timeout=10)
    send = f"import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\nfor _ in range({count}):\n    try: s.sendto(b'x', ('10.99.0.2', 9))\n    except OSError: pass\n"
    subprocess.run(["ip", "netns", "exec", namespace, sys.executable, "-c", send], check=True, timeout=10)


@pytest.mark.parametrize("drops", [0, 3])
def test_egress_drops_read_the_rendered_counter(setup: Setup, netns: str, tmp_path: Path, drops: int) -> None:  # noqa: F811
    settings = load(**RESTRICTED)
    rules = egress_rules(settings, settings.nodes[0].name)
    assert f"counter name {firewall.DROP_COUNTER}" in rules
    (tmp_path / "rules.nft").write_text(rules)
    subprocess.run(["ip", "netns", "exec", netns, "nft", "-f", str(tmp_path / "rules.nft")], check=True, timeout=30)
    if drops:
        _refused_datagrams(netns, drops)
    setup.config, setup.shell = {"nodeEgress": "restricted"}, NetnsShell(netns)
    rows = setup.run()
    (row,) = [r for r in rows if r.check == "egress drops"]
    assert (row.target, row.status) == ("oslo-1", FAIL if drops else OK)
    assert row.detail.startswith(f"{drops} packets refused")


def test_egress_drops_are_skipped_without_ssh_or_without_the_output_policy(setup: Setup) -> None:
    setup.config = {"nodeEgress": "restricted"}
    (row,) = [r for r in setup.run() if r.check == "egress drops"]
    assert row.status == SKIP and "--ssh" in row.detail


# --- no cluster: one line, exit code 2 -----------------------------------------------------------


def run_tool(*args: str, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tools.check", *args], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})  # fmt: skip


@pytest.mark.parametrize(
    ("args", "env", "says"),
    [
        (
            ("--stack", "oslo"),
            {"PATH": "/nonexistent"},
            "no cluster to check: no pulumi CLI on PATH to read stack oslo's outputs",
        ),
        (("--stack", "oslo", "--outputs", "/nonexistent/outputs.json"), None, "has no kubeconfig/gatewayUrl outputs"),
        (("--stack", "oslo", "--outputs", "{empty}"), None, "has no kubeconfig/gatewayUrl outputs (was `pulumi up` run?)"),
        (
            ("--stack", "oslo", "--outputs", "{full}", "--api-url", "http://127.0.0.1:{closed}"),
            None,
            "the Kubernetes API at http://127.0.0.1:",
        ),
    ],
)
def test_no_cluster_is_one_line_and_exit_code_2(
    tmp_path: Path, certs: dict[str, Cert], args: tuple[str, ...], env: dict[str, str] | None, says: str
) -> None:
    (tmp_path / "empty.json").write_text("{}")
    (tmp_path / "full.json").write_text(
        json.dumps({"kubeconfig": kubeconfig(certs["client"]), "gatewayUrl": "http://127.0.0.1:1"})
    )
    closed = free_port()
    (tmp_path / "closed.json").write_text(
        json.dumps({"kubeconfig": kubectl_config(f"http://{LOOPBACK}:{closed}"), "gatewayUrl": "http://127.0.0.1:1"})
    )
    names = {
        "empty": str(tmp_path / "empty.json"),
        "full": str(tmp_path / "full.json"),
        "closed": str(closed),
        "closed_kubectl": str(tmp_path / "closed.json"),
    }
    done = run_tool(*(a.format(**names) for a in args), env=env)
    assert done.returncode == 2, done
    assert done.stderr == "" and len(done.stdout.splitlines()) == 1 and says in done.stdout, done
    assert "Traceback" not in done.stdout


def test_the_command_prints_the_table_and_names_what_failed_last(tmp_path: Path, certs: dict[str, Cert]) -> None:
    """`python -m tools.check` end to end on stack tromso (nodeEgress: restricted) with --ssh but
    no pulumi to read the key: the egress row fails saying so, the rest still runs, no traceback."""
    cluster, logs = healthy_cluster(), Logs()
    cluster["nodes"] = [node("tromso-1")]
    gateway = {"healthz": 200, "async": True, "queue_worker": True, "health": {FUNCTION: 200}, "functions": [
        {"name": FUNCTION, "namespace": "openfaas-fn", "replicas": 1, "availableReplicas": 1}]}  # fmt: skip
    with serve(api_handler(cluster, logs)) as api, serve(gateway_handler(gateway, logs)) as gw:
        url = f"http://{LOOPBACK}:{gw}"
        outputs = {"kubeconfig": kubeconfig(certs["client"]), "gatewayUrl": url, "adminPassword": ADMIN_PASSWORD, "k3sVersion": VERSION,
                   "nodes": {"tromso-1": {"host": "198.51.100.20", "role": "server"}}, "functions": {FUNCTION: f"{url}/function/{FUNCTION}"}}  # fmt: skip
        (tmp_path / "outputs.json").write_text(json.dumps(outputs))
        done = run_tool("--stack", "tromso", "--outputs", str(tmp_path / "outputs.json"), "--api-url", f"http://{LOOPBACK}:{api}", "--ssh",
                        env={"PATH": "/nonexistent"})  # fmt: skip
    assert done.returncode == 1 and done.stderr == "" and "Traceback" not in done.stdout, done
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["check", "target", "status", "detail"]
    assert re.search(r"^egress drops +tromso-1 +FAIL +--ssh: no key: ", done.stdout, re.M), done.stdout
    assert re.search(r"^gateway .* OK +HTTP 200$", done.stdout, re.M) and re.search(r"^certificate .* SKIP ", done.stdout, re.M)
    # The probe needs kubectl run: through a bare API address its rows are SKIP, and say why.
    assert re.search(r"^valkey +- +SKIP +no probe pod: needs kubectl run", done.stdout, re.M), done.stdout
    assert lines[-1] == "FAILED (1): egress drops tromso-1"


def test_the_kubeconfig_file_is_private_and_removed(certs: dict[str, Cert], tmp_path: Path) -> None:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl not installed")
    text = kubeconfig(certs["client"])
    kube = Kubectl(text, Deadline(30))
    path = Path(kube.path)
    assert path.stat().st_mode & 0o777 == 0o600 and path.read_text() == text
    kube.close()
    assert not path.exists()


# --- the parts -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schedule", "hours"),
    [("0 */6 * * *", 6), ("0 */12 * * *", 12), ("@daily", 24), ("@every 90m", 1.5), ("30 2 * * 1-5", 72), ("0 0 1,15 * *", 17 * 24),
     ("0 3 * * sun", 168), ("*/15 * * * *", 0.25), ("0 12 13 * fri", 7 * 24)],
)  # fmt: skip
def test_schedule_interval_is_the_longest_gap(schedule: str, hours: float) -> None:
    assert schedules.schedule_interval(schedule) == dt.timedelta(hours=hours)


@pytest.mark.parametrize("schedule", ["0 3 * * 7", "0 */6 * *", "@fortnightly", "61 * * * *"])
def test_a_schedule_robfig_would_refuse_is_refused(schedule: str) -> None:
    with pytest.raises(ValueError):
        schedules.schedule_interval(schedule)


def test_not_after_reads_what_openssl_wrote(certs: dict[str, Cert]) -> None:
    for cert in certs.values():
        end = subprocess.run(
            ["openssl", "x509", "-enddate", "-noout", "-in", str(cert.cert)],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        )
        expected = dt.datetime.strptime(end.stdout.strip().removeprefix("notAfter="), "%b %d %H:%M:%S %Y %Z").replace(
            tzinfo=dt.UTC
        )
        assert certificates.not_after(cert.der()) == expected


def test_the_probe_script_is_shellcheck_clean() -> None:
    assert_shellcheck_clean(data.PROBE_SCRIPT)
    assert data.PROBE_SCRIPT.read_text().startswith("#!/bin/sh\n")  # the Valkey image's busybox sh, no bash

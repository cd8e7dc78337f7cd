"""`make check STACK=<name>`: an operator's read-only check of a live deployment.

Reads the stack's outputs (`pulumi stack output --json --show-secrets`, names in
settings/outputs.py) and its stack file (namespaces, schedules), then asks the cluster through
small clients (docs/operations/check.md lists every check and what it sends):

- `Kube`: the Kubernetes API, read-only (GET of API paths, pod logs) plus one throw-away probe
  pod in the function namespace. `Kubectl` runs kubectl with the stack's kubeconfig (a 0600
  temporary file, deleted afterwards); `ApiServer` speaks HTTP to an API address such as
  `kubectl proxy`'s (the tests' fake API server too).
- `Http`: the gateway (GET /healthz, GET /system/functions with basic auth, GET
  <function>/_/health, one POST to /async-function/<fn>/_/health).
- `NodeShell`: SSH to the nodes, only with --ssh (the nft drop counter needs the host).

Every check is a function from these clients to rows (check, target, status, detail); an
exception in one becomes a FAIL row, never a traceback. Every call has a timeout, and the whole
run a deadline. Exit codes: 0 all OK or SKIP, 1 something failed (the last line names it),
2 no cluster to check (one line: no outputs, no pulumi CLI, API unreachable).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import yaml

from render.node.firewall import DROP_COUNTER, DROP_LOG_PREFIX, TABLE
from settings import outputs as out
from settings.backups import BackupsSettings
from settings.data_services import DataSettings
from settings.edge import CERT_MANAGER_NAMESPACE
from settings.edge import NAMESPACE as EDGE_NAMESPACE
from settings.host import HostSettings
from settings.openfaas import OpenFaaSSettings

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "sovereign-faas"  # Pulumi.yaml's name: the prefix of the stack file's keys
PROBE_SCRIPT = Path(__file__).with_name("check_probe.sh")
# The monitoring stack's namespace key (issue 20, a parallel branch); absent: "not deployed".
MONITORING_KEY, MONITORING_DEFAULT = "monitoringNamespace", "monitoring"
BACKUP_CRONJOBS = ("valkey-backup", "nats-backup")  # issue 19's CronJobs in the data namespace
CERT_WARN_DAYS = 14  # the certificate alert's threshold (issue 20)
OK, FAIL, SKIP = "OK", "FAIL", "SKIP"
UTC = dt.UTC


class Unreachable(Exception):
    """No cluster to check: said in one line, exit code 2."""


class NotFound(Exception):
    """The API answered 404: the object (or its kind) does not exist."""


@dataclass(frozen=True)
class Row:
    check: str
    target: str
    status: str
    detail: str


# --- time: one deadline for the run, a timeout for each call -----------------------------------


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def timeout(self, at_most: float) -> float:
        left = self.end - time.monotonic()
        if left <= 0.5:
            raise TimeoutError("the run's deadline passed (--timeout)")
        return min(at_most, left)


# --- clients -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Response:
    """An HTTP answer; header names in lower case."""

    status: int
    headers: Mapping[str, str]
    body: bytes


class Http:
    """urllib without proxies (the gateway is the operator's own, reached directly), never
    raising on a 4xx/5xx status."""

    def __init__(self, deadline: Deadline, cafile: str | None = None, per_call: float = 10) -> None:
        self.deadline, self.per_call = deadline, per_call
        context = ssl.create_default_context(cafile=cafile)
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context))

    def request(self, method: str, url: str, body: bytes | None = None, headers: Mapping[str, str] | None = None) -> Response:
        req = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))
        try:
            with self.opener.open(req, timeout=self.deadline.timeout(self.per_call)) as resp:
                return Response(resp.status, _headers(resp.headers), resp.read())
        except urllib.error.HTTPError as err:
            return Response(err.code, _headers(err.headers), err.read())


def _headers(message: Any) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in message.items()}


class Kube(Protocol):
    def get(self, path: str) -> Any: ...  # JSON of a GET; NotFound on 404

    def text(self, path: str) -> str: ...  # a GET's body as text (pod logs)

    def probe(self, namespace: str, pod: Mapping[str, Any], script: str) -> str: ...  # the probe pod's output


class ApiServer:
    """The API over plain HTTP(S) at `base` (e.g. `kubectl proxy`'s http://127.0.0.1:8001)."""

    def __init__(self, base: str, http: Http) -> None:
        self.base, self.http = base.rstrip("/"), http

    def _get(self, path: str) -> bytes:
        try:
            resp = self.http.request("GET", self.base + path)
        except (OSError, urllib.error.URLError) as err:
            raise Unreachable(f"the Kubernetes API at {self.base} is unreachable: {_reason(err)}") from None
        if resp.status == 404:
            raise NotFound(path)
        if resp.status != 200:
            raise RuntimeError(f"GET {path}: HTTP {resp.status}: {_short(resp.body)}")
        return resp.body

    def get(self, path: str) -> Any:
        return json.loads(self._get(path))

    def text(self, path: str) -> str:
        return self._get(path).decode(errors="replace")

    def probe(self, namespace: str, pod: Mapping[str, Any], script: str) -> str:
        raise RuntimeError("no probe pod through a bare API address (run with the stack's kubeconfig)")


class Kubectl:
    """kubectl with the stack's kubeconfig in a 0600 temporary file (deleted by `close`)."""

    def __init__(self, kubeconfig: str, deadline: Deadline, per_call: float = 15) -> None:
        self.binary = shutil.which("kubectl")
        if not self.binary:
            raise Unreachable("no kubectl on PATH: install it (https://kubernetes.io/docs/tasks/tools/) to check the cluster")
        fd, self.path = tempfile.mkstemp(prefix="kubeconfig-", suffix=".yaml")  # mode 0600
        with os.fdopen(fd, "w") as f:
            f.write(kubeconfig)
        self.deadline, self.per_call = deadline, per_call

    def close(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    def _run(self, args: Sequence[str], per_call: float | None = None) -> str:
        timeout = self.deadline.timeout(per_call or self.per_call)
        argv = [str(self.binary), "--kubeconfig", self.path, f"--request-timeout={int(timeout)}s", *args]
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout + 5, check=False)
        except subprocess.TimeoutExpired:
            raise TimeoutError(f"kubectl {args[0]} took more than {int(timeout)} s") from None
        if done.returncode != 0:
            err = done.stderr.strip()
            if "(NotFound)" in err or "the server could not find the requested resource" in err:
                raise NotFound(args[-1])
            if "Unable to connect to the server" in err or "connection refused" in err or "i/o timeout" in err:
                raise Unreachable(f"the Kubernetes API is unreachable: {err.splitlines()[-1][:200]}")
            raise RuntimeError(f"kubectl {args[0]}: {err.splitlines()[-1][:300] if err else f'exit {done.returncode}'}")
        return done.stdout

    def get(self, path: str) -> Any:
        return json.loads(self._run(["get", "--raw", path]))

    def text(self, path: str) -> str:
        return self._run(["get", "--raw", path])

    def probe(self, namespace: str, pod: Mapping[str, Any], script: str) -> str:
        name = pod["metadata"]["name"]
        container = pod["spec"]["containers"][0]
        args = [
            "run", name, "--namespace", namespace, "--rm", "-i", "--quiet", "--restart=Never",
            f"--image={container['image']}", "--pod-running-timeout=60s",
            f"--overrides={json.dumps(pod)}", "--command", "--", "sh", "-c", script,
        ]  # fmt: skip
        return self._run(args, per_call=90)


class NodeShell(Protocol):
    def run(self, node: str, command: str) -> str: ...


class Ssh:
    """`ssh` to a node as the stack reaches it (stack file: host, user, port), with the key from
    `pulumi config get sshPrivateKey` in a 0600 temporary file (deleted by `close`)."""

    def __init__(self, key: str, nodes: Mapping[str, Mapping[str, Any]], deadline: Deadline) -> None:
        fd, self.path = tempfile.mkstemp(prefix="ssh-key-")
        with os.fdopen(fd, "w") as f:
            f.write(key if key.endswith("\n") else key + "\n")
        self.nodes, self.deadline = nodes, deadline

    def close(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    def run(self, node: str, command: str) -> str:
        spec = self.nodes[node]
        user = str(spec.get("user", "root"))
        if user != "root":  # as the node steps do: root's commands through sudo, never a password
            command = f"sudo -n {command}"
        timeout = self.deadline.timeout(20)
        argv = [
            "ssh", "-i", self.path, "-p", str(spec.get("port", 22)), "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
            "-o", f"ConnectTimeout={int(min(timeout, 10))}", f"{user}@{spec['host']}", command,
        ]  # fmt: skip
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"ssh {node}: {(done.stderr.strip().splitlines() or [f'exit {done.returncode}'])[-1][:200]}")
        return done.stdout


# --- what the check needs to know of the stack ------------------------------------------------


@dataclass(frozen=True)
class Stack:
    outputs: Mapping[str, Any]
    config: Mapping[str, Any] = field(default_factory=dict)  # the stack file's keys, prefix removed

    def setting(self, model: type, name: str) -> Any:
        info = model.model_fields[name]  # type: ignore[attr-defined]
        return self.config.get(str(info.alias), info.default)

    @property
    def openfaas_namespace(self) -> str:
        return str(self.setting(OpenFaaSSettings, "namespace"))

    @property
    def function_namespace(self) -> str:
        return str(self.setting(OpenFaaSSettings, "function_namespace"))

    @property
    def data_namespace(self) -> str:
        return str(self.setting(DataSettings, "namespace"))

    @property
    def platform_namespaces(self) -> tuple[str, ...]:
        monitoring = str(self.config.get(MONITORING_KEY, MONITORING_DEFAULT))
        found = (
            self.openfaas_namespace,
            self.function_namespace,
            self.data_namespace,
            EDGE_NAMESPACE,
            CERT_MANAGER_NAMESPACE,
            monitoring,
        )
        return tuple(dict.fromkeys(found))

    @property
    def functions(self) -> dict[str, str]:
        return dict(sorted((self.outputs.get(out.FUNCTIONS) or {}).items()))


def read_stack_file(stack: str, root: Path = ROOT) -> dict[str, Any]:
    path = root / f"Pulumi.{stack}.yaml"
    if not path.exists():
        return {}
    config = (yaml.safe_load(path.read_text()) or {}).get("config") or {}
    return {k.removeprefix(f"{PROJECT}:"): v for k, v in config.items()}


def stack_outputs(stack: str, deadline: Deadline) -> dict[str, Any]:
    pulumi = shutil.which("pulumi")
    if not pulumi:
        raise Unreachable(f"no cluster to check: no pulumi CLI on PATH to read stack {stack}'s outputs")
    argv = [pulumi, "stack", "output", "--json", "--show-secrets", "--stack", stack]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=deadline.timeout(60), check=False)
    except subprocess.TimeoutExpired:
        raise Unreachable(f"no cluster to check: `pulumi stack output --stack {stack}` took more than 60 s") from None
    if done.returncode != 0:
        raise Unreachable(f"no cluster to check: `pulumi stack output --stack {stack}` failed: {_last_line(done.stderr)}")
    return _parse_outputs(done.stdout, f"stack {stack}")


def _parse_outputs(text: str, where: str) -> dict[str, Any]:
    try:
        found = json.loads(text or "{}")
    except json.JSONDecodeError:
        raise Unreachable(f"no cluster to check: {where}'s outputs are not JSON") from None
    if not isinstance(found, dict) or not found.get(out.KUBECONFIG) or not found.get(out.GATEWAY_URL):
        raise Unreachable(
            f"no cluster to check: {where} has no {out.KUBECONFIG}/{out.GATEWAY_URL} outputs (was `pulumi up` run?)"
        )
    return found


def ssh_key(stack: str, deadline: Deadline) -> str:
    argv = [shutil.which("pulumi") or "pulumi", "config", "get", "sshPrivateKey", "--stack", stack]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=deadline.timeout(30), check=False)
    if done.returncode != 0 or not done.stdout.strip():
        raise RuntimeError(f"`pulumi config get sshPrivateKey --stack {stack}` failed: {_last_line(done.stderr)}")
    return done.stdout


# --- the checks --------------------------------------------------------------------------------


@dataclass
class Clients:
    kube: Kube
    http: Http
    shell: NodeShell | None = None
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(UTC)
    poll: float = 20  # how long a delivery (async call, topic event) may take to show in the logs
    cafile: str | None = None  # extra CA for the gateway's certificate (tests)


def nodes(stack: Stack, c: Clients) -> list[Row]:
    version = str(stack.outputs.get(out.K3S_VERSION, ""))
    found = {n["metadata"]["name"]: n for n in c.kube.get("/api/v1/nodes").get("items", [])}
    rows = []
    for name in sorted(set(found) | set(stack.outputs.get(out.NODES) or {})):
        node = found.get(name)
        if node is None:
            rows.append(Row("node", name, FAIL, "in the stack's outputs, not in the cluster"))
            continue
        ready = next((x for x in node.get("status", {}).get("conditions", []) if x.get("type") == "Ready"), {})
        kubelet = node.get("status", {}).get("nodeInfo", {}).get("kubeletVersion", "?")
        problems = []
        if ready.get("status") != "True":
            problems.append(f"not Ready ({ready.get('reason') or ready.get('status', 'no Ready condition')})")
        if version and kubelet != version:
            problems.append(f"runs {kubelet}, the stack pins {version}")
        rows.append(Row("node", name, FAIL if problems else OK, "; ".join(problems) or f"Ready, {kubelet}"))
    return rows or [Row("node", "-", FAIL, "the cluster lists no nodes")]


def _pod_ready(pod: Mapping[str, Any]) -> bool:
    status = pod.get("status", {})
    if status.get("phase") == "Succeeded":  # a finished Job's pod (a backup run)
        return True
    conditions = {x.get("type"): x.get("status") for x in status.get("conditions", [])}
    return status.get("phase") == "Running" and conditions.get("Ready") == "True"


def _failed_job(pod: Mapping[str, Any]) -> bool:
    """A failed run of a Job (a backup CronJob keeps a few): its CronJob's row tells, not pods'."""
    owners = pod.get("metadata", {}).get("ownerReferences", [])
    return pod.get("status", {}).get("phase") == "Failed" and any(o.get("kind") == "Job" for o in owners)


def _pod_problem(pod: Mapping[str, Any]) -> str:
    status = pod.get("status", {})
    for cs in status.get("containerStatuses", []):
        waiting = cs.get("state", {}).get("waiting")
        if waiting:
            return f"{pod['metadata']['name']} {waiting.get('reason', 'waiting')}"
        if not cs.get("ready"):
            return f"{pod['metadata']['name']} container {cs.get('name')} not ready (restarts {cs.get('restartCount', 0)})"
    return f"{pod['metadata']['name']} {status.get('phase', 'unknown')}"


def pods(stack: Stack, c: Clients) -> list[Row]:
    rows = []
    for ns in stack.platform_namespaces:
        try:
            c.kube.get(f"/api/v1/namespaces/{ns}")
        except NotFound:
            rows.append(Row("pods", ns, SKIP, "namespace not deployed"))
            continue
        items = [p for p in c.kube.get(f"/api/v1/namespaces/{ns}/pods").get("items", []) if not _failed_job(p)]
        bad = [p for p in items if not _pod_ready(p)]
        if not items:
            rows.append(Row("pods", ns, SKIP if ns == stack.function_namespace else FAIL, "no pods"))
        elif bad:
            rows.append(
                Row(
                    "pods",
                    ns,
                    FAIL,
                    f"{len(items) - len(bad)}/{len(items)} ready: " + ", ".join(_pod_problem(p) for p in bad[:3]),
                )
            )
        else:
            rows.append(Row("pods", ns, OK, f"{len(items)}/{len(items)} ready"))
    return rows


def gateway(stack: Stack, c: Clients) -> list[Row]:
    url = f"{stack.outputs[out.GATEWAY_URL]}/healthz"
    resp = c.http.request("GET", url)
    return [
        Row(
            "gateway",
            url,
            OK if resp.status == 200 else FAIL,
            f"HTTP {resp.status}" + ("" if resp.status == 200 else f": {_short(resp.body)}"),
        )
    ]


def _basic_auth(stack: Stack) -> dict[str, str]:
    token = base64.b64encode(f"admin:{stack.outputs.get(out.ADMIN_PASSWORD, '')}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def functions(stack: Stack, c: Clients) -> list[Row]:
    """Ready: the gateway's GET /system/functions (faas-provider types.FunctionStatus:
    `replicas` wanted, `availableReplicas` ready). Answering: GET <url>/_/health, which the
    watchdog (classic and of-watchdog) answers itself: the handler never runs."""
    if not stack.functions:
        return [Row("function", "-", SKIP, "the stack deploys no functions")]
    resp = c.http.request("GET", f"{stack.outputs[out.GATEWAY_URL]}/system/functions", headers=_basic_auth(stack))
    if resp.status != 200:
        return [Row("function", "/system/functions", FAIL, f"HTTP {resp.status}: {_short(resp.body)}")]
    listed = {f["name"]: f for f in json.loads(resp.body)}
    rows = []
    for name, url in stack.functions.items():
        status = listed.get(name)
        if status is None:
            rows.append(Row("function", name, FAIL, "not listed by the gateway (/system/functions)"))
            continue
        available, wanted = int(status.get("availableReplicas", 0)), int(status.get("replicas", 0))
        answer = c.http.request("GET", f"{url}/_/health")
        problems = [f"{available}/{wanted} replicas available"] if available < 1 else []
        if answer.status != 200:
            problems.append(f"GET /_/health: HTTP {answer.status}")
        rows.append(
            Row(
                "function", name, FAIL if problems else OK, "; ".join(problems) or f"{available}/{wanted} replicas, /_/health 200"
            )
        )
    return rows


def _pod_names(c: Clients, namespace: str, selector: str) -> list[str]:
    query = urllib.parse.urlencode({"labelSelector": selector})
    return [p["metadata"]["name"] for p in c.kube.get(f"/api/v1/namespaces/{namespace}/pods?{query}").get("items", [])]


def _wait_for_log(c: Clients, namespace: str, selector: str, since: dt.datetime, pattern: re.Pattern[str]) -> str | None:
    """The first log line of the selected pods since `since` matching `pattern`, polled for at
    most `c.poll` seconds."""
    names = _pod_names(c, namespace, selector)
    if not names:
        raise RuntimeError(f"no pod {selector} in {namespace}")
    until = time.monotonic() + c.poll
    query = urllib.parse.urlencode({"sinceTime": since.strftime("%Y-%m-%dT%H:%M:%SZ")})
    while True:
        for name in names:
            for line in c.kube.text(f"/api/v1/namespaces/{namespace}/pods/{name}/log?{query}").splitlines():
                if pattern.search(line):
                    return line.strip()
        if time.monotonic() >= until:
            return None
        time.sleep(1)


def async_call(stack: Stack, c: Clients) -> list[Row]:
    """POST /async-function/<fn>/_/health, empty body: the gateway queues it (202, X-Call-Id)
    and the queue-worker POSTs it to the function's /_/health, which the watchdog answers
    without running the handler. Delivered: the queue-worker logs the call (nats-queue-worker
    main.go logs each message received, its X-Call-Id header included)."""
    if not stack.functions:
        return [Row("async", "-", SKIP, "the stack deploys no functions")]
    name = next(iter(stack.functions))
    since = c.now() - dt.timedelta(seconds=5)
    resp = c.http.request("POST", f"{stack.outputs[out.GATEWAY_URL]}/async-function/{name}/_/health", body=b"")
    call_id = resp.headers.get("x-call-id", "")
    if resp.status != 202 or not call_id:
        return [Row("async", name, FAIL, f"HTTP {resp.status}, X-Call-Id {call_id or 'missing'}: {_short(resp.body)}")]
    line = _wait_for_log(c, stack.openfaas_namespace, "app=queue-worker", since, re.compile(re.escape(call_id)))
    if line is None:
        return [Row("async", name, FAIL, f"queued ({call_id}) but no queue-worker log names it within {c.poll:.0f} s")]
    return [Row("async", name, OK, f"queued and taken by the queue-worker ({call_id})")]


def _topics(stack: Stack, c: Clients) -> dict[str, list[str]]:
    """topic -> functions, from the function Deployments' pod-template `topic` annotations (what
    the nats-connector reads)."""
    found: dict[str, list[str]] = {}
    for d in c.kube.get(f"/apis/apps/v1/namespaces/{stack.function_namespace}/deployments").get("items", []):
        topic = d["spec"]["template"].get("metadata", {}).get("annotations", {}).get("topic")
        if topic and topic != "cron-function":
            for t in topic.split(","):
                found.setdefault(t.strip(), []).append(d["metadata"]["name"])
    return dict(sorted(found.items()))


def probe_pod(stack: Stack, c: Clients, topic: str | None) -> dict[str, Any]:
    """A pod in the function namespace like a function's: the live Valkey StatefulSet's image
    (mirrored as deployed, and already on a node) and security contexts, the functions' Secrets
    mounted, no service account token."""
    sts = c.kube.get(f"/apis/apps/v1/namespaces/{stack.data_namespace}/statefulsets/redis")["spec"]["template"]["spec"]
    server = sts["containers"][0]
    data = stack.data_namespace
    env = {
        "REDIS_HOST": f"redis.{data}.svc.cluster.local",
        "REDIS_PORT": "6379",
        "NATS_HOST": f"nats.{data}.svc.cluster.local",
        "NATS_PORT": "4222",
    }
    if topic:
        env["TOPIC"] = topic
    name = f"sovereign-faas-check-{int(time.time())}"
    secrets = [{"secret": {"name": s}} for s in ("redis-password", "nats-credentials")]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/name": "sovereign-faas-check"}},
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "securityContext": sts.get("securityContext", {}),
            "containers": [{
                "name": name,
                "image": server["image"],
                "env": [{"name": k, "value": v} for k, v in env.items()],
                "securityContext": server.get("securityContext", {}),
                "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "100m", "memory": "32Mi"}},
                "volumeMounts": [{"name": "secrets", "mountPath": "/var/openfaas/secrets", "readOnly": True}],
            }],
            "volumes": [{"name": "secrets", "projected": {"sources": secrets, "defaultMode": 0o440}}],
        },
    }  # fmt: skip


def data_services(stack: Stack, c: Clients) -> list[Row]:
    """Valkey PING and NATS CONNECT/PING from a pod in the function namespace (check_probe.sh),
    and, when a function subscribes to a topic, an empty message published there; delivered when
    the nats-connector logs a result for it (connector-sdk ResponsePrinter: `connector-sdk got
    result: [<status>] <topic> => <function>`)."""
    topics = _topics(stack, c)
    topic = next(iter(topics), None)
    since = c.now() - dt.timedelta(seconds=5)
    output = c.kube.probe(stack.function_namespace, probe_pod(stack, c, topic), PROBE_SCRIPT.read_text())
    replies = dict(line.split(": ", 1) for line in output.splitlines() if ": " in line)
    valkey, nats_reply = replies.get("valkey", "no answer from the probe"), replies.get("nats", "no answer from the probe")
    data = stack.data_namespace
    # A PONG at the end: connected and authenticated (a refused login is closed before any PONG).
    rows = [
        Row("valkey", f"redis.{data}:6379", OK if valkey == "PONG" else FAIL, f"from {stack.function_namespace}: {valkey}"),
        Row("nats", f"nats.{data}:4222", OK if nats_reply.endswith("PONG") else FAIL, f"from {stack.function_namespace}: {nats_reply}"),
    ]
    if topic is None:
        rows.append(Row("topic", "-", SKIP, "no function subscribes to a topic"))
    elif rows[-1].status != OK or "Violation" in nats_reply:
        rows.append(Row("topic", topic, FAIL, f"not published: {nats_reply}"))
    else:
        pattern = re.compile(rf"got result: \[\d+\] {re.escape(topic)} => ")
        line = _wait_for_log(c, stack.openfaas_namespace, "app=nats-connector", since, pattern)
        detail = (
            f"published (empty), connector: {line.split('got result: ', 1)[1]}"
            if line
            else f"published, but the nats-connector logged no result within {c.poll:.0f} s"
        )
        rows.append(Row("topic", topic, OK if line else FAIL, detail))
    return rows


# --- certificates ------------------------------------------------------------------------------


def _der_item(data: bytes, i: int) -> tuple[int, int, int]:
    """(tag, start of contents, end of contents) of the DER item at `i`."""
    tag, length = data[i], data[i + 1]
    i += 2
    if length & 0x80:
        n = length & 0x7F
        length = int.from_bytes(data[i : i + n], "big")
        i += n
    return tag, i, i + length


def not_after(der: bytes) -> dt.datetime:
    """The notAfter of an X.509 certificate (RFC 5280 4.1: Certificate > TBSCertificate >
    [0] version (optional), serialNumber, signature, issuer, validity {notBefore, notAfter})."""
    _, tbs, _ = _der_item(der, 0)  # into Certificate
    _, i, _ = _der_item(der, tbs)  # into TBSCertificate
    tag, _, end = _der_item(der, i)
    if tag == 0xA0:  # the version
        i = end
    for _ in range(3):  # serialNumber, signature, issuer
        i = _der_item(der, i)[2]
    _, validity, _ = _der_item(der, i)
    after = _der_item(der, validity)[2]  # past notBefore
    tag, start, end = _der_item(der, after)
    fmt = "%y%m%d%H%M%SZ" if tag == 0x17 else "%Y%m%d%H%M%SZ"  # UTCTime, GeneralizedTime
    return dt.datetime.strptime(der[start:end].decode(), fmt).replace(tzinfo=UTC)


def _expiry_row(check: str, target: str, expires: dt.datetime, now: dt.datetime, note: str = "") -> Row:
    days = (expires - now).total_seconds() / 86400
    detail = f"expires {expires:%Y-%m-%d %H:%M} UTC, in {days:.0f} days{note}"
    return Row(check, target, OK if days >= CERT_WARN_DAYS else FAIL, detail if days >= 0 else f"expired {expires:%Y-%m-%d} UTC")


def edge_certificate(stack: Stack, c: Clients) -> list[Row]:
    """A TLS handshake to the gateway URL, verified as a client would (system CAs)."""
    url = urllib.parse.urlsplit(str(stack.outputs[out.GATEWAY_URL]))
    if url.scheme != "https":
        return [Row("certificate", url.netloc, SKIP, "the gateway is served over plain HTTP (no domain)")]
    host, port = url.hostname or "", url.port or 443
    context = ssl.create_default_context(cafile=c.cafile)
    try:
        with (
            socket.create_connection((host, port), timeout=c.http.deadline.timeout(10)) as raw,
            context.wrap_socket(raw, server_hostname=host) as tls,
        ):
            der = tls.getpeercert(binary_form=True) or b""
    except ssl.SSLCertVerificationError as err:
        return [Row("certificate", f"{host}:{port}", FAIL, f"not trusted: {err.verify_message}")]
    return [_expiry_row("certificate", f"{host}:{port}", not_after(der), c.now())]


def kubeconfig_certificate(stack: Stack, c: Clients) -> list[Row]:
    """K3s' admin client certificate in the kubeconfig output: valid a year, renewed by K3s
    within 90 days of expiry at a restart, so a kubeconfig read once goes stale."""
    config = yaml.safe_load(str(stack.outputs[out.KUBECONFIG])) or {}
    rows = []
    for user in config.get("users") or []:
        data = (user.get("user") or {}).get("client-certificate-data")
        if not data:
            rows.append(Row("client cert", user.get("name", "?"), SKIP, "no client-certificate-data (token or exec auth)"))
            continue
        pem = base64.b64decode(data).decode()
        der = ssl.PEM_cert_to_DER_cert(pem.split("-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n")
        rows.append(
            _expiry_row(
                "client cert",
                f"kubeconfig {user.get('name', '?')}",
                not_after(der),
                c.now(),
                ", renewed by K3s at a restart within 90 days",
            )
        )
    return rows or [Row("client cert", "kubeconfig", SKIP, "no users in the kubeconfig")]


# --- snapshots and backups ---------------------------------------------------------------------

_CRON_DESCRIPTORS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
}
_CRON_NAMES = ({}, {}, {}, {m: i + 1 for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split())},
               {d: i for i, d in enumerate("sun mon tue wed thu fri sat".split())})  # fmt: skip
_CRON_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 6))
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


def _cron_values(text: str, index: int) -> set[int]:
    low, high = _CRON_RANGES[index]
    values: set[int] = set()
    for part in text.lower().split(","):
        span, _, step = part.partition("/")
        if span in ("*", "?"):
            a, b = low, high
        else:
            first, _, last = span.partition("-")
            a = int(_CRON_NAMES[index].get(first, first))
            b = int(_CRON_NAMES[index].get(last, last)) if last else (high if step else a)
        values |= set(range(a, b + 1, int(step or 1)))
    if index == 4 and 7 in values:  # Sunday is 0 or 7
        values.add(0)
    return values


def schedule_interval(schedule: str) -> dt.timedelta:
    """The longest gap between two runs of a cron schedule (robfig/cron's standard parser, as
    K3s and Kubernetes CronJobs read it): found by stepping minutes through 63 days."""
    text = " ".join(schedule.split())
    if text.startswith("@every "):
        seconds = sum(float(n) * _GO_UNITS[u] for n, u in re.findall(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", text))
        return dt.timedelta(seconds=seconds)
    if text in ("@yearly", "@annually"):
        return dt.timedelta(days=366)
    fields = _CRON_DESCRIPTORS.get(text, text).split(" ")
    if len(fields) != 5:
        raise ValueError(f"{schedule!r} is not a 5-field cron schedule")
    minute, hour, dom, month, dow = (_cron_values(f, i) for i, f in enumerate(fields))
    dom_star, dow_star = fields[2] in ("*", "?"), fields[4] in ("*", "?")
    start = dt.datetime(2026, 1, 1, tzinfo=UTC)
    runs = []
    for step in range(63 * 24 * 60):
        t = start + dt.timedelta(minutes=step)
        day = (
            (t.day in dom and (t.isoweekday() % 7) in dow)
            if (dom_star or dow_star)
            else (t.day in dom or (t.isoweekday() % 7) in dow)
        )
        if t.minute in minute and t.hour in hour and t.month in month and day:
            runs.append(t)
    if len(runs) < 2:
        return dt.timedelta(days=366)
    return max(b - a for a, b in zip(runs, runs[1:], strict=False))


def _time(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def _age(delta: dt.timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} days"


def etcd_snapshots(stack: Stack, c: Clients) -> list[Row]:
    """The newest ETCDSnapshotFile (k3s.cattle.io/v1, cluster-scoped; k3s
    pkg/apis/k3s.cattle.io/v1/types.go: status.creationTime, status.readyToUse) younger than
    twice the schedule's longest gap (the alert's rule)."""
    schedule = str(stack.setting(BackupsSettings, "schedule"))
    limit = 2 * schedule_interval(schedule)
    try:
        items = c.kube.get("/apis/k3s.cattle.io/v1/etcdsnapshotfiles").get("items", [])
    except NotFound:
        return [Row("etcd snapshot", "-", FAIL, "no ETCDSnapshotFile kind: is the cluster on embedded etcd?")]
    ready = [s for s in items if s.get("status", {}).get("readyToUse") and s.get("status", {}).get("creationTime")]
    if not ready:
        return [Row("etcd snapshot", "-", FAIL, f"no usable snapshot yet ({len(items)} listed; schedule {schedule})")]
    newest = max(ready, key=lambda s: s["status"]["creationTime"])
    age = c.now() - _time(newest["status"]["creationTime"])
    where = newest.get("spec", {}).get("nodeName", "?")
    detail = f"newest {_age(age)} old on {where} ({newest.get('spec', {}).get('location', '').split('://')[0] or '?'}), limit {_age(limit)} (2 x {schedule})"
    return [Row("etcd snapshot", newest["metadata"]["name"], OK if age <= limit else FAIL, detail)]


def data_backups(stack: Stack, c: Clients) -> list[Row]:
    rows = []
    for name in BACKUP_CRONJOBS:
        try:
            job = c.kube.get(f"/apis/batch/v1/namespaces/{stack.data_namespace}/cronjobs/{name}")
        except NotFound:
            rows.append(Row("backup", name, SKIP, "not deployed"))
            continue
        schedule = job.get("spec", {}).get("schedule", "")
        last = job.get("status", {}).get("lastSuccessfulTime")
        limit = 2 * schedule_interval(schedule)
        if not last:
            rows.append(Row("backup", name, FAIL, f"never succeeded (schedule {schedule})"))
            continue
        age = c.now() - _time(last)
        rows.append(
            Row(
                "backup",
                name,
                OK if age <= limit else FAIL,
                f"last success {_age(age)} ago, limit {_age(limit)} (2 x {schedule})",
            )
        )
    return rows


def egress_drops(stack: Stack, c: Clients) -> list[Row]:
    """The nft counter the nodes' output policy counts refused packets in (render/node/firewall.py),
    read with `nft -j list counter` over SSH: nothing in the cluster can read the host's nftables
    without a privileged pod, which a read-only check should not start."""
    if str(stack.setting(HostSettings, "node_egress")) != "restricted":
        return [Row("egress drops", "nodes", SKIP, "nodeEgress is open: no output policy, no counter")]
    if c.shell is None:
        return [
            Row(
                "egress drops",
                "nodes",
                SKIP,
                "needs SSH to the nodes: run with --ssh (reads sshPrivateKey from the stack's config)",
            )
        ]
    rows = []
    for node in sorted(stack.outputs.get(out.NODES) or {}):
        try:
            text = c.shell.run(node, f"nft -j list counter inet {TABLE} {DROP_COUNTER}")
            counter = next(x["counter"] for x in json.loads(text)["nftables"] if "counter" in x)
        except Exception as err:  # noqa: BLE001 - one node's failure is its row
            rows.append(Row("egress drops", node, FAIL, _reason(err)))
            continue
        packets = int(counter.get("packets", 0))
        detail = f"{packets} packets refused since the table was applied" + (
            f" (journal: '{DROP_LOG_PREFIX.strip()}')" if packets else ""
        )
        rows.append(Row("egress drops", node, OK if packets == 0 else FAIL, detail))
    return rows


CHECKS: tuple[tuple[str, Callable[[Stack, Clients], list[Row]]], ...] = (
    ("node", nodes),
    ("pods", pods),
    ("gateway", gateway),
    ("function", functions),
    ("async", async_call),
    ("valkey/nats/topic", data_services),
    ("certificate", edge_certificate),
    ("client cert", kubeconfig_certificate),
    ("etcd snapshot", etcd_snapshots),
    ("backup", data_backups),
    ("egress drops", egress_drops),
)


def run_checks(stack: Stack, clients: Clients) -> list[Row]:
    """Every check; an exception becomes a FAIL row naming it. Unreachable (the API went away)
    propagates: the run then has nothing to say but that."""
    rows: list[Row] = []
    for name, check in CHECKS:
        try:
            rows += check(stack, clients)
        except (Unreachable, KeyboardInterrupt):
            raise
        except Exception as err:  # noqa: BLE001 - the bar: a FAIL row, never a traceback
            rows.append(Row(name, "-", FAIL, _reason(err)))
    return rows


def table(rows: Sequence[Row]) -> str:
    head = Row("check", "target", "status", "detail")
    widths = [max(len(getattr(r, f)) for r in (head, *rows)) for f in ("check", "target", "status")]
    lines = []
    for r in (head, *rows):
        lines.append(f"{r.check:<{widths[0]}}  {r.target:<{widths[1]}}  {r.status:<{widths[2]}}  {r.detail}".rstrip())
    return "\n".join(lines)


def verdict(rows: Sequence[Row]) -> tuple[str, int]:
    failed = [f"{r.check} {r.target}" if r.target != "-" else r.check for r in rows if r.status == FAIL]
    if failed:
        return f"FAILED ({len(failed)}): " + ", ".join(failed), 1
    return f"all {sum(r.status == OK for r in rows)} checks OK ({sum(r.status == SKIP for r in rows)} skipped)", 0


# --- the command -------------------------------------------------------------------------------


def _reason(err: BaseException) -> str:
    reason = getattr(err, "reason", None)
    text = str(reason if reason is not None else err) or type(err).__name__
    return f"{type(err).__name__}: {text}"[:300] if not isinstance(err, RuntimeError | ValueError) else text[:300]


def _short(body: bytes) -> str:
    return body.decode(errors="replace").strip().splitlines()[0][:120] if body.strip() else "(empty body)"


def _last_line(text: str) -> str:
    lines = [x for x in text.strip().splitlines() if x.strip()]
    return lines[-1][:300] if lines else "no message"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m tools.check", description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--stack", required=True, help="the Pulumi stack (its Pulumi.<stack>.yaml names the namespaces and schedules)")
    p.add_argument("--outputs", help="a file with `pulumi stack output --json --show-secrets` instead of running pulumi")
    p.add_argument(
        "--api-url", help="the Kubernetes API over HTTP (e.g. `kubectl proxy`'s http://127.0.0.1:8001) instead of kubectl"
    )
    p.add_argument(
        "--ssh", action="store_true", help="read the nodes' nft drop counter over SSH (key: pulumi config get sshPrivateKey)"
    )
    p.add_argument("--ca-file", help="an extra CA bundle that signed the gateway's certificate (e.g. an internal ACME CA)")
    p.add_argument("--timeout", type=float, default=180, help="seconds the whole run may take (default 180)")
    return p.parse_args(argv)


@contextlib.contextmanager
def _clients(args: argparse.Namespace, stack: Stack, deadline: Deadline) -> Iterator[Clients]:
    http = Http(deadline, cafile=args.ca_file)
    kube: Kube
    closing: list[Any] = []
    try:
        if args.api_url:
            kube = ApiServer(args.api_url, http)
        else:
            kube = Kubectl(str(stack.outputs[out.KUBECONFIG]), deadline)
            closing.append(kube)
        shell = None
        if args.ssh:
            nodes_spec = {n["name"]: n for n in stack.config.get("nodes") or []}
            shell = Ssh(ssh_key(args.stack, deadline), nodes_spec, deadline)
            closing.append(shell)
        kube.get("/version")  # reachable at all? Unreachable otherwise
        yield Clients(kube, http, shell, cafile=args.ca_file)
    finally:
        for c in closing:
            c.close()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    deadline = Deadline(args.timeout)
    try:
        if args.outputs:
            path = Path(args.outputs)
            text = path.read_text() if path.exists() else ""
            outputs = _parse_outputs(text, str(path))
        else:
            outputs = stack_outputs(args.stack, deadline)
        stack = Stack(outputs, read_stack_file(args.stack))
        with _clients(args, stack, deadline) as clients:
            rows = run_checks(stack, clients)
    except Unreachable as err:
        print(str(err))
        return 2
    except Exception as err:  # noqa: BLE001 - the bar: one line, never a traceback
        print(f"no cluster to check: {_reason(err)}")
        return 2
    print(table(rows))
    line, code = verdict(rows)
    print(line)
    return code


if __name__ == "__main__":
    sys.exit(main())

"""The small clients the checks talk through: HTTP, the Kubernetes API (kubectl or a bare API
address), SSH to the nodes; each call bounded by a timeout and the run's deadline."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import shutil
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from tools.checking.rows import UTC


class Unreachable(Exception):
    """No cluster to check: said in one line, exit code 2."""


class NoProbe(Exception):
    """This Kube client cannot start the probe pod (a bare API address: no kubectl run)."""


class NotFound(Exception):
    """The API answered 404: the object (or its kind) does not exist."""


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
            raise Unreachable(f"no cluster to check: the Kubernetes API at {self.base} is unreachable: {reason(err)}") from None
        if resp.status == 404:
            raise NotFound(path)
        if resp.status != 200:
            raise RuntimeError(f"GET {path}: HTTP {resp.status}: {first_line(resp.body)}")
        return resp.body

    def get(self, path: str) -> Any:
        return json.loads(self._get(path))

    def text(self, path: str) -> str:
        return self._get(path).decode(errors="replace")

    def probe(self, namespace: str, pod: Mapping[str, Any], script: str) -> str:
        raise NoProbe("needs kubectl run with the stack's kubeconfig (not --api-url)")


_NO_API_SERVER = (
    "The connection to the server",
    "Unable to connect to the server",
    "connection refused",
    "i/o timeout",
    "no such host",
)


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
            done = subprocess.run(
                argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=timeout + 5, check=False
            )
        except subprocess.TimeoutExpired:
            raise TimeoutError(f"kubectl {args[0]} took more than {int(timeout)} s") from None
        if done.returncode != 0:
            err = done.stderr.strip()
            if "(NotFound)" in err or "the server could not find the requested resource" in err:
                raise NotFound(args[-1])
            # kubectl's own words when it reaches no API server; "Error from server" is the API
            # server answering (a kubelet it could not reach, for one): that check's FAIL.
            if not err.startswith("Error from server") and any(x in err for x in _NO_API_SERVER):
                raise Unreachable(f"no cluster to check: the Kubernetes API is unreachable: {err.splitlines()[-1][:200]}")
            raise RuntimeError(f"kubectl {args[0]}: {err.splitlines()[-1][:300] if err else f'exit {done.returncode}'}")
        return done.stdout

    def get(self, path: str) -> Any:
        return json.loads(self._run(["get", "--raw", path]))

    def text(self, path: str) -> str:
        return self._run(["get", "--raw", path])

    def probe(self, namespace: str, pod: Mapping[str, Any], script: str) -> str:
        return self._run(run_args(namespace, pod, script), per_call=90)


def run_args(namespace: str, pod: Mapping[str, Any], script: str, attach: bool = True, flags: Sequence[str] = ()) -> list[str]:
    """`kubectl run` for the probe pod: attached (-i) and deleted when it ends (--rm), `pod`
    merged into what kubectl generates. Strategic, not kubectl's default JSON merge patch: that
    one replaces the generated container list with ours, losing the image, the command and
    stdin. `attach=False` and `flags`: without -i/--rm, with e.g. --dry-run=client (tests)."""
    name = pod["metadata"]["name"]
    image = pod["spec"]["containers"][0]["image"]
    attached = ["--rm", "-i", "--quiet", "--pod-running-timeout=60s"] if attach else []
    return [
        "run", name, "--namespace", namespace, *attached, "--restart=Never", f"--image={image}",
        "--override-type=strategic", f"--overrides={json.dumps(pod)}", *flags, "--command", "--", "sh", "-c", script,
    ]  # fmt: skip


class NodeShell(Protocol):
    def run(self, node: str, command: str) -> str: ...


@dataclass(frozen=True)
class NoShell:
    """What --ssh gives when the key cannot be read: each node's row says why."""

    why: str

    def run(self, node: str, command: str) -> str:
        raise RuntimeError(self.why)


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
        spec = self.nodes.get(node)
        if spec is None:
            raise RuntimeError(f"{node} is not in the stack file's nodes: no host, user or port to reach it")
        user = str(spec.get("user", "root"))
        if user != "root":  # as the node steps do: root's commands through sudo, never a password
            command = f"sudo -n {command}"
        timeout = self.deadline.timeout(20)
        argv = [
            "ssh", "-i", self.path, "-p", str(spec.get("port", 22)), "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
            "-o", f"ConnectTimeout={int(min(timeout, 10))}", f"{user}@{spec['host']}", command,
        ]  # fmt: skip
        done = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=timeout, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"ssh {node}: {(done.stderr.strip().splitlines() or [f'exit {done.returncode}'])[-1][:200]}")
        return done.stdout


@dataclass
class Clients:
    kube: Kube
    http: Http
    shell: NodeShell | None = None
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(UTC)
    poll: float = 20  # how long a delivery (async call, topic event) may take to show in the logs
    cafile: str | None = None  # extra CA for the gateway's certificate (tests)


def pod_names(kube: Kube, namespace: str, selector: str) -> list[str]:
    query = urllib.parse.urlencode({"labelSelector": selector})
    return [p["metadata"]["name"] for p in kube.get(f"/api/v1/namespaces/{namespace}/pods?{query}").get("items", [])]


def wait_for_log(c: Clients, namespace: str, selector: str, since: dt.datetime, pattern: re.Pattern[str]) -> str | None:
    """The first log line of the selected pods since `since` matching `pattern`, polled for at
    most `c.poll` seconds."""
    names = pod_names(c.kube, namespace, selector)
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


def reason(err: BaseException) -> str:
    reason = getattr(err, "reason", None)
    text = str(reason if reason is not None else err) or type(err).__name__
    return f"{type(err).__name__}: {text}"[:300] if not isinstance(err, RuntimeError | ValueError) else text[:300]


def first_line(body: bytes) -> str:
    return body.decode(errors="replace").strip().splitlines()[0][:120] if body.strip() else "(empty body)"


def last_line(text: str) -> str:
    lines = [x for x in text.strip().splitlines() if x.strip()]
    return lines[-1][:300] if lines else "no message"

"""Real redis-server and nats-server processes for tests and benchmarks, on 127.0.0.1 only.

Each server gets a free port, a config file and a data directory under the caller's temporary
directory, and is stopped by its PID (SIGTERM, then SIGKILL after a bound). Nothing here
touches system services: the Debian packages' own units are never started.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from render import nats, redis

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def require(binary: str) -> str:
    """The binary's path; a clear failure (not a skip) when it is missing: CI installs it."""
    path = shutil.which(binary) or shutil.which(binary, path="/usr/sbin:/usr/bin:/sbin")
    if not path:
        raise RuntimeError(f"{binary} is not installed: apt-get install {'nats-server' if 'nats' in binary else 'redis-server'} (.ci/run does this)")
    return path


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    config: Path
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def _wait_for_port(server: Server, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.config.name}: server exited with {server.process.returncode}:\n{server.output()}")
        with contextlib.suppress(OSError), socket.create_connection((LOOPBACK, server.port), timeout=0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"{server.config.name}: nothing listens on {LOOPBACK}:{server.port} after {timeout} s:\n{server.output()}")


def _stop(process: subprocess.Popen[bytes], timeout: float = 10) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)


@contextlib.contextmanager
def started(argv: list[str], config: Path, port: int, log: Path, timeout: float = 10) -> Iterator[Server]:
    with log.open("wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=config.parent)
    server = Server(process, port, config, log)
    try:
        _wait_for_port(server, timeout)
        yield server
    finally:
        _stop(process)


@contextlib.contextmanager
def redis_server(workdir: Path, conf: str, port: int | None = None) -> Iterator[Server]:
    """redis-server with `conf` (a redis.conf text); `port` and `bind` must already be in it
    or are appended here for loopback."""
    port = port or free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "redis.conf"
    config.write_text(f"{conf}\nbind {LOOPBACK}\nport {port}\ndir {workdir}\ndaemonize no\n")
    with started([require("redis-server"), str(config)], config, port, workdir / "redis.log") as server:
        yield server


@contextlib.contextmanager
def nats_server(workdir: Path, conf: str, port: int) -> Iterator[Server]:
    """nats-server with `conf` (a nats-server.conf text that already listens on `port`)."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "nats-server.conf"
    config.write_text(conf)
    with started([require("nats-server"), "-c", str(config)], config, port, workdir / "nats.log") as server:
        yield server


# --- a minimal NATS client: the text protocol over a socket (no client library needed) -------


class NatsClient:
    """CONNECT/PING/SUB/PUB/MSG over one TCP connection: enough for a publish/subscribe round
    trip and JetStream's request/reply API (`$JS.API.*`), which is plain JSON over NATS."""

    def __init__(self, port: int, timeout: float = 5, user: str | None = None, password: str | None = None) -> None:
        self.sock = socket.create_connection((LOOPBACK, port), timeout=timeout)
        self.buffer = b""
        self.info = json.loads(self._line().removeprefix(b"INFO "))
        options = {"verbose": False, "pedantic": True, "headers": False, "name": "sovereign-faas-test"}
        if user is not None:
            options |= {"user": user, "pass": password or ""}
        self.sock.sendall(f"CONNECT {json.dumps(options)}\r\nPING\r\n".encode())
        reply = self._line()
        if reply != b"PONG":
            raise RuntimeError(f"NATS refused the connection: {reply!r}")
        self._sids = 0

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> NatsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("NATS closed the connection")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def _exactly(self, size: int) -> bytes:
        while len(self.buffer) < size + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("NATS closed the connection")
            self.buffer += chunk
        data, self.buffer = self.buffer[:size], self.buffer[size + 2 :]
        return data

    def subscribe(self, subject: str, queue: str | None = None) -> str:
        self._sids += 1
        sid = str(self._sids)
        self.sock.sendall(f"SUB {subject} {queue + ' ' if queue else ''}{sid}\r\n".encode())
        return sid

    def publish(self, subject: str, payload: bytes, reply: str | None = None) -> None:
        head = f"PUB {subject} {reply + ' ' if reply else ''}{len(payload)}\r\n".encode()
        self.sock.sendall(head + payload + b"\r\n")

    def flush(self) -> None:
        """PING/PONG: the server has processed everything sent before."""
        self.sock.sendall(b"PING\r\n")
        self.next_message(until_pong=True)

    def next_message(self, until_pong: bool = False) -> tuple[str, bytes]:
        """The next MSG as (subject, payload); answers the server's PINGs; raises on -ERR."""
        while True:
            line = self._line()
            if line == b"PING":
                self.sock.sendall(b"PONG\r\n")
            elif line == b"PONG" and until_pong:
                return "", b""
            elif line.startswith(b"-ERR"):
                raise RuntimeError(f"NATS error: {line.decode()}")
            elif line.startswith(b"MSG "):
                parts = line.decode().split(" ")
                return parts[1], self._exactly(int(parts[-1]))

    def request(self, subject: str, payload: bytes) -> bytes:
        inbox = f"_INBOX.test.{self._sids + 1}"
        self.subscribe(inbox)
        self.publish(subject, payload, reply=inbox)
        got, data = self.next_message()
        if got != inbox:
            raise RuntimeError(f"unexpected message on {got!r} while waiting on {inbox!r}")
        return data

    def js_api(self, call: str, body: dict | None = None) -> dict:
        """A JetStream API call, e.g. js_api("STREAM.CREATE.EVENTS", {...}); raises on an error."""
        answer = json.loads(self.request(f"$JS.API.{call}", json.dumps(body or {}).encode()))
        if "error" in answer:
            raise RuntimeError(f"$JS.API.{call}: {answer['error']}")
        return answer


def http_get(port: int, path: str, timeout: float = 5) -> tuple[int, bytes]:
    """GET http://127.0.0.1:<port><path> -> (status, body), without raising on 4xx/5xx."""
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy
    try:
        with direct.open(f"http://{LOOPBACK}:{port}{path}", timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


# --- the stack's own configurations, adapted for loopback -----------------------------------
# Rendered by the very functions the components use; only what loopback needs changes.


def loopback_nats_config(
    workdir: Path,
    port: int,
    monitor_port: int,
    settings: nats.NatsSettings | None = None,
    clients: nats.NatsClients | None = None,
    passwords: Mapping[str, str] | None = None,
) -> str:
    """The NATS config as the stack renders it, with Secret nats-auth's passwords.conf written
    under `workdir` (`passwords`: user -> password, one per user the clients need; by default
    each user's password is `<user>-secret`)."""
    clients = clients or nats.NatsClients()
    passwords = passwords if passwords is not None else {user: f"{user}-secret" for user in clients.password_users}
    (workdir / "nats-auth").mkdir(parents=True, exist_ok=True)
    (workdir / "nats-auth" / nats.PASSWORDS_FILE).write_text(nats.passwords_config(passwords))
    config = nats.server_config(settings or nats.NatsSettings(), clients)
    config["listen"] = f"{LOOPBACK}:{port}"
    config["http"] = f"{LOOPBACK}:{monitor_port}"
    config["jetstream"] = {**config["jetstream"], "store_dir": str(workdir / "jetstream-store")}
    config["include"] = nats.Include(f"nats-auth/{nats.PASSWORDS_FILE}")  # beside the config, not ../
    return nats.render_config(config)


def loopback_redis_config(
    workdir: Path, port: int, password: str, settings: redis.RedisSettings | None = None, somaxconn: str | None = None
) -> str:
    """redis.conf as the stack renders it, with the included auth.conf (and the probes'
    password file) written under `workdir`."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "auth.conf").write_text(redis.auth_config(password))
    (workdir / "password").write_text(password)
    config = redis.server_config(settings or redis.RedisSettings(), somaxconn)
    config.update({"bind": (LOOPBACK,), "port": port, "dir": str(workdir), "include": str(workdir / "auth.conf")})
    return redis.render_config(config)


# --- a replicated Valkey group: primary, replicas and their sentinels ------------------------


@dataclass
class ValkeyNode:
    """One pod of the replicated StatefulSet, on loopback: its directories laid out as the pod
    mounts them (etc: the ConfigMap, read-only; auth: the Secret; run: the emptyDir; data: the
    volume), its server and its sentinel while they run."""

    index: int
    root: Path
    port: int
    sentinel_port: int
    server: Server | None = None
    sentinel: Server | None = None

    @property
    def etc(self) -> Path:
        return self.root / "etc"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def auth(self) -> Path:
        return self.root / "auth"


def loopback_valkey_files(node: ValkeyNode, password: str, settings: redis.RedisSettings | None = None) -> None:
    """The ConfigMap's files (render/redis.py `config_files` for a replicated stack) and the
    Secret's, under the node's root. Only what loopback needs changes: addresses, ports and
    directories; the ConfigMap's directory is made read-only, as its mount is."""
    for directory in (node.etc, node.run, node.data, node.auth):
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o700)
    (node.auth / "password").write_text(password)
    (node.auth / "auth.conf").write_text(redis.auth_config(password, replicated=True))
    server = redis.server_config(settings or redis.RedisSettings(), replicated=True)
    server.update(
        {"bind": (LOOPBACK,), "port": node.port, "dir": str(node.data), "include": [str(node.run / "replication.conf"), str(node.auth / "auth.conf")]}
    )
    sentinel = redis.sentinel_config()
    sentinel.update({"bind": (LOOPBACK,), "port": node.sentinel_port, "dir": str(node.run)})
    files = {
        "redis.conf": redis.render_config(server),
        "sentinel.conf": redis.render_config(sentinel),
        "sentinel-master.conf": redis.render_config(redis.sentinel_master_config()),
        redis.INIT_SCRIPT.name: redis.INIT_SCRIPT.read_text(),
    }
    node.etc.chmod(0o700)
    for name, text in files.items():
        (node.etc / name).write_text(text)
    node.etc.chmod(0o500)  # a ConfigMap mount: Sentinel's CONFIG REWRITE of redis.conf must fail, as in the pod


def init_environment(node: ValkeyNode, nodes: list[ValkeyNode], wait_seconds: int = redis.EMPTY_PRIMARY_WAIT_S) -> dict[str, str]:
    """redis-init.sh's environment as the pod's init container has it (render/redis.py
    `init_env`), with loopback addresses and this node's directories."""
    env = redis.init_env("loopback", len(nodes))
    env.update(
        {
            "SELF_HOST": LOOPBACK,
            "SELF_PORT": str(node.port),
            "SENTINEL_PORT": str(node.sentinel_port),
            "PRIMARY_HOST": LOOPBACK,
            "PRIMARY_PORT": str(nodes[0].port),
            "SENTINELS": " ".join(f"{LOOPBACK}:{n.sentinel_port}" for n in nodes),
            "PASSWORD_FILE": str(node.auth / "password"),
            "CONFIG_DIR": str(node.etc),
            "RUN_DIR": str(node.run),
            "DATA_DIR": str(node.data),
            "WAIT_SECONDS": str(wait_seconds),
            "CLI": require("redis-cli"),
        }
    )
    return env


def run_init(
    node: ValkeyNode, nodes: list[ValkeyNode], wait_seconds: int = redis.EMPTY_PRIMARY_WAIT_S, timeout: float = 120, extra_env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The init container's run: the rendered script, by POSIX sh, with a minimal environment
    (`extra_env` overrides some of it)."""
    env = {"PATH": "/usr/bin:/bin", **init_environment(node, nodes, wait_seconds), **(extra_env or {})}
    return subprocess.run(["sh", str(node.etc / redis.INIT_SCRIPT.name)], env=env, capture_output=True, text=True, timeout=timeout)


class ValkeyGroup:
    """Replicated Valkey on loopback: every node started as its pod starts (the init script,
    then valkey-server on the rendered redis.conf, then Sentinel on the sentinel.conf the script
    wrote). `kill` is a node's loss (SIGKILL of both), `start` its pod coming back."""

    def __init__(self, workdir: Path, password: str, replicas: int = 3) -> None:
        self.password = password
        self.nodes = [ValkeyNode(i, workdir / f"redis-{i}", free_port(), free_port()) for i in range(replicas)]
        for node in self.nodes:
            loopback_valkey_files(node, password)
        self.init_logs: dict[int, list[str]] = {n.index: [] for n in self.nodes}

    def start(self, node: ValkeyNode, timeout: float = 10) -> None:
        init = run_init(node, self.nodes)
        self.init_logs[node.index].append(init.stderr)
        if init.returncode != 0:
            raise RuntimeError(f"redis-init.sh of node {node.index} failed ({init.returncode}): {init.stderr}")
        node.server = self._spawn([require("redis-server"), str(node.etc / "redis.conf")], node.etc / "redis.conf", node.port, node.root / "redis.log", timeout)
        node.sentinel = self._spawn(
            [require("redis-server"), str(node.run / "sentinel.conf"), "--sentinel"], node.run / "sentinel.conf", node.sentinel_port, node.root / "sentinel.log", timeout
        )

    @staticmethod
    def _spawn(argv: list[str], config: Path, port: int, log: Path, timeout: float) -> Server:
        with log.open("ab") as out:
            process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=log.parent)
        server = Server(process, port, config, log)
        try:
            _wait_for_port(server, timeout)
        except BaseException:
            _stop(process)
            raise
        return server

    def kill(self, node: ValkeyNode) -> None:
        """The node is gone: its server and its sentinel die at once, without a goodbye."""
        for server in (node.server, node.sentinel):
            if server is not None and server.process.poll() is None:
                server.process.kill()
                server.process.wait(10)
        node.server = node.sentinel = None

    def stop(self) -> None:
        for node in self.nodes:
            for server in (node.sentinel, node.server):
                if server is not None:
                    _stop(server.process)
            node.server = node.sentinel = None
            node.etc.chmod(0o700)  # so the temporary directory can be removed

    def node_at(self, port: int) -> ValkeyNode:
        (node,) = [n for n in self.nodes if n.port == port]
        return node


@contextlib.contextmanager
def valkey_sentinel_group(workdir: Path, password: str, replicas: int = 3, timeout: float = 60) -> Iterator[ValkeyGroup]:
    """`replicas` Valkey pods on loopback (a primary, replicas, a sentinel each) with the
    configuration the stack renders; yields once every replica is linked to the primary and
    every sentinel knows the other sentinels and the replicas. Stopped by PID afterwards."""
    group = ValkeyGroup(workdir, password, replicas)
    try:
        for node in group.nodes:
            group.start(node)
        wait_until_replicated(group, timeout)
        yield group
    finally:
        group.stop()


def _info(port: int, password: str, section: str) -> dict[str, str]:
    import redis as redis_client  # the tests' client; servers.py is imported by the bench too

    client = redis_client.Redis(host=LOOPBACK, port=port, password=password, socket_timeout=2, retry=None)
    try:
        return {k: str(v) for k, v in client.info(section).items()}
    finally:
        client.close()


def wait_until_replicated(group: ValkeyGroup, timeout: float) -> None:
    """Every replica linked, and every sentinel seeing the others and all replicas."""
    deadline = time.monotonic() + timeout
    others = len(group.nodes) - 1
    last = ""
    while time.monotonic() < deadline:
        try:
            primary = _info(group.nodes[0].port, group.password, "replication")
            masters = [sentinel_master(n.sentinel_port, group.password) for n in group.nodes]
        except Exception as error:  # not up yet: keep the reason for the failure message
            last = f"{type(error).__name__}: {error}"
        else:
            last = f"primary: {primary}; sentinels: {masters}"
            linked = primary.get("role") == "master" and int(primary.get("connected_slaves", 0)) == others
            if linked and all(int(m["num-slaves"]) == others and int(m["num-other-sentinels"]) == others for m in masters):
                return
        time.sleep(0.1)
    raise TimeoutError(f"the group did not come together in {timeout} s: {last}")


def sentinel_master(sentinel_port: int, password: str) -> dict[str, str]:
    """SENTINEL MASTER redis, as a dict."""
    import redis as redis_client

    client = redis_client.Redis(host=LOOPBACK, port=sentinel_port, password=password, socket_timeout=2, retry=None, decode_responses=True)
    try:
        reply = client.execute_command("SENTINEL", "MASTER", redis.MASTER_NAME)
    finally:
        client.close()
    if isinstance(reply, dict):
        return {str(k): str(v) for k, v in reply.items()}
    return {str(k): str(v) for k, v in zip(reply[::2], reply[1::2], strict=True)}

"""Real redis-server and nats-server processes for tests and benchmarks, on 127.0.0.1 only.

Each server gets a free port, a config file and a data directory under the caller's temporary
directory, and is stopped by its PID (SIGTERM, then SIGKILL after a bound). Nothing here
touches system services: the Debian packages' own units are never started.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


def stop_process(process: subprocess.Popen[bytes], timeout: float = 10) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)


@contextlib.contextmanager
def started(argv: list[str], config: Path, port: int, log: Path, timeout: float = 10, env: Mapping[str, str] | None = None) -> Iterator[Server]:
    with log.open("wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=config.parent, env=None if env is None else dict(env))
    server = Server(process, port, config, log)
    try:
        _wait_for_port(server, timeout)
        yield server
    finally:
        stop_process(process)


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

    def __init__(self, port: int, timeout: float = 5, user: str | None = None, password: str | None = None, headers: bool = False) -> None:
        self.sock = socket.create_connection((LOOPBACK, port), timeout=timeout)
        # Each command is its own write: without this, Nagle's algorithm holds the second of two
        # small writes for the peer's delayed ACK (about 40 ms a request).
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""
        self.info = json.loads(self._line().removeprefix(b"INFO "))
        # headers: HPUB may be sent (JetStream's Nats-Msg-Id), and messages with headers arrive as HMSG.
        options = {"verbose": False, "pedantic": True, "headers": headers, "name": "sovereign-faas-test"}
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

    def hpublish(self, subject: str, headers: Mapping[str, str], payload: bytes, reply: str | None = None) -> None:
        """HPUB: a message with NATS headers (the client must have connected with headers=True)."""
        head = ("NATS/1.0\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode()
        line = f"HPUB {subject} {reply + ' ' if reply else ''}{len(head)} {len(head) + len(payload)}\r\n".encode()
        self.sock.sendall(line + head + payload + b"\r\n")

    def flush(self) -> None:
        """PING/PONG: the server has processed everything sent before."""
        self.sock.sendall(b"PING\r\n")
        self.next_message(until_pong=True)

    def next_message(self, until_pong: bool = False) -> tuple[str, bytes]:
        """The next MSG as (subject, payload); answers the server's PINGs; raises on -ERR."""
        subject, _, payload = self.next_msg(until_pong)
        return subject, payload

    def next_msg(self, until_pong: bool = False) -> tuple[str, str | None, bytes]:
        """The next MSG as (subject, reply subject or None, payload): `MSG <subject> <sid>
        [reply-to] <#bytes>`. JetStream's snapshot chunks carry the ack subject as reply."""
        while True:
            line = self._line()
            if line == b"PING":
                self.sock.sendall(b"PONG\r\n")
            elif line == b"PONG" and until_pong:
                return "", None, b""
            elif line.startswith(b"-ERR"):
                raise RuntimeError(f"NATS error: {line.decode()}")
            elif line.startswith(b"MSG "):
                parts = line.decode().split(" ")
                return parts[1], parts[3] if len(parts) == 5 else None, self._exactly(int(parts[-1]))
            elif line.startswith(b"HMSG "):  # `HMSG <subject> <sid> [reply-to] <#header bytes> <#bytes>`: the payload is returned
                parts = line.decode().split(" ")
                return parts[1], parts[3] if len(parts) == 6 else None, self._exactly(int(parts[-1]))[int(parts[-2]) :]

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


# --- JetStream's snapshot API, as the nats CLI uses it (jsm.go snapshots.go) -------------------


def js_snapshot(client: NatsClient, stream: str, chunk_size: int = 128 * 1024) -> tuple[dict[str, Any], bytes]:
    """A stream's snapshot as `nats stream backup` takes it (jsm.go createSnapshot): request it
    with a deliver subject, answer each chunk on its reply (ack) subject, until the empty
    end-of-file message. Returns jsm.go's backup.json content ({config, state}, and how many
    chunks came) and the data (the s2-compressed tar `stream.tar.s2` holds)."""
    deliver, inbox = "_INBOX.snapshot.data", "_INBOX.snapshot.reply"
    client.subscribe(deliver)
    client.subscribe(inbox)
    request = {"deliver_subject": deliver, "no_consumers": False, "chunk_size": chunk_size}
    client.publish(f"$JS.API.STREAM.SNAPSHOT.{stream}", json.dumps(request).encode(), reply=inbox)
    response: dict[str, Any] | None = None
    chunks: list[bytes] = []
    for _ in range(100_000):  # bounded; each read is bounded by the socket timeout too
        subject, reply, payload = client.next_msg()
        if subject == inbox:
            answer: dict[str, Any] = json.loads(payload)
            if "error" in answer:
                raise RuntimeError(f"snapshot refused: {answer['error']}")
            response = answer
        elif subject == deliver and not payload:
            break
        elif subject == deliver:
            chunks.append(payload)
            if not (reply and reply.startswith(f"$JS.SNAPSHOT.ACK.{stream}.")):
                raise RuntimeError(f"a snapshot chunk without its ack subject: {reply!r}")
            client.publish(reply, b"")
    else:
        raise TimeoutError("no end of the snapshot")
    if response is None:
        raise RuntimeError("no answer to the snapshot request")
    return {"config": response["config"], "state": response["state"], "chunks": len(chunks)}, b"".join(chunks)


def js_restore(client: NatsClient, meta: dict[str, Any], data: bytes, chunk: int = 64 * 1024) -> dict[str, Any]:
    """jsm.go restoreSnapshot: the restore request, the data in chunks (each a request the
    server answers), then an empty request whose answer is the stream's create response."""
    answer = client.js_api(f"STREAM.RESTORE.{meta['config']['name']}", {"config": meta["config"], "state": meta["state"]})
    target = answer["deliver_subject"]
    for start in range(0, len(data), chunk):
        reply = json.loads(client.request(target, data[start : start + chunk]) or b"{}")
        if "error" in reply:
            raise RuntimeError(f"restore refused a chunk: {reply['error']}")
    final = json.loads(client.request(target, b""))
    if final.get("type") != "io.nats.jetstream.api.v1.stream_create_response" or "error" in final:
        raise RuntimeError(f"restore failed: {final}")
    return final


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


# --- a NATS cluster as the stack renders it, on loopback ------------------------------------


@dataclass
class ClusterServer:
    """One server of `nats_cluster`: its ports, its directory (config, store, log), and the
    process, which a test may kill and start again on the same store."""

    name: str
    port: int
    route_port: int
    monitor_port: int
    workdir: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def config(self) -> Path:
        return self.workdir / "nats-server.conf"

    @property
    def log(self) -> Path:
        return self.workdir / "nats.log"

    def env(self) -> dict[str, str]:
        """What the pod's environment gives the config's variables (render/nats.cluster_env),
        with loopback addresses: the same quoting, the same names."""
        return {
            **os.environ,
            nats.POD_NAME: self.name,
            nats.CLIENT_ADVERTISE: json.dumps(f"{LOOPBACK}:{self.port}"),
            nats.CLUSTER_ADVERTISE: json.dumps(f"{LOOPBACK}:{self.route_port}"),
        }

    def start(self, timeout: float = 10) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen([require("nats-server"), "-c", str(self.config)], stdout=out, stderr=subprocess.STDOUT, cwd=self.workdir, env=self.env())
        _wait_for_port(Server(self.process, self.port, self.config, self.log), timeout)

    def kill(self) -> None:
        """SIGKILL: no lame-duck mode, no flush: what a lost node looks like to its peers."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def loopback_cluster_config(
    server: ClusterServer,
    peers: list[ClusterServer],
    settings: nats.NatsSettings | None = None,
    clients: nats.NatsClients | None = None,
    route_password: str = "route-secret",
) -> str:
    """One server's config as the stack renders it for len(peers) replicas: loopback addresses,
    its own ports and directories, and nats-auth's two files (passwords.conf, routes.conf with
    the peers' loopback route URLs) beside it. Nothing else changes."""
    clients = clients or nats.NatsClients()
    auth = server.workdir / "nats-auth"
    auth.mkdir(parents=True, exist_ok=True)
    (auth / nats.PASSWORDS_FILE).write_text(nats.passwords_config({user: f"{user}-secret" for user in clients.password_users}))
    urls = tuple(f"nats://{LOOPBACK}:{peer.route_port}" for peer in peers)
    (auth / nats.ROUTES_FILE).write_text(nats.routes_config(route_password, urls))
    config = nats.server_config(settings or nats.NatsSettings(), clients, replicas=len(peers))
    config["listen"] = f"{LOOPBACK}:{server.port}"
    config["http"] = f"{LOOPBACK}:{server.monitor_port}"
    config["jetstream"] = {**config["jetstream"], "store_dir": str(server.workdir / "jetstream-store")}
    config["include"] = nats.Include(f"nats-auth/{nats.PASSWORDS_FILE}")
    config["include_routes"] = nats.Include(f"nats-auth/{nats.ROUTES_FILE}")
    config["cluster"] = {**config["cluster"], "listen": f"{LOOPBACK}:{server.route_port}"}
    return nats.render_config(config)


def wait_until(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.1) -> float:
    """Poll `check` until true; the seconds it took; TimeoutError naming `what` after `timeout`."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        with contextlib.suppress(OSError, ValueError, RuntimeError):
            if check():
                return time.monotonic() - start
        time.sleep(interval)
    raise TimeoutError(f"{what}: not within {timeout} s")


def healthy(server: ClusterServer, query: str = "") -> bool:
    return server.running and http_get(server.monitor_port, f"/healthz{query}", timeout=2)[0] == 200


@contextlib.contextmanager
def nats_cluster(
    workdir: Path, replicas: int = 3, settings: nats.NatsSettings | None = None, clients: nats.NatsClients | None = None, timeout: float = 30
) -> Iterator[list[ClusterServer]]:
    """`replicas` nats-servers routed to each other as the stack renders them (distinct client,
    route and monitor ports on 127.0.0.1), started together as the StatefulSet's Parallel
    policy does; yields once every /healthz is ok (a JetStream meta leader is elected and each
    is current with it), and stops every server, however the test ends."""
    servers = [
        ClusterServer(f"nats-{i}", free_port(), free_port(), free_port(), workdir / f"nats-{i}") for i in range(replicas)
    ]
    try:
        for server in servers:
            server.workdir.mkdir(parents=True, exist_ok=True)
            server.config.write_text(loopback_cluster_config(server, servers, settings, clients))
        for server in servers:
            server.start()
        try:
            wait_until(lambda: all(healthy(s) for s in servers), timeout, "every server healthy")
        except TimeoutError as err:
            raise TimeoutError(f"{err}:\n" + "\n".join(f"--- {s.name}\n{s.output()[-3000:]}" for s in servers)) from None
        yield servers
    finally:
        for server in servers:
            server.stop()


class AckedPublisher:
    """Publishes to JetStream as a client given every server's URL does: each message with a
    `Nats-Msg-Id` (the stream drops a repeat within its duplicate window) and a reply subject,
    on which JetStream answers with the publish acknowledgement (PubAck, JSON). A message not
    acknowledged within `ack_timeout` is sent again with the same id; a lost connection moves
    on to the next server that answers. Counts what it had to do."""

    def __init__(self, ports: list[int], subject: str, ack_timeout: float = 0.5, first: int = 0) -> None:
        self.ports = ports
        self.subject = subject
        self.ack_timeout = ack_timeout
        self.index = first
        self.client: NatsClient | None = None
        self.sent = 0  # HPUBs, retries included
        self.reconnects = 0
        self.duplicates = 0  # acks that say the stream already had the id: a retry of a stored message

    def connect(self) -> None:
        """The next server that accepts, starting with the current one (bounded: one round)."""
        errors = []
        for step in range(len(self.ports)):
            port = self.ports[(self.index + step) % len(self.ports)]
            try:
                client = NatsClient(port, timeout=self.ack_timeout, headers=True)
            except OSError as err:
                errors.append(f"{port}: {err}")
                continue
            client.subscribe("_INBOX.acks.*")
            self.client, self.index = client, (self.index + step) % len(self.ports)
            return
        raise ConnectionError(f"no server accepts: {errors}")

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None

    def publish_once(self, msg_id: str, payload: bytes) -> dict:
        """One attempt: the PubAck, or an error (TimeoutError, ConnectionError, OSError,
        RuntimeError for a JetStream error answer)."""
        if self.client is None:
            self.connect()
        assert self.client is not None
        self.sent += 1
        reply = f"_INBOX.acks.{self.sent}"
        self.client.hpublish(self.subject, {"Nats-Msg-Id": msg_id}, payload, reply=reply)
        while True:  # skip late acks of earlier attempts: each attempt has its own reply subject
            got, data = self.client.next_message()
            if got == reply:
                break
        ack = json.loads(data)
        if "error" in ack:
            raise RuntimeError(f"JetStream refused {msg_id}: {ack['error']}")
        if ack.get("duplicate"):
            self.duplicates += 1
        return ack

    def publish(self, msg_id: str, payload: bytes, deadline: float) -> tuple[dict, int]:
        """Until acknowledged (the ack and the attempts it took), or TimeoutError at `deadline`
        (time.monotonic())."""
        attempts = 0
        while time.monotonic() < deadline:
            attempts += 1
            try:
                return self.publish_once(msg_id, payload), attempts
            except (TimeoutError, RuntimeError):
                continue  # no ack in time, or JetStream has no leader yet: again, same id
            except OSError:  # ConnectionError too: the server went; the next one
                self.close()
                self.reconnects += 1
                time.sleep(0.05)
        raise TimeoutError(f"{msg_id}: no acknowledgement after {attempts} attempts")
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
            stop_process(process)
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
                    stop_process(server.process)
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

"""The stack's NATS config and redis.conf, run by real servers on 127.0.0.1.

Each config is rendered by the same functions the components use (tests/servers.py changes
only what loopback needs: addresses, ports, paths, the password), then handed to Debian's
nats-server (2.9) and redis-server (7.0). The servers are started on free ports and stopped
by PID. The stack runs Valkey 9.1 (settings/versions.py); Debian bookworm packages no Valkey,
so Redis 7.0 stands in for it: Valkey forked Redis 7.2 and keeps its redis.conf directives,
which makes a config Redis 7.0 accepts one Valkey accepts too (the reverse is not checked:
keep render/redis.py to 7.0's directives).
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis as redis_client

from render import nats, redis
from settings.data_services import EVICTION_POLICIES
from tests.servers import (
    LOOPBACK,
    NatsClient,
    Server,
    free_port,
    http_get,
    loopback_nats_config,
    loopback_redis_config,
    nats_server,
    redis_server,
    require,
)

pytestmark = pytest.mark.servers
PASSWORD = "test-only-0123456789abcdefABCDEF"  # alphanumeric, like the generated one


# --- NATS ------------------------------------------------------------------------------------

TOPICS = ("image-upload", "orders")  # as functions' `topic` annotations would give them
CE = nats.NatsClients(TOPICS)
PRO = nats.NatsClients(TOPICS, pro_queue=True)
CONNECTOR_QUEUE = "openfaas_nats_worker_group"  # nats-connector 0.3.0 nats/broker.go queueGroup


def nats_check(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([require("nats-server"), "-c", str(config), "-t"], capture_output=True, text=True, timeout=30)


def secret_of(user: str) -> str:
    return f"{user}-secret"  # what loopback_nats_config writes by default


@pytest.fixture
def nats_ports() -> tuple[int, int]:
    return free_port(), free_port()


@pytest.fixture
def nats_running(tmp_path: Path, nats_ports: tuple[int, int]) -> Iterator[tuple[Server, int]]:
    """The stack's config in CE: functions and the connector, no queue account."""
    port, monitor = nats_ports
    with nats_server(tmp_path, loopback_nats_config(tmp_path, port, monitor, clients=CE), port) as server:
        yield server, monitor


@pytest.fixture
def nats_pro(tmp_path: Path, nats_ports: tuple[int, int]) -> Iterator[Server]:
    port, monitor = nats_ports
    with nats_server(tmp_path, loopback_nats_config(tmp_path, port, monitor, clients=PRO), port) as server:
        yield server


def as_user(server: Server, user: str) -> NatsClient:
    return NatsClient(server.port, user=user, password=secret_of(user))


def test_nats_server_accepts_the_rendered_config(tmp_path: Path) -> None:
    for clients in (nats.NatsClients(), CE, PRO):
        path = tmp_path / "nats-server.conf"
        path.write_text(loopback_nats_config(tmp_path, free_port(), free_port(), clients=clients))
        checked = nats_check(path)
        assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_include_finds_the_secret_where_the_pod_mounts_it(tmp_path: Path) -> None:
    """The config exactly as rendered (only JetStream's directory moved), laid out as the pod
    mounts it: <root>/etc/nats/nats-server.conf includes <root>/etc/nats-auth/passwords.conf."""
    config = nats.server_config(nats.NatsSettings(), PRO)
    config["jetstream"] = {**config["jetstream"], "store_dir": str(tmp_path / "js")}
    conf = tmp_path / nats.CONFIG_DIR.lstrip("/") / nats.CONFIG_FILE
    auth = tmp_path / nats.AUTH_DIR.lstrip("/") / nats.PASSWORDS_FILE
    conf.parent.mkdir(parents=True)
    auth.parent.mkdir(parents=True)
    conf.write_text(nats.render_config(config))
    auth.write_text(nats.passwords_config({u: secret_of(u) for u in PRO.password_users}))
    checked = nats_check(conf)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    auth.unlink()  # the Secret not mounted: the server must not start
    missing = nats_check(conf)
    assert missing.returncode != 0 and "passwords.conf" in missing.stdout + missing.stderr


def test_a_password_missing_from_the_secret_stops_the_server(tmp_path: Path) -> None:
    """A user without its variable would otherwise not exist; nats-server refuses instead."""
    path = tmp_path / "nats-server.conf"
    path.write_text(loopback_nats_config(tmp_path, free_port(), free_port(), clients=CE, passwords={nats.FUNCTION_USER: "x"}))
    checked = nats_check(path)
    assert checked.returncode != 0 and "nats_connector_password" in checked.stdout + checked.stderr


def test_nats_server_refuses_a_misspelt_key_and_a_broken_file(tmp_path: Path) -> None:
    config = nats.server_config(nats.NatsSettings())
    config["max_paylod"] = config.pop("max_payload")
    loopback_nats_config(tmp_path, free_port(), free_port())  # writes the included passwords.conf
    config["include"] = nats.Include(f"nats-auth/{nats.PASSWORDS_FILE}")
    misspelt = tmp_path / "misspelt.conf"
    misspelt.write_text(nats.render_config(config))
    checked = nats_check(misspelt)
    assert checked.returncode != 0 and 'unknown field "max_paylod"' in checked.stdout + checked.stderr
    truncated = tmp_path / "truncated.conf"
    truncated.write_text(nats.render_config(nats.server_config(nats.NatsSettings())).rsplit("}", 1)[0])
    assert nats_check(truncated).returncode != 0


# --- who may connect, and to what ------------------------------------------------------------


@pytest.mark.parametrize(("user", "password"), [(None, None), (nats.FUNCTION_USER, "wrong"), (nats.QUEUE_USER, None), ("nobody", "x")])
def test_ce_refuses_a_client_without_the_right_credentials(nats_running: tuple[Server, int], user: str | None, password: str | None) -> None:
    server, _ = nats_running
    with pytest.raises((RuntimeError, ConnectionError), match="Authorization Violation|closed"):
        NatsClient(server.port, user=user, password=password)


def test_a_function_publishes_to_a_topic_and_the_connector_receives_it(nats_running: tuple[Server, int]) -> None:
    server, _ = nats_running
    with as_user(server, nats.CONNECTOR_USER) as connector, as_user(server, nats.FUNCTION_USER) as function:
        for topic in TOPICS:
            connector.subscribe(topic, queue=CONNECTOR_QUEUE)  # as the connector subscribes
        connector.flush()  # no -ERR: both subscriptions accepted
        assert connector.info["max_payload"] == int(nats.NatsSettings().max_payload.removesuffix("Mi")) * 2**20
        image = bytes(range(256)) * 4096  # 1 MiB: over NATS' own default limit, within ours
        function.publish("image-upload", image)
        function.flush()
        assert connector.next_message() == ("image-upload", image)


@pytest.mark.parametrize(
    "subject",
    [
        "not-a-topic",  # a subject no function listens to
        "faas-request",  # the Pro queue's subject (another account anyway)
        "$JS.API.STREAM.LIST",  # JetStream
        "$SYS.REQ.SERVER.PING",  # the system account
        "_INBOX.someone-else",  # a reply inbox the function was not asked to answer
    ],
)
def test_a_function_may_not_publish_where_the_stack_does_not_let_it(nats_running: tuple[Server, int], subject: str) -> None:
    server, _ = nats_running
    with as_user(server, nats.FUNCTION_USER) as function:
        function.publish(subject, b"exfiltrate")
        with pytest.raises(RuntimeError, match=f'Permissions Violation for Publish to "{re.escape(subject)}"'):
            function.flush()


def test_functions_talk_among_themselves_under_their_prefix_and_answer_requests(nats_running: tuple[Server, int]) -> None:
    server, _ = nats_running
    with as_user(server, nats.FUNCTION_USER) as a, as_user(server, nats.FUNCTION_USER) as b:
        b.subscribe("events.resized")
        b.flush()
        a.subscribe("_INBOX.a.1")
        a.publish("events.resized", b"img/1.jpg", reply="_INBOX.a.1")
        a.flush()
        assert b.next_message() == ("events.resized", b"img/1.jpg")
        b.publish("_INBOX.a.1", b"done")  # allow_responses: the reply subject it was given
        b.flush()
        assert a.next_message() == ("_INBOX.a.1", b"done")


def test_a_function_may_not_listen_to_a_topic(nats_running: tuple[Server, int]) -> None:
    """Topic messages are for the functions the connector calls, not for every function."""
    server, _ = nats_running
    with as_user(server, nats.FUNCTION_USER) as function:
        function.subscribe("image-upload")
        with pytest.raises(RuntimeError, match='Permissions Violation for Subscription to "image-upload"'):
            function.flush()


@pytest.mark.parametrize("subject", ["image-upload", "events.x"])
def test_the_connector_may_not_publish(nats_running: tuple[Server, int], subject: str) -> None:
    server, _ = nats_running
    with as_user(server, nats.CONNECTOR_USER) as connector:
        connector.publish(subject, b"x")
        with pytest.raises(RuntimeError, match="Permissions Violation for Publish"):
            connector.flush()


def test_the_connector_may_not_listen_beyond_the_topics(nats_running: tuple[Server, int]) -> None:
    server, _ = nats_running
    with as_user(server, nats.CONNECTOR_USER) as connector:
        connector.subscribe("events.>")
        with pytest.raises(RuntimeError, match='Permissions Violation for Subscription to "events.>"'):
            connector.flush()


def test_pro_lets_a_client_without_credentials_into_the_queue_account_only(nats_pro: Server) -> None:
    """What the Pro gateway and queue-worker get (they cannot send credentials), and so what
    any client without them gets: JetStream in QUEUE, nothing of EVENTS (docs/limits.md)."""
    with NatsClient(nats_pro.port) as anonymous, as_user(nats_pro, nats.CONNECTOR_USER) as connector:
        assert anonymous.js_api("INFO")["type"] == "io.nats.jetstream.api.v1.account_info_response"
        connector.subscribe("image-upload")
        connector.flush()
        anonymous.publish("image-upload", b"from the queue account")  # allowed there, heard nowhere
        anonymous.flush()
        with as_user(nats_pro, nats.FUNCTION_USER) as function:
            function.publish("image-upload", b"from a function")
            function.flush()
        assert connector.next_message() == ("image-upload", b"from a function")


def test_pro_keeps_functions_away_from_the_queue(nats_pro: Server) -> None:
    with as_user(nats_pro, nats.FUNCTION_USER) as function:
        function.publish("$JS.API.STREAM.INFO.faas-request", b"")
        with pytest.raises(RuntimeError, match="Permissions Violation for Publish"):
            function.flush()
    with pytest.raises((RuntimeError, ConnectionError), match="Authorization Violation|closed"):
        NatsClient(nats_pro.port, user=nats.FUNCTION_USER, password="wrong")  # no falling back to anonymous


def test_jetstream_stores_a_stream_on_disk_that_survives_a_restart(tmp_path: Path, nats_ports: tuple[int, int]) -> None:
    """In the queue account, as the Pro queue-worker uses it."""
    port, monitor = nats_ports
    conf = loopback_nats_config(tmp_path, port, monitor, clients=PRO)
    stream = {"name": "EVENTS", "subjects": ["events.>"], "storage": "file", "retention": "limits"}
    with nats_server(tmp_path, conf, port) as server, NatsClient(server.port) as client:
        client.js_api("STREAM.CREATE.EVENTS", stream)
        ack = client.request("events.upload", b'{"key": "img/1.jpg"}')
        assert b'"stream":"EVENTS"' in ack and b'"seq":1' in ack
    assert list((tmp_path / "jetstream-store" / "jetstream").rglob("*.blk")), "no JetStream block file on disk"
    with nats_server(tmp_path, conf, port) as server, NatsClient(server.port) as client:
        info = client.js_api("STREAM.INFO.EVENTS")
        assert info["config"]["storage"] == "file" and info["state"]["messages"] == 1
        status, body = http_get(monitor, "/jsz")
        assert status == 200 and b'"streams": 1' in body


def test_the_probe_paths_answer_ok(nats_running: tuple[Server, int]) -> None:
    _, monitor = nats_running
    for probe in nats.PROBES.values():
        status, body = http_get(monitor, probe["httpGet"]["path"])
        assert (status, body.strip()) == (200, b'{"status":"ok"}'), probe


def test_connector_probe_sees_an_established_connection_to_nats(nats_running: tuple[Server, int]) -> None:
    server, _ = nats_running
    script = nats.connector_probe_script(server.port)

    def probe() -> int:
        return subprocess.run(["sh", "-c", script], timeout=10).returncode

    assert probe() == 1  # the server listens, nobody is connected
    with as_user(server, nats.CONNECTOR_USER):
        assert probe() == 0
    deadline = time.monotonic() + 5
    while probe() == 0 and time.monotonic() < deadline:  # TIME_WAIT is not ESTABLISHED
        time.sleep(0.1)
    assert probe() == 1


# --- Redis -----------------------------------------------------------------------------------


@pytest.fixture
def redis_running(tmp_path: Path) -> Iterator[Server]:
    port = free_port()
    with redis_server(tmp_path, loopback_redis_config(tmp_path, port, PASSWORD, somaxconn="65535"), port) as server:
        yield server


def connect(server: Server, password: str | None) -> redis_client.Redis:
    # retry=None: redis-py would retry a refused AUTH with backoff (seconds) before raising
    return redis_client.Redis(host=LOOPBACK, port=server.port, password=password, socket_timeout=5, retry=None)


def test_redis_refuses_a_wrong_or_missing_password_and_accepts_the_right_one(redis_running: Server) -> None:
    with pytest.raises(redis_client.AuthenticationError):
        connect(redis_running, "wrong-password").ping()
    with pytest.raises(redis_client.AuthenticationError):
        connect(redis_running, None).get("k")  # NOAUTH
    client = connect(redis_running, PASSWORD)
    assert client.set("state:1", "kept") and client.get("state:1") == b"kept"


def test_redis_runs_with_the_rendered_limits_and_hardening(redis_running: Server) -> None:
    client = connect(redis_running, PASSWORD)
    settings = redis.RedisSettings()
    got = {k: client.config_get(k)[k] for k in ("maxmemory", "maxmemory-policy", "appendonly", "appendfsync", "save")}
    assert got == {"maxmemory": str(384 * 2**20), "maxmemory-policy": settings.maxmemory_policy, "appendonly": "yes", "appendfsync": "everysec", "save": ""}
    with pytest.raises(redis_client.ResponseError, match="protected"):
        client.config_set("dir", "/tmp")  # enable-protected-configs no
    with pytest.raises(redis_client.ResponseError, match="DEBUG"):
        client.execute_command("DEBUG", "SLEEP", "0")  # enable-debug-command no


def test_redis_writes_its_append_only_file_and_replays_it_after_a_restart(tmp_path: Path) -> None:
    port = free_port()
    conf = loopback_redis_config(tmp_path, port, PASSWORD)
    with redis_server(tmp_path, conf, port) as server:
        connect(server, PASSWORD).set("upload:1", "x" * 100)
        aof = tmp_path / "appendonlydir"
        deadline = time.monotonic() + 5  # appendfsync everysec: on disk within about a second
        while not any(b"upload:1" in f.read_bytes() for f in aof.glob("*.incr.aof")) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert any(b"upload:1" in f.read_bytes() for f in aof.glob("*.incr.aof")), sorted(p.name for p in aof.iterdir())
        assert list(aof.glob("*.manifest"))
    with redis_server(tmp_path, conf, port) as server:
        assert connect(server, PASSWORD).get("upload:1") == b"x" * 100
    assert not list(tmp_path.glob("*.rdb")), "save \"\": no RDB snapshots beside the append-only file"


def test_every_eviction_policy_we_accept_is_one_redis_accepts(redis_running: Server) -> None:
    client = connect(redis_running, PASSWORD)
    for policy in EVICTION_POLICIES:
        assert client.config_set("maxmemory-policy", policy)
    with pytest.raises(redis_client.ResponseError):
        client.config_set("maxmemory-policy", "lru")


def run_probe(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=10)


def test_the_probes_authenticate_with_the_mounted_password(redis_running: Server, tmp_path: Path) -> None:
    for accept in (redis.READY, redis.ALIVE):
        ok = run_probe(redis.probe_script(str(tmp_path / "password"), redis_running.port, accept, redis.REDIS_TOOLS))
        assert ok.returncode == 0, ok.stderr
    wrong = tmp_path / "wrong-password"
    wrong.write_text("not-the-password")
    refused = run_probe(redis.probe_script(str(wrong), redis_running.port, redis.ALIVE, redis.REDIS_TOOLS))
    assert refused.returncode == 1 and ("WRONGPASS" in refused.stderr or "NOAUTH" in refused.stderr)
    down = run_probe(redis.probe_script(str(tmp_path / "password"), free_port(), redis.READY, redis.REDIS_TOOLS))
    assert down.returncode == 1


def test_redis_refuses_a_broken_config(tmp_path: Path) -> None:
    config = redis.server_config(redis.RedisSettings())
    config["maxmemory-policy"] = "least-recently-used"
    path = tmp_path / "broken.conf"
    path.write_text(redis.render_config({k: v for k, v in config.items() if k != "include"}))
    result = subprocess.run([require("redis-server"), str(path)], capture_output=True, text=True, timeout=30)
    assert result.returncode != 0 and "FATAL CONFIG FILE ERROR" in result.stdout + result.stderr


# --- Redis' own transparent-huge-pages check (issue 14) ----------------------------------------

THP_ENABLED = Path("/sys/kernel/mm/transparent_hugepage/enabled")


def test_redis_does_not_warn_about_transparent_huge_pages(redis_running: Server) -> None:
    """Redis checks THP at start-up (src/syscheck.c checkTHPEnabled) and logs "WARNING You
    have Transparent Huge Pages (THP) support enabled in your kernel..." only when
    /sys/kernel/mm/transparent_hugepage/enabled selects `[always]`: what the node's
    host-tuning step rules out (transparentHugePages is `never` or `madvise`). This machine's
    kernel stands in for a tuned node; the test never changes it, so on a machine set to
    `[always]` it is skipped, and the rendered settings are tested instead
    (tests/test_node_tuning.py). Written on a machine whose file read `always [madvise] never`.
    Note: Redis 7 with its default `disable-thp yes` turns THP off for itself and then stays
    quiet even under `[always]`; the step covers every other process on the node too."""
    mode = THP_ENABLED.read_text().strip() if THP_ENABLED.exists() else ""
    if "[always]" in mode:
        pytest.skip(f"this machine's {THP_ENABLED} is {mode!r}: Redis would be right to warn, and a test must not change the kernel")
    deadline = time.monotonic() + 5
    while "Ready to accept connections" not in redis_running.output() and time.monotonic() < deadline:
        time.sleep(0.05)
    log = redis_running.output()
    assert "Ready to accept connections" in log, log  # the start-up checks ran and were logged
    assert "Transparent Huge Pages" not in log, log

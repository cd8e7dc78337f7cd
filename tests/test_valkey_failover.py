"""Valkey's failover, for real: a primary, two replicas and three sentinels on 127.0.0.1, run
with the configuration the stack renders (render/redis.py; tests/servers.py changes only
addresses, ports and directories) and started as the pods start (redis-init.sh first).

Writes are acknowledged as a careful client acknowledges them: SET, then `WAIT 1 <ms>`; only a
write that at least one replica confirmed counts. The primary's node dies (SIGKILL of its
server and its sentinel, as a lost node takes both). The surviving sentinels must promote a
replica within the bound, a Sentinel-aware client (redis-py's `Sentinel.master_for`, what the
example function uses) must find it and write again, no acknowledged write may be missing,
and the old primary, started again with the rendered config and the init script, must come
back as a replica of the new one, its sentinel taking its old place (still three sentinels),
so that the group fails over once more when the new primary's node dies in turn.

Debian's redis-server 7.0 stands in for Valkey 9.1 (as in tests/test_data_servers.py: Valkey
forked Redis 7.2 and keeps its directives and its Sentinel).
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis as redis_client
from redis.sentinel import Sentinel

from render import redis
from tests.servers import (
    LOOPBACK,
    ValkeyGroup,
    ValkeyNode,
    free_port,
    loopback_valkey_files,
    run_init,
    sentinel_master,
    valkey_sentinel_group,
    wait_until,
)

pytestmark = pytest.mark.servers
# The shared bounded wait, polled finely: the failover times it returns are what the test reports.
wait_for = functools.partial(wait_until, interval=0.05)
PASSWORD = "test0only0valkey0sentinel0pass01"  # alphanumeric, 32 characters, like the generated one
WAIT_MS = 1000  # how long a write waits for a replica's acknowledgement
# The bound a failover must meet: Sentinel's down-after period, its election and the promotion,
# and the other replica re-pointed so that min-replicas-to-write lets writes in again.
FAILOVER_BOUND_S = redis.DOWN_AFTER_MS / 1000 + 10
REJOIN_BOUND_S = 20
BEFORE_KILL = 500  # acknowledged writes before the primary dies
AFTER_FAILOVER = 200  # and after the first write the new primary took


def sentinel_client(group: ValkeyGroup) -> Sentinel:
    """As the example function builds it: every sentinel, the password for both kinds."""
    return Sentinel(
        [(LOOPBACK, n.sentinel_port) for n in group.nodes],
        sentinel_kwargs={"password": group.password, "socket_timeout": 0.5},
        password=group.password,
        socket_timeout=0.5,
        socket_connect_timeout=0.5,
    )


def role(node: ValkeyNode, password: str) -> dict[str, str]:
    client = redis_client.Redis(host=LOOPBACK, port=node.port, password=password, socket_timeout=2, retry=None, decode_responses=True)
    try:
        return {k: str(v) for k, v in client.info("replication").items()}
    finally:
        client.close()


@dataclass
class Writer:
    """Writes key w:<n> = <n> through the Sentinel client until told to stop, each followed by
    WAIT 1; records which were acknowledged, and when."""

    master: redis_client.Redis
    acknowledged: dict[str, str] = field(default_factory=dict)
    unacknowledged: int = 0  # written, but no replica confirmed it within WAIT_MS
    failures: int = 0  # refused (dead primary, READONLY, NOREPLICAS) or unanswered
    n: int = 0
    acked_at: list[float] = field(default_factory=list)  # monotonic time of each acknowledgement
    killed_n: int = 0  # the first key written after the kill
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        deadline = time.monotonic() + 120  # bounded even if nobody stops it
        while not self.stop.is_set() and time.monotonic() < deadline:
            key, value = f"w:{self.n}", str(self.n)
            self.n += 1
            try:
                self.master.set(key, value)
                replicas = int(self.master.execute_command("WAIT", 1, WAIT_MS))
            except (redis_client.ConnectionError, redis_client.TimeoutError, redis_client.ResponseError):
                self.failures += 1
                time.sleep(0.02)
                continue
            if replicas < 1:
                self.unacknowledged += 1
                continue
            self.acknowledged[key] = value
            self.acked_at.append(time.monotonic())

    def first_ack_after(self, moment: float) -> float | None:
        return min((t for t in list(self.acked_at) if t > moment), default=None)

    def acks_after_kill(self) -> int:
        return sum(1 for key in self.acknowledged if int(key[2:]) >= self.killed_n)


@pytest.fixture
def group(tmp_path: Path) -> Iterator[ValkeyGroup]:
    with valkey_sentinel_group(tmp_path, PASSWORD) as started:
        yield started


def primary_port(sentinel: Sentinel) -> int:
    return int(sentinel.discover_master(redis.MASTER_NAME)[1])


def test_the_primary_dies_a_replica_takes_over_and_no_acknowledged_write_is_lost(group: ValkeyGroup) -> None:
    sentinel = sentinel_client(group)
    old = group.node_at(primary_port(sentinel))
    assert old.index == 0  # the initial topology: pod 0 is the primary
    writer = Writer(sentinel.master_for(redis.MASTER_NAME, socket_timeout=0.5, socket_connect_timeout=0.5, retry=None))
    thread = threading.Thread(target=writer.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: len(writer.acknowledged) >= BEFORE_KILL, 30, f"{BEFORE_KILL} acknowledged writes")
        killed = time.monotonic()
        group.kill(old)
        dead = time.monotonic()  # an acknowledgement after this came from another server
        writer.killed_n = writer.n
        # A replica is promoted: the sentinels name another server, and it says it is the master.
        promoted_in = wait_for(lambda: _named_primary(group) not in (None, old.port), FAILOVER_BOUND_S, "a replica promoted")
        new = group.node_at(_named_primary(group) or 0)
        assert role(new, PASSWORD)["role"] == "master"
        # The client found it and writes are acknowledged again.
        wait_for(lambda: writer.first_ack_after(dead) is not None, FAILOVER_BOUND_S, "an acknowledged write on the new primary")
        writes_back_in = (writer.first_ack_after(dead) or dead) - killed
        ack_count = len(writer.acknowledged)
        wait_for(lambda: len(writer.acknowledged) >= ack_count + AFTER_FAILOVER, 30, f"{AFTER_FAILOVER} more acknowledged writes")
    finally:
        writer.stop.set()
        thread.join(10)
    assert writes_back_in <= FAILOVER_BOUND_S
    # Every acknowledged write is on the new primary, with its value.
    check = redis_client.Redis(host=LOOPBACK, port=new.port, password=PASSWORD, socket_timeout=5, retry=None, decode_responses=True)
    keys = sorted(writer.acknowledged)
    stored = dict(zip(keys, check.mget(keys), strict=True))
    lost = [k for k in keys if stored[k] != writer.acknowledged[k]]
    assert not lost, f"{len(lost)} acknowledged writes lost, e.g. {lost[:5]}"
    print(
        f"\nvalkey failover: promoted {promoted_in:.2f} s and writes acknowledged again {writes_back_in:.2f} s after the kill; "
        f"{len(keys)} acknowledged writes ({writer.acks_after_kill()} after the kill), none lost; "
        f"{writer.unacknowledged} unacknowledged, {writer.failures} refused or failed during the failover"
    )

    # The old primary's pod comes back: the init script asks the sentinels and it rejoins as a replica.
    group.start(old)
    assert "starting as a replica of" in group.init_logs[old.index][-1], group.init_logs[old.index]
    assert f"replicaof {LOOPBACK} {new.port}\n" in (old.run / "replication.conf").read_text()
    rejoined_in = wait_for(
        lambda: (lambda r: r.get("role") == "slave" and r.get("master_link_status") == "up")(role(old, PASSWORD)), REJOIN_BOUND_S, "the old primary rejoined"
    )
    assert int(check.get(keys[-1]) or -1) == int(writer.acknowledged[keys[-1]])
    wait_for(lambda: role(new, PASSWORD)["connected_slaves"] == "2", REJOIN_BOUND_S, "two replicas again")
    replica = redis_client.Redis(host=LOOPBACK, port=old.port, password=PASSWORD, socket_timeout=5, retry=None, decode_responses=True)
    wait_for(lambda: replica.get(keys[-1]) == writer.acknowledged[keys[-1]], REJOIN_BOUND_S, "the rejoined replica has the data")
    with pytest.raises(redis_client.ReadOnlyError):
        replica.set("x", "y")  # a replica, not a second primary
    # Its sentinel, with a new run ID on the same announced address, replaces its old entry in
    # the others' lists instead of adding a fourth sentinel (which would make the majority 3 of
    # 4 and the next failover impossible with one more node down).
    wait_for(
        lambda: all(sentinel_master(n.sentinel_port, PASSWORD)["num-other-sentinels"] == "2" for n in group.nodes), REJOIN_BOUND_S, "three sentinels again"
    )
    time.sleep(5)  # a few hello periods (2 s): the others have heard the restarted one by now
    assert [sentinel_master(n.sentinel_port, PASSWORD)["num-other-sentinels"] for n in group.nodes] == ["2", "2", "2"]
    assert all(int(sentinel_master(n.sentinel_port, PASSWORD)["port"]) == new.port for n in group.nodes)
    print(f"valkey failover: the old primary rejoined as a replica {rejoined_in:.2f} s after it started")

    # And the group fails over again: the new primary's node dies too (one at a time).
    group.kill(new)
    again = time.monotonic()
    wait_for(lambda: _named_primary(group) not in (None, new.port), FAILOVER_BOUND_S, "a second promotion")
    master = sentinel.master_for(redis.MASTER_NAME, socket_timeout=0.5, socket_connect_timeout=0.5, retry=None)

    def acknowledged_write() -> bool:
        try:
            return bool(master.set("after:second", "1")) and int(master.execute_command("WAIT", 1, WAIT_MS)) >= 1
        except redis_client.RedisError:
            return False

    wait_for(acknowledged_write, FAILOVER_BOUND_S, "an acknowledged write after the second failover")
    assert master.get(keys[-1]) == writer.acknowledged[keys[-1]].encode()
    print(f"valkey failover: a second failover took writes again {time.monotonic() - again:.2f} s after the kill")


def _named_primary(group: ValkeyGroup) -> int | None:
    """The primary's port as a majority of the live sentinels name it (None if they don't agree yet)."""
    named = []
    for node in group.nodes:
        if node.sentinel is None:
            continue
        try:
            named.append(int(sentinel_master(node.sentinel_port, group.password)["port"]))
        except (redis_client.RedisError, KeyError, ValueError):
            continue
    for port in set(named):
        if named.count(port) * 2 > len(group.nodes):
            return port
    return None


# --- the init script against live sentinels ------------------------------------------------------


def test_without_any_sentinel_the_initial_topology_holds(tmp_path: Path) -> None:
    """No sentinel answers (none runs, or they are elsewhere): pod 0 is the primary, the others
    its replicas, and each writes a sentinel.conf monitoring pod 0 with the password."""
    group = ValkeyGroup(tmp_path, PASSWORD)
    try:
        for node in group.nodes:
            result = run_init(node, group.nodes)
            assert result.returncode == 0, result.stderr
            replication = (node.run / "replication.conf").read_text()
            sentinel = (node.run / "sentinel.conf").read_text()
            assert replication.startswith(f"replica-announce-ip {LOOPBACK}\n")
            assert ("replicaof" in replication) == (node.index != 0)
            assert f"sentinel monitor redis {LOOPBACK} {group.nodes[0].port} 2\n" in sentinel
            assert f"requirepass {PASSWORD}\n" in sentinel and f"sentinel auth-pass redis {PASSWORD}\n" in sentinel
            assert sentinel.index("sentinel resolve-hostnames yes") < sentinel.index("sentinel monitor")
            assert sentinel.index("sentinel monitor") < sentinel.index("sentinel down-after-milliseconds")
            assert (node.run / "sentinel.conf").stat().st_mode & 0o077 == 0  # it holds the password
    finally:
        group.stop()


def test_a_sentinel_that_refuses_the_password_is_no_answer(group: ValkeyGroup) -> None:
    """A sentinel that answers with an error (here: the wrong password) is not taken for an
    answer: without another, the initial topology holds."""
    node = group.nodes[2]
    (node.auth / "password").write_text("wrong-password")
    try:
        result = run_init(node, group.nodes)
    finally:
        (node.auth / "password").write_text(PASSWORD)
    assert result.returncode == 0 and "no sentinel answered" in result.stderr, result.stderr


def test_an_empty_server_the_sentinels_call_primary_waits_for_them_bounded(group: ValkeyGroup) -> None:
    """The primary's pod back without its volume before the sentinels noticed: it waits (here
    2 s) for a failover rather than start empty at once; with its data, it starts at once."""
    primary = group.nodes[0]
    started = time.monotonic()
    result = run_init(primary, group.nodes, wait_seconds=2)  # its append-only file is there
    assert result.returncode == 0 and "waiting" not in result.stderr and "starting as the primary" in result.stderr, result.stderr
    assert time.monotonic() - started < 10
    empty = ValkeyNode(primary.index, primary.root.parent / "empty", primary.port, primary.sentinel_port)
    loopback_valkey_files(empty, PASSWORD)
    started = time.monotonic()
    result = run_init(empty, group.nodes, wait_seconds=2)
    elapsed = time.monotonic() - started
    empty.etc.chmod(0o700)
    assert result.returncode == 0 and "waiting for them to promote a replica" in result.stderr, result.stderr
    assert 2 <= elapsed < 15 and "starting as the primary" in result.stderr


def test_an_unreachable_sentinel_list_falls_back_within_the_ask_bound(tmp_path: Path) -> None:
    group = ValkeyGroup(tmp_path, PASSWORD)
    try:
        node = group.nodes[1]
        for other in group.nodes:
            other.sentinel_port = free_port()  # nothing listens there
        started = time.monotonic()
        result = run_init(node, group.nodes)
        assert result.returncode == 0 and time.monotonic() - started < 10
        assert f"replicaof {LOOPBACK} {group.nodes[0].port}\n" in (node.run / "replication.conf").read_text()
    finally:
        group.stop()


def test_a_primary_name_that_never_resolves_fails_the_init_within_its_bound(tmp_path: Path) -> None:
    """Sentinel would refuse a `monitor` line it cannot resolve: the script waits, bounded, and
    fails (the kubelet retries the init container) instead of writing one."""
    group = ValkeyGroup(tmp_path, PASSWORD)
    try:
        node = group.nodes[1]
        env = {"PRIMARY_HOST": "redis-0.redis-headless.nowhere.invalid", "RESOLVE_SECONDS": "1"}
        started = time.monotonic()
        result = run_init(node, group.nodes, extra_env=env)
        assert result.returncode == 1 and "does not resolve after 1 s" in result.stderr, result.stderr
        assert time.monotonic() - started < 10
        assert not (node.run / "sentinel.conf").exists()
    finally:
        group.stop()

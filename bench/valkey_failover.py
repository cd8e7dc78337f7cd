"""Replicated Valkey on this machine: how long a failover takes, and what replication costs writes.

Real servers on 127.0.0.1 with the configuration the stack renders for a replicated stack
(tests/servers.py `valkey_sentinel_group`: a primary, two replicas, a Sentinel each, started
through redis-init.sh; Debian's redis-server 7.0 standing in for Valkey, as in the tests):

- failover: a client writes through redis-py's Sentinel client (SET, then WAIT 1), the
  primary's server and sentinel are SIGKILLed (a lost node), and the bench measures the time
  from the kill until the sentinels name a promoted replica, and until a write is acknowledged
  by a replica again (what a function sees). Median of `--runs` groups, each started fresh.
- write rate (both running at once, alternating rounds, medians): `redis-benchmark -t set` (50 clients) against a single server with the stack's
  single-replica redis.conf and against the replicated primary (min-replicas-to-write 1,
  streaming to two replicas); then one client doing SET + WAIT 1 per write (pipelined as one
  round trip), the rate of writes a replica has confirmed.

Run: `.venv/bin/python -m bench.valkey_failover [--runs 3] [--requests 100000]`.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import redis as redis_client
from redis.sentinel import Sentinel

from bench.redis_bench import benchmark
from render import redis
from tests.servers import (
    LOOPBACK,
    ValkeyGroup,
    free_port,
    loopback_redis_config,
    redis_server,
    require,
    sentinel_master,
    valkey_sentinel_group,
)

PASSWORD = "benchOnlyValkeyPassword012345678"  # alphanumeric, 32 characters, like the stack's
BOUND_S = 60  # every wait below gives up after this


def named_primary(group: ValkeyGroup) -> int | None:
    """The primary's port as a majority of all sentinels names it."""
    named = []
    for node in group.nodes:
        if node.sentinel is not None:
            try:
                named.append(int(sentinel_master(node.sentinel_port, PASSWORD)["port"]))
            except (redis_client.RedisError, KeyError, ValueError):
                pass
    return next((port for port in set(named) if named.count(port) * 2 > len(group.nodes)), None)


def one_failover(workdir: Path) -> tuple[float, float]:
    """(seconds to promotion, seconds until a write is acknowledged again) after the kill."""
    with valkey_sentinel_group(workdir, PASSWORD) as group:
        sentinel = Sentinel([(LOOPBACK, n.sentinel_port) for n in group.nodes], sentinel_kwargs={"password": PASSWORD, "socket_timeout": 0.5}, socket_timeout=0.5)
        master = sentinel.master_for(redis.MASTER_NAME, password=PASSWORD, socket_timeout=0.5, socket_connect_timeout=0.5, retry=None)
        acked_at: list[float] = []
        stop = threading.Event()

        def write() -> None:
            n, deadline = 0, time.monotonic() + BOUND_S * 2
            while not stop.is_set() and time.monotonic() < deadline:
                n += 1
                try:
                    master.set(f"b:{n}", n)
                    if int(master.execute_command("WAIT", 1, 1000)) >= 1:
                        acked_at.append(time.monotonic())
                except redis_client.RedisError:
                    time.sleep(0.02)

        thread = threading.Thread(target=write, daemon=True)
        thread.start()
        try:
            _until(lambda: len(acked_at) > 100, "writes before the kill")
            old = group.nodes[0]
            killed = time.monotonic()
            group.kill(old)
            dead = time.monotonic()  # a write acknowledged before this may have been in flight
            _until(lambda: named_primary(group) not in (None, old.port), "a promotion")
            promoted = time.monotonic() - killed
            _until(lambda: acked_at[-1] > dead, "an acknowledged write after the kill")
            back = min(t for t in acked_at if t > dead) - killed
        finally:
            stop.set()
            thread.join(10)
        return promoted, back


def _until(predicate: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + BOUND_S
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"no {what} within {BOUND_S} s")
        time.sleep(0.02)


def acked_rate(port: int, seconds: float = 3.0) -> float:
    """Writes per second of one client doing SET + WAIT 1 (one round trip per write)."""
    client = redis_client.Redis(host=LOOPBACK, port=port, password=PASSWORD, socket_timeout=5, retry=None)
    count, end = 0, time.monotonic() + seconds
    while time.monotonic() < end:
        pipe = client.pipeline(transaction=False)
        pipe.set(f"a:{count}", count).execute_command("WAIT", 1, 1000)
        if int(pipe.execute()[1]) >= 1:
            count += 1
    client.close()
    return count / seconds


def plain_rate(port: int, seconds: float = 3.0) -> float:
    client = redis_client.Redis(host=LOOPBACK, port=port, password=PASSWORD, socket_timeout=5, retry=None)
    count, end = 0, time.monotonic() + seconds
    while time.monotonic() < end:
        client.set(f"p:{count}", count)
        count += 1
    client.close()
    return count / seconds


def write_rates(workdir: Path, requests: int, rounds: int = 3) -> dict[str, float]:
    """Both set-ups running at once, measured in alternating rounds (single, replicated, ...)
    so that drift on the machine hits both alike; medians."""
    single_dir, port = workdir / "single", free_port()
    with (
        redis_server(single_dir, loopback_redis_config(single_dir, port, PASSWORD, somaxconn="65535"), port) as single,
        valkey_sentinel_group(workdir / "group", PASSWORD) as group,
    ):
        primary = group.nodes[0].port
        for target in (single.port, primary):
            benchmark(target, PASSWORD, requests // 10, 50)  # warm-up, not counted
        samples: dict[str, list[float]] = {}
        for _ in range(rounds):
            for name, measure in (
                ("single server: redis-benchmark SET, 50 clients", lambda: benchmark(single.port, PASSWORD, requests, 50)["SET"]["rps"]),
                ("primary + 2 replicas, min-replicas-to-write 1: redis-benchmark SET, 50 clients", lambda: benchmark(primary, PASSWORD, requests, 50)["SET"]["rps"]),
                ("single server: one client, SET", lambda: plain_rate(single.port)),
                ("primary + 2 replicas: one client, SET", lambda: plain_rate(primary)),
                ("primary + 2 replicas: one client, SET + WAIT 1", lambda: acked_rate(primary)),
            ):
                samples.setdefault(name, []).append(measure())
    return {name: statistics.median(values) for name, values in samples.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Valkey failover time and the write rate with and without replication.")
    parser.add_argument("--runs", type=int, default=3, help="failovers, each on a fresh group; the median is printed")
    parser.add_argument("--requests", type=int, default=100_000, help="redis-benchmark SET requests per measurement")
    args = parser.parse_args(argv)
    version = subprocess.run([require("redis-server"), "--version"], capture_output=True, text=True, check=True).stdout.split()[2]
    print(f"valkey failover bench: redis-server {version.removeprefix('v=')} (+ its Sentinel), {os.cpu_count()} CPUs, {platform.machine()}, loopback")
    print(f"sentinel down-after-milliseconds {redis.DOWN_AFTER_MS}, failover-timeout {redis.FAILOVER_TIMEOUT_MS}, quorum 2 of 3")
    with tempfile.TemporaryDirectory(prefix="valkey-failover-") as tmp:
        runs = [one_failover(Path(tmp) / f"run-{i}") for i in range(args.runs)]
        promoted = [r[0] for r in runs]
        back = [r[1] for r in runs]
        print(f"failover, median of {args.runs}: promoted {statistics.median(promoted):.2f} s, writes acknowledged again {statistics.median(back):.2f} s after the kill")
        print(f"  each run (promoted / writes back): {', '.join(f'{p:.2f}/{b:.2f}' for p, b in runs)} s")
        for name, rate in write_rates(Path(tmp) / "rates", args.requests).items():
            print(f"{name:<85} {rate:>11,.0f} writes/s")


if __name__ == "__main__":
    main()

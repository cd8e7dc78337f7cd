"""NATS JetStream on this machine: the replicated stack's leader failover, and what replication
costs a publisher that waits for acknowledgements.

Real nats-servers on 127.0.0.1 with the configurations the stack renders (tests/servers.py):
- R1: one server as a one-node Pro stack renders it (dataReplicas 1), a stream with one replica;
- R3: three servers as bergen (Pro, three nodes) renders them, a stream with three replicas.
The stream lives in the account Pro's queue uses (QUEUE, JetStream on, file storage).

Printed:
- publish-with-ack rate, R1 and R3: `--messages` publishes of `--size` bytes, one at a time
  (each waits for its PubAck: what a gateway queueing an /async-function call does), and with
  up to `--window` in flight; messages per second and p50/p99 of the one-at-a-time latency;
- failover, `--rounds` times on a fresh R3 cluster for each way a server goes: a publisher
  connected to the stream leader publishes with acks, the leader is SIGKILLed (a lost node)
  or SIGTERMed (a pod stopped by the kubelet: nats-server steps its Raft leaders down as it
  shuts down), and the seconds from the signal to the next acknowledged publish (reconnect,
  new leader, retry with the same Nats-Msg-Id) are measured; min, median, max.

Run: `.venv/bin/python -m bench.nats_failover [--messages 5000] [--size 1024] [--window 100] [--rounds 5]`.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from render import nats
from tests.servers import (
    AckedPublisher,
    NatsClient,
    free_port,
    loopback_nats_config,
    nats_cluster,
    nats_server,
    wait_until,
)

PRO = nats.NatsClients(pro_queue=True)
STREAM = "BENCH"
SUBJECT = "bench.async"


def create_stream(port: int, replicas: int) -> None:
    with NatsClient(port, timeout=10) as client:
        client.js_api(f"STREAM.CREATE.{STREAM}", {"name": STREAM, "subjects": [SUBJECT], "num_replicas": replicas, "storage": "file"})

    def current() -> bool:
        with NatsClient(port) as client:
            cluster = client.js_api(f"STREAM.INFO.{STREAM}").get("cluster", {})
        return replicas == 1 or (bool(cluster.get("leader")) and all(p["current"] for p in cluster.get("replicas", [])))

    wait_until(current, 30, "the stream's replicas current")


def one_at_a_time(port: int, messages: int, payload: bytes) -> tuple[float, list[float]]:
    """Messages per second, and each publish's seconds to its ack."""
    publisher = AckedPublisher([port], SUBJECT, ack_timeout=5)
    latencies = []
    start = time.perf_counter()
    try:
        for n in range(messages):
            sent = time.perf_counter()
            publisher.publish_once(f"sync-{n}", payload)
            latencies.append(time.perf_counter() - sent)
    finally:
        publisher.close()
    return messages / (time.perf_counter() - start), latencies


def windowed(port: int, messages: int, payload: bytes, window: int) -> float:
    """Messages per second with up to `window` publishes awaiting their acks."""
    with NatsClient(port, timeout=10, headers=True) as client:
        client.subscribe("_INBOX.win.*")
        start = time.perf_counter()
        sent = acked = 0
        while acked < messages:
            while sent < messages and sent - acked < window:
                client.hpublish(SUBJECT, {"Nats-Msg-Id": f"win-{sent}"}, payload, reply=f"_INBOX.win.{sent}")
                sent += 1
            _, data = client.next_message()
            if "error" in json.loads(data):
                raise RuntimeError(data.decode())
            acked += 1
        return messages / (time.perf_counter() - start)


@contextmanager
def single_server(workdir: Path) -> Iterator[int]:
    port = free_port()
    conf = loopback_nats_config(workdir, port, free_port(), clients=PRO)
    with nats_server(workdir, conf, port):
        yield port


def rates(label: str, port: int, replicas: int, args: argparse.Namespace) -> dict[str, float]:
    create_stream(port, replicas)
    payload = b"x" * args.size
    rate, latencies = one_at_a_time(port, args.messages, payload)
    ms = sorted(x * 1000 for x in latencies)
    figures = {
        "rate": rate,
        "p50": statistics.median(ms),
        "p99": ms[min(len(ms) - 1, int(len(ms) * 0.99))],
        "windowed": windowed(port, args.messages, payload, args.window),
    }
    print(
        f"{label}: {figures['rate']:8.0f} msg/s one at a time (ack p50 {figures['p50']:.2f} ms, p99 {figures['p99']:.2f} ms), "
        f"{figures['windowed']:8.0f} msg/s with {args.window} in flight"
    )
    return figures


def failover_round(workdir: Path, graceful: bool) -> float:
    with nats_cluster(workdir, clients=PRO) as servers:
        create_stream(servers[0].port, 3)
        with NatsClient(servers[0].port) as client:
            name = client.js_api(f"STREAM.INFO.{STREAM}")["cluster"]["leader"]
        leader = next(s for s in servers if s.name == name)
        publisher = AckedPublisher([s.port for s in servers], SUBJECT, ack_timeout=0.25, first=servers.index(leader))
        try:
            for n in range(100):
                publisher.publish(f"before-{n}", b"x", deadline=time.monotonic() + 10)
            killed = time.monotonic()
            if graceful:
                assert leader.process is not None
                leader.process.terminate()  # SIGTERM, as the kubelet stops a pod: it steps its leaders down first
            else:
                leader.kill()
            publisher.publish("after", b"x", deadline=killed + 60)
            return time.monotonic() - killed
        finally:
            publisher.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--window", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(f"nats-server JetStream, file storage, loopback; {platform.processor() or platform.machine()}, {args.messages} x {args.size} B")
    with tempfile.TemporaryDirectory() as tmp:
        with single_server(Path(tmp) / "r1") as port:
            r1 = rates("R1, one server ", port, 1, args)
        with nats_cluster(Path(tmp) / "r3", clients=PRO) as servers:
            r3 = rates("R3, three servers", servers[0].port, 3, args)
        print(f"R3/R1: {r3['rate'] / r1['rate']:.2f} one at a time, {r3['windowed'] / r1['windowed']:.2f} with {args.window} in flight")
        for graceful, how in ((False, "SIGKILL (node lost)"), (True, "SIGTERM (pod stopped, drain)")):
            times = [failover_round(Path(tmp) / f"failover-{how[:4]}-{i}", graceful) for i in range(args.rounds)]
            print(
                f"leader failover, {how} -> next acknowledged publish, {args.rounds} rounds: "
                f"min {min(times):.2f} s, median {statistics.median(times):.2f} s, max {max(times):.2f} s"
            )


if __name__ == "__main__":
    main()

"""redis-benchmark against the stack's redis.conf and against Redis' stock config, in one run.

Two real redis-servers on 127.0.0.1, started one after the other on free ports:
- ours: redis.conf rendered by render/redis.py (append-only file with fsync every second,
  maxmemory and its policy, a password via the included auth.conf), adapted for loopback
  exactly as the real-server tests adapt it;
- stock: no settings at all, Redis' built-in defaults (no password, RDB snapshots, no AOF);
  only bind/port/dir for loopback, as for ours.
Each round runs `redis-benchmark -t get,set -c 50 -n <requests> --csv` against both; rounds
alternate (ours, stock, ours, stock, ...) so drift on the machine hits both alike, and the
median of the rounds is printed: requests per second and p50/p99 latency for GET and SET, the
ratio ours/stock, and whether the targets hold: GET p99 under 1 ms on loopback, and ours at
least 90% of stock's throughput.

Run: `.venv/bin/python -m bench.redis_bench [--requests 100000] [--clients 50] [--rounds 3]`.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import platform
import statistics
import subprocess
import tempfile
from pathlib import Path

from tests.servers import LOOPBACK, free_port, loopback_redis_config, redis_server, require

PASSWORD = "benchOnlyRedisPassword0123456789"  # alphanumeric, 32 characters, like the stack's
SOMAXCONN = "65535"  # the nodes' default net.core.somaxconn, as the pod sets it
TESTS = ("SET", "GET")
GET_P99_TARGET_MS = 1.0
THROUGHPUT_TARGET = 0.90

Figures = dict[str, dict[str, float]]  # test -> {"rps", "p50", "p99"}


def benchmark(port: int, password: str | None, requests: int, clients: int) -> Figures:
    argv = [require("redis-benchmark"), "-h", LOOPBACK, "-p", str(port), "-t", "get,set", "-c", str(clients), "-n", str(requests), "--csv"]
    if password:
        argv += ["-a", password]  # a bench-only password on loopback
    out = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=True).stdout
    figures: Figures = {}
    for line in csv.DictReader(io.StringIO(out)):
        figures[line["test"]] = {"rps": float(line["rps"]), "p50": float(line["p50_latency_ms"]), "p99": float(line["p99_latency_ms"])}
    missing = set(TESTS) - set(figures)
    if missing:
        raise SystemExit(f"redis-benchmark printed no {sorted(missing)}: {out!r}")
    return figures


def median(rounds: list[Figures]) -> Figures:
    return {test: {k: statistics.median(r[test][k] for r in rounds) for k in ("rps", "p50", "p99")} for test in TESTS}


def run(requests: int, clients: int, rounds: int) -> tuple[Figures, Figures]:
    ours: list[Figures] = []
    stock: list[Figures] = []
    with tempfile.TemporaryDirectory(prefix="redis-bench-") as tmp:
        ours_dir, stock_dir = Path(tmp) / "ours", Path(tmp) / "stock"
        ours_port, stock_port = free_port(), free_port()
        conf = loopback_redis_config(ours_dir, ours_port, PASSWORD, somaxconn=SOMAXCONN)
        with redis_server(ours_dir, conf, ours_port) as ours_server, redis_server(stock_dir, "", stock_port) as stock_server:
            benchmark(ours_server.port, PASSWORD, requests // 10, clients)  # warm-up, not counted
            benchmark(stock_server.port, None, requests // 10, clients)
            for _ in range(rounds):
                ours.append(benchmark(ours_server.port, PASSWORD, requests, clients))
                stock.append(benchmark(stock_server.port, None, requests, clients))
    return median(ours), median(stock)


def report(ours: Figures, stock: Figures) -> list[str]:
    lines = [f"{'':<6} {'config':<6} {'req/s':>11} {'p50 ms':>8} {'p99 ms':>8}"]
    for test in TESTS:
        for name, figures in (("ours", ours), ("stock", stock)):
            f = figures[test]
            lines.append(f"{test:<6} {name:<6} {f['rps']:>11,.0f} {f['p50']:>8.3f} {f['p99']:>8.3f}")
        lines.append(f"{test:<6} {'ratio':<6} {ours[test]['rps'] / stock[test]['rps']:>11.2%}  (ours/stock throughput)")
    get_p99 = ours["GET"]["p99"]
    lines.append(f"target GET p99 < {GET_P99_TARGET_MS:g} ms (ours): {get_p99:.3f} ms -> {'holds' if get_p99 < GET_P99_TARGET_MS else 'MISSED'}")
    for test in TESTS:
        ratio = ours[test]["rps"] / stock[test]["rps"]
        verdict = "holds" if ratio >= THROUGHPUT_TARGET else "MISSED"
        lines.append(f"target {test} throughput >= {THROUGHPUT_TARGET:.0%} of stock: {ratio:.1%} -> {verdict}")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="redis-benchmark: the stack's redis.conf against Redis' stock config.")
    parser.add_argument("--requests", type=int, default=100_000, help="requests per test and round")
    parser.add_argument("--clients", type=int, default=50, help="parallel connections")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; the median is printed")
    args = parser.parse_args(argv)
    version = subprocess.run([require("redis-server"), "--version"], capture_output=True, text=True, check=True).stdout.split()[2]
    print(f"redis bench: GET/SET, {args.clients} clients, {args.requests:,} requests per test, median of {args.rounds} alternating rounds")
    print(f"redis-server {version.removeprefix('v=')}, {os.cpu_count()} CPUs, {platform.machine()}, loopback")
    ours, stock = run(args.requests, args.clients, args.rounds)
    print("\n".join(report(ours, stock)))


if __name__ == "__main__":
    main()

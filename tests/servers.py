"""Real redis-server and nats-server processes for tests and benchmarks, on 127.0.0.1 only.

Each server gets a free port, a config file and a data directory under the caller's temporary
directory, and is stopped by its PID (SIGTERM, then SIGKILL after a bound). Nothing here
touches system services: the Debian packages' own units are never started.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

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

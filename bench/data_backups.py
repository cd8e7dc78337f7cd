"""How long the data backups and their restores take on this machine, with the stack's configs.

Valkey: a real redis-server (Debian's 7.0 standing in for Valkey, as in the tests) with the
stack's redis.conf, filled with --keys keys of --size bytes; then the CronJob's valkey-dump.sh
(`--rdb`), the runbook's valkey-restore.sh on an emptied data directory, and the server's start
from the rewritten AOF, each timed, with the RDB's size. JetStream: a real nats-server with the
stack's Pro config, a file stream of --messages messages of --size bytes; a snapshot as the
`nats-backup` user in 128 KiB chunks (the nats CLI's) and a restore, each timed, with the
snapshot's size. Every restore is checked complete (key count, message count). The upload to
S3 is not measured: it depends on the uplink, not on this program.

Run: `.venv/bin/python -m bench.data_backups [--keys 200000] [--messages 20000] [--size 256]`.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import redis as redis_client

from render import data_backups, nats
from render.redis import REDIS_TOOLS
from tests.servers import (
    NatsClient,
    free_port,
    js_restore,
    js_snapshot,
    loopback_nats_config,
    loopback_redis_config,
    nats_server,
    redis_server,
    require,
)

PASSWORD = "benchOnlyRedisPassword0123456789"


def script(name: str, env: dict[str, str]) -> float:
    started = time.monotonic()
    subprocess.run(["sh", str(data_backups.SCRIPTS_DIR / name)], env={"PATH": os.environ["PATH"], **env}, check=True,
                   capture_output=True, timeout=3600)
    return time.monotonic() - started


def valkey(workdir: Path, keys: int, size: int) -> None:
    data, out, port = workdir / "redis", workdir / "work", free_port()
    conf = loopback_redis_config(data, port, PASSWORD)
    with redis_server(data, conf, port):
        client = redis_client.Redis(host="127.0.0.1", port=port, password=PASSWORD, socket_timeout=60)
        for start in range(0, keys, 10_000):  # random values: an RDB compresses repeated ones away
            pipe = client.pipeline(transaction=False)
            for i in range(start, min(start + 10_000, keys)):
                pipe.set(f"key:{i}", os.urandom(size))
            pipe.execute()
        dump = script("valkey-dump.sh", {"REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(port), "PASSWORD_FILE": str(data / "password"),
                                         "OUT_DIR": str(out), "VALKEY_CLI": require(REDIS_TOOLS[0]), "DUMP_TIMEOUT": "3600"})
    rdb = out / "data" / "dump.rdb"
    shutil.rmtree(data / "appendonlydir")
    shutil.copy(rdb, data / "dump.rdb")
    restore = script("valkey-restore.sh", {"DATA_DIR": str(data), "PORT": str(free_port()), "WAIT": "3600",
                                           "VALKEY_SERVER": require("redis-server"), "VALKEY_CLI": require(REDIS_TOOLS[0])})
    (data / "dump.rdb").unlink()
    started = time.monotonic()
    with redis_server(data, conf, port):
        client = redis_client.Redis(host="127.0.0.1", port=port, password=PASSWORD, socket_timeout=60)
        for _ in range(3600):  # until the AOF is loaded (PING answers LOADING before)
            try:
                client.ping()
                break
            except redis_client.BusyLoadingError:
                time.sleep(0.1)
        start = time.monotonic() - started
        restored = client.dbsize()
    print(f"valkey: {keys} keys of {size} B: dump {dump:.2f} s (RDB {rdb.stat().st_size / 2**20:.1f} MiB), "
          f"restore script {restore:.2f} s, server start from the new AOF {start:.2f} s; {restored} keys back "
          "(most of the dump is the server's repl-diskless-sync-delay, 5 s by default, before it streams the RDB)")


def jetstream(workdir: Path, messages: int, size: int) -> None:
    clients = nats.NatsClients(pro_queue=True, backup=True)
    passwords = {user: f"{user}-bench" for user in clients.password_users}
    port, monitor = free_port(), free_port()
    with nats_server(workdir, loopback_nats_config(workdir, port, monitor, clients=clients, passwords=passwords), port):
        with NatsClient(port, timeout=60) as queue:
            queue.js_api("STREAM.CREATE.BENCH", {"name": "BENCH", "subjects": ["bench.>"], "storage": "file"})
            for i in range(messages):  # without waiting for each ack: STREAM.INFO counts what was stored
                queue.publish(f"bench.queue.{i % 16}", os.urandom(size))  # random: s2 would compress repeats away
            queue.flush()
            info = queue.js_api("STREAM.INFO.BENCH")
            stored = info["state"]["messages"]
        with NatsClient(port, timeout=60, user=nats.BACKUP_USER, password=passwords[nats.BACKUP_USER]) as backup:
            started = time.monotonic()
            meta, data = js_snapshot(backup, "BENCH")
            snap = time.monotonic() - started
        with NatsClient(port, timeout=60) as queue:
            queue.js_api("STREAM.DELETE.BENCH")
            started = time.monotonic()
            final = js_restore(queue, meta, data)
            back = time.monotonic() - started
    print(f"jetstream: {stored} messages of {size} B: snapshot {snap:.2f} s ({len(data) / 2**20:.1f} MiB in {meta['chunks']} chunks), "
          f"restore {back:.2f} s; {final['state']['messages']} messages back")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--keys", type=int, default=200_000)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}")
    with tempfile.TemporaryDirectory() as tmp:
        valkey(Path(tmp) / "valkey", args.keys, args.size)
        jetstream(Path(tmp) / "nats", args.messages, args.size)


if __name__ == "__main__":
    main()

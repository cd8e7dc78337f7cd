"""The data backups (render/data_backups.py) and the restore runbook
(docs/operations/data-backups.md), run for real.

Against real servers on 127.0.0.1 (tests/servers.py), with the stack's rendered configs:
- Valkey: keys written, backed up by the CronJob's own script (valkey-dump.sh: `--rdb` with
  the password read from a file into REDISCLI_AUTH), the server stopped and its data directory deleted,
  restored by the runbook's script (valkey-restore.sh), started again with the stack's
  redis.conf (appendonly yes): every key and value equal, and the AOF on.
- NATS: a stream at the stack's Pro config, N messages published with acknowledgements,
  snapshotted as the `nats-backup` user through $JS.API.STREAM.SNAPSHOT.<stream> with the
  chunk/ack flow control jsm.go uses (snapshots.go createSnapshot), the stream deleted,
  restored through $JS.API.STREAM.RESTORE.<stream> (restoreSnapshot): every message equal.
  The nats CLI itself is not run (no Go toolchain here); the API it calls is.
The scripts also run with stub `rclone`, `nats` and `valkey-cli` that record their argv: the
pruning, the failures and that no secret is on a command line.
"""

from __future__ import annotations

import base64
import json
import os
import re
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
import redis as redis_client
import yaml

from render import data_backups, nats
from render.redis import REDIS_TOOLS
from settings.backups import BackupsSettings
from settings.errors import ConfigError
from tests.conftest import settings_for, stack
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
from tests.test_scripts import assert_shellcheck_clean
from tools.harness import StackRun, is_secret, run_stack, unwrap

SCRIPTS = data_backups.SCRIPTS_DIR
PASSWORD = "test-only-0123456789abcdefABCDEF"
ACCESS, SECRET = "AKIADATABACKUP0001", "s3-secret-that-must-never-leak"
S3 = {
    "etcdS3Bucket": "faas-backups",
    "etcdS3Endpoint": "s3.example.no",
    "etcdS3Folder": "oslo",
    "etcdS3Credentials": {"accessKey": {"secure": ACCESS}, "secretKey": {"secure": SECRET}},
    "dataBackupS3Cidrs": ["198.51.100.64/28"],
}
SECRETS = ("sshPrivateKey", "etcdS3Credentials", "openfaasLicense")


def sh(script: str, env: dict[str, str], path: Path | None = None, timeout: float = 120, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run one of the scripts with `env` only (and PATH: the stubs first, if any)."""
    system = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"
    full = {"PATH": f"{path}:{system}" if path else system, **env}
    return subprocess.run(["sh", str(SCRIPTS / script)], env=full, capture_output=True, text=True, timeout=timeout, cwd=cwd)


@pytest.mark.parametrize("script", data_backups.SCRIPTS)
def test_scripts_are_shellcheck_clean(script: str) -> None:
    assert_shellcheck_clean(SCRIPTS / script)


# --- Valkey: back up, wipe, restore, equal ----------------------------------------------------

KEYS = 2000


def fill(client: redis_client.Redis) -> None:
    pipe = client.pipeline(transaction=False)
    for i in range(KEYS):
        pipe.set(f"key:{i}", f"value-{i}-" + "x" * (i % 50))
    pipe.hset("hash", mapping={f"f{i}": str(i) for i in range(100)})
    pipe.rpush("list", *[f"item{i}" for i in range(100)])
    pipe.sadd("set", *[f"member{i}" for i in range(100)])
    pipe.zadd("zset", {f"z{i}": i for i in range(100)})
    pipe.set("binary", bytes(range(256)))
    pipe.execute()


def everything(client: redis_client.Redis) -> dict[bytes, Any]:
    """Every key with its value, read by type."""
    found: dict[bytes, Any] = {}
    for key in client.scan_iter(count=1000):
        kind = client.type(key)
        found[key] = {
            b"string": lambda k: client.get(k),
            b"hash": lambda k: client.hgetall(k),
            b"list": lambda k: client.lrange(k, 0, -1),
            b"set": lambda k: client.smembers(k),
            b"zset": lambda k: client.zrange(k, 0, -1, withscores=True),
        }[kind](key)
    return found


def connect(port: int) -> redis_client.Redis:
    return redis_client.Redis(host="127.0.0.1", port=port, password=PASSWORD, socket_timeout=10)


def test_valkey_backup_wipe_restore_gives_back_every_key(tmp_path: Path) -> None:
    server_dir, out = tmp_path / "redis", tmp_path / "work"
    port = free_port()
    conf = loopback_redis_config(server_dir, port, PASSWORD)
    with redis_server(server_dir, conf, port):
        client = connect(port)
        fill(client)
        before = everything(client)
        assert len(before) == KEYS + 5
        cli = REDIS_TOOLS[0]
        # The CronJob's script, with the password in a file as the pod mounts it.
        result = sh("valkey-dump.sh", {"REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(port), "PASSWORD_FILE": str(server_dir / "password"),
                                       "OUT_DIR": str(out), "VALKEY_CLI": require(cli), "DUMP_TIMEOUT": "60"})
        assert result.returncode == 0, result
        assert PASSWORD not in result.stdout + result.stderr
    backup = out / "data" / "dump.rdb"
    assert backup.read_bytes().startswith(b"REDIS")
    # Wipe: the server is stopped; its data (AOF, any RDB) deleted, as a lost volume.
    for path in (server_dir / "appendonlydir", server_dir / "dump.rdb"):
        subprocess.run(["rm", "-rf", str(path)], check=True)
    with redis_server(server_dir, conf, port):
        assert everything(connect(port)) == {}  # really empty
    subprocess.run(["rm", "-rf", str(server_dir / "appendonlydir")], check=True)
    # The runbook: dump.rdb into the data directory, the restore script, then the real server.
    (server_dir / "dump.rdb").write_bytes(backup.read_bytes())
    result = sh("valkey-restore.sh", {"DATA_DIR": str(server_dir), "PORT": str(free_port()), "WAIT": "60",
                                      "VALKEY_SERVER": require("redis-server"), "VALKEY_CLI": require(REDIS_TOOLS[0])})
    assert result.returncode == 0, result
    assert f"loaded {KEYS + 5} keys" in result.stdout
    assert list((server_dir / "appendonlydir").glob("*.manifest"))
    # It must be the AOF that brings the data back: without the RDB the server still has it all.
    (server_dir / "dump.rdb").unlink()
    with redis_server(server_dir, conf, port):
        client = connect(port)
        assert everything(client) == before
        assert client.config_get("appendonly") == {"appendonly": "yes"}
        assert client.info("persistence")["aof_enabled"] == 1


def test_valkey_restore_refuses_without_a_backup(tmp_path: Path) -> None:
    result = sh("valkey-restore.sh", {"DATA_DIR": str(tmp_path), "VALKEY_SERVER": "false", "VALKEY_CLI": "false"})
    assert result.returncode == 1 and "no " in result.stderr


# --- NATS: snapshot, delete, restore, equal ---------------------------------------------------

MESSAGES = 1000
STREAM = "QUEUE_TEST"
PRO = nats.NatsClients(pro_queue=True, backup=True)


def messages(client: NatsClient, stream: str, count: int) -> list[tuple[str, bytes]]:
    found = []
    for seq in range(1, count + 1):
        msg = client.js_api(f"STREAM.MSG.GET.{stream}", {"seq": seq})["message"]
        found.append((msg["subject"], base64.b64decode(msg["data"])))
    return found


def test_nats_snapshot_delete_restore_gives_back_every_message(tmp_path: Path) -> None:
    port, monitor = free_port(), free_port()
    passwords = {user: f"{user}-secret" for user in PRO.password_users}
    assert nats.BACKUP_USER in passwords
    with nats_server(tmp_path, loopback_nats_config(tmp_path, port, monitor, clients=PRO, passwords=passwords), port):
        # The queue's own user (no credentials: no_auth_user), as the Pro queue-worker.
        with NatsClient(port, timeout=30) as queue:
            queue.js_api(f"STREAM.CREATE.{STREAM}", {"name": STREAM, "subjects": ["test.queue.>"], "storage": "file"})
            sent = []
            for i in range(MESSAGES):
                body = f"message {i} ".encode() + os.urandom(64)
                ack = json.loads(queue.request(f"test.queue.{i % 7}", body))
                assert ack.get("seq") == i + 1, ack  # acknowledged, in order
                sent.append((f"test.queue.{i % 7}", body))
            queue.js_api(f"CONSUMER.DURABLE.CREATE.{STREAM}.worker", {"stream_name": STREAM, "config": {"durable_name": "worker", "ack_policy": "explicit"}})
        with NatsClient(port, timeout=30, user=nats.BACKUP_USER, password=passwords[nats.BACKUP_USER]) as backup:
            names = backup.js_api("STREAM.NAMES")["streams"]
            assert names == [STREAM]
            meta, data = js_snapshot(backup, STREAM, chunk_size=4096)
            assert meta["chunks"] > 1  # several chunks: the acks were exercised
            assert meta["state"]["messages"] == MESSAGES
            # Least privilege: the backup user may not delete, restore or publish to the queue.
            for subject in (f"$JS.API.STREAM.DELETE.{STREAM}", f"$JS.API.STREAM.RESTORE.{STREAM}", "test.queue.1"):
                backup.publish(subject, b"{}")
                with pytest.raises(RuntimeError, match=f'Permissions Violation for Publish to "{re.escape(subject)}"'):
                    backup.flush()
                backup.next_msg(until_pong=True)  # the server sends -ERR, then the PONG: read that PONG
        with NatsClient(port, timeout=30) as queue:
            queue.js_api(f"STREAM.DELETE.{STREAM}")
            assert queue.js_api("STREAM.NAMES").get("streams") in (None, [])
            final = js_restore(queue, meta, data)
            assert final["state"]["messages"] == MESSAGES
            assert messages(queue, STREAM, MESSAGES) == sent
            assert queue.js_api(f"CONSUMER.INFO.{STREAM}.worker")["name"] == "worker"  # consumers came back too


def test_nats_backup_user_only_with_pro_and_backups() -> None:
    assert nats.BACKUP_USER not in nats.NatsClients(pro_queue=True).password_users
    assert nats.BACKUP_USER not in nats.NatsClients(backup=True).password_users  # CE: no streams, no user
    config = nats.authorization(nats.NatsClients(backup=True))
    assert "QUEUE" not in config["accounts"]
    users = nats.authorization(PRO)["accounts"]["QUEUE"]["users"]
    backup = next(u for u in users if u["user"] == nats.BACKUP_USER)
    assert backup["permissions"]["subscribe"] == {"allow": ["_INBOX.>"]}
    assert not any("RESTORE" in s or "DELETE" in s or "CREATE" in s for s in backup["permissions"]["publish"]["allow"])


# --- the scripts with stub tools ---------------------------------------------------------------

RCLONE_STUB = r"""#!/bin/sh
# A stand-in for rclone: records its argv, serves remote `backup:` from $BUCKET.
printf '%s\n' "$*" >> "$LOG"
[ "$RCLONE_CONFIG_BACKUP_SECRET_ACCESS_KEY" = "$EXPECT_SECRET" ] && [ -n "$RCLONE_CONFIG_BACKUP_ACCESS_KEY_ID" ] && echo keys-from-env >> "$LOG.env"
while [ "${1#--}" != "$1" ]; do shift; done
op=$1; shift
case " ${FAIL:-} " in *" $op "*) exit 7 ;; esac
path() { printf '%s/%s' "$BUCKET" "${1#backup:}"; }
case "$op" in
    copy) mkdir -p "$(path "$2")" && cp -R "$1"/. "$(path "$2")" ;;
    lsf) [ -d "$(path "$2")" ] || exit 3; for d in "$(path "$2")"/*/; do [ -d "$d" ] && basename "$d" | sed 's|$|/|'; done; exit 0 ;;
    purge) rm -rf "$(path "$1")" ;;
    *) exit 9 ;;
esac
"""


def stub(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return folder


@pytest.fixture
def upload(tmp_path: Path) -> dict[str, Any]:
    bin_dir = stub(tmp_path / "bin", "rclone", RCLONE_STUB)
    (tmp_path / "work" / "data").mkdir(parents=True)
    (tmp_path / "work" / "data" / "dump.rdb").write_bytes(b"REDIS0011 fake")
    bucket, keys = tmp_path / "bucket", tmp_path / "secrets" / "s3"
    keys.mkdir(parents=True)
    (keys / "access-key-id").write_text(ACCESS)
    (keys / "secret-access-key").write_text(SECRET)
    env = {"IN_DIR": str(tmp_path / "work"), "KEYS_DIR": str(keys), "S3_PATH": "faas-backups/oslo", "SERVICE": "valkey", "RETENTION": "3",
           "BUCKET": str(bucket), "LOG": str(tmp_path / "rclone.log"), "EXPECT_SECRET": SECRET}
    return {"bin": bin_dir, "bucket": bucket, "env": env, "log": tmp_path / "rclone.log"}


def stamps(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_upload_keeps_the_newest_and_deletes_only_older_backups(upload: dict[str, Any]) -> None:
    service = upload["bucket"] / "faas-backups" / "oslo" / "valkey"
    old = ["20250101T000000Z", "20250102T000000Z", "20250103T000000Z", "20250104T000000Z", "20250105T000000Z"]
    for name in [*old, "manual-copy"]:
        (service / name).mkdir(parents=True)
    result = sh("s3-upload.sh", upload["env"], upload["bin"])
    assert result.returncode == 0, result
    left = stamps(service)
    new = [n for n in left if n not in old and n != "manual-copy"]
    assert len(new) == 1 and (service / new[0] / "dump.rdb").read_bytes() == b"REDIS0011 fake"
    # Retention 3: the new one and the two newest old ones; a folder not named by us stays.
    assert left == sorted(["manual-copy", "20250104T000000Z", "20250105T000000Z", new[0]])
    log = upload["log"].read_text()
    assert SECRET not in log and ACCESS not in log  # no key on any command line
    assert all(line.startswith("--contimeout=30s --timeout=300s --retries=3") for line in log.splitlines())
    assert "keys-from-env" in (upload["log"].parent / "rclone.log.env").read_text()  # the keys reached rclone by its environment


def test_upload_with_fewer_backups_than_retention_deletes_nothing(upload: dict[str, Any]) -> None:
    result = sh("s3-upload.sh", upload["env"], upload["bin"])
    assert result.returncode == 0, result
    assert len(stamps(upload["bucket"] / "faas-backups" / "oslo" / "valkey")) == 1
    assert " purge " not in f" {upload['log'].read_text()} "


@pytest.mark.parametrize("fail", ["copy", "lsf", "purge"])
def test_upload_failures_exit_non_zero(upload: dict[str, Any], fail: str) -> None:
    service = upload["bucket"] / "faas-backups" / "oslo" / "valkey"
    for name in ["20250101T000000Z", "20250102T000000Z", "20250103T000000Z", "20250104T000000Z"]:
        (service / name).mkdir(parents=True)
    result = sh("s3-upload.sh", {**upload["env"], "FAIL": fail}, upload["bin"])
    assert result.returncode != 0, result
    log = upload["log"].read_text().splitlines()
    if fail == "copy":  # no pruning after a failed upload, and the partial one is removed
        assert [line.split()[4] for line in log] == ["copy", "purge"]
        assert stamps(service) == ["20250101T000000Z", "20250102T000000Z", "20250103T000000Z", "20250104T000000Z"]


def test_upload_with_the_real_rclone_on_its_local_backend(upload: dict[str, Any], tmp_path: Path) -> None:
    """The same script with the real rclone (Debian's; the image pins 1.75) and remote `backup`
    configured from the environment as the pod configures it, but on rclone's local backend
    (a folder as the bucket): copy, lsf --dirs-only and purge as they really behave."""
    require("rclone")
    bucket = upload["bucket"]
    service = bucket / "faas-backups" / "oslo" / "valkey"
    for name in ["20250101T000000Z", "20250102T000000Z", "20250103T000000Z", "manual"]:
        (service / name).mkdir(parents=True)
        (service / name / "dump.rdb").write_text(name)
    env = {k: v for k, v in upload["env"].items() if k in ("IN_DIR", "KEYS_DIR", "S3_PATH", "SERVICE")}
    env |= {"RETENTION": "2", "RCLONE_CONFIG_BACKUP_TYPE": "local", "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / ".config")}
    result = sh("s3-upload.sh", env, cwd=bucket)  # the local backend's paths are relative to here
    assert result.returncode == 0, result
    left = stamps(service)
    new = [n for n in left if n not in ("20250101T000000Z", "20250102T000000Z", "20250103T000000Z", "manual")]
    assert len(new) == 1 and (service / new[0] / "dump.rdb").read_bytes() == b"REDIS0011 fake"
    assert left == sorted(["20250103T000000Z", "manual", new[0]])  # retention 2: the new one and the newest old one
    assert "deleted backup:faas-backups/oslo/valkey/20250101T000000Z" in result.stdout


@pytest.mark.parametrize("retention", ["0", "", "three", "-1"])
def test_upload_refuses_a_bad_retention(upload: dict[str, Any], retention: str) -> None:
    result = sh("s3-upload.sh", {**upload["env"], "RETENTION": retention}, upload["bin"])
    assert result.returncode == 2 and not upload["log"].exists(), result


VALKEY_CLI_STUB = r"""#!/bin/sh
printf '%s\n' "$*" >> "$LOG"
[ "${REDISCLI_AUTH:-}" = "$EXPECT_PASSWORD" ] && echo auth-from-env >> "$LOG"
[ -n "${SLEEP:-}" ] && sleep "$SLEEP"
while [ "$#" -gt 0 ]; do [ "$1" = --rdb ] && out=$2; shift; done
[ -n "${FAIL:-}" ] && exit 1
printf '%s' "${CONTENT-REDIS0011 data}" > "$out"
"""


@pytest.mark.parametrize(("extra", "ok"), [
    ({}, True),
    ({"CONTENT": "VALKEY080 data"}, True),
    ({"FAIL": "1"}, False),
    ({"CONTENT": "ERR unknown command"}, False),
    ({"CONTENT": ""}, False),
    ({"SLEEP": "30", "DUMP_TIMEOUT": "1"}, False),  # bounded
])
def test_valkey_dump_script(tmp_path: Path, extra: dict[str, str], ok: bool) -> None:
    bin_dir = stub(tmp_path / "bin", "valkey-cli", VALKEY_CLI_STUB)
    log = tmp_path / "cli.log"
    (tmp_path / "password").write_text(PASSWORD)
    env = {"REDIS_HOST": "redis.faas-data.svc.cluster.local", "REDIS_PORT": "6379", "PASSWORD_FILE": str(tmp_path / "password"),
           "OUT_DIR": str(tmp_path / "work"), "LOG": str(log), "EXPECT_PASSWORD": PASSWORD, **extra}
    result = sh("valkey-dump.sh", env, bin_dir, timeout=20)
    assert (result.returncode == 0) == ok, result
    assert (tmp_path / "work" / "data" / "dump.rdb").exists() == ok
    assert not (tmp_path / "work" / "data" / "dump.rdb.part").exists()
    text = log.read_text()
    assert PASSWORD not in text and "auth-from-env" in text
    assert text.splitlines()[0] == f"-h redis.faas-data.svc.cluster.local -p 6379 --no-auth-warning --rdb {tmp_path}/work/data/dump.rdb.part"


def test_valkey_dump_tries_each_pod_in_turn(tmp_path: Path) -> None:
    """A replicated stack lists every pod: a dead one (here the first) costs an attempt, not
    the backup; when none answers the script fails, naming them."""
    bin_dir = stub(tmp_path / "bin", "valkey-cli", VALKEY_CLI_STUB.replace("#!/bin/sh\n", "#!/bin/sh\nhost=$2\n").replace('[ -n "${FAIL:-}" ] && exit 1', '[ "$host" = "${FAIL_HOST:-}" ] && exit 1'))
    log = tmp_path / "cli.log"
    (tmp_path / "password").write_text(PASSWORD)
    env = {"REDIS_HOST": "redis-2.h redis-1.h redis-0.h", "REDIS_PORT": "6379", "PASSWORD_FILE": str(tmp_path / "password"),
           "OUT_DIR": str(tmp_path / "work"), "LOG": str(log), "EXPECT_PASSWORD": PASSWORD, "FAIL_HOST": "redis-2.h"}
    result = sh("valkey-dump.sh", env, bin_dir, timeout=20)
    assert result.returncode == 0, result
    assert "dump.rdb from redis-1.h" in result.stdout
    assert [line.split()[1] for line in log.read_text().splitlines() if line.startswith("-h")] == ["redis-2.h", "redis-1.h"]
    everything_down = sh("valkey-dump.sh", {**env, "REDIS_HOST": "redis-2.h", "CONTENT": ""}, bin_dir, timeout=20)
    assert everything_down.returncode != 0 and "none of redis-2.h answered" in everything_down.stderr
    assert not (tmp_path / "work" / "data" / "dump.rdb").exists()


def test_replicated_valkey_is_backed_up_from_its_pods() -> None:
    """No `redis` Service on a replicated stack: the backup names every pod, never the Service."""
    three = data_backups.valkey_hosts(data_backups.DataBackups(backups=BackupsSettings(), namespace="faas-data", redis_storage="1Gi",
                                                                nats_storage="1Gi", nats_streams=False, replicas=3))
    assert three.split() == [f"redis-{i}.redis-headless.faas-data.svc.cluster.local" for i in (2, 1, 0)]
    one = data_backups.valkey_hosts(data_backups.DataBackups(backups=BackupsSettings(), namespace="faas-data", redis_storage="1Gi",
                                                              nats_storage="1Gi", nats_streams=False))
    assert one == "redis.faas-data.svc.cluster.local"


def test_valkey_dump_needs_the_password(tmp_path: Path) -> None:
    result = sh("valkey-dump.sh", {"REDIS_HOST": "h", "REDIS_PORT": "1", "OUT_DIR": str(tmp_path)})
    assert result.returncode != 0 and "PASSWORD_FILE" in result.stderr
    result = sh("valkey-dump.sh", {"REDIS_HOST": "h", "REDIS_PORT": "1", "OUT_DIR": str(tmp_path), "PASSWORD_FILE": str(tmp_path / "none")})
    assert result.returncode != 0 and not (tmp_path / "data").exists()  # an unreadable password file stops it first


NATS_STUB = r"""#!/bin/sh
printf '%s\n' "$*" >> "$LOG"
[ "${NATS_PASSWORD:-}" = "$EXPECT_PASSWORD" ] && echo password-from-env >> "$LOG"
case "$1 $2" in
    "stream ls") printf '%b' "${STREAMS:-}" ;;
    "stream backup") [ "$4" = "${FAIL:-none}" ] && exit 1; mkdir -p "$5" && echo '{}' > "$5/backup.json" ;;
esac
"""


@pytest.mark.parametrize(("streams", "fail", "ok", "folders"), [
    ("faas-request\\nother_stream\\n", "", True, ["faas-request", "other_stream"]),
    ("", "", True, ["NO-STREAMS"]),
    ("faas-request\\nother\\n", "other", False, None),
    ("../etc\\n", "", False, None),
])
def test_nats_dump_script(tmp_path: Path, streams: str, fail: str, ok: bool, folders: list[str] | None) -> None:
    bin_dir = stub(tmp_path / "bin", "nats", NATS_STUB)
    log = tmp_path / "nats.log"
    (tmp_path / "password").write_text(PASSWORD)
    env = {"NATS_URL": "nats://nats:4222", "NATS_USER": nats.BACKUP_USER, "PASSWORD_FILE": str(tmp_path / "password"), "EXPECT_PASSWORD": PASSWORD,
           "OUT_DIR": str(tmp_path / "work"), "LOG": str(log), "STREAMS": streams, "FAIL": fail}
    result = sh("nats-dump.sh", env, bin_dir)
    assert (result.returncode == 0) == ok, result
    if folders is not None:
        assert stamps(tmp_path / "work" / "data") == folders
    text = log.read_text()
    assert PASSWORD not in text and "password-from-env" in text
    assert text.splitlines()[0] == "stream ls --names"
    calls = [line for line in text.splitlines() if line.startswith("stream")]
    if folders and folders != ["NO-STREAMS"]:
        assert calls[1:] == [f"stream backup --no-progress {name} {tmp_path}/work/data/{name}" for name in folders]


# --- the rendered objects, the settings, the inventory ----------------------------------------


@pytest.fixture(scope="module")
def pro_run() -> StackRun:
    return run_stack("data-backups", stack(openfaasEdition="pro", openfaasLicense={"secure": "license"}, **S3))


def objects(run: StackRun, kind: str) -> dict[str, dict[str, Any]]:
    return {unwrap(r.inputs)["metadata"]["name"]: unwrap(r.inputs) for r in run.resources if r.type == f"kubernetes:{kind}"}


def test_the_cron_jobs_are_bounded_and_read_secrets_as_mounted_files_only(pro_run: StackRun) -> None:
    jobs = objects(pro_run, "batch/v1:CronJob")
    assert sorted(jobs) == ["nats-backup", "valkey-backup"]
    for name, job in jobs.items():
        spec = job["spec"]
        assert spec["concurrencyPolicy"] == "Forbid" and spec["schedule"] == "15 */6 * * *"
        assert spec["successfulJobsHistoryLimit"] >= 1 and spec["startingDeadlineSeconds"] > 0
        job_spec = spec["jobTemplate"]["spec"]
        assert job_spec["activeDeadlineSeconds"] == 3600 and job_spec["backoffLimit"] == 2
        pod = job_spec["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] and pod["automountServiceAccountToken"] is False
        for container in [*pod["initContainers"], *pod["containers"]]:
            assert container["securityContext"]["readOnlyRootFilesystem"] and container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
            # No secret in the spec: no variable from a Secret, none named like a key or password.
            assert all("valueFrom" not in env for env in container["env"]), (name, container["name"])
            secretish = [e for e in container["env"] if any(w in e["name"] for w in ("KEY", "PASSWORD", "AUTH", "SECRET"))]
            assert all(e["name"] in ("RCLONE_CONFIG_BACKUP_ENV_AUTH", "PASSWORD_FILE", "KEYS_DIR") for e in secretish), secretish
            assert all(e["value"].startswith("/secrets/") for e in secretish if e["name"] != "RCLONE_CONFIG_BACKUP_ENV_AUTH")
            secrets = [m for m in container["volumeMounts"] if m["mountPath"].startswith("/secrets/")]
            assert len(secrets) == 1 and secrets[0]["readOnly"], (name, container["name"])
        upload = pod["containers"][0]
        assert {e["name"]: e.get("value") for e in upload["env"]}["S3_PATH"] == "faas-backups/oslo"
        mounted = {v["name"]: v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
        assert mounted == {"s3": "data-backup-s3", **({"valkey": "redis-auth"} if name == "valkey-backup" else {"nats": "nats-backup-credentials"})}
        assert all(v["secret"]["defaultMode"] == 0o440 for v in pod["volumes"] if "secret" in v)


def test_the_keys_and_password_are_secrets_in_no_plain_input(pro_run: StackRun) -> None:
    s3 = next(r for r in pro_run.resources if r.type == "kubernetes:core/v1:Secret" and unwrap(r.inputs)["metadata"]["name"] == "data-backup-s3")
    assert is_secret(s3.inputs["stringData"])
    assert unwrap(s3.inputs["stringData"]) == {"access-key-id": ACCESS, "secret-access-key": SECRET}
    copy = next(r for r in pro_run.resources if r.type == "kubernetes:core/v1:Secret" and unwrap(r.inputs)["metadata"]["name"] == "nats-backup-credentials")
    assert is_secret(copy.inputs["stringData"])
    plain = [json.dumps(unwrap(r.inputs)) for r in pro_run.resources if not any(is_secret(v) for v in r.inputs.values())]
    assert not any(ACCESS in text or SECRET in text for text in plain)


def test_the_backup_pods_reach_only_dns_their_server_and_s3(pro_run: StackRun) -> None:
    policies = objects(pro_run, "networking.k8s.io/v1:NetworkPolicy")
    egress = policies["valkey-backup-egress"]["spec"]["egress"]
    assert egress[1] == {"to": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "redis"}}}], "ports": [{"protocol": "TCP", "port": 6379}]}
    assert egress[2] == {"to": [{"ipBlock": {"cidr": "198.51.100.64/28"}}], "ports": [{"protocol": "TCP", "port": 443}]}
    assert policies["nats-from-nats-backup"]["spec"]["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 4222}]
    assert "ingress" not in policies["valkey-backup"]["spec"]  # admits nothing


def test_ce_backs_up_valkey_only_and_oslo_without_s3_renders_nothing() -> None:
    cfg = data_backups.of(settings_for(stack(**S3), secret_keys=SECRETS))
    assert sorted(k for k, v in data_backups.manifests(cfg).items() if v["kind"] == "CronJob") == ["valkey-backup"]
    assert data_backups.manifests(data_backups.of(settings_for(stack()))) == {}
    off = {k: v for k, v in S3.items() if k != "dataBackupS3Cidrs"}
    assert data_backups.manifests(data_backups.of(settings_for(stack(**off, dataBackups=False), secret_keys=SECRETS))) == {}


def test_an_ip_endpoint_is_its_own_range_and_a_name_without_ranges_is_warned() -> None:
    ip = settings_for(stack(**{**S3, "etcdS3Endpoint": "198.51.100.70:9000", "dataBackupS3Cidrs": []}), secret_keys=SECRETS)
    assert data_backups.s3_rule(ip.backups) == {"to": [{"ipBlock": {"cidr": "198.51.100.70/32"}}], "ports": [{"protocol": "TCP", "port": 9000}]}
    named = settings_for(stack(**{k: v for k, v in S3.items() if k != "dataBackupS3Cidrs"}), secret_keys=SECRETS)
    assert len(data_backups.s3_rule(named.backups)["to"]) == 2  # 0.0.0.0/0 and ::/0
    assert any("dataBackupS3Cidrs is empty" in w for w in named.warnings)
    assert not any("dataBackupS3Cidrs" in w for w in ip.warnings)


@pytest.mark.parametrize(("overrides", "expected"), [
    ({**S3, "dataBackupSchedule": "0 */6 * *"}, "sovereign-faas:dataBackupSchedule: expected a cron schedule of five fields"),
    ({**S3, "dataBackupSchedule": "61 * * * *"}, "sovereign-faas:dataBackupSchedule: expected a cron schedule"),
    ({**S3, "dataBackupRetention": 0}, "sovereign-faas:dataBackupRetention:"),
    ({**S3, "dataBackupRetention": 1001}, "sovereign-faas:dataBackupRetention:"),
    ({"dataBackups": True}, "sovereign-faas:dataBackups: needs etcdS3Bucket"),
    ({"dataBackupSchedule": "@daily"}, "sovereign-faas:dataBackupSchedule: only used with data backups, which need etcdS3Bucket"),
    ({**S3, "dataBackups": False, "dataBackupRetention": 7}, "sovereign-faas:dataBackupRetention: only used with data backups"),
    ({**S3, "dataBackupS3Cidrs": ["not-a-range"]}, "sovereign-faas:dataBackupS3Cidrs"),
])
def test_refusals(overrides: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        settings_for(stack(**overrides), secret_keys=SECRETS)
    message = str(caught.value)
    assert expected in message and "Traceback" not in message and SECRET not in message


def test_bergen_renders_both_backups_and_oslo_tromso_none(tmp_path: Path) -> None:
    from tools import plan

    for name, expected in (("bergen", {"nats-backup", "valkey-backup"}), ("oslo", set()), ("tromso", set())):
        assert plan.main(["--stack", name, "--out", str(tmp_path / name)]) == 0
        found = {p.name for p in (tmp_path / name / "manifests").glob("cronjob-*")}
        assert {n.removeprefix("cronjob-faas-data-").removesuffix(".yaml") for n in found} == expected
    inventory = json.loads((tmp_path / "bergen" / "egress.json").read_text())["endpoints"]
    rows = [e for e in inventory if e["phase"] == "backups"]
    assert [r["who"] for r in rows] == [["K3s on every server (etcd snapshots)"], ["CronJob faas-data/nats-backup (15 */6 * * *)"],
                                        ["CronJob faas-data/valkey-backup (15 */6 * * *)"]]
    job = yaml.safe_load((tmp_path / "bergen" / "manifests" / "cronjob-faas-data-valkey-backup.yaml").read_text())
    assert job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["initContainers"][0]["image"].startswith("valkey/valkey:")


def strict_problems_of(**overrides: Any) -> list[tuple[str, str]]:
    from render import egress
    from tools import plan

    settings = plan.stack_settings("tromso", overrides=overrides)
    return [*egress.source_problems(settings), *egress.strict_problems(egress.inventory(settings))]


def test_strict_mode_holds_the_data_backups_to_the_etcd_rule_and_needs_their_addresses() -> None:
    s3 = {k: v for k, v in S3.items() if k != "dataBackupS3Cidrs"}
    declared = ["mirror.example.no", "registry.example.no", "charts.example.no", "acme.example.no", "ntp.example.no", "198.51.100.53"]
    # Undeclared endpoint: the etcd row and the valkey-backup and nats-backup rows, each refused.
    problems = strict_problems_of(**s3, dataBackupS3Cidrs=["198.51.100.64/28"])
    rows = [m for _, m in problems if "s3.example.no" in m and "(backups;" in m]
    assert len(rows) == 3 and any("valkey-backup" in m for m in rows) and any("nats-backup" in m for m in rows)
    # Declared, but known by name only: the backup pods would reach any address.
    problems = strict_problems_of(**s3, egressAllowHosts=[*declared, "s3.example.no"])
    assert [k for k, _ in problems] == ["dataBackupS3Cidrs"]
    # A range as wide as the internet is refused like the other allow lists; a /28 passes.
    problems = strict_problems_of(**s3, egressAllowHosts=[*declared, "s3.example.no"], dataBackupS3Cidrs=["0.0.0.0/1"])
    assert [k for k, _ in problems] == ["dataBackupS3Cidrs[0]"]
    assert strict_problems_of(**s3, egressAllowHosts=[*declared, "s3.example.no"], dataBackupS3Cidrs=["198.51.100.64/28"]) == []


def test_the_runbook_names_the_pinned_image_and_the_scripts_it_runs() -> None:
    from settings import versions

    runbook = (Path(__file__).parent.parent / "docs" / "operations" / "data-backups.md").read_text()
    assert f"image: {versions.REDIS_IMAGE}" in runbook
    assert "sh /scripts/valkey-restore.sh" in runbook and "valkey-restore.sh" in data_backups.scripts()
    assert f"{KEYS + 5:,} keys" in runbook and f"{MESSAGES:,} messages" in runbook  # the counts the tests restore

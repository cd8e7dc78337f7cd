"""Backups of the data in the country: Valkey's RDB and JetStream's streams, on a schedule, to the
in-country S3 bucket the etcd snapshots go to (docs/operations/data-backups.md has the restore).

Two CronJobs in the data namespace, `valkey-backup` and `nats-backup` (names the monitoring
alerts on: kube_cronjob_status_last_successful_time). Each Job's pod has two containers sharing
an emptyDir: the first takes the snapshot with the server's own client (`valkey-cli --rdb`,
`nats stream backup`), the second uploads it with rclone under <folder>/<service>/<UTC time>/
and keeps the newest `dataBackupRetention`. The scripts are real files in
render/backup_scripts/, mounted from a ConfigMap.

Why rclone for S3: MIT-licensed, one static binary in a small Alpine image, configured wholly
from environment variables (the keys, read from the mounted Secret by the script, are never on
a command line or in the pod's spec); MinIO's `mc` is AGPL-3.0. Why no local volume without a bucket: a backup on a
node's local-path disk is lost with that node, with the data it copies (settings/backups.py
refuses dataBackups without etcdS3Bucket).

In CE nothing of the stack's keeps JetStream streams (account EVENTS has no JetStream; CE's
queue is the chart's own NATS Streaming), so there is no nats-backup: only Pro's QUEUE account
holds streams, and its `nats-backup` user (render/nats.py) may only list, read and snapshot them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from render import nats, policies, redis
from render import stateful as data
from settings import versions
from settings.backups import BackupsSettings
from settings.stack import Settings

SCRIPTS_DIR = Path(__file__).parent / "backup_scripts"
SCRIPTS = ("valkey-dump.sh", "valkey-restore.sh", "nats-dump.sh", "s3-upload.sh")  # valkey-restore.sh: the runbook's
SCRIPTS_CONFIG = "data-backup-scripts"
SCRIPTS_MOUNT = "/scripts"
SECRETS_MOUNT = "/secrets"  # each Secret a pod reads, mounted read-only at /secrets/<volume>
WORK_MOUNT = "/work"  # the emptyDir both containers share
S3_SECRET = "data-backup-s3"  # in the data namespace: the etcdS3Credentials, for rclone
S3_KEYS = ("access-key-id", "secret-access-key")
NATS_SECRET = "nats-backup-credentials"  # in the data namespace: the backup user's password
VALKEY = "valkey-backup"
NATS = "nats-backup"
REMOTE = "BACKUP"  # rclone's remote `backup`, configured by RCLONE_CONFIG_BACKUP_*
# A Job that has not finished in an hour is stuck (a week's RDB of a few GB uploads in
# minutes); a missed start more than an hour late is skipped, the next one comes.
ACTIVE_DEADLINE = 3600
STARTING_DEADLINE = 3600
BACKOFF_LIMIT = 2  # three attempts per scheduled run
HISTORY = 3  # Jobs kept of each outcome: enough to read the last failures' logs
DUMP_RESOURCES = {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}}
UPLOAD_RESOURCES = {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "1", "memory": "256Mi"}}


@dataclass(frozen=True)
class DataBackups:
    """What the backups need of the stack: the S3 target, the namespace, what to back up."""

    backups: BackupsSettings
    namespace: str
    redis_storage: str  # the emptyDir of a Job holds one snapshot: at most the volume's size
    nats_storage: str
    nats_streams: bool  # some account keeps JetStream streams (Pro's QUEUE)
    replicas: int = 1  # of Valkey (Settings.data_replicas)


def valkey_hosts(cfg: DataBackups) -> str:
    """Where valkey-dump.sh asks for the snapshot: the `redis` Service on one replica; on a
    replicated stack (which has no `redis` Service: it would mix primary and replicas) every
    pod by its DNS name, the highest first, tried in turn: pod 0 starts as the primary, and a
    replica's snapshot spares the primary the fork; any pod gives the same data."""
    if cfg.replicas == 1:
        return redis.host(cfg.namespace)
    return " ".join(data.pod_host(redis.APP, cfg.namespace, i) for i in reversed(range(cfg.replicas)))


def scripts() -> dict[str, str]:
    return {name: (SCRIPTS_DIR / name).read_text() for name in SCRIPTS}


def s3_path(backups: BackupsSettings) -> str:
    return "/".join(p for p in (backups.s3_bucket, (backups.s3_folder or "").strip("/")) if p)


def rclone_env(backups: BackupsSettings) -> list[dict[str, Any]]:
    """rclone's S3 remote from the environment (rclone's documentation, "Config file":
    RCLONE_CONFIG_<REMOTE>_<OPTION>; its S3 page for the options). The two keys are not here:
    s3-upload.sh reads them from the mounted Secret into the process's environment."""
    prefix = f"RCLONE_CONFIG_{REMOTE}_"
    plain = {
        "TYPE": "s3",
        "PROVIDER": "Other",  # any S3-compatible store
        "ENV_AUTH": "false",
        "ENDPOINT": f"https://{backups.s3_endpoint}",  # HTTPS, as K3s uploads the etcd snapshots
        **({"REGION": backups.s3_region} if backups.s3_region else {}),
        # The bucket exists (the etcd snapshots use it): do not try to create it, which a key
        # limited to the bucket may not do.
        "NO_CHECK_BUCKET": "true",
    }
    return [{"name": f"{prefix}{k}", "value": v} for k, v in plain.items()]


def _script(name: str) -> list[str]:
    return ["sh", f"{SCRIPTS_MOUNT}/{name}"]


def _env(values: dict[str, str]) -> list[dict[str, Any]]:
    return [{"name": k, "value": v} for k, v in values.items()]


def _container(name: str, image: str, command: list[str], env: list[dict[str, Any]], resources: dict[str, Any], secret: str) -> dict[str, Any]:
    """A container of a backup pod: its script, the work volume, and one Secret as files."""
    return {
        "name": name,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": command,
        # The work volume: nats-box's WORKDIR is /root (0700), where a non-root user cannot start.
        "workingDir": WORK_MOUNT,
        "env": env,
        "resources": resources,
        "securityContext": dict(data.CONTAINER_SECURITY),
        "volumeMounts": [
            {"name": "scripts", "mountPath": SCRIPTS_MOUNT, "readOnly": True},
            {"name": "work", "mountPath": WORK_MOUNT},
            {"name": secret, "mountPath": f"{SECRETS_MOUNT}/{secret}", "readOnly": True},
        ],
    }


def upload_container(cfg: DataBackups, service: str) -> dict[str, Any]:
    env = _env({
        "IN_DIR": WORK_MOUNT, "KEYS_DIR": f"{SECRETS_MOUNT}/s3", "S3_PATH": s3_path(cfg.backups), "SERVICE": service, "RETENTION": str(cfg.backups.data_retention),
        # The root file system is read-only: rclone's config and cache directories go to the work volume.
        "HOME": WORK_MOUNT, "XDG_CONFIG_HOME": f"{WORK_MOUNT}/.config", "XDG_CACHE_HOME": f"{WORK_MOUNT}/.cache",
    })
    return _container("upload", versions.RCLONE_IMAGE, _script("s3-upload.sh"), [*env, *rclone_env(cfg.backups)], UPLOAD_RESOURCES, "s3")


def _secret_volume(volume: str, secret: str) -> dict[str, Any]:
    # Group-readable (0440) by the pod's fsGroup only, as the servers mount theirs.
    return {"name": volume, "secret": {"secretName": secret, "defaultMode": 0o440}}


def cron_job(cfg: DataBackups, name: str, dump: dict[str, Any], service: str, work_size: str, dump_secret: str) -> dict[str, Any]:
    """The schedule, bounded: one Job at a time, an hour at most, three attempts."""
    pod = {
        "restartPolicy": "Never",
        "initContainers": [dump],
        "containers": [upload_container(cfg, service)],
        "volumes": [
            {"name": "scripts", "configMap": {"name": SCRIPTS_CONFIG, "defaultMode": 0o555}},
            {"name": "work", "emptyDir": {"sizeLimit": work_size}},
            _secret_volume(service, dump_secret),
            _secret_volume("s3", S3_SECRET),
        ],
        "securityContext": dict(data.POD_SECURITY),
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": name, "namespace": cfg.namespace, "labels": data.labels(name)},
        "spec": {
            "schedule": cfg.backups.data_schedule,
            # The schedule as written, whatever the controller's clock zone. Safe on a node
            # without tzdata: CronJobSpec.timeZone's API doc says the API server and the
            # controller fall back to a bundled copy of the database (stable since 1.27).
            "timeZone": "Etc/UTC",
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": STARTING_DEADLINE,
            "successfulJobsHistoryLimit": HISTORY,
            "failedJobsHistoryLimit": HISTORY,
            "jobTemplate": {
                "metadata": {"labels": data.labels(name)},
                "spec": {
                    "backoffLimit": BACKOFF_LIMIT,
                    "activeDeadlineSeconds": ACTIVE_DEADLINE,
                    "template": {"metadata": {"labels": data.labels(name)}, "spec": pod},
                },
            },
        },
    }


def valkey_dump(cfg: DataBackups) -> dict[str, Any]:
    env = _env({"REDIS_HOST": valkey_hosts(cfg), "REDIS_PORT": str(redis.PORT), "OUT_DIR": WORK_MOUNT,
                "PASSWORD_FILE": f"{SECRETS_MOUNT}/valkey/password"})  # Secret redis-auth's key `password`
    return _container("dump", versions.REDIS_IMAGE, _script("valkey-dump.sh"), env, DUMP_RESOURCES, "valkey")


def nats_dump(cfg: DataBackups) -> dict[str, Any]:
    env = _env({
        "NATS_URL": nats.url(cfg.namespace), "NATS_USER": nats.BACKUP_USER, "OUT_DIR": WORK_MOUNT,
        "PASSWORD_FILE": f"{SECRETS_MOUNT}/nats/password",
        # The CLI keeps its contexts under XDG_CONFIG_HOME: the work volume, not the read-only root.
        "HOME": WORK_MOUNT, "XDG_CONFIG_HOME": f"{WORK_MOUNT}/.config",
    })
    return _container("dump", versions.NATS_BOX_IMAGE, _script("nats-dump.sh"), env, DUMP_RESOURCES, "nats")


def _pods(app: str) -> dict[str, Any]:
    return {"podSelector": {"matchLabels": data.selector(app)}}


def s3_rule(backups: BackupsSettings) -> dict[str, Any]:
    """The S3 endpoint's addresses on its port; any address on it when unknown (warned)."""
    cidrs = backups.data_s3_ranges or policies.ANYWHERE
    return policies.to_rule([policies.ip_block(c) for c in cidrs], [backups.s3_port])


def _policies(cfg: DataBackups, name: str, server_app: str, port: int) -> dict[str, dict[str, Any]]:
    """The backup pods reach DNS, their server's pods on its port and the S3 endpoint, and
    admit nothing; the server admits them on that port (its own policy admits the clients)."""
    egress = [policies.dns_rule(), policies.to_rule([_pods(server_app)], [port]), s3_rule(cfg.backups)]
    selector = {"matchLabels": data.selector(name)}
    return {
        "egress": policies.egress_policy(f"{name}-egress", cfg.namespace, selector, egress),
        "ingress": policies.ingress_policy(name, cfg.namespace, selector, ()),
        "server": policies.ingress_policy(f"{server_app}-from-{name}", cfg.namespace, {"matchLabels": data.selector(server_app)},
                                          [policies.rule([_pods(name)], [port])]),
    }


def manifests(cfg: DataBackups) -> dict[str, dict[str, Any]]:
    """Every object of the data backups but the Secrets (they carry keys and a password), by
    role: `config`, then per backup `<backup>` (the CronJob) and `<backup>-<policy>`. Empty when
    the backups are off."""
    if not cfg.backups.data_on:
        return {}
    found: dict[str, dict[str, Any]] = {"config": data.config_map(SCRIPTS_CONFIG, cfg.namespace, SCRIPTS_CONFIG, scripts())}
    jobs = [(VALKEY, valkey_dump(cfg), "valkey", cfg.redis_storage, redis.APP, redis.PORT, "redis-auth")]
    if cfg.nats_streams:
        jobs.append((NATS, nats_dump(cfg), "nats", cfg.nats_storage, nats.APP, nats.CLIENT_PORT, NATS_SECRET))
    for name, dump, service, size, server, port, secret in jobs:
        found[name] = cron_job(cfg, name, dump, service, size, secret)
        found.update({f"{name}-{role}": obj for role, obj in _policies(cfg, name, server, port).items()})
    return found


def of(settings: Settings) -> DataBackups:
    """From the stack's Settings (render/egress.py and __main__ use the same)."""
    return DataBackups(
        backups=settings.backups,
        namespace=settings.data.namespace,
        redis_storage=settings.redis.storage,
        nats_storage=settings.nats.storage,
        nats_streams=settings.openfaas.pro,
        replicas=settings.data_replicas,
    )

"""The data backups on the cluster (render/data_backups.py builds the objects): the S3 keys of
etcdS3Credentials as Secret data-backup-s3, the NATS backup user's password copy, the scripts'
ConfigMap, the CronJobs and their NetworkPolicies. Every key and password is a Pulumi secret
end to end; the pods mount them as files (render/data_backups.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.registration import policy, secret
from render import data_backups, nats
from render.stateful import labels


@dataclass(frozen=True)
class DataBackupsArgs:
    config: data_backups.DataBackups
    nats_passwords: Mapping[str, pulumi.Output[str]]  # Nats.passwords (the backup user's, in Pro)
    provider: k8s.Provider
    after: tuple[pulumi.Resource, ...] = ()  # the data namespace, the Valkey and NATS servers


class DataBackups(pulumi.ComponentResource):
    """CronJobs valkey-backup and (with streams to back up) nats-backup, when the backups are on."""

    objects: dict[str, pulumi.CustomResource]

    def __init__(self, name: str, args: DataBackupsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("sovereign-faas:index:DataBackups", name, None, opts)
        on_cluster = pulumi.ResourceOptions(parent=self, provider=args.provider, depends_on=list(args.after))
        cfg, ns = args.config, args.config.namespace
        objs = data_backups.manifests(cfg)
        self.objects = {}
        credentials = cfg.backups.s3_credentials
        if not objs or credentials is None:
            self.register_outputs({})
            return
        keys: dict[str, str] = dict(zip(data_backups.S3_KEYS, (credentials.access_key.get_secret_value(), credentials.secret_key.get_secret_value()), strict=True))
        mounts: list[pulumi.Resource] = [secret(f"{name}-s3", data_backups.S3_SECRET, ns, keys, on_cluster, labels=labels(data_backups.S3_SECRET))]
        if data_backups.NATS in objs:
            password = args.nats_passwords[nats.BACKUP_USER].apply(lambda pw: {"password": pw})
            mounts.append(secret(f"{name}-nats", data_backups.NATS_SECRET, ns, password, on_cluster, labels=labels(data_backups.NATS)))
        config = objs.pop("config")
        scripts = k8s.core.v1.ConfigMap(f"{name}-config", metadata=config["metadata"], data=config["data"], opts=on_cluster)
        # The CronJobs after what their pods read: a Job started without them would fail.
        jobs_opts = pulumi.ResourceOptions.merge(on_cluster, pulumi.ResourceOptions(depends_on=[scripts, *mounts]))
        self.objects["config"] = scripts
        for role, obj in objs.items():
            if obj["kind"] == "CronJob":
                self.objects[role] = k8s.batch.v1.CronJob(f"{name}-{role}", metadata=obj["metadata"], spec=obj["spec"], opts=jobs_opts)
            else:
                self.objects[role] = policy(f"{name}-{role}", obj, on_cluster)
        self.register_outputs({})

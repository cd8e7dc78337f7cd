"""etcd snapshots of the K3s servers: when, how many, and optionally where off the node (an
S3-compatible endpoint, e.g. an in-country object store). docs/operations/backups.md."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, SecretStr, ValidationInfo, field_validator, model_validator

from settings.base import Section, key, require_secret, secret_key
from settings.errors import expected, rules
from settings.types import Bool, Cidr, between, cli_scalar, is_ip

# K3s parses the schedule with github.com/robfig/cron/v3's standard parser: five fields
# (minute hour day-of-month month day-of-week, no seconds), or a descriptor.
_DESCRIPTORS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
_EVERY = re.compile(r"@every (\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+")
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
# (name, lowest, highest, names) per field, robfig/cron's bounds.
_FIELDS = (("minute", 0, 59, ()), ("hour", 0, 23, ()), ("day of month", 1, 31, ()), ("month", 1, 12, _MONTHS), ("day of week", 0, 6, _DAYS))
_CRON_HINT = "expected a cron schedule of five fields (minute hour day-of-month month day-of-week) such as '0 */6 * * *', or @daily, @hourly, '@every 6h'"


def _number(text: str, low: int, names: tuple[str, ...]) -> int | None:
    if text.isdigit():
        return int(text)
    if text.lower() in names:
        return names.index(text.lower()) + low
    return None


def _cron_field(text: str, low: int, high: int, names: tuple[str, ...]) -> bool:
    for part in text.split(","):
        span, _, step = part.partition("/")
        if step and (not step.isdigit() or int(step) == 0):
            return False
        if span in ("*", "?"):
            continue
        first, dash, last = span.partition("-")
        a = _number(first, low, names)
        b = _number(last, low, names) if dash else a
        if a is None or b is None or not low <= a <= b <= high:
            return False
    return True


def _cron(value: Any) -> str:
    if not isinstance(value, str):
        raise expected(_CRON_HINT)
    text = " ".join(value.split())
    if text in _DESCRIPTORS or _EVERY.fullmatch(text):
        return text
    fields = text.split(" ")
    if len(fields) != 5:
        raise expected(f"{_CRON_HINT} (K3s' parser takes no seconds field)")
    for field, (name, low, high, names) in zip(fields, _FIELDS, strict=True):
        if not _cron_field(field, low, high, names):
            raise expected(f"{_CRON_HINT}: the {name} field {field!r} is not {low}-{high}, a range, a list or */n")
    return text


Cron = Annotated[str, BeforeValidator(_cron)]

# An S3 endpoint as K3s takes it: host[:port], no scheme (etcd-s3-endpoint; TLS unless
# etcd-s3-insecure, which the stack never sets).
_ENDPOINT = re.compile(r"(?=.{1,253}(:|$))[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*(:[0-9]{1,5})?")
# S3 bucket names: 3-63 characters, lower-case letters, digits, dots and hyphens.
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_FOLDER = re.compile(r"[A-Za-z0-9._/-]{1,255}")


def _fullmatch(pattern: re.Pattern[str], value: Any, hint: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise expected(hint)
    return value


def _matching(pattern: re.Pattern[str], hint: str) -> BeforeValidator:
    return BeforeValidator(lambda value: _fullmatch(pattern, value, hint))


_ENDPOINT_HINT = "expected an S3 endpoint as host[:port] without https://, such as 's3.example.no' or 'minio.example.no:9000'"
_BUCKET_HINT = "expected an S3 bucket name: 3-63 lower-case letters, digits, dots and hyphens"


def _endpoint(value: Any) -> str:
    text = _fullmatch(_ENDPOINT, value, _ENDPOINT_HINT)
    port = text.rpartition(":")[2] if ":" in text else None
    if port is not None and not 1 <= int(port) <= 65535:
        raise expected(f"{_ENDPOINT_HINT}, with a port from 1 to 65535")
    return text


def _bucket(value: Any) -> str:
    """A bucket name K3s' S3 client (minio-go) takes: s3utils.checkBucketNameCommon refuses an
    IP address and '..', '.-' or '-.' besides what the pattern does."""
    text = _fullmatch(_BUCKET, value, _BUCKET_HINT)
    if re.fullmatch(r"(\d+\.){3}\d+", text):
        raise expected(f"{_BUCKET_HINT}, not an IP address")
    if any(pair in text for pair in ("..", ".-", "-.")):
        raise expected(f"{_BUCKET_HINT} (no '..', '.-' or '-.')")
    return text


Endpoint = Annotated[str, BeforeValidator(_endpoint)]
Bucket = Annotated[str, BeforeValidator(_bucket)]
Region = Annotated[str, _matching(re.compile(r"[a-z0-9-]{1,63}"), "expected a region name such as 'us-east-1' or 'no-osl-1'")]
Folder = Annotated[str, _matching(_FOLDER, "expected a folder in the bucket such as 'k3s/bergen' (letters, digits, . _ - /)")]

def _present(value: Any) -> bool:
    """Set to something: a secret with text, or any other value."""
    if isinstance(value, SecretStr):
        return bool(value.get_secret_value())
    return value not in (None, "", ())


_S3_KEYS = ("etcdS3Endpoint", "etcdS3Region", "etcdS3Folder", "etcdS3Credentials")
_DATA_KEYS = ("dataBackupSchedule", "dataBackupRetention", "dataBackupS3Cidrs")


# A key of digits that `pulumi config set --path` stored as a number is still that text.
SecretText = Annotated[SecretStr, BeforeValidator(cli_scalar)]


class S3Credentials(Section):
    access_key: SecretText = key("accessKey", ..., "S3 access key id")
    secret_key: SecretText = key("secretKey", ..., "S3 secret access key")

    @field_validator("access_key", "secret_key", mode="after")
    @classmethod
    def _not_empty(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value():
            raise expected("expected a non-empty key")
        return value


class BackupsSettings(Section):
    # Every 6 hours, 28 kept: a week of snapshots on each server's disk. An etcd snapshot of
    # this stack's cluster is tens of MB, so a week costs little disk and a bad change found
    # days later can still be undone. K3s' own default is 0 */12 * * * with 5 kept.
    schedule: Cron = key(
        "etcdSnapshotSchedule", "0 */6 * * *", "when each server takes an etcd snapshot, a 5-field cron schedule (K3s etcd-snapshot-schedule-cron)"
    )
    retention: Annotated[int, between(1, 1000)] = key(
        "etcdSnapshotRetention", 28, "how many scheduled snapshots each server keeps, on disk and in S3 (1-1000; K3s etcd-snapshot-retention)"
    )
    s3_bucket: Bucket | None = key("etcdS3Bucket", None, "S3 bucket the servers also upload each snapshot to; unset keeps them on the servers only")
    # No default: K3s' own is s3.amazonaws.com, and the snapshots hold every Secret of the
    # cluster; the operator names the object store, so a backup never goes abroad unsaid.
    s3_endpoint: Endpoint | None = key(
        "etcdS3Endpoint", None, "S3-compatible endpoint, host[:port] over HTTPS, e.g. an in-country object store; required with etcdS3Bucket"
    )
    s3_region: Region | None = key("etcdS3Region", None, "the bucket's region (K3s' default: us-east-1)")
    s3_folder: Folder | None = key("etcdS3Folder", None, "folder in the bucket, e.g. k3s/<stack>")
    # One object-valued secret, not two string keys: Pulumi.yaml would have to declare a
    # secret string key without a default, which makes it required for every stack (a
    # secret's default is refused since Pulumi 3.202, pulumi/pulumi#21865).
    s3_credentials: S3Credentials | None = secret_key(
        "etcdS3Credentials",
        "S3 {accessKey, secretKey} for etcdS3Bucket, as a secret (pulumi config set --secret --path etcdS3Credentials.secretKey ...)",
        kind="object",
        # For `make plan` (tools/harness.py): a stack file that names the bucket leaves the
        # keys to the user's encrypted config, like sshPrivateKey; the plan puts placeholders.
        stand_in_with="etcdS3Bucket",
        stand_in_leaves=("accessKey", "secretKey"),
    )

    # The data in the volumes (Valkey's RDB, JetStream's streams) to the same bucket, under
    # <folder>/valkey and <folder>/nats (render/data_backups.py, docs/operations/data-backups.md).
    # On by default once the S3 target is set; never without it: a copy on a node's own disk
    # is lost with that node, like the data it copies (the docs say why no local volume).
    data_backups: Bool | None = key(
        "dataBackups", None, "CronJobs valkey-backup and nats-backup upload Valkey RDB snapshots and JetStream stream backups to "
        "the etcdS3Bucket (under <etcdS3Folder>/valkey and /nats); default: on when etcdS3Bucket is set; needs it"
    )
    # 15 minutes past the etcd snapshots: the servers' disks and the uplink are not busy with both.
    data_schedule: Cron = key(
        "dataBackupSchedule", "15 */6 * * *", "when the data backups run, a 5-field cron schedule in UTC (the CronJobs' schedule)"
    )
    data_retention: Annotated[int, between(1, 1000)] = key(
        "dataBackupRetention", 28, "how many backups of each service the bucket keeps, the newest (1-1000); older ones are deleted after each successful upload"
    )
    # A NetworkPolicy matches addresses: an endpoint known by name needs its ranges here,
    # else the backup pods may reach any address on the endpoint's port (warned about).
    data_s3_cidrs: tuple[Cidr, ...] = key(
        "dataBackupS3Cidrs", (), "Address ranges of etcdS3Endpoint the backup pods may reach on its port (a name needs them; an IP "
        "endpoint is used as given); empty: any address on that port (warned about; sovereignStrict refuses it)"
    )

    @field_validator("s3_credentials", mode="after")
    @classmethod
    def _secret(cls, value: S3Credentials | None, info: ValidationInfo) -> S3Credentials | None:
        return require_secret(value, info, "etcdS3Credentials", "pulumi config set --secret --path etcdS3Credentials.secretKey ...")

    @model_validator(mode="after")
    def _s3_rules(self) -> BackupsSettings:
        given = {str(type(self).model_fields[name].alias) for name in self.model_fields_set if _present(getattr(self, name))}
        if self.s3_bucket is None:
            rules([
                *((k, "only used with etcdS3Bucket: set the bucket too, or remove it") for k in _S3_KEYS if k in given),
                ("dataBackups", "needs etcdS3Bucket (and etcdS3Endpoint, etcdS3Credentials): the data backups go to the etcd snapshots' "
                 "in-country bucket; a copy kept on a node's own disk would be lost with that node, like the data")
                if self.data_backups else None,
                *((k, "only used with data backups, which need etcdS3Bucket: set the bucket too, or remove it")
                  for k in _DATA_KEYS if k in given and not self.data_backups),
            ])
            return self
        if self.data_backups is False:
            rules([(k, "only used with data backups, which dataBackups: false turns off: remove it") for k in _DATA_KEYS if k in given])
        rules([
            ("etcdS3Endpoint", "required with etcdS3Bucket: without it K3s uploads the snapshots (every Secret of the cluster) to s3.amazonaws.com, "
             "outside the country; name your object store, e.g. 's3.example.no'")
            if self.s3_endpoint is None
            else None,
            ("etcdS3Credentials", "required with etcdS3Bucket (pulumi config set --secret --path etcdS3Credentials.accessKey ..., and .secretKey): the servers upload with static credentials")
            if self.s3_credentials is None
            else None
        ])
        return self

    @property
    def s3(self) -> bool:
        return self.s3_bucket is not None

    @property
    def data_on(self) -> bool:
        """The data backups run: the S3 target is set and dataBackups is not false."""
        return self.s3 and self.data_backups is not False

    @property
    def s3_port(self) -> int:
        """The endpoint's port (HTTPS' when it names none)."""
        endpoint = self.s3_endpoint or ""
        return int(endpoint.rpartition(":")[2]) if ":" in endpoint else 443

    @property
    def s3_host(self) -> str:
        return (self.s3_endpoint or "").rpartition(":")[0] if ":" in (self.s3_endpoint or "") else (self.s3_endpoint or "")

    @property
    def data_s3_ranges(self) -> tuple[str, ...]:
        """Where the backup pods may upload: dataBackupS3Cidrs, else an IP endpoint itself;
        (): unknown (a name without ranges), any address on the port."""
        if self.data_s3_cidrs:
            return self.data_s3_cidrs
        return (f"{self.s3_host}/32",) if is_ip(self.s3_host) else ()  # the endpoint's pattern takes no IPv6

"""etcd snapshots: the settings, each server's config.yaml, and the S3 credentials, which stay
secret in the plan and out of every command string."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from render.k3s import ClusterK3s, k3s_config
from settings.backups import BackupsSettings
from tests.conftest import settings_for, stack
from tools.harness import ProgramError, StackRun, is_secret, run_stack, unwrap

ACCESS, SECRET = "AKIAEXAMPLEACCESS0001", "s3-secret-value-that-must-never-leak"
S3 = {
    "etcdS3Bucket": "faas-etcd",
    "etcdS3Endpoint": "s3.example.no",
    "etcdS3Region": "no-osl-1",
    "etcdS3Folder": "k3s/ha",
    "etcdS3Credentials": {"accessKey": {"secure": ACCESS}, "secretKey": {"secure": SECRET}},
}
THREE = [{"name": f"s{i}", "host": f"198.51.100.{i}", "role": "server"} for i in (1, 2, 3)] + [{"name": "a", "host": "198.51.100.9", "role": "agent"}]


@pytest.fixture(scope="module")
def ha_s3() -> StackRun:
    return run_stack("backups", stack(nodes=THREE, firewall=False, **S3))


def server_config(run: StackRun, node: str) -> dict[str, Any]:
    return yaml.safe_load(unwrap(run.get(f"{node}-k3s-config").inputs["stdin"]))


def test_every_server_snapshots_to_s3_and_agents_do_not(ha_s3: StackRun) -> None:
    for node in ("s1", "s2", "s3"):
        config = server_config(ha_s3, node)
        assert config["etcd-snapshot-schedule-cron"] == "0 */6 * * *" and config["etcd-snapshot-retention"] == 28
        assert {k: v for k, v in config.items() if k.startswith("etcd-s3")} == {
            "etcd-s3": True,
            "etcd-s3-endpoint": "s3.example.no",
            "etcd-s3-bucket": "faas-etcd",
            "etcd-s3-region": "no-osl-1",
            "etcd-s3-folder": "k3s/ha",
            "etcd-s3-access-key": ACCESS,
            "etcd-s3-secret-key": SECRET,
        }
        assert ("cluster-init" in config) == (node == "s1")
    assert not any(k.startswith("etcd") for k in server_config(ha_s3, "a"))


def test_the_s3_credentials_are_secret_and_in_no_command_string(ha_s3: StackRun) -> None:
    for node in ("s1", "s2", "s3"):
        assert is_secret(ha_s3.get(f"{node}-k3s-config").inputs["stdin"])
    commands = [
        json.dumps(unwrap(r.inputs.get(field)))
        for r in ha_s3.resources
        if r.type == "command:remote:Command"
        for field in ("create", "update", "delete")
        if r.inputs.get(field) is not None
    ]
    assert commands and not any(ACCESS in c or SECRET in c for c in commands)
    # Nowhere in plain in the plan: every input and output, secret leaves masked.
    from tools.harness import masked

    plain = json.dumps([masked(r.inputs) for r in ha_s3.resources]) + json.dumps(masked(ha_s3.outputs))
    assert ACCESS not in plain and SECRET not in plain


def test_one_server_runs_embedded_etcd_with_snapshots_on_disk_only() -> None:
    settings = settings_for(stack(etcdSnapshotSchedule="@daily", etcdSnapshotRetention="7"))
    config = k3s_config(settings.first_server, ClusterK3s.of(settings), "t0ken")
    assert config["cluster-init"] is True
    assert (config["etcd-snapshot-schedule-cron"], config["etcd-snapshot-retention"]) == ("@daily", 7)
    assert not any(k.startswith("etcd-s3") for k in config)


@pytest.mark.parametrize("schedule", ["0 */6 * * *", "30 2 * * 1-5", "0 0,12 1 jan-mar sun", "*/15 * * * *", "@hourly", "@every 6h30m", "0  3 * * *"])
def test_schedules_k3s_accepts(schedule: str) -> None:
    assert BackupsSettings(etcdSnapshotSchedule=schedule).schedule == " ".join(schedule.split())


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"etcdSnapshotSchedule": "0 0 */6 * * *"}, "sovereign-faas:etcdSnapshotSchedule: expected a cron schedule of five fields"),
        ({"etcdSnapshotSchedule": "60 * * * *"}, "sovereign-faas:etcdSnapshotSchedule: expected a cron schedule"),
        ({"etcdSnapshotSchedule": "0 24 * * *"}, "the hour field '24' is not 0-23"),
        ({"etcdSnapshotSchedule": "*/0 * * * *"}, "the minute field '*/0'"),
        ({"etcdSnapshotSchedule": "@sometimes"}, "sovereign-faas:etcdSnapshotSchedule: expected a cron schedule"),
        ({"etcdSnapshotRetention": 0}, "sovereign-faas:etcdSnapshotRetention: expected an integer from 1 to 1000"),
        ({"etcdS3Bucket": "Faas_Etcd", "etcdS3Credentials": {"accessKey": {"secure": "a"}, "secretKey": {"secure": "b"}}}, "sovereign-faas:etcdS3Bucket: expected an S3 bucket name"),
        ({**S3, "etcdS3Endpoint": "https://s3.example.no"}, "sovereign-faas:etcdS3Endpoint: expected an S3 endpoint as host[:port] without https://"),
        ({"etcdS3Endpoint": "s3.example.no"}, "sovereign-faas:etcdS3Endpoint: only used with etcdS3Bucket"),
        ({"etcdS3Folder": "k3s"}, "sovereign-faas:etcdS3Folder: only used with etcdS3Bucket"),
        ({"etcdS3Bucket": "faas-etcd"}, "sovereign-faas:etcdS3Credentials: required with etcdS3Bucket"),
        ({**S3, "etcdS3Credentials": {"accessKey": ACCESS, "secretKey": SECRET}}, "sovereign-faas:etcdS3Credentials: must be a secret"),
        ({"k3sExtraFlags": ["--etcd-s3-secret-key=x"]}, "'--etcd-s3-secret-key' is managed by the stack (use etcdS3Credentials.secretKey, a secret)"),
        ({"k3sExtraFlags": ["--etcd-snapshot-retention=3"]}, "'--etcd-snapshot-retention' is managed by the stack (use etcdSnapshotRetention)"),
        ({"k3sExtraFlags": ["--etcd-disable-snapshots"]}, "'--etcd-disable-snapshots' is managed by the stack (snapshots are always on)"),
    ],
)
def test_bad_backup_settings_are_refused_by_key(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ProgramError) as caught:
        run_stack("bad-backups", stack(**overrides))
    assert message in str(caught.value) and caught.value.registered == ()
    assert SECRET not in str(caught.value)

"""Cron: schedules as the cron-connector's parser (robfig/cron v3.0.1) reads them, and the
connector the stack deploys when some function has `topic: cron-function`."""

from __future__ import annotations

from pathlib import Path

import pytest

from render.cron_connector import cron_manifests
from settings import versions
from settings.function_spec import Function, problems_with
from tests.conftest import stack
from tools.harness import ProgramError, StackRun, masked, run_stack
from upstream.robfig_cron import ScheduleError, check_schedule


@pytest.mark.parametrize(
    "spec",
    [
        "*/5 * * * *", "0 2 * * *", "0 0 1 1 *", "15,45 9-17 * * mon-fri", "0 0 * JAN-Mar SUN", "? ? ? ? ?",
        "5/10 * * * *", "*-5 * * * *", "1,,2 * * * *", "0-59/15 0-23 1-31 1-12 0-6", "+5 * * * *",
        "  0 2 * * *  ", "0\t2 * * *", "@hourly", "@daily", "@midnight", "@weekly", "@monthly", "@yearly", "@annually",
        "@every 10m", "@every 1h30m", "@every 0", "TZ=UTC 0 2 * * *", "CRON_TZ=Europe/Oslo @daily", "TZ= 0 2 * * *",
    ],
)
def test_schedules_the_connector_runs(spec: str) -> None:
    check_schedule(spec)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "empty spec string"),
        ("* * * *", "expected exactly 5 fields, found 4: [* * * *]"),
        ("0 * * * * *", "expected exactly 5 fields, found 6"),  # no seconds field
        ("60 * * * *", "end of range (60) above maximum (59): 60"),
        ("* 24 * * *", "end of range (24) above maximum (23): 24"),
        ("* * 0 * *", "beginning of range (0) below minimum (1): 0"),
        ("* * * 13 *", "end of range (13) above maximum (12): 13"),
        ("* * * * 7", "end of range (7) above maximum (6): 7"),
        ("5-1 * * * *", "beginning of range (5) beyond end of range (1): 5-1"),
        ("*/0 * * * *", "step of range should be a positive number: */0"),
        ("1-2-3 * * * *", "too many hyphens: 1-2-3"),
        ("*/2/3 * * * *", "too many slashes: */2/3"),
        ("-1 * * * *", "failed to parse int from "),
        ("a * * * *", "failed to parse int from a"),
        ("* * * * sunday", "failed to parse int from sunday"),
        ("* * * jan/-1 *", "negative number (-1) not allowed: -1"),
        ("@reboot", "unrecognized descriptor: @reboot"),
        ("@every", "unrecognized descriptor: @every"),
        ("@every 10", "failed to parse duration @every 10"),
        ("TZ=Mars/Olympus 0 2 * * *", "provided bad location Mars/Olympus"),
        ("TZ=UTC", "a TZ= prefix must be followed by a space"),
        ("0 2 * * *; 0 3 * * *", "expected exactly 5 fields, found 10"),
    ],
)
def test_schedules_the_connector_refuses(spec: str, message: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        check_schedule(spec)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("fn", "key", "message"),
    [
        (Function(name="a", image="a:1", topic="cron-function"), "annotations.schedule", "required with topic 'cron-function': when to call the function, e.g. '*/5 * * * *'"),
        (Function(name="a", image="a:1", topic="cron-function", annotations={"schedule": "every day"}), "annotations.schedule", "expected exactly 5 fields, found 2: [every day] (the cron-connector takes five fields"),
        (Function(name="a", image="a:1", topic="cron-function", annotations={"schedule": "0 2 * * *;0 3 * * *"}), "annotations.schedule", "several schedules separated by ';' need OpenFaaS Pro's cron-connector"),
    ],
)
def test_cron_functions_are_checked(fn: Function, key: str, message: str) -> None:
    found = dict(problems_with(fn, pro=True))
    assert key in found and message in found[key], found


def test_a_schedule_without_the_cron_topic_is_just_an_annotation() -> None:
    assert problems_with(Function(name="a", image="a:1", annotations={"schedule": "nonsense"}), pro=False) == []


def stack_file(folder: Path, functions: str) -> str:
    path = folder / "stack.yml"
    path.write_text(f"version: 1.0\nprovider: {{name: openfaas}}\nfunctions:\n{functions}")
    return str(path)


NIGHTLY = "  nightly:\n    image: ghcr.io/acme/nightly:1.0.0\n    annotations: {topic: cron-function, schedule: '0 2 * * *'}\n"
ORDERS = "  orders:\n    image: ghcr.io/acme/orders:1.0.0\n    annotations: {topic: orders}\n"


def test_a_cron_function_brings_the_cron_connector_and_no_nats_connector(project_tmp: Path) -> None:
    run = run_stack("cron", stack(functionsFile=stack_file(project_tmp, NIGHTLY), openfaasNamespace="faas"))
    objs = cron_manifests("faas")
    dep = run.get("cron-connector-deployment")
    assert masked(dep.inputs)["spec"] == objs["deployment"]["spec"]
    assert masked(dep.inputs)["metadata"]["namespace"] == "faas"
    (ctr,) = objs["deployment"]["spec"]["template"]["spec"]["containers"]
    assert ctr["image"] == versions.CRON_CONNECTOR_IMAGE == "ghcr.io/openfaas/cron-connector:0.7.0"
    env = {e["name"]: e["value"] for e in ctr["env"]}
    assert env["gateway_url"] == "http://gateway.faas:8080" and env["basic_auth"] == "true" and env["secret_mount_path"] == "/var/secrets"
    assert objs["deployment"]["spec"]["template"]["spec"]["volumes"] == [{"name": "auth", "secret": {"secretName": "basic-auth", "defaultMode": 0o440}}]
    policy = masked(run.get("cron-connector-policy").inputs)
    assert policy["spec"] == {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "cron-connector"}}, "policyTypes": ["Ingress"]}
    assert "openfaas" in dep.options["dependsOn"] or any("openfaas" in d for d in dep.options["dependsOn"])
    assert not run.of_type("sovereign-faas:index:NatsConnector")  # cron-function is no NATS topic
    pod = masked(run.get("function-nightly").inputs)["spec"]["template"]["metadata"]["annotations"]
    assert pod["topic"] == "cron-function" and pod["schedule"] == "0 2 * * *"  # what the connector reads


def test_no_cron_function_no_cron_connector(oslo: StackRun) -> None:
    assert not oslo.of_type("sovereign-faas:index:CronConnector")


def test_ce_runs_the_cron_connector_only_without_other_connectors(project_tmp: Path) -> None:
    file = stack_file(project_tmp, NIGHTLY + ORDERS)
    with pytest.raises(ProgramError) as caught:
        run_stack("cron-ce", stack(functionsFile=file))
    assert (
        f"{file}: functions: functions nightly need the cron-connector and orders the nats-connector; "
        "OpenFaaS CE allows the cron-connector only with no other connector; openfaasEdition 'pro' lifts this"
    ) in str(caught.value)
    run = run_stack("cron-pro", stack(functionsFile=file, openfaasEdition="pro", openfaasLicense={"secure": "lic"}))
    assert run.of_type("sovereign-faas:index:CronConnector") and run.of_type("sovereign-faas:index:NatsConnector")


def test_a_bad_schedule_names_the_file_the_function_and_the_key(project_tmp: Path) -> None:
    file = stack_file(project_tmp, "  nightly:\n    image: a:1\n    annotations: {topic: cron-function, schedule: '0 25 * * *'}\n")
    with pytest.raises(ProgramError) as caught:
        run_stack("cron-bad", stack(functionsFile=file))
    assert f"{file}: functions.nightly.annotations.schedule: end of range (25) above maximum (23): 25" in str(caught.value)

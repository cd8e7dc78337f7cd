"""The alert rules, their runbooks and Alertmanager's config, checked by the real tools:
`promtool check rules`, `promtool test rules` (tests/data/monitoring/*.test.yml: every alert
fires on a bad series and stays quiet on a healthy one), `amtool check-config` and
`amtool config routes test`; and the receiver settings' refusals."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from render import egress
from render.monitoring import alertmanager, rules
from render.monitoring.schedule import max_gap_seconds
from settings.errors import ConfigError
from tests.conftest import settings_for, stack
from tests.servers import require
from tests.test_egress import DECLARED, IN_COUNTRY_EDGE
from tools.harness import PROJECT_DIR

TESTS = PROJECT_DIR / "tests" / "data" / "monitoring"
RUNBOOKS = PROJECT_DIR / "docs" / "operations" / "alerts.md"
SECRET_KEYS = ("sshPrivateKey", "alertSmtpPassword", "alertWebhookToken")
EMAIL = {"alertEmailTo": ["ops@example.no", "oncall@example.no"], "alertEmailFrom": "alertmanager@example.no",
         "alertSmarthost": "smtp.example.no:587", "alertSmtpUser": "alertmanager", "alertSmtpPassword": {"secure": "smtp-secret-1"}}
WEBHOOK = {"alertWebhookUrls": ["https://hooks.example.no/alerts"], "alertWebhookToken": {"secure": "hook-token-1"}}
RECEIVERS = {"none": {}, "email": EMAIL, "webhook": WEBHOOK, "both": {**EMAIL, **WEBHOOK}}


def run(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def write_rules(folder: Path, files: dict[str, str], annotations: bool = True) -> list[Path]:
    """The rule files in `folder`. promtool's unit tests compare annotations too; they test when
    an alert fires, so they get the rules without them (`check rules` checks the templates)."""
    paths = []
    for name, text in files.items():
        if not annotations:
            doc = yaml.safe_load(text)
            for group in doc["groups"]:
                for rule in group["rules"]:
                    rule.pop("annotations", None)
            text = yaml.safe_dump(doc, sort_keys=False)
        (folder / name).write_text(text)
        paths.append(folder / name)
    return paths


@pytest.fixture(scope="module")
def default_rules() -> dict[str, str]:
    return rules.rule_files(settings_for(stack()))


def all_alerts(files: dict[str, str]) -> list[dict[str, Any]]:
    return [r for text in files.values() for g in yaml.safe_load(text)["groups"] for r in g["rules"]]


# --- the rule files ---------------------------------------------------------------------------


@pytest.mark.parametrize("config", [stack(), stack(nodes=[{"name": f"b{i}", "host": f"198.51.100.{i}", "role": "server"} for i in (1, 2, 3)],
                                                   domain="faas.example.no", acmeEmail="ops@example.no", etcdSnapshotSchedule="@daily")])
def test_every_rule_file_passes_promtool_check_rules(config: dict[str, Any], tmp_path: Path) -> None:
    paths = write_rules(tmp_path, rules.rule_files(settings_for(config)))
    result = run(require("promtool"), "check", "rules", *map(str, paths))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(paths)


def test_promtool_check_rules_fails_on_a_broken_rule(tmp_path: Path, default_rules: dict[str, str]) -> None:
    broken = default_rules["nodes.yml"].replace("max by (node)", "max by (node", 1)
    (path,) = write_rules(tmp_path, {"nodes.yml": broken})
    result = run(require("promtool"), "check", "rules", str(path))
    assert result.returncode != 0 and "parse error" in result.stdout + result.stderr


def test_every_alert_has_severity_summary_description_and_a_runbook_section(default_rules: dict[str, str]) -> None:
    headings = {m.lower() for m in re.findall(r"^### (\w+)$", RUNBOOKS.read_text(), flags=re.MULTILINE)}
    found = all_alerts(default_rules)
    assert len(found) == 12
    for alert in found:
        assert alert["labels"]["severity"] in ("critical", "warning"), alert["alert"]
        assert set(alert["annotations"]) == {"summary", "description", "runbook_url"}, alert["alert"]
        path, anchor = alert["annotations"]["runbook_url"].split("#")
        assert path == "docs/operations/alerts.md" and anchor == alert["alert"].lower() and anchor in headings, alert["alert"]


def test_the_rules_are_the_same_bytes_each_time() -> None:
    assert rules.rule_files(settings_for(stack())) == rules.rule_files(settings_for(stack()))


def test_thresholds_come_from_the_settings() -> None:
    got = rules.rule_files(settings_for(stack(alertDiskPercent=70, alertFunctionErrorRatio="0.2", etcdSnapshotSchedule="0 3 * * *",
                                              alertBackupMaxAgeHours=30, alertNatsPendingMessages=50)))
    assert "> 70\n" in got["nodes.yml"] and "> 0.2 and" in got["functions.yml"] and "> 50 and" in got["data.yml"]
    assert f"> {2 * 86400}\n" in got["backups.yml"] and f"> {30 * 3600}" in got["backups.yml"]


def test_platform_pods_are_the_platforms_namespaces_not_the_functions() -> None:
    text = rules.rule_files(settings_for(stack(domain="faas.example.no", acmeEmail="ops@example.no", k3sDisable=["traefik"])))["platform.yml"]
    assert 'namespace=~"cert-manager|edge|faas-data|kube-system|monitoring|openfaas"' in text
    assert "openfaas-fn" not in text


@pytest.mark.parametrize(
    ("schedule", "gap"),
    [("0 */6 * * *", 6 * 3600), ("0 */5 * * *", 5 * 3600), ("@daily", 86400), ("0 3 * * mon-fri", 3 * 86400), ("*/15 * * * *", 900),
     ("30 2 */2 * *", 2 * 86400), ("0 0 1,15 * mon", 7 * 86400), ("@every 90m", 5400), ("0 0 1 */3 *", 92 * 86400)],
)
def test_the_longest_gap_of_a_snapshot_schedule(schedule: str, gap: int) -> None:
    assert max_gap_seconds(schedule) == gap


def test_ksm_custom_resource_config_names_the_metrics_the_rule_uses(default_rules: dict[str, str]) -> None:
    doc = yaml.safe_load(rules.ksm_custom_resource_config())
    (resource,) = doc["spec"]["resources"]
    assert resource["groupVersionKind"] == {"group": "k3s.cattle.io", "version": "v1", "kind": "ETCDSnapshotFile"}
    names = {f"{resource['metricNamePrefix']}_{m['name']}" for m in resource["metrics"]}
    assert names == {rules.SNAPSHOT_CREATED, rules.SNAPSHOT_READY}
    assert all(name in default_rules["backups.yml"] for name in names)


# --- promtool unit tests: every alert, both ways ---------------------------------------------------


def test_promtool_unit_tests_pass(tmp_path: Path, default_rules: dict[str, str]) -> None:
    write_rules(tmp_path, default_rules, annotations=False)
    tests = [shutil.copy(t, tmp_path) for t in sorted(TESTS.glob("*.test.yml"))]
    result = run(require("promtool"), "test", "rules", *map(str, tests), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(tests) == len(default_rules)


def test_every_alert_is_unit_tested_firing_and_quiet(default_rules: dict[str, str]) -> None:
    fires, quiet = set(), set()
    for path in TESTS.glob("*.test.yml"):
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case["alert_rule_test"]:
                (fires if check["exp_alerts"] else quiet).add(check["alertname"])
    names = {a["alert"] for a in all_alerts(default_rules)}
    assert fires == names and quiet == names


@pytest.mark.parametrize(
    ("file", "old", "new"),
    [
        ("nodes.yml", "> 85", "> 95"),  # a threshold that would miss the 90%-full disk
        ("functions.yml", 'code=~"5.."', 'code=~"4.."'),  # counting the caller's errors
        ("backups.yml", "== 1", "== 0"),  # a failed snapshot counted as fresh
        ("data.yml", "unless on (instance)", "and on (instance)"),
    ],
)
def test_the_unit_tests_catch_a_wrong_rule(tmp_path: Path, default_rules: dict[str, str], file: str, old: str, new: str) -> None:
    assert old in default_rules[file]
    write_rules(tmp_path, {file: default_rules[file].replace(old, new, 1)}, annotations=False)
    test = shutil.copy(TESTS / file.replace(".yml", ".test.yml"), tmp_path)
    result = run(require("promtool"), "test", "rules", str(test), cwd=tmp_path)
    assert result.returncode != 0 and "FAILED" in result.stdout + result.stderr


# --- Alertmanager -------------------------------------------------------------------------------


def alertmanager_yml(tmp_path: Path, receivers: dict[str, Any]) -> Path:
    settings = settings_for(stack(**receivers), secret_keys=SECRET_KEYS)
    path = tmp_path / "alertmanager.yml"
    path.write_text(alertmanager.alertmanager_config(settings.alerting))
    return path


@pytest.mark.parametrize("shape", sorted(RECEIVERS))
def test_alertmanager_config_passes_amtool_check_config(tmp_path: Path, shape: str) -> None:
    path = alertmanager_yml(tmp_path, RECEIVERS[shape])
    result = run(require("amtool"), "check-config", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_amtool_check_config_fails_on_a_broken_config(tmp_path: Path) -> None:
    path = alertmanager_yml(tmp_path, WEBHOOK)
    path.write_text(path.read_text().replace("receiver: operators", "receiver: nobody", 1))
    result = run(require("amtool"), "check-config", str(path))
    assert result.returncode != 0 and "nobody" in result.stdout + result.stderr


@pytest.mark.parametrize(("shape", "receiver"), [("email", "operators"), ("webhook", "operators"), ("both", "operators"), ("none", "nowhere")])
@pytest.mark.parametrize("labels", [("severity=critical", "alertname=NodeNotReady", "node=b1"), ("severity=warning", "alertname=NodeDiskFull")])
def test_alerts_route_to_the_configured_receiver(tmp_path: Path, shape: str, receiver: str, labels: tuple[str, ...]) -> None:
    path = alertmanager_yml(tmp_path, RECEIVERS[shape])
    result = run(require("amtool"), "config", "routes", "test", f"--config.file={path}", f"--verify.receivers={receiver}", *labels)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == receiver


def test_secrets_are_files_never_inline(tmp_path: Path) -> None:
    settings = settings_for(stack(**RECEIVERS["both"]), secret_keys=SECRET_KEYS)
    text = alertmanager.alertmanager_config(settings.alerting)
    assert "smtp-secret-1" not in text and "hook-token-1" not in text
    doc = yaml.safe_load(text)
    (receiver,) = doc["receivers"]
    assert receiver["email_configs"][0]["auth_password_file"] == "/etc/alertmanager/secrets/smtp-password"
    assert receiver["webhook_configs"][0]["http_config"]["authorization"]["credentials_file"] == "/etc/alertmanager/secrets/webhook-token"
    assert alertmanager.secret_files(settings) == {"smtp-password": "smtp-secret-1", "webhook-token": "hook-token-1"}


def test_no_receiver_warns_at_preview_and_sends_nowhere() -> None:
    settings = settings_for(stack())
    assert any("no alert receiver configured" in w for w in settings.warnings)
    assert yaml.safe_load(alertmanager.alertmanager_config(settings.alerting))["receivers"] == [{"name": "nowhere"}]
    assert not any("no alert receiver" in w for w in settings_for(stack(**WEBHOOK), secret_keys=SECRET_KEYS).warnings)


# --- refusals -----------------------------------------------------------------------------------


def refusal(config: dict[str, Any]) -> str:
    """The refusal of `config`; its secrets are the values given as {"secure": ...}."""
    secret_keys = tuple(k for k, v in config.items() if isinstance(v, dict) and set(v) == {"secure"})
    with pytest.raises(ConfigError) as caught:
        settings_for(config, secret_keys=secret_keys)
    return str(caught.value)


@pytest.mark.parametrize(
    ("overrides", "wanted"),
    [
        ({"alertWebhookUrls": ["http://hooks.example.no/alerts"]}, "alertWebhookUrls[0]: expected an https URL"),
        ({"alertWebhookUrls": ["https://user:pa55@hooks.example.no/alerts"]}, "alertWebhookUrls[0]: holds credentials"),
        ({"alertWebhookUrls": ["https://hooks.example.no/alerts?token=pa55"]}, "alertWebhookUrls[0]: holds a query string"),
        ({"alertWebhookUrls": ["http://hooks.example.no/pa55"]}, "alertWebhookUrls[0]: expected an https URL"),
        ({"alertWebhookUrls": ["ftp://hooks.example.no/pa55"]}, "alertWebhookUrls[0]: expected an http(s) URL"),
        ({"alertWebhookUrls": ["https://hooks.example.no/alerts"], "alertWebhookToken": "plain"}, "alertWebhookToken: must be a secret"),
        ({**EMAIL, "alertSmarthost": "smtp.example.no"}, "alertSmarthost: expected an SMTP server as host:port"),
        ({**EMAIL, "alertSmarthost": "smtp.example.no:0"}, "alertSmarthost: expected an SMTP server as host:port"),
        ({**EMAIL, "alertSmarthost": "smtp://smtp.example.no:25"}, "alertSmarthost: expected an SMTP server as host:port"),
        ({"alertEmailTo": ["ops@example.no"]}, "alertEmailFrom: required with alertEmailTo"),
        ({"alertEmailTo": ["not-an-address"], "alertEmailFrom": "a@example.no", "alertSmarthost": "smtp.example.no:587"}, "alertEmailTo[0]: expected an e-mail"),
        ({**EMAIL, "alertSmtpPassword": "plain-text"}, "alertSmtpPassword: must be a secret"),
        ({**{k: v for k, v in EMAIL.items() if k != "alertSmtpPassword"}}, "alertSmtpPassword: required with alertSmtpUser"),
        ({"alertDiskPercent": 100}, "alertDiskPercent: expected an integer from 50 to 99"),
        ({"alertFunctionErrorRatio": "5%"}, "alertFunctionErrorRatio: expected a share between 0 and 1"),
        ({"alertFunctionErrorRatio": 1}, "alertFunctionErrorRatio: expected a share between 0 and 1"),
    ],
)
def test_bad_alerting_settings_are_refused_by_key(overrides: dict[str, Any], wanted: str) -> None:
    message = refusal(stack(**overrides))
    assert wanted in message, message
    assert "pa55" not in message and "plain-text" not in message


STRICT = {**DECLARED, **IN_COUNTRY_EDGE}


def strict_problems(**alerting: Any) -> str:
    settings = settings_for(stack(**STRICT, **alerting), secret_keys=("sshPrivateKey", "openfaasLicense", *SECRET_KEYS[1:]))
    with pytest.raises(ConfigError) as caught:
        egress.check_strict(settings, egress.inventory(settings))
    return str(caught.value)


def test_strict_mode_refuses_a_receiver_not_declared_in_the_country() -> None:
    message = strict_problems(alertWebhookUrls=["https://hooks.example.se/alerts"], **{**EMAIL, "alertSmarthost": "smtp.example.se:587"})
    assert "alertWebhookUrls[0]: sovereignStrict: hooks.example.se:443 is not declared in the country" in message
    assert "alertSmarthost: sovereignStrict: smtp.example.se:587 is not declared in the country" in message


def test_strict_mode_refuses_a_receiver_that_is_an_upstream() -> None:
    message = strict_problems(alertWebhookUrls=["https://hooks.github.com/alerts"])
    assert "alertWebhookUrls[0]: sovereignStrict: hooks.github.com:443 is the upstream itself (github.com)" in message


def test_strict_mode_takes_declared_receivers_and_lists_them_in_the_inventory() -> None:
    hosts = [*STRICT["egressAllowHosts"], "hooks.example.no", "smtp.example.no:587"]
    config = stack(**{**STRICT, "egressAllowHosts": hosts}, **RECEIVERS["both"])
    settings = settings_for(config, secret_keys=("sshPrivateKey", "openfaasLicense", *SECRET_KEYS[1:]))
    endpoints = egress.inventory(settings)
    egress.check_strict(settings, endpoints)  # no refusal
    rows = {(e.host, e.port): e for e in endpoints if e.phase == egress.CLUSTER and "Alertmanager (monitoring)" in e.who}
    assert set(rows) == {("hooks.example.no", 443), ("smtp.example.no", 587)}
    assert all(e.allowed and e.in_country for e in rows.values())


def test_an_undeclared_receiver_is_an_inventory_row_outside_the_country() -> None:
    settings = settings_for(stack(**WEBHOOK), secret_keys=SECRET_KEYS)
    (row,) = [e for e in egress.inventory(settings) if "Alertmanager (monitoring)" in e.who]
    assert (row.phase, row.host, row.port, row.in_country) == (egress.CLUSTER, "hooks.example.no", 443, False)

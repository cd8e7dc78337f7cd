"""Issue 14, the tuned node: the settings (transparent huge pages, I/O scheduler, kubelet image
pulls and GC), the host-tuning and kubelet-config steps in the plan, and kubelet-config.sh /
kubelet-config-remove.sh run in the sandbox (tests/sandbox.py; host-tuning-apply.sh has its own
sandbox tests in tests/test_host_tuning.py).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from render.k3s import kubelet_config, kubelet_configuration
from render.node.command import render_command
from settings.errors import ConfigError
from settings.k3s import K3sSettings
from settings.kernel import KernelSettings
from tests.conftest import THREE_NODES, settings_for, stack
from tests.sandbox import FileInfo, Result, Sandbox, open_sandbox
from tools.harness import StackRun, run_stack, unwrap

DROPIN = "/var/lib/rancher/k3s/agent/etc/kubelet.conf.d/50-sovereign-faas.conf"
DEFAULT_KUBELET = {
    "apiVersion": "kubelet.config.k8s.io/v1beta1",
    "kind": "KubeletConfiguration",
    "serializeImagePulls": False,
    "maxParallelImagePulls": 5,
    "imageGCHighThresholdPercent": 90,
    "imageGCLowThresholdPercent": 80,
    "imageMinimumGCAge": "24h",
}


def error(**overrides: Any) -> str:
    with pytest.raises(ConfigError) as caught:
        settings_for(stack(**overrides))
    return str(caught.value)


# --- settings ---------------------------------------------------------------------------------


def test_defaults() -> None:
    settings = settings_for(stack())
    kernel, k3s = settings.kernel, settings.k3s
    assert (kernel.transparent_huge_pages, kernel.io_scheduler) == ("never", "keep")
    assert (k3s.serialize_image_pulls, k3s.max_parallel_image_pulls) == (False, 5)
    assert (k3s.image_gc_high, k3s.image_gc_low, k3s.image_minimum_gc_age) == (90, 80, "24h")
    assert kubelet_configuration(k3s) == DEFAULT_KUBELET
    assert k3s.kubelet_dropin == DROPIN
    assert KernelSettings() == kernel and K3sSettings() == k3s


def test_values_as_pulumi_config_set_stores_them() -> None:
    settings = settings_for(stack(
        transparentHugePages="madvise", ioScheduler="mq-deadline", kubeletMaxParallelImagePulls="3",
        imageGcHighThreshold="95", imageGcLowThreshold="70", imageMinimumGcAge="1h30m",
    ))
    assert (settings.kernel.transparent_huge_pages, settings.kernel.io_scheduler) == ("madvise", "mq-deadline")
    assert kubelet_configuration(settings.k3s) == {
        **DEFAULT_KUBELET, "maxParallelImagePulls": 3, "imageGCHighThresholdPercent": 95,
        "imageGCLowThresholdPercent": 70, "imageMinimumGCAge": "1h30m",
    }


@pytest.mark.parametrize(("key", "value", "says"), [
    ("transparentHugePages", "always", "expected 'never' or 'madvise', got 'always'"),
    ("transparentHugePages", "", "expected 'never' or 'madvise', got ''"),
    ("transparentHugePages", ["never"], "expected 'never' or 'madvise', got ['never']"),
    ("transparentHugePages", 1, "expected 'never' or 'madvise', got 1"),
    ("transparentHugePages", "nevr", "did you mean 'never'?"),
    ("ioScheduler", "deadline", "did you mean 'mq-deadline'?"),
    ("ioScheduler", "", "got ''"),
    ("ioScheduler", ["none"], "got ['none']"),
    ("kubeletSerializeImagePulls", "yes", "expected true or false, got 'yes'"),
    ("kubeletSerializeImagePulls", "", "expected true or false"),
    ("kubeletSerializeImagePulls", [True], "expected true or false, got [True]"),
    ("kubeletMaxParallelImagePulls", 0, "expected an integer from 1 to 20, got 0"),
    ("kubeletMaxParallelImagePulls", 21, "expected an integer from 1 to 20"),
    ("kubeletMaxParallelImagePulls", "five", "expected an integer from 1 to 20, got 'five'"),
    ("kubeletMaxParallelImagePulls", "", "expected an integer from 1 to 20, got ''"),
    ("kubeletMaxParallelImagePulls", [5], "got [5]"),
    ("imageGcHighThreshold", 101, "expected a percentage from 1 to 100, got 101"),
    ("imageGcHighThreshold", "", "expected a percentage from 1 to 100"),
    ("imageGcLowThreshold", 0, "expected a percentage from 1 to 100, got 0"),
    ("imageGcLowThreshold", [80], "got [80]"),
    ("imageGcLowThreshold", "80%", "got '80%'"),
    ("imageMinimumGcAge", "24", "expected a duration with a unit, like '65s' or '1m5s', got 24"),
    ("imageMinimumGcAge", "", "expected a duration with a unit"),
    ("imageMinimumGcAge", "1d", "got '1d'"),
    ("imageMinimumGcAge", ["24h"], "got ['24h']"),
    ("imageMinimumGcAge", "-1h", "got '-1h'"),
])
def test_a_bad_value_names_its_key(key: str, value: Any, says: str) -> None:
    message = error(**{key: value})
    assert f"sovereign-faas:{key}: " in message, message
    assert says in message, message
    assert message.startswith("1 problem in the stack config"), message


@pytest.mark.parametrize(("high", "low"), [(90, 90), (80, 85), (1, 100)])
def test_gc_low_must_be_below_high(high: int, low: int) -> None:
    message = error(imageGcHighThreshold=high, imageGcLowThreshold=low)
    assert f"sovereign-faas:imageGcLowThreshold: {low} must be below imageGcHighThreshold ({high})" in message, message


def test_low_alone_above_the_default_high_is_refused_too() -> None:
    assert "must be below imageGcHighThreshold (90)" in error(imageGcLowThreshold=95)


def test_serialized_pulls_drop_the_parallel_maximum() -> None:
    settings = settings_for(stack(kubeletSerializeImagePulls=True))
    config = kubelet_configuration(settings.k3s)
    assert config["serializeImagePulls"] is True and "maxParallelImagePulls" not in config
    # 1 is what serialized means; the kubelet accepts it, and so do we.
    assert settings_for(stack(kubeletSerializeImagePulls="true", kubeletMaxParallelImagePulls=1)).k3s.serialize_image_pulls


def test_serialized_pulls_with_a_parallel_maximum_are_refused() -> None:
    message = error(kubeletSerializeImagePulls=True, kubeletMaxParallelImagePulls=4)
    assert "sovereign-faas:kubeletMaxParallelImagePulls: 4 parallel pulls contradict kubeletSerializeImagePulls: true" in message


def test_a_k3s_without_the_kubelet_drop_in_directory_is_refused() -> None:
    message = error(k3sVersion="v1.31.9+k3s1")
    assert "sovereign-faas:k3sVersion: K3s v1.31 is too old for the kubelet image settings" in message


def test_the_drop_in_follows_k3s_data_dir() -> None:
    settings = settings_for(stack(k3sExtraFlags=["--data-dir=/srv/k3s/"]))
    assert settings.k3s.kubelet_dropin == "/srv/k3s/agent/etc/kubelet.conf.d/50-sovereign-faas.conf"


# --- the plan ---------------------------------------------------------------------------------

ORDER = ("sysctl", "host-tuning", "firewall", "kubelet-config", "k3s-config", "k3s-install")


def node_names(run: StackRun) -> list[str]:
    return [r.name for r in run.of_type("sovereign-faas:index:Node")]


@pytest.mark.parametrize("fixture", ["oslo", "three_agents", "ha"])
def test_every_node_gets_the_tuning_steps_in_order(fixture: str, request: pytest.FixtureRequest) -> None:
    run: StackRun = request.getfixturevalue(fixture)
    assert node_names(run)
    for node in node_names(run):
        steps = [r.name for r in run.children(node)]
        assert [s for s in steps if s.removeprefix(f"{node}-") in ORDER] == [f"{node}-{s}" for s in ORDER]
        for before, after in zip(ORDER, ORDER[1:], strict=False):
            assert f"{node}-{before}" in run.get(f"{node}-{after}").options["dependsOn"], (node, after)


def test_host_tuning_step_runs_the_apply_script_with_the_settings(three_agents: StackRun) -> None:
    sudoer = THREE_NODES[1]["name"]  # bergen-2 logs in as a sudoer
    for node in node_names(three_agents):
        step = three_agents.get(f"{node}-host-tuning")
        sudo = node == sudoer
        assert step.inputs["create"] == render_command("host-tuning-apply.sh", ("never", "keep"), sudo=sudo)
        assert step.inputs["delete"] == render_command("host-tuning-remove.sh", (), sudo=sudo)
        assert step.inputs["triggers"] == [unwrap(step.inputs["connection"])["host"]]
        assert "stdin" not in step.inputs
        assert step.options["deleteBeforeReplace"] is True


def test_kubelet_config_step_carries_the_drop_in(three_agents: StackRun) -> None:
    roles = {"bergen-1": "server", "bergen-2": "agent", "bergen-3": "agent"}
    for node, role in roles.items():
        step = three_agents.get(f"{node}-kubelet-config")
        assert step.inputs["create"].endswith(f" kubelet-config.sh {role} {DROPIN}")
        assert step.inputs["delete"].endswith(f" kubelet-config-remove.sh {role} {DROPIN}")
        text = unwrap(step.inputs["stdin"])
        assert text.startswith("# Written by sovereign-faas")
        assert yaml.safe_load(text) == DEFAULT_KUBELET
        # The readiness check runs again after the restart a changed drop-in causes.
        assert text in three_agents.get(f"{node}-ready").inputs["triggers"]


def test_the_kubelet_settings_are_not_flags_in_config_yaml(oslo: StackRun) -> None:
    config = yaml.safe_load(unwrap(oslo.get("oslo-1-k3s-config").inputs["stdin"]))
    args = " ".join(config.get("kubelet-arg", []))
    for flag in ("serialize-image-pulls", "image-gc", "minimum-image-ttl", "config-dir"):
        assert flag not in args


def test_a_data_dir_moves_the_drop_in_on_servers_and_agents_alike() -> None:
    run = run_stack("bergen", stack(nodes=THREE_NODES, k3sExtraFlags=["--data-dir=/srv/k3s"]))
    for node in ("bergen-1", "bergen-2"):
        config = yaml.safe_load(unwrap(run.get(f"{node}-k3s-config").inputs["stdin"]))
        assert config["data-dir"] == "/srv/k3s", node  # agents get the flag too
        assert run.get(f"{node}-kubelet-config").inputs["create"].endswith(
            " /srv/k3s/agent/etc/kubelet.conf.d/50-sovereign-faas.conf"
        )


def entries(run: StackRun) -> dict[str, Any]:
    return {r.name: r.plan_entry() for r in run.resources}


@pytest.mark.parametrize(("overrides", "changed"), [
    ({"transparentHugePages": "madvise"}, {"oslo-1-host-tuning"}),
    ({"ioScheduler": "none"}, {"oslo-1-host-tuning"}),
    ({"imageGcHighThreshold": 95}, {"oslo-1-kubelet-config", "oslo-1-ready"}),
    ({"kubeletSerializeImagePulls": True}, {"oslo-1-kubelet-config", "oslo-1-ready"}),
])
def test_a_changed_setting_changes_only_its_step(oslo: StackRun, overrides: dict[str, Any], changed: set[str]) -> None:
    before, after = entries(oslo), entries(run_stack("oslo", overrides=overrides))
    assert before.keys() == after.keys()
    assert {name for name in before if before[name] != after[name]} == changed


def test_the_rendered_drop_in_is_what_the_settings_say() -> None:
    settings = settings_for(stack(kubeletSerializeImagePulls=True, imageMinimumGcAge="2h"))
    assert yaml.safe_load(kubelet_config(settings.k3s)) == {
        **{k: v for k, v in DEFAULT_KUBELET.items() if k != "maxParallelImagePulls"},
        "serializeImagePulls": True, "imageMinimumGCAge": "2h",
    }


# --- kubelet-config.sh in the sandbox -----------------------------------------------------------

CONFIG = 'token: "K10sandbox0token::server:ab"\nwrite-kubeconfig-mode: "0600"\n'
VERSION = "v1.36.4+k3s1"
DROPIN_TEXT = kubelet_config(settings_for(stack()).k3s)
DROPIN_2 = DROPIN_TEXT.replace("imageGCHighThresholdPercent: 90", "imageGCHighThresholdPercent: 95")


@pytest.fixture
def sb(tmp_path: Path) -> Sandbox:
    return open_sandbox(tmp_path)


def run(sb: Sandbox, script: str, *args: str, stdin: str = "") -> Result:
    return sb.run(render_command(script, args), stdin=stdin)


def ok(result: Result, status: str) -> None:
    assert result.returncode == 0, result
    assert re.match(rf"sovereign-faas: [a-z0-9-]+\.sh: {status}\b", result.last_line), result


def public(text: str) -> FileInfo:
    return FileInfo(0o644, False, text.encode())


def installed(sb: Sandbox) -> None:
    ok(run(sb, "k3s-config.sh", "server", stdin=CONFIG), "changed")
    ok(run(sb, "k3s-install.sh", VERSION, "server"), "changed")
    sb.clear_calls()


def test_first_write_before_install_then_unchanged(sb: Sandbox) -> None:
    result = run(sb, "kubelet-config.sh", "server", DROPIN, stdin=DROPIN_TEXT)
    ok(result, "changed")
    assert "not installed yet" in result.last_line
    assert sb.calls("systemctl") == []
    files = sb.files(DROPIN, DROPIN.rsplit("/", 1)[0])
    assert files[DROPIN] == public(DROPIN_TEXT)
    assert files[DROPIN.rsplit("/", 1)[0]] == FileInfo(0o755, True, None)
    ok(run(sb, "kubelet-config.sh", "server", DROPIN, stdin=DROPIN_TEXT), "unchanged")
    assert sb.calls("systemctl") == []


def test_a_change_restarts_k3s_once(sb: Sandbox) -> None:
    installed(sb)
    ok(run(sb, "kubelet-config.sh", "server", DROPIN, stdin=DROPIN_TEXT), "changed")
    assert sb.calls("systemctl") == ["systemctl restart k3s"]
    sb.clear_calls()
    ok(run(sb, "kubelet-config.sh", "server", DROPIN, stdin=DROPIN_TEXT), "unchanged")
    assert sb.calls("systemctl") == []
    ok(run(sb, "kubelet-config.sh", "server", DROPIN, stdin=DROPIN_2), "changed")
    assert sb.calls("systemctl") == ["systemctl restart k3s"]
    assert sb.files(DROPIN)[DROPIN] == public(DROPIN_2)


def test_an_agent_restarts_k3s_agent(sb: Sandbox) -> None:
    ok(run(sb, "k3s-config.sh", "agent", stdin=CONFIG), "changed")
    ok(run(sb, "k3s-install.sh", VERSION, "agent"), "changed")
    sb.clear_calls()
    ok(run(sb, "kubelet-config.sh", "agent", DROPIN, stdin=DROPIN_TEXT), "changed")
    assert sb.calls("systemctl") == ["systemctl restart k3s-agent"]


def test_a_failed_restart_puts_the_old_drop_in_back(sb: Sandbox) -> None:
    installed(sb)
    ok(run(sb, "kubelet-config.sh", "server", DROPIN, stdin=DROPIN_TEXT), "changed")
    sb.clear_calls()
    sb.set_state("fail-restart", "")
    result = run(sb, "kubelet-config.sh", "server", DROPIN, stdin=DROPIN_2)
    assert result.returncode != 0 and "it was rolled back" in result.stderr, result
    assert sb.calls("systemctl") == ["systemctl restart k3s"] * 2
    assert sb.files(DROPIN)[DROPIN] == public(DROPIN_TEXT)
    assert [p.name for p in sb_dir(sb)] == ["50-sovereign-faas.conf"]  # no temp file left


def sb_dir(sb: Sandbox) -> list[Path]:
    listing = sb.run(f"ls -A {DROPIN.rsplit('/', 1)[0]}")
    return [Path(line) for line in listing.stdout.split()]


def test_remove_restarts_k3s_then_is_unchanged(sb: Sandbox) -> None:
    installed(sb)
    ok(run(sb, "kubelet-config.sh", "server", DROPIN, stdin=DROPIN_TEXT), "changed")
    sb.clear_calls()
    ok(run(sb, "kubelet-config-remove.sh", "server", DROPIN), "changed")
    assert sb.calls("systemctl") == ["systemctl restart k3s"]
    assert sb.files(DROPIN)[DROPIN] is None
    sb.clear_calls()
    ok(run(sb, "kubelet-config-remove.sh", "server", DROPIN), "unchanged")
    assert sb.calls("systemctl") == []


@pytest.mark.parametrize(("script", "args", "stdin", "says"), [
    ("kubelet-config.sh", ("server",), DROPIN_TEXT, "usage"),
    ("kubelet-config.sh", ("master", DROPIN), DROPIN_TEXT, "ROLE"),
    ("kubelet-config.sh", ("server", "/etc/kubelet.conf"), DROPIN_TEXT, "FILE must be"),
    ("kubelet-config.sh", ("server", "/var/lib/rancher/k3s/agent/etc/kubelet.conf.d/../../x.conf"), DROPIN_TEXT, "FILE must be"),
    ("kubelet-config.sh", ("server", DROPIN), "", "stdin is empty"),
    ("kubelet-config-remove.sh", ("server",), "", "usage"),
    ("kubelet-config-remove.sh", ("server", "/etc/passwd"), "", "FILE must be"),
])
def test_bad_arguments(sb: Sandbox, script: str, args: tuple[str, ...], stdin: str, says: str) -> None:
    result = run(sb, script, *args, stdin=stdin)
    assert result.returncode != 0 and says in result.stderr, result
    assert sb.files(DROPIN)[DROPIN] is None

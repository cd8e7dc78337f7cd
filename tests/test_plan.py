"""`make plan`: the offline plan of the example stack, written to build/<stack>/."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from tools import plan
from tools.harness import unwrap

OPTION_KEYS = {"dependsOn", "deleteBeforeReplace", "additionalSecretOutputs", "protect"}


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("plan") / "oslo"
    assert plan.main(["--stack", "oslo", "--out", str(out)]) == 0
    return out


def test_plan_json_lists_every_resource_with_its_options(written: Path, oslo) -> None:
    doc = json.loads((written / "plan.json").read_text())
    assert [r["name"] for r in doc["resources"]] == [r.name for r in oslo.resources]
    for entry in doc["resources"]:
        assert set(entry) == {"type", "name", "parent", "provider", "inputs", "options"}
        assert OPTION_KEYS <= set(entry["options"])
    install = next(r for r in doc["resources"] if r["name"] == "oslo-1-k3s-install")
    assert install["options"]["deleteBeforeReplace"] is True
    assert install["parent"] == "oslo-1"
    assert doc["outputs"]["kubeconfig"] == "[secret]"


def test_plan_masks_every_secret(written: Path, oslo) -> None:
    text = (written / "plan.json").read_text()
    token = unwrap(oslo.get("oslo-1-k3s-config").inputs["stdin"]).split("token: ")[1].split()[0]
    assert token not in text
    config = next(r for r in json.loads(text)["resources"] if r["name"] == "oslo-1-k3s-config")
    assert config["inputs"]["stdin"] == "[secret]"
    assert config["inputs"]["connection"]["host"] == "[secret]"  # the key makes it all secret


def test_node_folder_holds_each_remote_command(written: Path, oslo) -> None:
    folder = written / "node" / "oslo-1"
    for cmd in oslo.of_type("command:remote:Command"):
        assert (folder / f"{cmd.name}.create.sh").read_text() == cmd.inputs["create"] + "\n"
    assert (folder / "oslo-1-k3s-install.delete.sh").exists()


def test_plan_prints_counts_by_type(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert plan.main(["--stack", "oslo", "--out", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    assert "command:remote:Command" in out and "total" in out


def test_bad_stack_file_fails_without_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert plan.main(["--stack", "does-not-exist", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "Pulumi.does-not-exist.yaml: no such stack file" in err and "Traceback" not in err


def test_set_changes_config_for_one_plan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "oslo-tls"
    assert plan.main(["--stack", "oslo", "--out", str(out), "--set", "domain=faas.example.no", "--set", "acmeEmail=ops@example.no"]) == 0
    assert (out / "manifests" / "gateway-edge-edge.yaml").exists()
    doc = json.loads((out / "plan.json").read_text())
    assert doc["outputs"]["gatewayUrl"] == "https://faas.example.no"
    assert "no domain set" not in capsys.readouterr().err
    assert plan.main(["--stack", "oslo", "--out", str(out), "--set", "domain"]) == 2
    assert "--set expects KEY=VALUE, got 'domain'" in capsys.readouterr().err


def test_plan_warns_about_plain_http(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert plan.main(["--stack", "oslo", "--out", str(tmp_path / "oslo")]) == 0
    assert "warning: no domain set: the gateway is served over plain HTTP" in capsys.readouterr().err


# --- the manifests' YAML: libyaml's speed, PyYAML's bytes ---------------------------------

_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=300) | st.sampled_from(
    ["", " ", "yes", "1.0", "~", "a: b", "- x", "#", "line\n  indented\n", "x " * 70, "\t", "'q'", '"dq"', "\u2028", "é" * 90]
)
# Keys as manifests have them (where libyaml writes the text), and odd ones (where it must not).
_KEYS = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=140) | _TEXT
_LEAVES = _TEXT | st.integers() | st.booleans() | st.none() | st.floats(allow_nan=False)
_DOCS = st.recursive(_LEAVES, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=4), max_leaves=30)


def _pure_python(data: object) -> str:
    return yaml.dump(data, Dumper=yaml.SafeDumper, sort_keys=False, default_flow_style=False, width=100)


@settings(max_examples=500, deadline=None)
@given(st.dictionaries(_KEYS, _DOCS, max_size=6))
def test_manifest_yaml_is_the_pure_python_emitters_bytes(doc: dict) -> None:
    assert plan._dump(doc) == _pure_python(doc)


@pytest.mark.parametrize(
    "doc",
    [
        # libyaml folds a long double-quoted scalar at a space, PyYAML escapes the break: a
        # config file in a ConfigMap is such a scalar.
        {"data": {"nats.conf": 'listen: "0.0.0.0:4222"\njetstream {\n  store_dir: "/data"\n}\n' * 3}},
        {"": None},  # PyYAML writes an empty key as `? ''`
        {"\r": []},  # libyaml takes a carriage return for a line break
        {"x" * 125: 1},  # PyYAML's simple keys end at 122 characters, libyaml's at 128
    ],
    ids=["folded", "empty-key", "cr-key", "long-key"],
)
def test_where_the_emitters_differ_the_pure_python_bytes_are_written(doc: dict) -> None:
    fast = yaml.dump(doc, Dumper=yaml.CSafeDumper, sort_keys=False, default_flow_style=False, width=100)
    assert fast != _pure_python(doc)  # why _dump cannot hand every document to libyaml
    assert plan._dump(doc) == _pure_python(doc)


def test_every_example_manifest_is_the_pure_python_emitters_bytes(oslo) -> None:
    for r in oslo.resources:
        if plan.is_kubernetes_object(r):
            obj = plan.manifest(r)
            assert plan._dump(obj) == _pure_python(obj), r.name


# --- the settings, validated once -------------------------------------------------------


def test_plan_validates_the_config_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from settings import stack as stack_module

    calls: list[object] = []
    validate = stack_module.StackConfig.model_validate

    def counted(*args: object, **kwargs: object) -> object:
        calls.append(args)
        return validate(*args, **kwargs)

    monkeypatch.setattr(stack_module.StackConfig, "model_validate", counted)
    assert plan.main(["--stack", "oslo", "--out", str(tmp_path / "o")]) == 0
    assert len(calls) == 1  # the program's own; the inventory reuses its Settings


def test_inventory_from_the_programs_settings_is_the_one_from_the_stack_file() -> None:
    from tools.harness import run_stack

    overrides = {"domain": "faas.example.no", "acmeEmail": "ops@example.no", "openfaasEdition": "pro", "openfaasLicense": {"secure": "x"}}
    run = run_stack("oslo", overrides=overrides)
    assert run.settings is not None and run.settings.edge.enabled
    assert plan.egress_endpoints(run) == plan.egress_endpoints(run, plan.stack_settings("oslo", overrides=overrides))


def test_the_command_prints_everything_and_passes_the_exit_code_on(tmp_path: Path) -> None:
    # `python -m tools.plan` ends with the collector off and frozen (tools.plan.command).
    import subprocess
    import sys

    from tools.harness import PROJECT_DIR

    def command(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "tools.plan", *args], cwd=PROJECT_DIR, capture_output=True, text=True, timeout=120, check=False)

    done = command("--stack", "oslo", "--out", str(tmp_path / "o"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.rstrip().endswith(f"wrote {tmp_path / 'o'}/")
    assert (tmp_path / "o" / "node" / "order.txt").read_text().endswith("\n")
    failed = command("--stack", "does-not-exist", "--out", str(tmp_path / "x"))
    assert failed.returncode == 2 and "no such stack file" in failed.stderr


def test_a_run_leaves_the_sdk_and_the_collector_as_it_found_them() -> None:
    import gc

    from pulumi.runtime import resource as sdk_resource

    from tools.harness import run_stack

    collect = sdk_resource._get_stack_trace
    run_stack("oslo")
    assert sdk_resource._get_stack_trace is collect
    assert gc.isenabled()

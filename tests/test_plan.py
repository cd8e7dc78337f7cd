"""`make plan`: the offline plan of the example stack, written to build/<stack>/."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from render import egress
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


# --- what a newcomer tripped on (issue 17, item 8) -----------------------------------------


def _plan(tmp_path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = plan.main(["--stack", "oslo", "--out", str(tmp_path / "out"), *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_problem_with_a_key_from_set_names_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _plan(tmp_path, capsys, "--set", "adminCidrs=5", "--set", "nodes=[{name: oslo-1}]")
    assert code == 2
    assert "--set adminCidrs (make plan SET): expected a list, got 5" in err
    assert "--set nodes (make plan SET): nodes[0].host: required" in err
    assert "Pulumi.oslo.yaml" not in err
    # A key the command line did not give is still the stack file's.
    _, _, err = _plan(tmp_path, capsys, "--set", "sovereignStrict=true")
    assert "Pulumi.oslo.yaml: sovereign-faas:openfaasEdition: 'ce' cannot run under sovereignStrict" in err


def test_a_secret_given_with_set_is_told_how_a_plan_takes_a_secret(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _plan(tmp_path, capsys, "--set", "openfaasEdition=pro", "--set", "openfaasLicense=LICENSE-zq81")
    assert code == 2
    assert '--set openfaasLicense (make plan SET): must be a secret: give it with --set-secret openfaasLicense=VALUE (make plan SECRET="openfaasLicense=VALUE")' in err
    assert "pulumi config set" not in err and "LICENSE-zq81" not in err


def test_set_secret_plans_with_the_secret_masked_in_every_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _plan(tmp_path, capsys, "--set", "openfaasEdition=pro", "--set-secret", "openfaasLicense=LICENSE-zq81")
    assert code == 0, err
    files = [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert not [p for p in files if "LICENSE-zq81" in p.read_text()]
    license_ = (tmp_path / "out" / "manifests" / "secret-openfaas-openfaas-license.yaml").read_text()
    assert "license: '[secret]'" in license_


def test_set_file_carries_maps_lists_and_secret_leaves(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    given = tmp_path / "plan.yaml"
    given.write_text(
        "sysctl: {vm.swappiness: 10, net.core.somaxconn: 1024}\n"
        "adminCidrs: [192.0.2.0/24, 198.51.100.0/24]\n"
        "sovereign-faas:functionSecrets: {api-key: {secure: PASSWORD-zq81}}\n"
    )
    code, _, err = _plan(tmp_path, capsys, "--set-file", str(given))
    assert code == 0, err
    out = tmp_path / "out"
    assert "vm.swappiness = 10" in (out / "node" / "oslo-1" / "oslo-1-sysctl.stdin").read_text()
    assert "198.51.100.0/24" in (out / "plan.json").read_text()
    assert not [p for p in out.rglob("*") if p.is_file() and "PASSWORD-zq81" in p.read_text()]
    given.write_text("functionSecrets: {api-key: plain}\n")
    code, _, err = _plan(tmp_path, capsys, "--set-file", str(given))
    assert code == 2
    assert f"{given} (--set-file, make plan SET_FILE): must be a secret: give it with `functionSecrets: {{secure: VALUE}}` in {given}" in err
    given.write_text("- domain\n")
    code, _, err = _plan(tmp_path, capsys, "--set-file", str(given))
    assert code == 2 and f"{given} (--set-file): expected a map of config keys to values" in err


def test_a_map_split_by_make_is_answered_with_set_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # SET="sysctl={vm.swappiness: 10}" reaches the plan as two words.
    code, _, err = _plan(tmp_path, capsys, "--set", "sysctl={vm.swappiness:", "--set", "10}")
    assert code == 2 and "SET_FILE=plan.yaml" in err and "Traceback" not in err


def test_a_function_without_an_image_is_named_and_the_key_required(project_tmp: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tools.harness import PROJECT_DIR

    functions = project_tmp / "stack.yml"
    functions.write_text("version: 1.0\nprovider: {name: openfaas}\nfunctions:\n  hello:\n    lang: python3\n")
    code, _, err = _plan(tmp_path, capsys, "--set", f"functionsFile={functions.relative_to(PROJECT_DIR)}")
    assert code == 2
    assert "functions.hello.image: required: the container image function 'hello' runs, e.g. ghcr.io/you/hello:1.0.0" in err
    assert "None" not in err


@pytest.mark.parametrize("stack", ["oslo", "bergen", "tromso"])
def test_the_egress_summary_counts_the_hosts_it_names(stack: str, tmp_path: Path) -> None:
    import re

    from tools.harness import run_stack

    line = egress.summary(plan.egress_endpoints(run_stack(stack)))
    found = re.fullmatch(r"egress: (\d+) hosts? outside the cluster, (\d+) mirrored or allowed, (\d+) not(?: \((.*)\))?", line)
    assert found, line
    total, inside, rest, names = int(found[1]), int(found[2]), int(found[3]), found[4]
    assert total == inside + rest
    assert rest == (len(names.split(", ")) if names else 0), line


def test_order_txt_says_so_when_no_node_can_be_removed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _plan(tmp_path, capsys)[0] == 0
    order = (tmp_path / "out" / "node" / "order.txt").read_text()
    assert order.endswith("(then its host steps)\n(none: no node but oslo-1, the first server, which cannot be removed)\n")
    assert plan.main(["--stack", "bergen", "--out", str(tmp_path / "bergen")]) == 0
    order = (tmp_path / "bergen" / "node" / "order.txt").read_text()
    assert "(none" not in order and order.endswith("bergen-3-node-object: k3s-node-delete.sh bergen-3 300\n")


def test_the_plan_prints_the_gateway_and_function_urls(project_tmp: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tools.harness import PROJECT_DIR

    _, out, _ = _plan(tmp_path, capsys)
    assert "gateway: http://203.0.113.10:8080\nfunctions:\n  img-resize  http://203.0.113.10:8080/function/img-resize\n" in out
    functions = project_tmp / "stack.yml"
    functions.write_text("provider: {name: openfaas}\nfunctions:\n" + "".join(f"  fn-{i:02d}:\n    image: ghcr.io/acme/fn-{i:02d}:1.0.0\n" for i in range(12)))
    code, out, err = _plan(tmp_path, capsys, "--set", "domain=faas.example.no", "--set", "acmeEmail=ops@example.no",
                           "--set", "openfaasEdition=pro", "--set", f"functionsFile={functions.relative_to(PROJECT_DIR)}")
    assert code == 0, err
    assert "gateway: https://faas.example.no\n" in out
    assert "functions:\n  fn-00  https://faas.example.no/function/fn-00\n" in out
    assert "  fn-09  https://faas.example.no/function/fn-09\n  ... and 2 more (plan.json: outputs.functions)\n" in out


# A stand-in for python3 and for the virtualenv's python: it logs each call, one line with
# each argument in brackets, and `-m venv DIR` makes DIR/bin/python (itself), so the
# Makefile's recipes run without installing anything.
FAKE_PYTHON = """#!/bin/sh
printf '[%s]' "$@" >> "$LOG"
echo >> "$LOG"
if [ "$1" = "-m" ] && [ "$2" = "venv" ]; then
    mkdir -p "$3/bin"
    cp "$0" "$3/bin/python"
fi
"""
PIP = "[-m][pip][install][--quiet][--disable-pip-version-check][-r]"
PLAN = "[-m][tools.plan][--stack][oslo]"


def _make(folder: Path, *args: str) -> list[str]:
    """Run `make` in a copy of the project's Makefile and requirements; the calls it made."""
    import subprocess

    log = folder / "calls.log"
    log.write_text("")
    subprocess.run(["make", "--no-print-directory", *args, f"PYTHON={folder / 'python3'}"], cwd=folder, check=True,
                   capture_output=True, env={"PATH": "/usr/bin:/bin", "LOG": str(log)}, timeout=60)
    return log.read_text().splitlines()


@pytest.fixture
def makefile_copy(tmp_path: Path) -> Path:
    import shutil

    from tools.harness import PROJECT_DIR

    for name in ("Makefile", "requirements.txt", "requirements-dev.txt", "requirements-scan.txt", "requirements-docs.txt", "functions/img-resize/requirements.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(PROJECT_DIR / name, tmp_path / name)
    fake = tmp_path / "python3"
    fake.write_text(FAKE_PYTHON)
    fake.chmod(0o755)
    return tmp_path


def test_make_plan_installs_only_the_runtime_requirements_and_make_test_the_dev_ones(makefile_copy: Path) -> None:
    assert _make(makefile_copy, "plan") == ["[-m][venv][.venv]", f"{PIP}[requirements.txt]", PLAN]
    calls = _make(makefile_copy, "test")
    assert calls[0] == f"{PIP}[requirements-dev.txt]" and calls[-1] == "[-m][pytest]"
    assert _make(makefile_copy, "plan") == [PLAN]  # nothing left to install


def test_make_test_first_leaves_make_plan_nothing_to_install(makefile_copy: Path) -> None:
    assert _make(makefile_copy, "test")[:2] == ["[-m][venv][.venv]", f"{PIP}[requirements-dev.txt]"]
    assert _make(makefile_copy, "plan") == [PLAN]
    (makefile_copy / "requirements.txt").write_text("pyyaml==6.0.3\n")  # a bump: both reinstall
    assert _make(makefile_copy, "plan") == [f"{PIP}[requirements.txt]", PLAN]
    assert _make(makefile_copy, "test")[0] == f"{PIP}[requirements-dev.txt]"


def test_make_plan_passes_set_secret_and_set_file_through_the_shell_intact(makefile_copy: Path) -> None:
    _make(makefile_copy, "plan")
    calls = _make(makefile_copy, "plan", "SET=domain=faas.example.no acmeEmail=it's@example.no", "SECRET=openfaasLicense=a*b", "SET_FILE=my plan.yaml")
    assert calls == [f"{PLAN}[--set-file][my plan.yaml][--set][domain=faas.example.no][--set][acmeEmail=it's@example.no][--set-secret][openfaasLicense=a*b]"]

"""The mirror keys (settings/mirrors.py) in settings and in the plan: the registries step and
its stdin on every node, the K3s flags, the embedded registry's firewall port, and the K3s
install source (mirror, air-gap uploads)."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

import pytest
import yaml

from render.node.command import render_command
from render.node.registries import ASSETS_DIR, ASSETS_DIR_SUDO
from settings import versions
from settings.errors import ConfigError
from tests.conftest import THREE_NODES, settings_for, stack
from tools.harness import StackRun, is_secret, masked, run_stack, unwrap

MIRROR = "https://registry.example.no"
PEM = "-----BEGIN CERTIFICATE-----\nTUlJQ0FURVNU\n-----END CERTIFICATE-----\n"
PASSWORD = "mirror-pa55word-xyz"
SECRETS = ("sshPrivateKey", "registryAuth")


def error(config: dict[str, Any], secret_keys: tuple[str, ...] = SECRETS) -> str:
    with pytest.raises(ConfigError) as caught:
        settings_for(config, secret_keys=secret_keys)
    return str(caught.value)


def airgap_folder(root: Path, arch: str = "amd64") -> Path:
    folder = root / "k3s-assets"
    folder.mkdir()
    binary = "k3s" if arch == "amd64" else f"k3s-{arch}"
    (folder / "install.sh").write_text("#!/bin/sh\n")
    (folder / binary).write_bytes(b"binary")
    (folder / f"k3s-airgap-images-{arch}.tar.zst").write_bytes(b"images")
    sums = "".join(f"{hashlib.sha256(d).hexdigest()}  {n}\n" for n, d in ((binary, b"binary"), (f"k3s-airgap-images-{arch}.tar.zst", b"images")))
    (folder / f"sha256sum-{arch}.txt").write_text(sums)
    return folder


# --- settings -------------------------------------------------------------------------------


@pytest.mark.parametrize(("overrides", "expected"), [
    ({"registryMirrors": {"docker.io": [MIRROR]}, "registryAuth": {"secure": {"other.example.no": {"username": "u", "password": PASSWORD}}}},
     "sovereign-faas:registryAuth.other.example.no: 'other.example.no' is not the host of a registryMirrors endpoint"),
    ({"registryMirrors": {"docker.io": [MIRROR]}, "registryCa": {"other.example.no": PEM}}, "sovereign-faas:registryCa.other.example.no: 'other.example.no' is not the host"),
    ({"registryMirrors": {"docker.io": [MIRROR]}, "registryCa": {"registry.example.no": "not a pem"}}, "sovereign-faas:registryCa: the CA for 'registry.example.no' is not a PEM certificate"),
    ({"registryMirrorsOnly": True}, "sovereign-faas:registryMirrorsOnly: needs registryMirrors"),
    ({"k3sAirgapDir": "/does/not/exist"}, "sovereign-faas:k3sAirgapDir: expected a folder with the K3s release assets: no folder '/does/not/exist'"),
    ({"k3sExtraFlags": ["--system-default-registry=r.example.no"]}, "'--system-default-registry' is managed by the stack (use systemDefaultRegistry)"),
    ({"k3sExtraFlags": ["--embedded-registry"]}, "'--embedded-registry' is managed by the stack (use embeddedRegistry)"),
    ({"registryMirrors": {"docker.io": ["ftp://x"]}}, "sovereign-faas:registryMirrors.docker.io"),
])
def test_refusals_name_their_key(overrides: dict[str, Any], expected: str) -> None:
    message = error(stack(**overrides))
    assert expected in message
    assert PASSWORD not in message


def test_mirror_and_airgap_are_exclusive(tmp_path: Path) -> None:
    message = error(stack(k3sMirror="https://m.example.no/k3s", k3sAirgapDir=str(airgap_folder(tmp_path))))
    assert "sovereign-faas:k3sAirgapDir: k3sMirror and k3sAirgapDir are exclusive" in message


def test_registry_auth_in_plain_text_is_refused() -> None:
    config = stack(registryMirrors={"docker.io": [MIRROR]}, registryAuth={"registry.example.no": {"username": "u", "password": PASSWORD}})
    message = error(config, secret_keys=("sshPrivateKey",))
    assert "sovereign-faas:registryAuth: must be a secret" in message and PASSWORD not in message


def test_airgap_folder_must_hold_a_complete_set(tmp_path: Path) -> None:
    folder = airgap_folder(tmp_path)
    assert settings_for(stack(k3sAirgapDir=str(folder))).mirrors.k3s_airgap_dir == str(folder)
    (folder / "sha256sum-amd64.txt").unlink()
    message = error(stack(k3sAirgapDir=str(folder)))
    assert "sovereign-faas:k3sAirgapDir:" in message and "k3s + sha256sum-amd64.txt + k3s-airgap-images-amd64.tar.zst" in message
    (folder / "install.sh").unlink()
    assert "has no install.sh" in error(stack(k3sAirgapDir=str(folder)))


# --- the plan -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mirrored() -> StackRun:
    nodes = [*THREE_NODES[:1], *THREE_NODES[1:]]
    return run_stack("bergen", stack(
        nodes=nodes,
        registryMirrors={"docker.io": [MIRROR], "ghcr.io": [MIRROR]},
        registryAuth={"registry.example.no": {"username": "ci", "password": {"secure": PASSWORD}}},
        registryCa={"registry.example.no": PEM},
        registryMirrorsOnly=True,
        systemDefaultRegistry="registry.example.no",
        embeddedRegistry=True,
        k3sMirror="https://mirror.example.no/k3s",
    ))


def files_of(stdin: str) -> dict[str, str]:
    return {path: base64.b64decode(data).decode() for path, data in (line.split(" ", 1) for line in stdin.splitlines())}


def test_registries_step_on_every_node_before_the_config(mirrored: StackRun) -> None:
    for spec in THREE_NODES:
        name = spec["name"]
        step = mirrored.get(f"{name}-registries")
        role = "server" if name == "bergen-1" else "agent"
        sudo = spec.get("user", "root") != "root"
        assert step.inputs["create"] == render_command("registries-apply.sh", (role,), sudo=sudo)
        assert step.inputs["delete"] == render_command("registries-remove.sh", (role,), sudo=sudo)
        assert f"{name}-kubelet-config" in step.options["dependsOn"]
        assert f"{name}-registries" in mirrored.get(f"{name}-k3s-config").options["dependsOn"]
        assert is_secret(step.inputs["stdin"])  # it carries the password
        files = files_of(unwrap(step.inputs["stdin"]))
        assert files["registry-ca/registry.example.no.pem"] == PEM
        doc = yaml.safe_load(files["registries.yaml"])
        assert doc == {
            "mirrors": {"docker.io": {"endpoint": [MIRROR]}, "ghcr.io": {"endpoint": [MIRROR]}, "*": {}},
            "configs": {"registry.example.no": {
                "auth": {"username": "ci", "password": PASSWORD},
                "tls": {"ca_file": "/etc/rancher/k3s/registry-ca/registry.example.no.pem"},
            }},
        }
        # The readiness check runs again when the registries change (K3s restarts).
        triggers = mirrored.get(f"{name}-ready").inputs["triggers"]
        assert is_secret(triggers) and unwrap(triggers)[-1] == unwrap(step.inputs["stdin"])
    assert PASSWORD not in str([masked(r.inputs) for r in mirrored.resources])


def test_mirror_flags_in_config_yaml(mirrored: StackRun) -> None:
    server = yaml.safe_load(unwrap(mirrored.get("bergen-1-k3s-config").inputs["stdin"]))
    agent = yaml.safe_load(unwrap(mirrored.get("bergen-2-k3s-config").inputs["stdin"]))
    assert server["system-default-registry"] == "registry.example.no"
    assert server["embedded-registry"] is True
    assert server["disable-default-registry-endpoint"] is True
    assert agent["disable-default-registry-endpoint"] is True
    assert "embedded-registry" not in agent and "system-default-registry" not in agent  # server flags


def test_embedded_registry_port_between_nodes_only(mirrored: StackRun) -> None:
    rules = mirrored.get("bergen-1-firewall").inputs["stdin"]
    line = next(r for r in rules.splitlines() if "@nodes_v4 tcp dport" in r)
    assert "5001" in line
    assert not any("5001" in r for r in rules.splitlines() if "@nodes_v4" not in r)


def test_install_from_the_mirror(mirrored: StackRun) -> None:
    install = mirrored.get("bergen-1-k3s-install")
    assert install.inputs["create"] == render_command("k3s-install.sh", (versions.K3S, "server", "https://mirror.example.no/k3s"))


def test_no_mirrors_no_step_and_upstream_install(oslo: StackRun) -> None:
    names = {r.name for r in oslo.resources}
    assert "oslo-1-registries" not in names
    assert not oslo.of_type("command:remote:CopyToRemote")
    assert oslo.get("oslo-1-k3s-install").inputs["create"] == render_command("k3s-install.sh", (versions.K3S, "server"))
    config = yaml.safe_load(unwrap(oslo.get("oslo-1-k3s-config").inputs["stdin"]))
    assert not {"system-default-registry", "embedded-registry", "disable-default-registry-endpoint"} & set(config)
    assert "5001" not in oslo.get("oslo-1-firewall").inputs["stdin"]


def test_plain_mirrors_stdin_is_not_secret() -> None:
    run = run_stack("bergen", stack(registryMirrors={"docker.io": [MIRROR]}))
    stdin = run.get("oslo-1-registries").inputs["stdin"]
    assert not is_secret(stdin)
    assert yaml.safe_load(files_of(stdin)["registries.yaml"]) == {"mirrors": {"docker.io": {"endpoint": [MIRROR]}}}


def test_airgap_uploads_every_asset_before_the_install(tmp_path: Path) -> None:
    folder = airgap_folder(tmp_path)
    nodes = [THREE_NODES[0], THREE_NODES[1]]  # bergen-2 logs in as a sudoer
    run = run_stack("bergen", stack(nodes=nodes, k3sAirgapDir=str(folder)))
    for spec, base in ((nodes[0], ASSETS_DIR), (nodes[1], ASSETS_DIR_SUDO)):
        name = spec["name"]
        copies = [r for r in run.of_type("command:remote:CopyToRemote") if r.parent == name]
        remote = f"{base}/{versions.K3S}"
        files = ["install.sh", "k3s", "sha256sum-amd64.txt", "k3s-airgap-images-amd64.tar.zst"]
        assert sorted(unwrap(c.inputs["remotePath"]) for c in copies) == sorted(f"{remote}/{f}" for f in files)
        install = run.get(f"{name}-k3s-install")
        assert {c.name for c in copies} <= set(install.options["dependsOn"])
        role = "server" if name == "bergen-1" else "agent"
        assert install.inputs["create"] == render_command("k3s-install.sh", (versions.K3S, role, f"dir:{remote}"), sudo=name == "bergen-2")

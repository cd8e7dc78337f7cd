"""Mirrors on the nodes, in the sandbox: registries-apply.sh / registries-remove.sh, and
k3s-install.sh's install sources (a mirror, an air-gap folder) with their checksum check."""

from __future__ import annotations

import base64
import hashlib
import os
import platform
from pathlib import Path

import pytest

from render.node.command import render_command
from tests.sandbox import FileInfo, Result, Sandbox, open_sandbox
from tests.test_scripts import CONFIG, VERSION, install_server, ok

REGISTRIES = "/etc/rancher/k3s/registries.yaml"
CA_DIR = "/etc/rancher/k3s/registry-ca"
PASSWORD = "s3cr3t-mirror-password"
YAML_1 = f"mirrors:\n  docker.io:\n    endpoint:\n    - https://registry.example.no\nconfigs:\n  registry.example.no:\n    auth:\n      username: ci\n      password: {PASSWORD}\n"
YAML_2 = "mirrors:\n  docker.io:\n    endpoint:\n    - https://registry2.example.no\n"
PEM = "-----BEGIN CERTIFICATE-----\nTUlJQ0FURVNU\n-----END CERTIFICATE-----\n"
ARCH = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), "amd64")
BINARY = "k3s" if ARCH == "amd64" else f"k3s-{ARCH}"
IMAGES = f"k3s-airgap-images-{ARCH}.tar.zst"
MIRROR = "https://mirror.example.no/k3s"
BASE = f"{MIRROR}/{VERSION.replace('+', '%2B')}"
IMAGES_PATH = f"/var/lib/rancher/k3s/agent/images/{IMAGES}"


@pytest.fixture
def sb(tmp_path: Path) -> Sandbox:
    return open_sandbox(tmp_path)


def stdin(files: dict[str, str]) -> str:
    return "".join(f"{path} {base64.b64encode(text.encode()).decode()}\n" for path, text in files.items())


def run(sb: Sandbox, script: str, *args: str, stdin: str = "") -> Result:
    result = sb.run(render_command(script, args), stdin=stdin)
    assert PASSWORD not in result.stdout + result.stderr, result
    return result


# --- registries.yaml ------------------------------------------------------------------------


def test_registries_written_private_then_unchanged(sb: Sandbox) -> None:
    doc = stdin({"registries.yaml": YAML_1, "registry-ca/registry.example.no.pem": PEM})
    ok(run(sb, "registries-apply.sh", "server", stdin=doc), "changed")
    assert sb.calls("systemctl") == []  # not installed: the installer starts K3s with it
    pem = f"{CA_DIR}/registry.example.no.pem"
    files = sb.files(REGISTRIES, pem)
    assert files[REGISTRIES] == FileInfo(0o600, False, YAML_1.encode())
    assert files[pem] == FileInfo(0o600, False, PEM.encode())
    ok(run(sb, "registries-apply.sh", "server", stdin=doc), "unchanged")
    assert sb.calls("systemctl") == []
    assert [n for n in sb.run("ls -A /etc/rancher/k3s").stdout.split() if n.startswith(".")] == []


def test_registries_change_restarts_once_and_drops_a_stale_ca(sb: Sandbox) -> None:
    install_server(sb)
    ok(run(sb, "registries-apply.sh", "server", stdin=stdin({"registries.yaml": YAML_1, "registry-ca/registry.example.no.pem": PEM})), "changed")
    assert sb.calls("systemctl") == ["systemctl restart k3s"]
    sb.clear_calls()
    ok(run(sb, "registries-apply.sh", "server", stdin=stdin({"registries.yaml": YAML_1})), "changed")  # CA removed
    assert sb.calls("systemctl") == ["systemctl restart k3s"]
    assert sb.read(f"{CA_DIR}/registry.example.no.pem") is None
    sb.clear_calls()
    ok(run(sb, "registries-apply.sh", "server", stdin=stdin({"registries.yaml": YAML_1})), "unchanged")
    assert sb.calls("systemctl") == []


def test_registries_failed_restart_rolls_back(sb: Sandbox) -> None:
    install_server(sb)
    ok(run(sb, "registries-apply.sh", "server", stdin=stdin({"registries.yaml": YAML_1})), "changed")
    sb.set_state("fail-restart")
    sb.clear_calls()
    result = run(sb, "registries-apply.sh", "server", stdin=stdin({"registries.yaml": YAML_2}))
    assert result.returncode != 0 and "it was rolled back" in result.stderr, result
    assert sb.read(REGISTRIES) == YAML_1.encode()
    assert sb.calls("systemctl") == ["systemctl restart k3s"] * 2


@pytest.mark.parametrize(("text", "message"), [
    ("", "stdin is empty"),
    ("../evil.yaml Zm9v\n", "unexpected file"),
    ("registry-ca/x.pem Zm9v\n", "no registries.yaml"),
    ("registries.yaml ***\n", "not base64"),
])
def test_registries_bad_stdin_changes_nothing(sb: Sandbox, text: str, message: str) -> None:
    result = run(sb, "registries-apply.sh", "agent", stdin=text)
    assert result.returncode != 0 and message in result.stderr, result
    assert sb.read(REGISTRIES) is None
    assert [n for n in sb.run("ls -A /etc/rancher/k3s").stdout.split() if n.startswith(".")] == []


def test_registries_remove_restarts_then_unchanged(sb: Sandbox) -> None:
    install_server(sb)
    ok(run(sb, "registries-apply.sh", "server", stdin=stdin({"registries.yaml": YAML_1, "registry-ca/registry.example.no.pem": PEM})), "changed")
    sb.clear_calls()
    ok(run(sb, "registries-remove.sh", "server"), "changed")
    assert sb.calls("systemctl") == ["systemctl restart k3s"]
    assert sb.files(REGISTRIES, CA_DIR) == {REGISTRIES: None, CA_DIR: None}
    ok(run(sb, "registries-remove.sh", "server"), "unchanged")


# --- K3s from a mirror or an air-gap folder ---------------------------------------------------


def assets(sb: Sandbox, images: bytes = b"fake images tarball\n") -> dict[str, bytes]:
    binary = sb.k3s_binary(VERSION)
    sums = "".join(f"{hashlib.sha256(data).hexdigest()}  {name}\n" for name, data in ((BINARY, binary), (IMAGES, images)))
    return {"install.sh": sb.installer(), f"sha256sum-{ARCH}.txt": sums.encode(), BINARY: binary, IMAGES: images}


def serve(sb: Sandbox, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        sb.serve(f"{BASE}/{name}", data)


def test_mirror_first_install_then_nothing_changes(sb: Sandbox) -> None:
    files = assets(sb)
    serve(sb, files)
    ok(run(sb, "k3s-config.sh", "server", stdin=CONFIG), "changed")
    ok(run(sb, "k3s-install.sh", VERSION, "server", MIRROR), "changed")
    assert sb.calls("install ") == [f"install {VERSION} server skip-download"]
    urls = [c.split()[-1] for c in sb.calls("curl ")]
    assert urls == [f"{BASE}/install.sh", f"{BASE}/sha256sum-{ARCH}.txt", f"{BASE}/{BINARY}", f"{BASE}/{IMAGES}"]
    placed = sb.files("/usr/local/bin/k3s", IMAGES_PATH)
    assert placed["/usr/local/bin/k3s"] == FileInfo(0o755, False, files[BINARY])
    assert placed[IMAGES_PATH] == FileInfo(0o644, False, files[IMAGES])
    sb.clear_calls()
    ok(run(sb, "k3s-install.sh", VERSION, "server", MIRROR), "unchanged")
    assert sb.calls("curl") == sb.calls("install") == []
    assert os.listdir(sb.tmp) == []


def test_mirror_checksum_mismatch_installs_nothing(sb: Sandbox) -> None:
    files = assets(sb)
    files[IMAGES] = b"tampered images\n"  # the sums file still names the original's sum
    serve(sb, files)
    ok(run(sb, "k3s-config.sh", "server", stdin=CONFIG), "changed")
    result = run(sb, "k3s-install.sh", VERSION, "server", MIRROR)
    assert result.returncode != 0, result
    want = hashlib.sha256(b"fake images tarball\n").hexdigest()
    got = hashlib.sha256(b"tampered images\n").hexdigest()
    assert f"checksum mismatch for {IMAGES}: sha256sum-{ARCH}.txt says {want}, the file has {got}; nothing was installed" in result.stderr
    assert sb.calls("install") == []
    assert sb.files("/usr/local/bin/k3s", IMAGES_PATH) == {"/usr/local/bin/k3s": None, IMAGES_PATH: None}
    assert os.listdir(sb.tmp) == []


def test_mirror_mismatch_on_upgrade_keeps_the_old_binary(sb: Sandbox) -> None:
    install_server(sb)  # from upstream: the old K3s
    before = sb.read("/usr/local/bin/k3s")
    files = assets(sb)
    new = "v1.36.5+k3s1"
    files[BINARY] = sb.k3s_binary(new)  # not the binary the sums were made for
    for name, data in files.items():
        sb.serve(f"{MIRROR}/{new.replace('+', '%2B')}/{name}", data)
    result = run(sb, "k3s-install.sh", new, "server", MIRROR)
    assert result.returncode != 0 and f"checksum mismatch for {BINARY}" in result.stderr, result
    assert sb.read("/usr/local/bin/k3s") == before
    assert sb.read(IMAGES_PATH) is None


def test_mirror_missing_file_is_named(sb: Sandbox) -> None:
    files = assets(sb)
    del files[BINARY]
    serve(sb, files)
    ok(run(sb, "k3s-config.sh", "server", stdin=CONFIG), "changed")
    result = run(sb, "k3s-install.sh", VERSION, "server", MIRROR)
    assert result.returncode != 0 and f"downloading {BASE}/{BINARY} failed" in result.stderr, result
    assert sb.read("/usr/local/bin/k3s") is None


def test_airgap_folder_install(sb: Sandbox) -> None:
    folder = f"/var/lib/sovereign-faas/k3s-assets/{VERSION}"
    for name, data in assets(sb).items():  # as CopyToRemote leaves them
        sb.write(f"{folder}/{name}", data)
    ok(run(sb, "k3s-config.sh", "server", stdin=CONFIG), "changed")
    ok(run(sb, "k3s-install.sh", VERSION, "server", f"dir:{folder}"), "changed")
    assert sb.calls("curl") == []
    assert sb.calls("install ") == [f"install {VERSION} server skip-download"]
    assert sb.read(IMAGES_PATH) == b"fake images tarball\n"
    sb.clear_calls()
    ok(run(sb, "k3s-install.sh", VERSION, "server", f"dir:{folder}"), "unchanged")


def test_airgap_folder_incomplete_is_named(sb: Sandbox) -> None:
    folder = f"/var/lib/sovereign-faas/k3s-assets/{VERSION}"
    files = assets(sb)
    del files[IMAGES]
    for name, data in files.items():
        sb.write(f"{folder}/{name}", data)
    ok(run(sb, "k3s-config.sh", "server", stdin=CONFIG), "changed")
    result = run(sb, "k3s-install.sh", VERSION, "server", f"dir:{folder}")
    assert result.returncode != 0 and f"{folder} holds no k3s-airgap-images-{ARCH}.tar.zst" in result.stderr, result
    assert sb.read("/usr/local/bin/k3s") is None


def test_upstream_path_unchanged(sb: Sandbox) -> None:
    install_server(sb)
    assert sb.read("/usr/local/bin/k3s") is not None
    assert sb.read(IMAGES_PATH) is None


@pytest.mark.parametrize("source", ["ftp://mirror", "dir:../etc", "https://m/$(id)", "dir:"])
def test_bad_source_refused(sb: Sandbox, source: str) -> None:
    result = run(sb, "k3s-install.sh", VERSION, "server", source)
    assert result.returncode != 0 and "SOURCE" in result.stderr, result
    assert sb.calls() == []


@pytest.mark.parametrize(("script", "args", "named"), [
    ("registries-apply.sh", ("master",), "ROLE"),
    ("registries-apply.sh", (), "usage"),
    ("registries-remove.sh", ("master",), "ROLE"),
    ("registries-remove.sh", (), "usage"),
])
def test_registries_bad_arguments(sb: Sandbox, script: str, args: tuple[str, ...], named: str) -> None:
    result = run(sb, script, *args, stdin=stdin({"registries.yaml": YAML_2}))
    assert result.returncode != 0 and result.stderr.startswith(f"sovereign-faas: {script}: ") and named in result.stderr, result
    assert sb.calls() == []
    assert sb.read(REGISTRIES) is None

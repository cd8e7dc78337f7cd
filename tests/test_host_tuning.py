"""host-tuning-apply.sh / host-tuning-remove.sh, run as `render_command` renders them inside the
sandbox (tests/sandbox.py): /etc and /var/lib are overlays, /sys is read-only, and the scripts'
sysfs root (SOVEREIGN_FAAS_SYSFS) is the sandbox's stand-in tree, so this machine's transparent
huge pages, disks, udev and systemd are never touched (checked by the last test).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from render.node.command import render_command, script_path
from tests.sandbox import FileInfo, Result, Sandbox, open_sandbox

APPLY, REMOVE = "host-tuning-apply.sh", "host-tuning-remove.sh"
UNIT = "/etc/systemd/system/sovereign-faas-host-tuning.service"
RULE = "/etc/udev/rules.d/60-sovereign-faas-iosched.rules"
PREVIOUS = "/var/lib/sovereign-faas/host-tuning.previous"
THP = "kernel/mm/transparent_hugepage/enabled"
DEFRAG = "kernel/mm/transparent_hugepage/defrag"


def sched(dev: str) -> str:
    return f"block/{dev}/queue/scheduler"


# What this machine looks like before any test runs: compared again by the last test.
HOST_FILES = (
    "/sys/kernel/mm/transparent_hugepage/enabled", "/sys/kernel/mm/transparent_hugepage/defrag",
    *sorted(str(p) for p in Path("/sys/block").glob("*/queue/scheduler")),
)
HOST_PATHS = (UNIT, RULE, PREVIOUS, "/var/lib/sovereign-faas")


def host_snapshot() -> dict[str, object]:
    snapshot: dict[str, object] = {path: os.path.lexists(path) for path in HOST_PATHS}
    for path in HOST_FILES:
        snapshot[path] = Path(path).read_text() if os.path.exists(path) else None
    rules = Path("/etc/udev/rules.d")
    snapshot["rules.d"] = sorted(os.listdir(rules)) if rules.is_dir() else None
    return snapshot


HOST_BEFORE = host_snapshot()


@pytest.fixture
def sb(tmp_path: Path) -> Sandbox:
    return open_sandbox(tmp_path)


def run(sb: Sandbox, script: str, *args: str) -> Result:
    return sb.run(render_command(script, args))


def ok(result: Result, status: str) -> None:
    assert result.returncode == 0, result
    assert re.match(rf"sovereign-faas: [a-z0-9-]+\.sh: {status}\b", result.last_line), result


def rule(scheduler: str) -> str:
    return (
        "# Written by sovereign-faas (Pulumi, host-tuning-apply.sh). Local changes are overwritten.\n"
        f"# I/O scheduler {scheduler} for whole NVMe and virtio disks (ENV{{DEVTYPE}} excludes partitions).\n"
        'ACTION=="add|change", SUBSYSTEM=="block", ENV{DEVTYPE}=="disk", '
        f'KERNEL=="nvme[0-9]*n[0-9]*", ATTR{{queue/scheduler}}="{scheduler}"\n'
        'ACTION=="add|change", SUBSYSTEM=="block", ENV{DEVTYPE}=="disk", '
        f'KERNEL=="vd[a-z]*", ATTR{{queue/scheduler}}="{scheduler}"\n'
    )


def sysfs_writes(sb: Sandbox) -> list[str]:
    return sb.calls("sysfs ")


# --- static ---------------------------------------------------------------------------------


@pytest.mark.parametrize("script", [APPLY, REMOVE])
def test_sysfs_root_is_only_overridable_by_the_environment(script: str) -> None:
    text = script_path(script).read_text()
    # Production default /sys; nothing but this environment variable can move it.
    assert "\nreadonly SYSFS=${SOVEREIGN_FAAS_SYSFS:-/sys}\n" in text
    assert text.count("SOVEREIGN_FAAS_SYSFS") == 1
    assert text.count("SYSFS=") == 1


def test_the_boot_unit_uses_the_real_sys_even_in_the_sandbox(sb: Sandbox) -> None:
    ok(run(sb, APPLY, "never", "none"), "changed")
    unit = sb.read(UNIT)
    assert unit is not None
    text = unit.decode()
    assert "ExecStart=/bin/sh -c 'echo never > /sys/kernel/mm/transparent_hugepage/enabled'\n" in text
    assert "Before=k3s.service k3s-agent.service\n" in text
    assert "WantedBy=multi-user.target\n" in text
    assert "Type=oneshot\n" in text and str(sb.sysfs) not in text


# --- the sandbox's stand-in sysfs ----------------------------------------------------------


def test_sandbox_sys_is_read_only_and_the_stand_in_plays_the_kernel(sb: Sandbox) -> None:
    # Read-only without trying a write: the mount table of the sandbox's namespace.
    mounts = sb.run("cat /proc/self/mountinfo").stdout.splitlines()
    (sys_mount,) = [line for line in mounts if line.split()[4] == "/sys"]
    assert "ro" in sys_mount.split()[5].split(","), sys_mount
    result = sb.run(f'echo never >"$SOVEREIGN_FAAS_SYSFS/{THP}"; echo bogus >"$SOVEREIGN_FAAS_SYSFS/{DEFRAG}"')
    assert result.returncode == 0, result
    assert sb.calls() == [f"sysfs {DEFRAG} bogus (rejected)", f"sysfs {THP} never"]
    assert sb.sysfs_text(THP) == "always madvise [never]\n"
    assert sb.sysfs_text(DEFRAG) == "always defer defer+madvise [madvise] never\n"


# --- apply ----------------------------------------------------------------------------------


def test_first_run_changes_then_second_run_is_unchanged(sb: Sandbox) -> None:
    first = run(sb, APPLY, "never", "mq-deadline")
    ok(first, "changed")
    assert sysfs_writes(sb) == [
        f"sysfs {sched('nvme0n1')} mq-deadline",
        f"sysfs {sched('vda')} mq-deadline",
        f"sysfs {THP} never",
    ]
    assert sb.calls("systemctl") == [
        "systemctl daemon-reload", "systemctl enable sovereign-faas-host-tuning.service"]
    assert sb.calls("udevadm") == ["udevadm control --reload"]
    assert sb.sysfs_text(THP) == "always madvise [never]\n"
    assert sb.sysfs_values() == {
        sched("loop0"): "none",  # neither NVMe nor virtio: untouched
        sched("nvme0n1"): "mq-deadline",
        sched("sda"): "bfq",  # untouched
        sched("vda"): "mq-deadline",
        DEFRAG: "madvise",  # deliberately not managed (see the script)
        THP: "never",
    }
    files = sb.files(UNIT, RULE, PREVIOUS)
    assert files[RULE] == FileInfo(0o644, False, rule("mq-deadline").encode())
    assert files[UNIT] is not None and files[UNIT].mode == 0o644
    assert files[PREVIOUS] is not None and files[PREVIOUS].data is not None
    assert files[PREVIOUS].data.decode().splitlines()[1:] == [
        "thp madvise", "scheduler nvme0n1 none", "scheduler vda none"]

    sb.clear_calls()
    second = run(sb, APPLY, "never", "mq-deadline")
    ok(second, "unchanged")
    assert sb.calls() == []  # no sysfs write, no systemctl, no udevadm
    assert sb.files(UNIT, RULE, PREVIOUS) == files
    assert os.listdir(sb.tmp) == []


def test_through_sudo_n(sb: Sandbox) -> None:
    ok(sb.run(render_command(APPLY, ("never", "none"), sudo=True)), "changed")
    assert sb.calls("sudo")[0].startswith("sudo -n bash -c ")
    assert sb.sysfs_value(THP) == "never"


def test_changed_scheduler_reapplies_once(sb: Sandbox) -> None:
    ok(run(sb, APPLY, "never", "mq-deadline"), "changed")
    previous = sb.read(PREVIOUS)
    sb.clear_calls()
    ok(run(sb, APPLY, "never", "none"), "changed")
    assert sb.calls() == [
        "udevadm control --reload",
        f"sysfs {sched('nvme0n1')} none",
        f"sysfs {sched('vda')} none",
    ]
    assert sb.read(RULE) == rule("none").encode()
    assert sb.read(PREVIOUS) == previous  # saved once, never overwritten
    sb.clear_calls()
    ok(run(sb, APPLY, "never", "none"), "unchanged")
    assert sb.calls() == []


def test_changed_thp_rewrites_the_unit(sb: Sandbox) -> None:
    ok(run(sb, APPLY, "never", "keep"), "changed")
    sb.clear_calls()
    ok(run(sb, APPLY, "madvise", "keep"), "changed")
    assert sb.calls() == [
        "systemctl daemon-reload", "systemctl enable sovereign-faas-host-tuning.service",
        f"sysfs {THP} madvise",
    ]
    unit = sb.read(UNIT)
    assert unit is not None and b"echo madvise > /sys/kernel/mm/transparent_hugepage/enabled" in unit


def test_drifted_live_value_is_written_again(sb: Sandbox) -> None:
    ok(run(sb, APPLY, "never", "mq-deadline"), "changed")
    sb.set_sysfs(THP, ("always", "madvise", "never"), "always")  # e.g. someone echoed always
    sb.set_sysfs(sched("vda"), ("none", "mq-deadline"), "none")
    sb.clear_calls()
    result = run(sb, APPLY, "never", "mq-deadline")
    ok(result, "changed")
    assert "THP always -> never" in result.last_line and "vda none -> mq-deadline" in result.last_line
    assert sb.calls() == [f"sysfs {sched('vda')} mq-deadline", f"sysfs {THP} never"]


def test_keep_writes_no_rule(sb: Sandbox) -> None:
    ok(run(sb, APPLY, "never", "keep"), "changed")
    assert sb.read(RULE) is None
    assert sb.calls("udevadm") == []
    assert sysfs_writes(sb) == [f"sysfs {THP} never"]
    sb.clear_calls()
    ok(run(sb, APPLY, "never", "keep"), "unchanged")
    assert sb.calls() == []


def test_keep_removes_an_old_rule_and_gives_back_the_kernels_choice(sb: Sandbox) -> None:
    ok(run(sb, APPLY, "never", "mq-deadline"), "changed")
    sb.clear_calls()
    result = run(sb, APPLY, "never", "keep")
    ok(result, "changed")
    assert f"removed {RULE}" in result.last_line
    assert sb.read(RULE) is None
    assert sb.calls() == [
        "udevadm control --reload",
        f"sysfs {sched('nvme0n1')} none",  # what they had before the first run
        f"sysfs {sched('vda')} none",
    ]
    sb.clear_calls()
    ok(run(sb, APPLY, "never", "keep"), "unchanged")
    assert sb.calls() == []


def test_scheduler_not_offered_fails_naming_the_disk(sb: Sandbox) -> None:
    result = run(sb, APPLY, "never", "kyber")  # the stand-in vda offers none, mq-deadline
    assert result.returncode != 0, result
    assert result.stderr.startswith(f"sovereign-faas: {APPLY}: disk vda does not offer")
    assert "'kyber'" in result.stderr and "(it offers: none mq-deadline)" in result.stderr
    assert "nothing was changed" in result.stderr
    assert sb.calls() == []  # checked before anything was written: not even nvme0n1
    assert sb.files(UNIT, RULE, PREVIOUS) == {UNIT: None, RULE: None, PREVIOUS: None}


def test_kernel_without_thp_is_skipped(sb: Sandbox) -> None:
    sb.remove_sysfs(THP)
    result = run(sb, APPLY, "never", "none")
    ok(result, "changed")
    assert "no THP in this kernel" in result.stderr
    assert sb.read(UNIT) is not None  # ConditionPathExists makes it a no-op at boot
    ok(run(sb, APPLY, "never", "none"), "unchanged")


def test_udevadm_failure_is_reported(sb: Sandbox) -> None:
    sb.set_state("udevadm-fail")
    result = run(sb, APPLY, "never", "none")
    assert result.returncode != 0, result
    assert f"sovereign-faas: {APPLY}: udevadm control --reload failed" in result.stderr


@pytest.mark.parametrize(("script", "args", "named"), [
    (APPLY, ("always", "none"), "THP"),
    (APPLY, ("", "none"), "THP"),
    (APPLY, ("never", "cfq"), "SCHEDULER"),
    (APPLY, ("never", "None"), "SCHEDULER"),
    (APPLY, ("never",), "usage"),
    (APPLY, ("never", "none", "extra"), "usage"),
    (REMOVE, ("now",), "usage"),
])
def test_bad_arguments(sb: Sandbox, script: str, args: tuple[str, ...], named: str) -> None:
    result = run(sb, script, *args)
    assert result.returncode != 0, result
    assert result.stderr.startswith(f"sovereign-faas: {script}: ") and named in result.stderr
    assert sb.calls() == []
    assert sb.files(UNIT, RULE, PREVIOUS) == {UNIT: None, RULE: None, PREVIOUS: None}


# --- remove ---------------------------------------------------------------------------------


def test_remove_restores_the_previous_values_then_is_unchanged(sb: Sandbox) -> None:
    before = sb.sysfs_values()
    ok(run(sb, APPLY, "never", "mq-deadline"), "changed")
    ok(run(sb, APPLY, "never", "none"), "changed")  # a later apply must not move the baseline
    sb.clear_calls()
    result = run(sb, REMOVE)
    ok(result, "changed")
    assert sb.sysfs_values() == before
    # nvme0n1 and vda were `none` before, as now: only THP needs writing back.
    assert sb.calls() == [
        "systemctl disable sovereign-faas-host-tuning.service", "systemctl daemon-reload",
        "udevadm control --reload",
        f"sysfs {THP} madvise",
    ]
    assert sb.files(UNIT, RULE, PREVIOUS, "/var/lib/sovereign-faas") == {
        UNIT: None, RULE: None, PREVIOUS: None, "/var/lib/sovereign-faas": None}
    sb.clear_calls()
    ok(run(sb, REMOVE), "unchanged")
    assert sb.calls() == []


def test_remove_restores_schedulers(sb: Sandbox) -> None:
    sb.set_sysfs(sched("nvme0n1"), ("none", "mq-deadline", "kyber", "bfq"), "kyber")
    ok(run(sb, APPLY, "never", "none"), "changed")
    assert sb.sysfs_value(sched("nvme0n1")) == "none"
    sb.remove_sysfs(sched("vda"))  # a disk detached since: skipped with a warning
    sb.clear_calls()
    result = run(sb, REMOVE)
    ok(result, "changed")
    assert "warning: vda:" in result.stderr
    assert sysfs_writes(sb) == [f"sysfs {sched('nvme0n1')} kyber", f"sysfs {THP} madvise"]
    assert sb.sysfs_value(sched("nvme0n1")) == "kyber"


def test_remove_without_apply_is_unchanged(sb: Sandbox) -> None:
    ok(run(sb, REMOVE), "unchanged")
    assert sb.calls() == []


def test_apply_after_remove_saves_a_fresh_baseline(sb: Sandbox) -> None:
    ok(run(sb, APPLY, "never", "none"), "changed")
    ok(run(sb, REMOVE), "changed")
    sb.set_sysfs(THP, ("always", "madvise", "never"), "always")
    ok(run(sb, APPLY, "never", "none"), "changed")
    previous = sb.read(PREVIOUS)
    assert previous is not None and b"\nthp always\n" in previous
    ok(run(sb, REMOVE), "changed")
    assert sb.sysfs_value(THP) == "always"


# --- the machine itself ---------------------------------------------------------------------


def test_host_untouched() -> None:
    """Runs last in this file: nothing above reached this machine's /sys, /etc or /var/lib."""
    assert host_snapshot() == HOST_BEFORE

"""The nodes' own endpoints (ntpServers, aptMirror, distroPhoneHome): the settings, the step,
the inventory's rows, and host-endpoints-apply.sh / -remove.sh run in the sandbox
(tests/sandbox.py: /etc and /var/lib are overlays, systemctl is a stand-in, and so is snap, put
first on PATH by each test), so this machine's time service, package sources and services are
never touched (checked by the last test).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from render import egress
from render.node import firewall
from render.node.command import render_command
from settings.errors import ConfigError
from tests.conftest import settings_for, stack
from tests.sandbox import Result, Sandbox, open_sandbox
from tools.harness import run_stack

TIMESYNCD = "/etc/systemd/timesyncd.conf.d/90-sovereign-faas.conf"
CHRONY_CONF, CHRONY_SOURCES = "/etc/chrony/chrony.conf", "/etc/chrony/sources.d/sovereign-faas.sources"
APT, UBUNTU_SOURCES, SOURCES_LIST = "/etc/apt/sources.list.d/sovereign-faas.sources", "/etc/apt/sources.list.d/ubuntu.sources", "/etc/apt/sources.list"
MOTD_NEWS, STATE = "/etc/default/motd-news", "/var/lib/sovereign-faas/host-endpoints"
HOST_BEFORE = {path: os.path.lexists(path) for path in (TIMESYNCD, CHRONY_SOURCES, APT, STATE)}
MIRROR = "https://mirror.example.no/ubuntu"
UBUNTU = 'PRETTY_NAME="Ubuntu 24.04.3 LTS"\nID=ubuntu\nID_LIKE=debian\nVERSION_CODENAME=noble\n'
DEBIAN = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_CODENAME=bookworm\n'
DISTRO_SOURCES = "Types: deb\nURIs: http://archive.ubuntu.com/ubuntu/\nSuites: noble noble-updates\nComponents: main\n"
CHRONY = "confdir /etc/chrony/conf.d\npool ntp.ubuntu.com iburst maxsources 4\nserver 0.example.org\nsourcedir /etc/chrony/sources.d\n"
PHONE_HOME = ("motd-news.timer", "apport", "whoopsie", "ua-timer.timer", "apt-news")


# --- settings, step, inventory --------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"aptMirror": "ftp://mirror.example.no"}, "sovereign-faas:aptMirror:"),
        ({"ntpServers": ["ntp example"]}, "sovereign-faas:ntpServers[0]: expected an IP address or DNS name"),
        ({"distroPhoneHome": "no"}, "sovereign-faas:distroPhoneHome: expected 'keep' or 'off', got 'no'"),
    ],
)
def test_bad_input_is_named(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        settings_for(stack(**overrides))
    assert message in str(caught.value)


def test_the_step_gets_only_what_is_set_and_runs_before_the_firewall() -> None:
    run = run_stack("host", stack(ntpServers=["ntp.example.no", "198.51.100.123"], aptMirror=MIRROR, distroPhoneHome="off"))
    step = run.get("oslo-1-host-endpoints")
    assert step.inputs["create"].endswith(f"host-endpoints-apply.sh --ntp=ntp.example.no,198.51.100.123 --apt={MIRROR} --phone-home=off")
    assert "oslo-1-host-endpoints" in run.get("oslo-1-firewall").options["dependsOn"]
    assert step.options.get("deleteBeforeReplace") is True
    ntp_only = run_stack("ntp", stack(ntpServers=["ntp.example.no"])).get("oslo-1-host-endpoints")
    assert ntp_only.inputs["create"].endswith("host-endpoints-apply.sh --ntp=ntp.example.no")
    assert not [r for r in run_stack("plain", stack()).resources if r.name.endswith("-host-endpoints")]


def test_ip_literal_ntp_and_apt_mirror_are_admitted_by_the_output_policy() -> None:
    settings = settings_for(stack(nodeEgress="restricted", ntpServers=["198.51.100.123", "ntp.example.no"], aptMirror="http://198.51.100.80/ubuntu"))
    egress_ = firewall.node_egress(settings.host, settings.mirrors, settings.backups)
    assert egress_ is not None
    assert firewall.Destination("198.51.100.123/32", "udp", (123,), "NTP: ntpServers") in egress_.destinations
    assert firewall.Destination("198.51.100.80/32", "tcp", (80,), "aptMirror") in egress_.destinations
    assert not [d for d in egress_.destinations if "example.no" in d.cidr]


def host_rows(**overrides: object) -> dict[str, egress.Endpoint]:
    return {e.host: e for e in egress.inventory(settings_for(stack(**overrides))) if e.phase == egress.HOST and e.port != 53}


def test_the_inventory_lists_ubuntus_defaults_with_the_key_that_fixes_each() -> None:
    rows = host_rows()
    assert {h: (r.port, r.in_country, r.fix) for h, r in rows.items()} == {
        "ntp.ubuntu.com": (123, False, "ntpServers"),
        "archive.ubuntu.com": (80, False, "aptMirror"), "security.ubuntu.com": (80, False, "aptMirror"),
        **{h: (443, False, "distroPhoneHome: off") for h in ("motd.ubuntu.com", "daisy.ubuntu.com", "contracts.canonical.com", "api.snapcraft.io")},
    }
    declared = host_rows(ntpServers=["ntp.example.no"], aptMirror=MIRROR, distroPhoneHome="off")
    assert {h: (r.port, r.mirrored, r.allowed) for h, r in declared.items()} == {
        "ntp.example.no": (123, False, True), "mirror.example.no": (443, True, False)}


def test_strict_names_each_host_endpoint_and_its_key() -> None:
    from tests.test_egress import MIRRORED

    config = {k: v for k, v in MIRRORED.items() if k not in ("ntpServers", "aptMirror", "distroPhoneHome")}
    endpoints = egress.inventory(settings_for(stack(**config), ("sshPrivateKey", "openfaasLicense")))
    refused = dict(egress.strict_problems(endpoints))
    assert {k for k, _ in egress.strict_problems(endpoints)} == {"ntpServers", "aptMirror", "distroPhoneHome"}
    assert "ntp.ubuntu.com:123 (host run time" in refused["ntpServers"]


# --- the scripts, in the sandbox ------------------------------------------------------------


@pytest.fixture
def sb(tmp_path: Path) -> Sandbox:
    sandbox = open_sandbox(tmp_path)
    snap = sandbox.bin / "snap"
    snap.write_text(f"#!/bin/sh\nprintf 'snap %s\\n' \"$*\" >>{sandbox.log}\n")
    snap.chmod(0o755)
    return sandbox


def ubuntu(sb: Sandbox, *, time: str = "systemd-timesyncd") -> None:
    sb.write("/etc/os-release", UBUNTU)
    sb.write(UBUNTU_SOURCES, DISTRO_SOURCES)
    sb.write(SOURCES_LIST, "# Ubuntu sources have moved to ubuntu.sources\n")
    sb.write(MOTD_NEWS, "ENABLED=1\nURLS=\"https://motd.ubuntu.com\"\n")
    sb.write(f"/etc/systemd/system/{time}.service", "[Service]\n")
    if time == "chrony":
        sb.write(CHRONY_CONF, CHRONY)
    sb.set_state(f"active/{time}")
    for unit in PHONE_HOME:
        sb.set_state(f"enabled/{unit}")


def run(sb: Sandbox, script: str, *args: str) -> Result:
    return sb.run(render_command(script, args))


def status(result: Result) -> str:
    assert result.returncode == 0, result
    return result.last_line.split(": ", 2)[2]


def text(sb: Sandbox, path: str) -> str | None:
    data = sb.read(path)
    return None if data is None else data.decode()


ALL = ("--ntp=ntp.example.no,198.51.100.123", f"--apt={MIRROR}", "--phone-home=off")


def test_on_ubuntu_everything_points_home_then_a_rerun_changes_nothing(sb: Sandbox) -> None:
    ubuntu(sb)
    line = status(run(sb, "host-endpoints-apply.sh", *ALL))
    assert line.startswith("changed (NTP: systemd-timesyncd asks ntp.example.no 198.51.100.123; apt: ")
    assert "not done" not in line
    assert (text(sb, TIMESYNCD) or "").splitlines()[1:] == ["[Time]", "NTP=ntp.example.no 198.51.100.123", "FallbackNTP="]
    apt = text(sb, APT) or ""
    assert f"URIs: {MIRROR}" in apt and "Suites: noble noble-updates noble-backports noble-security" in apt
    assert sb.files(UBUNTU_SOURCES, SOURCES_LIST) == {UBUNTU_SOURCES: None, SOURCES_LIST: None}
    assert (text(sb, MOTD_NEWS) or "").startswith("ENABLED=0\n")
    assert sb.calls("systemctl disable") == [f"systemctl disable {u}" for u in PHONE_HOME]
    assert sb.calls("systemctl restart") == ["systemctl restart systemd-timesyncd"]
    assert sb.calls("snap") == ["snap refresh --hold"]
    sb.clear_calls()
    assert status(run(sb, "host-endpoints-apply.sh", *ALL)) == "unchanged"
    assert [c for c in sb.calls() if c.startswith(("systemctl restart", "systemctl disable", "snap"))] == []


def test_remove_puts_back_everything_it_changed(sb: Sandbox) -> None:
    ubuntu(sb)
    status(run(sb, "host-endpoints-apply.sh", *ALL))
    sb.clear_calls()
    line = status(run(sb, "host-endpoints-remove.sh"))
    assert line.startswith(f"changed (put back {TIMESYNCD} ")
    assert text(sb, UBUNTU_SOURCES) == DISTRO_SOURCES and text(sb, SOURCES_LIST) is not None
    assert (text(sb, MOTD_NEWS) or "").startswith("ENABLED=1\n")
    assert sb.files(TIMESYNCD, APT, STATE) == {TIMESYNCD: None, APT: None, STATE: None}
    assert sb.calls("systemctl enable") == [f"systemctl enable {u}" for u in PHONE_HOME]
    assert sb.calls("snap") == ["snap refresh --unhold"]
    assert status(run(sb, "host-endpoints-remove.sh")) == "unchanged"


def test_chrony_loses_its_pools_and_gets_them_back(sb: Sandbox) -> None:
    ubuntu(sb, time="chrony")
    assert status(run(sb, "host-endpoints-apply.sh", "--ntp=ntp.example.no")) == "changed (NTP: chrony asks ntp.example.no)"
    conf = text(sb, CHRONY_CONF) or ""
    assert "#sovereign-faas: pool ntp.ubuntu.com" in conf and "#sovereign-faas: server 0.example.org" in conf
    assert not [line for line in conf.splitlines() if line.startswith(("pool ", "server "))]
    assert (text(sb, CHRONY_SOURCES) or "").splitlines()[1:] == ["server ntp.example.no iburst"]
    assert status(run(sb, "host-endpoints-apply.sh", "--ntp=ntp.example.no")) == "unchanged"
    status(run(sb, "host-endpoints-remove.sh"))
    assert text(sb, CHRONY_CONF) == CHRONY and text(sb, CHRONY_SOURCES) is None


def test_an_unknown_distribution_is_told_what_was_not_done(sb: Sandbox) -> None:
    sb.write("/etc/os-release", DEBIAN)
    line = status(run(sb, "host-endpoints-apply.sh", *ALL))
    assert line.startswith("unchanged; not done: NTP: neither systemd-timesyncd nor chrony runs here")
    assert f"apt mirror: only Ubuntu's archive layout (one archive for every pocket) is known, this is 'debian'; point its package sources at {MIRROR} yourself" in line
    assert "phone-home: only Ubuntu's services are known, this is 'debian'; nothing was turned off" in line
    assert sb.files(APT, TIMESYNCD) == {APT: None, TIMESYNCD: None}
    assert sb.calls("systemctl disable") == [] and sb.calls("snap") == []


@pytest.mark.parametrize(("args", "message"), [
    ((), "nothing to do"), (("--apt=ftp://x",), "unknown argument '--apt=ftp://x'"),
    (("--ntp=a;reboot",), "--ntp must be host names or addresses"), (("--phone-home=on",), "unknown argument"),
])
def test_bad_arguments_change_nothing(sb: Sandbox, args: tuple[str, ...], message: str) -> None:
    ubuntu(sb)
    result = run(sb, "host-endpoints-apply.sh", *args)
    assert result.returncode != 0 and message in result.stderr
    assert text(sb, UBUNTU_SOURCES) == DISTRO_SOURCES and sb.files(APT)[APT] is None


def test_this_machine_was_not_touched() -> None:
    assert {path: os.path.lexists(path) for path in HOST_BEFORE} == HOST_BEFORE

"""DNS in the country (dnsResolvers): the setting, K3s' resolv-conf, the resolvers step run in
the sandbox (tests/sandbox.py: /etc is an overlay, systemctl a stand-in), the CoreDNS restart
the cluster registers, and the inventory's rows.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from render import egress
from render.k3s import RESOLV_CONF
from render.node.command import render_command
from settings.errors import ConfigError
from tests.conftest import settings_for, stack
from tests.sandbox import Result, Sandbox, open_sandbox
from tools.harness import StackRun, run_stack, unwrap

DROPIN = "/etc/systemd/resolved.conf.d/90-sovereign-faas.conf"
RESOLVED_UNIT = "/etc/systemd/system/systemd-resolved.service"
HOST_BEFORE = {path: os.path.lexists(path) for path in (RESOLV_CONF, DROPIN)}
TWO = ["198.51.100.53", "2001:db8::53"]
NODES = [{"name": "a", "host": "198.51.100.1", "role": "server"}, {"name": "b", "host": "198.51.100.2"}]


def problems(**overrides: object) -> str:
    with pytest.raises(ConfigError) as caught:
        settings_for(stack(**overrides))
    return str(caught.value)


def test_bad_resolvers_are_named() -> None:
    assert "sovereign-faas:dnsResolvers: expected at most 3 resolvers" in problems(dnsResolvers=[f"198.51.100.{i}" for i in range(4)])
    assert "sovereign-faas:dnsResolvers[0]: expected an IP address" in problems(dnsResolvers=["dns.example.no"])
    assert "'--resolv-conf' is managed by the stack (use dnsResolvers" in problems(k3sExtraFlags=["--resolv-conf=/etc/x"])


@pytest.fixture(scope="module")
def two_nodes() -> StackRun:
    return run_stack("dns", stack(nodes=NODES, dnsResolvers=TWO, firewall=False))


def k3s_config(run: StackRun, node: str) -> dict[str, Any]:
    return yaml.safe_load(unwrap(run.get(f"{node}-k3s-config").inputs["stdin"]))


def test_every_node_hands_the_kubelet_our_resolv_conf(two_nodes: StackRun) -> None:
    assert k3s_config(two_nodes, "a")["resolv-conf"] == RESOLV_CONF
    assert k3s_config(two_nodes, "b")["resolv-conf"] == RESOLV_CONF  # an agent too: it runs CoreDNS pods as well
    step = two_nodes.get("b-resolvers")
    assert step.inputs["create"].endswith("resolvers-apply.sh 198.51.100.53 2001:db8::53")
    assert "b-resolvers" in two_nodes.get("b-kubelet-config").options["dependsOn"]  # before K3s


def test_coredns_is_restarted_once_every_node_has_them(two_nodes: StackRun) -> None:
    restart = two_nodes.get("a-coredns-resolvers")
    assert "coredns-restart.sh" in restart.inputs["create"]
    assert set(restart.inputs["triggers"]) >= set(TWO)
    assert restart.options["dependsOn"] == ["b-uncordon"]  # the last node's last step


def test_without_resolvers_nothing_changes() -> None:
    run = run_stack("nodns", stack())
    assert "resolv-conf" not in k3s_config(run, "oslo-1")
    assert not [r.name for r in run.resources if r.name.endswith(("-resolvers", "-coredns-resolvers"))]
    off = run_stack("nocoredns", stack(dnsResolvers=TWO, k3sDisable=["traefik", "coredns"]))
    assert not [r.name for r in off.resources if r.name.endswith("-coredns-resolvers")]


def test_the_inventory_lists_the_resolvers_and_their_absence() -> None:
    declared = [e for e in egress.inventory(settings_for(stack(dnsResolvers=TWO))) if e.phase == egress.HOST and e.port == 53]
    assert [(e.host, e.port, e.allowed) for e in declared] == [("198.51.100.53", 53, True), ("2001:db8::53", 53, True)]
    (missing,) = [e for e in egress.inventory(settings_for(stack())) if e.phase == egress.HOST and e.port == 53]
    assert (missing.port, missing.in_country, missing.fix) == (53, False, "dnsResolvers")
    assert "CoreDNS" in missing.who[0]


# --- the scripts, in the sandbox ------------------------------------------------------------


@pytest.fixture
def sb(tmp_path: Path) -> Sandbox:
    return open_sandbox(tmp_path)


def run(sb: Sandbox, script: str, *args: str) -> Result:
    return sb.run(render_command(script, args))


def status(result: Result) -> str:
    assert result.returncode == 0, result
    return result.last_line.split(": ", 2)[2]


def with_resolved(sb: Sandbox) -> None:
    sb.write(RESOLVED_UNIT, "[Service]\nExecStart=/lib/systemd/systemd-resolved\n")
    sb.set_state("active/systemd-resolved")


def test_apply_points_k3s_and_resolved_at_them_then_changes_nothing(sb: Sandbox) -> None:
    with_resolved(sb)
    assert status(run(sb, "resolvers-apply.sh", *TWO)).startswith(f"changed (wrote {RESOLV_CONF} {DROPIN} (systemd-resolved restarted)")
    files = sb.files(RESOLV_CONF, DROPIN)
    k3s, dropin = files[RESOLV_CONF], files[DROPIN]
    assert k3s is not None and k3s.mode == 0o644 and k3s.data is not None
    assert k3s.data.decode().splitlines()[-2:] == ["nameserver 198.51.100.53", "nameserver 2001:db8::53"]
    assert dropin is not None and dropin.data is not None
    assert dropin.data.decode().splitlines()[1:] == ["[Resolve]", "DNS=198.51.100.53 2001:db8::53", "Domains=~."]
    assert sb.calls("systemctl restart") == ["systemctl restart systemd-resolved"]
    sb.clear_calls()
    assert status(run(sb, "resolvers-apply.sh", *TWO)) == "unchanged"
    assert sb.calls("systemctl restart") == []
    assert status(run(sb, "resolvers-apply.sh", "198.51.100.54")).startswith("changed")
    assert b"nameserver 198.51.100.54\n" in (sb.read(RESOLV_CONF) or b"")


def test_without_resolved_the_node_is_left_alone_and_said_so(sb: Sandbox) -> None:
    line = status(run(sb, "resolvers-apply.sh", TWO[0]))
    assert line == (f"changed (wrote {RESOLV_CONF}; systemd-resolved is not running: the node's own /etc/resolv.conf "
                    "was left as it is, point it at 198.51.100.53 yourself)")
    assert sb.files(DROPIN)[DROPIN] is None and sb.calls("systemctl restart") == []


@pytest.mark.parametrize(("args", "message"), [((), "usage: resolvers-apply.sh IP"), (("a", "b", "c", "d"), "one to three"),
                                               (("8.8.8.8;reboot",), "not an IP address: '8.8.8.8;reboot'")])
def test_bad_arguments_change_nothing(sb: Sandbox, args: tuple[str, ...], message: str) -> None:
    result = run(sb, "resolvers-apply.sh", *args)
    assert result.returncode != 0 and message in result.stderr
    assert sb.files(RESOLV_CONF)[RESOLV_CONF] is None


def test_remove_takes_both_back(sb: Sandbox) -> None:
    with_resolved(sb)
    status(run(sb, "resolvers-apply.sh", *TWO))
    sb.clear_calls()
    assert status(run(sb, "resolvers-remove.sh")) == f"changed (removed {RESOLV_CONF} {DROPIN})"
    assert sb.files(RESOLV_CONF, DROPIN) == {RESOLV_CONF: None, DROPIN: None}
    assert sb.calls("systemctl restart") == ["systemctl restart systemd-resolved"]
    assert status(run(sb, "resolvers-remove.sh")) == "unchanged"


def test_this_machine_was_not_touched() -> None:
    assert {path: os.path.lexists(path) for path in HOST_BEFORE} == HOST_BEFORE

"""The host firewall: its settings, the ruleset it renders, and the scripts run for real.

The scripts run in the file-system sandbox (tests/sandbox.py) inside a network namespace of
their own (`ip netns add`), so the real `nft` loads real rules into the kernel, but only into
that namespace: this machine's own ruleset never changes (test_scripts.py checks it last).
The traffic test joins that namespace to a second one by a veth pair and connects from an
admin address, another node's address and an outsider's, with every wait bounded.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from render.node import firewall
from render.node.command import render_command
from settings import stack as s
from tests.conftest import stack
from tests.sandbox import Result, Sandbox, open_sandbox
from tools.harness import ProgramError, StackRun, run_stack

FILE = firewall.RULES_FILE
UNIT = "/etc/systemd/system/sovereign-faas-firewall.service"
NODES = [
    {"name": "n1", "host": "203.0.113.11", "privateAddress": "10.20.0.11"},
    {"name": "n2", "host": "203.0.113.12", "privateAddress": "10.20.0.12", "port": 2222},
    {"name": "n3", "host": "203.0.113.13", "privateAddress": "10.20.0.13"},
]


def load(**overrides: object) -> s.Settings:
    raw = {k: v if isinstance(v, str) else json.dumps(v) for k, v in stack(**overrides).items() if k != "sshPrivateKey"}
    return s.from_config({**raw, "sshPrivateKey": "k"}, {"sshPrivateKey"}, "t", secret=lambda v: v, env={})


def rules_for(settings: s.Settings, name: str) -> str:
    node = next(n for n in settings.nodes if n.name == name)
    config = settings
    embedded, ports = config.mirrors.embedded_registry, settings.public_ports
    return firewall.ruleset(node, settings.nodes, config.firewall, config.k3s, embedded_registry=embedded, public_ports=ports)


def problems(**overrides: object) -> str:
    with pytest.raises(s.ConfigError) as caught:
        load(**overrides)
    return str(caught.value)


# --- settings -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"adminCidrs": []}, "sovereign-faas:adminCidrs: required while the host firewall is on"),
        ({"adminCidrs": "192.0.2.0/24"}, "sovereign-faas:adminCidrs: expected a list, got '192.0.2.0/24'"),
        ({"adminCidrs": ["office"]}, "sovereign-faas:adminCidrs[0]: expected a CIDR such as '198.51.100.0/24' or '2001:db8::/32', got 'office'"),
        ({"adminCidrs": ["192.0.2.7/24"]}, "sovereign-faas:adminCidrs[0]: expected a CIDR with no host bits set, got '192.0.2.7/24'; did you mean '192.0.2.0/24'?"),
        ({"adminCidrs": ["0.0.0.0/0"]}, "sovereign-faas:adminCidrs: 0.0.0.0/0 or ::/0 opens SSH and the Kubernetes API to the whole internet"),
        ({"adminCidrs": ["::/0"]}, "set allowSshFromAnywhere: true to say you mean it"),
        ({"firewall": "yes"}, "sovereign-faas:firewall: expected true or false, got 'yes'"),
        ({"nodes": [{"name": "a", "host": "a.example"}, {"name": "b", "host": "198.51.100.2"}]}, "sovereign-faas:nodes[0].host: 'a.example' is a name; with the firewall on"),
        ({"firewal": False}, "did you mean 'firewall'"),
    ],
)
def test_bad_input_is_named(overrides: dict[str, object], message: str) -> None:
    assert message in problems(**overrides)


def test_the_acknowledgement_flag_admits_anywhere_and_off_needs_no_ranges() -> None:
    assert load(adminCidrs=["0.0.0.0/0"], allowSshFromAnywhere=True).firewall.admin_cidrs == ("0.0.0.0/0",)
    off = load(adminCidrs=[], firewall=False).firewall
    assert (off.enabled, off.admin_cidrs) == (False, ())
    # A name is fine on one node (no peers to admit) and with the firewall off.
    assert load(nodes=[{"name": "a", "host": "a.example"}]).nodes[0].host == "a.example"
    load(firewall=False, nodes=[{"name": "a", "host": "a.example"}, {"name": "b", "host": "b.example"}])


# --- the ruleset ----------------------------------------------------------------------------


def test_single_node_admits_admins_pods_and_the_gateway_and_no_peers() -> None:
    text = rules_for(load(), "oslo-1")
    assert "set admin_v4 { type ipv4_addr; flags interval; elements = { 192.0.2.0/24 } }" in text
    assert "ip saddr @admin_v4 tcp dport { 22, 6443 } accept" in text
    assert "tcp dport 8080 accept  # public: the gateway" in text
    assert "policy drop;" in text and "nodes_v4" not in text and "8472" not in text and "10250" not in text


def test_three_nodes_admit_each_other_on_the_cluster_ports_only() -> None:
    settings = load(nodes=NODES)
    text = rules_for(settings, "n2")
    assert "elements = { 10.20.0.11, 10.20.0.13, 203.0.113.11, 203.0.113.13 }" in text  # not itself
    assert "ip saddr @nodes_v4 tcp dport { 6443, 10250 } accept" in text  # one server: no etcd
    assert "ip saddr @nodes_v4 udp dport 8472 accept" in text
    assert "tcp dport { 2222, 6443 }" in text  # n2's own SSH port
    ha = load(nodes=[dict(n, role="server") for n in NODES], k3sExtraFlags=["--flannel-backend=wireguard-native"])
    text = rules_for(ha, "n1")
    assert "tcp dport { 6443, 10250, 2379, 2380 } accept" in text
    assert "udp dport { 51820, 51821 } accept" in text and "8472" not in text


def test_pod_and_service_networks_follow_the_k3s_flags_and_ipv6() -> None:
    settings = load(
        adminCidrs=["192.0.2.0/24", "2001:db8::/32"],
        k3sExtraFlags=["--cluster-cidr=10.52.0.0/16,2001:db8:42::/56", "--service-cidr=10.53.0.0/16,2001:db8:43::/112"],
    )
    text = rules_for(settings, "oslo-1")
    assert "set cluster_v4 { type ipv4_addr; flags interval; elements = { 10.52.0.0/16, 10.53.0.0/16 } }" in text
    assert "set cluster_v6 { type ipv6_addr; flags interval; elements = { 2001:db8:42::/56, 2001:db8:43::/112 } }" in text
    assert "ip6 saddr @admin_v6 tcp dport { 22, 6443 } accept" in text
    assert 'iifname { "cni0", "flannel-v6.1", "flannel-wg", "flannel-wg-v6", "flannel.1" } ip6 saddr @cluster_v6 accept' in text


def test_node_port_gateway_is_the_public_port() -> None:
    assert load(gatewayServiceType="NodePort", gatewayNodePort=31500).public_ports == (31500,)


def test_the_step_runs_before_k3s_and_only_when_on(oslo: StackRun) -> None:
    step = oslo.get("oslo-1-firewall")
    assert "oslo-1-host-tuning" in step.options["dependsOn"]  # which runs after sysctl
    # K3s' config comes after the kubelet drop-in, which waits for the firewall.
    assert "oslo-1-firewall" in oslo.get("oslo-1-kubelet-config").options["dependsOn"]
    assert "oslo-1-kubelet-config" in oslo.get("oslo-1-k3s-config").options["dependsOn"]
    assert step.inputs["stdin"] == rules_for(load(), "oslo-1")
    assert step.inputs["create"].endswith(f"firewall-apply.sh {FILE} \"${{SSH_CONNECTION%% *}}\"")
    off = run_stack("no-firewall", stack(firewall=False))
    assert [r.name for r in off.children("oslo-1") if r.name.endswith("-firewall")] == []
    assert "oslo-1-host-tuning" in off.get("oslo-1-kubelet-config").options["dependsOn"]


def test_the_program_refuses_before_registering_anything() -> None:
    with pytest.raises(ProgramError) as caught:
        run_stack("oslo", stack(adminCidrs=["0.0.0.0/0"]))
    assert "adminCidrs" in str(caught.value) and caught.value.registered == ()


# --- the scripts, for real, in a network namespace -----------------------------------------

_names = itertools.count()


def _ip(*args: str, netns: str | None = None) -> None:
    prefix = ["ip", "netns", "exec", netns] if netns else []
    subprocess.run([*prefix, "ip", *args], check=True, capture_output=True, timeout=10)


@pytest.fixture
def netns() -> Iterator[str]:
    if os.geteuid() != 0 or shutil.which("nft") is None or shutil.which("ip") is None:
        pytest.skip("needs root, nft (nftables) and ip (iproute2); .ci/run installs them")
    name = f"sf-test-{os.getpid()}-{next(_names)}"
    _ip("netns", "add", name)
    try:
        _ip("link", "set", "lo", "up", netns=name)
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], capture_output=True, timeout=10)


@pytest.fixture
def sb(tmp_path: Path, netns: str) -> Sandbox:
    return open_sandbox(tmp_path, netns)


def apply(sb: Sandbox, rules: str, client: str = "") -> Result:
    command = render_command("firewall-apply.sh", (FILE,))
    return sb.run(f"{command} {client}" if client else command, stdin=rules, timeout=60)


def remove(sb: Sandbox) -> Result:
    return sb.run(render_command("firewall-remove.sh", (FILE,)), timeout=60)


def live(sb: Sandbox) -> str:
    result = sb.run("nft list ruleset", timeout=30)
    assert result.returncode == 0, result
    return result.stdout


def status(result: Result) -> str:
    assert result.returncode == 0, result
    return result.last_line.split(": ", 2)[2]


@pytest.mark.parametrize("size", [1, 3])
def test_apply_loads_the_rules_then_changes_nothing(sb: Sandbox, size: int) -> None:
    settings = load(nodes=NODES[:size]) if size > 1 else load()
    rules = rules_for(settings, settings.nodes[0].name)
    assert status(apply(sb, rules)).startswith("changed (loaded table inet sovereign_faas")
    loaded = live(sb)
    print(f"--- the kernel's view of the rules for {size} node(s) ---\n{loaded}")  # pytest -s shows it
    assert "policy drop" in loaded and "@admin_v4" in loaded
    assert ("@nodes_v4" in loaded) is (size > 1)
    files = sb.files(FILE, UNIT)
    assert files[FILE] is not None and files[FILE].data == rules.encode() and files[FILE].mode == 0o644
    assert files[UNIT] is not None and b"ExecStart=" in (files[UNIT].data or b"") and FILE.encode() in (files[UNIT].data or b"")
    assert sb.calls("systemctl") == ["systemctl daemon-reload", "systemctl enable sovereign-faas-firewall.service"]
    sb.clear_calls()
    assert status(apply(sb, rules)) == "unchanged"
    assert live(sb) == loaded and sb.calls("systemctl") == []


def test_drift_is_repaired_and_a_change_replaces(sb: Sandbox) -> None:
    rules = rules_for(load(), "oslo-1")
    status(apply(sb, rules))
    sb.run("nft delete table inet sovereign_faas")
    assert status(apply(sb, rules)).startswith("changed (loaded")
    other = rules_for(load(adminCidrs=["192.0.2.0/24", "198.51.100.0/24"]), "oslo-1")
    assert status(apply(sb, other)).startswith("changed (replaced")
    assert "198.51.100.0/24" in live(sb)


def test_a_broken_ruleset_changes_nothing(sb: Sandbox) -> None:
    rules = rules_for(load(), "oslo-1")
    status(apply(sb, rules))
    before = live(sb)
    result = apply(sb, rules.replace("policy drop;", "policy maybe;"))
    assert result.returncode != 0 and "nft refused the ruleset" in result.stderr
    assert live(sb) == before
    assert sb.files(FILE)[FILE].data == rules.encode()  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("flush ruleset\n", "may not use 'ruleset'"),
        ("include \"/etc/nftables.conf\"\n", "may not use 'include'"),
        ("delete table ip filter\n", "may only replace table inet sovereign_faas, got the statement 'delete table ip filter'"),
        ("add rule ip filter INPUT accept\n", "got the statement 'add rule ip filter INPUT accept'"),
    ],
)
def test_a_ruleset_reaching_beyond_our_table_is_refused(sb: Sandbox, extra: str, message: str) -> None:
    sb.run("nft add table ip filter")
    result = apply(sb, rules_for(load(), "oslo-1") + extra)
    assert result.returncode != 0 and message in result.stderr, result
    assert "table ip filter" in live(sb) and "sovereign_faas" not in live(sb)


def test_a_ruleset_that_locks_the_operator_out_is_rolled_back(sb: Sandbox) -> None:
    rules = rules_for(load(), "oslo-1")
    assert status(apply(sb, rules, client="192.0.2.55")).startswith("changed")
    before = live(sb)
    elsewhere = rules_for(load(adminCidrs=["198.51.100.0/24"]), "oslo-1")
    result = apply(sb, elsewhere, client="192.0.2.55")
    assert result.returncode != 0
    assert "this SSH session comes from 192.0.2.55, which adminCidrs does not include" in result.stderr
    assert "the previous firewall is back in place" in result.stderr
    assert live(sb) == before and sb.files(FILE)[FILE].data == rules.encode()  # type: ignore[union-attr]


def test_first_apply_locking_out_leaves_no_table(sb: Sandbox) -> None:
    result = apply(sb, rules_for(load(), "oslo-1"), client="2001:db8::5")  # no IPv6 admin range
    assert result.returncode != 0 and "2001:db8::5" in result.stderr
    assert "sovereign_faas" not in live(sb) and sb.files(FILE)[FILE] is None


def test_remove_deletes_only_our_table(sb: Sandbox) -> None:
    status(apply(sb, rules_for(load(), "oslo-1")))
    sb.run("nft add table inet someone_else && nft add chain inet someone_else c")
    sb.clear_calls()
    assert status(remove(sb)).startswith("changed (removed table inet sovereign_faas")
    after = live(sb)
    assert "someone_else" in after and "sovereign_faas" not in after
    assert sb.files(FILE, UNIT) == {FILE: None, UNIT: None}
    assert sb.calls("systemctl") == ["systemctl disable sovereign-faas-firewall.service", "systemctl daemon-reload"]
    assert status(remove(sb)) == "unchanged"


def test_an_active_ufw_is_refused(sb: Sandbox) -> None:
    ufw = sb.bin / "ufw"
    ufw.write_text("#!/bin/sh\necho 'Status: active'\n")
    ufw.chmod(0o755)
    result = apply(sb, rules_for(load(), "oslo-1"))
    assert result.returncode != 0 and "ufw is active on this node" in result.stderr
    assert "sovereign_faas" not in live(sb)


# The traffic test: node n1 (in `netns`) with the firewall, a peer namespace for everyone else.
# who -> (their address, the node's address they connect to), per family. The admin ranges are
# 192.0.2.0/24 and 2001:db8:a::/48; n2 (the other node) is 10.20.0.12 and fd20::12.
ROUTES = {
    "v4": {"admin": ("192.0.2.20", "192.0.2.10"), "node": ("10.20.0.12", "10.20.0.11"), "outsider": ("198.51.100.20", "198.51.100.10")},
    "v6": {"admin": ("2001:db8:a::20", "2001:db8:a::10"), "node": ("fd20::12", "fd20::11"), "outsider": ("2001:db8:b::20", "2001:db8:b::10")},
}
LISTEN_PORTS = (22, 6443, 10250, 8080, 9999)
_LISTENER = """
import socket, sys, threading, time
def serve(port):
    s = socket.socket(socket.AF_INET6); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)  # IPv4 too
    s.bind(("::", port)); s.listen()
    while True:
        c, _ = s.accept(); c.close()
for p in sys.argv[1:]:
    threading.Thread(target=serve, args=(int(p),), daemon=True).start()
print("ready", flush=True)
time.sleep(120)  # bounded: the test kills it long before
"""
_CONNECT = """
import socket, sys
src, dst, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = socket.socket(socket.AF_INET6 if ":" in src else socket.AF_INET); s.settimeout(1.0); s.bind((src, 0))
try:
    s.connect((dst, port)); print("open")
except OSError:
    print("dropped")
"""


def _with_prefix(address: str) -> str:
    return f"{address}/64" if ":" in address else f"{address}/24"


@pytest.fixture
def wired(netns: str) -> Iterator[str]:
    """A peer namespace joined to `netns` by a veth pair; yields the peer's name."""
    peer = f"{netns}-peer"
    _ip("netns", "add", peer)
    try:
        _ip("link", "add", "fw0", "netns", netns, "type", "veth", "peer", "name", "fw1", "netns", peer)
        for ns, dev, side in ((netns, "fw0", 1), (peer, "fw1", 0)):
            for routes in ROUTES.values():
                for pair in routes.values():
                    # nodad: usable at once, no duplicate-address-detection wait
                    _ip("addr", "add", _with_prefix(pair[side]), "dev", dev, *(["nodad"] if ":" in pair[side] else []), netns=ns)
            _ip("link", "set", dev, "up", netns=ns)
            _ip("link", "set", "lo", "up", netns=ns)
        yield peer
    finally:
        subprocess.run(["ip", "netns", "delete", peer], capture_output=True, timeout=10)


@pytest.mark.parametrize("family", ["v4", "v6"])
def test_traffic_admin_node_and_outsider(tmp_path: Path, netns: str, wired: str, family: str) -> None:
    """Real connections through the loaded rules; IPv6 also needs neighbour discovery to pass."""
    n2 = dict(NODES[1], host="fd20::12")
    settings = load(nodes=[NODES[0], n2], adminCidrs=["192.0.2.0/24", "2001:db8:a::/48"])
    sb = open_sandbox(tmp_path, netns)
    status(apply(sb, rules_for(settings, "n1")))
    listener = subprocess.Popen(
        ["ip", "netns", "exec", netns, sys.executable, "-c", _LISTENER, *map(str, LISTEN_PORTS)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert listener.stdout is not None and listener.stdout.readline().strip() == "ready"

        def reach(src: str, dst: str, port: int) -> str:
            argv = ["ip", "netns", "exec", wired, sys.executable, "-c", _CONNECT, src, dst, str(port)]
            return subprocess.run(argv, capture_output=True, text=True, timeout=10, check=True).stdout.strip()

        seen = {(who, port): reach(src, dst, port) for who, (src, dst) in ROUTES[family].items() for port in LISTEN_PORTS}
    finally:
        listener.kill()
        listener.wait(timeout=10)
    assert seen == {
        ("admin", 22): "open", ("admin", 6443): "open", ("admin", 10250): "dropped", ("admin", 8080): "open", ("admin", 9999): "dropped",
        ("node", 22): "dropped", ("node", 6443): "open", ("node", 10250): "open", ("node", 8080): "open", ("node", 9999): "dropped",
        ("outsider", 22): "dropped", ("outsider", 6443): "dropped", ("outsider", 10250): "dropped", ("outsider", 8080): "open", ("outsider", 9999): "dropped",
    }

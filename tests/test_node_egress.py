"""The nodes' own outbound traffic (nodeEgress: restricted): its settings, the output chain it
renders, and the chain run for real.

The traffic tests build three network namespaces: a "node" (the sandboxed firewall-apply.sh
loads the real rules into it), a "mirror" (a declared in-country destination and resolver) and
an "outside" host (anything else; the admin's SSH client lives there too). Each is joined to
the node by its own veth pair. Every wait is bounded; this machine's own ruleset never changes.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from components.cluster import ClusterArgs
from render.node import firewall
from render.node.command import render_command
from settings import stack as s
from tests.conftest import settings_for, stack
from tests.sandbox import Result, Sandbox, open_sandbox
from tests.test_firewall import FILE, NODES, _ip, live, load, netns, status  # noqa: F401 (netns: a fixture)
from tools.harness import run_stack

MIRROR, RESOLVER, OUTSIDE, ADMIN = "198.51.100.5", "198.51.100.53", "203.0.113.99", "192.0.2.20"
NODE_SIDE = {"mirror": ("198.51.100.1/24",), "outside": ("203.0.113.1/24", "192.0.2.10/24")}
FAR_SIDE = {"mirror": (f"{MIRROR}/24", f"{RESOLVER}/24"), "outside": (f"{OUTSIDE}/24", f"{ADMIN}/24")}
RESTRICTED = {
    "nodeEgress": "restricted",
    "dnsResolvers": [RESOLVER],
    "nodeEgressAllow": [{"cidr": f"{MIRROR}/32", "ports": [8443], "why": "mirror.example.no"}],
}


def egress_rules(settings: s.Settings, name: str) -> str:
    node = next(n for n in settings.nodes if n.name == name)
    egress = firewall.node_egress(settings.host, settings.mirrors, settings.backups)
    return firewall.ruleset(node, settings.nodes, settings.firewall, settings.k3s, embedded_registry=False,
                            public_ports=settings.public_ports, egress=egress)


SECRETS = ("sshPrivateKey", "openfaasLicense", "etcdS3Credentials")


def problems(**overrides: object) -> str:
    with pytest.raises(s.ConfigError) as caught:
        settings_for(stack(**overrides), SECRETS)
    return str(caught.value)


# --- settings -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"nodeEgress": "closed"}, "sovereign-faas:nodeEgress: expected 'open' or 'restricted', got 'closed'"),
        ({"nodeEgress": "restricted", "firewall": False, "adminCidrs": []}, "sovereign-faas:nodeEgress: 'restricted' needs the host firewall"),
        ({"nodeEgressAllow": [{"cidr": "198.51.100.7/24"}]}, "sovereign-faas:nodeEgressAllow[0].cidr: expected a CIDR with no host bits set"),
        ({"nodeEgressAllow": [{"cidr": "198.51.100.0/24", "protocol": "icmp"}]}, "sovereign-faas:nodeEgressAllow[0].protocol: expected 'tcp' or 'udp'"),
        ({"nodeEgressAllow": [{"cidr": "198.51.100.0/24", "why": "x\naccept"}]}, "sovereign-faas:nodeEgressAllow[0].why: expected up to 80 letters"),
        ({"dnsResolvers": ["dns.example.no"]}, "sovereign-faas:dnsResolvers[0]: expected an IP address"),
        ({"sovereignStrict": True, "openfaasEdition": "pro", "openfaasLicense": {"secure": "l"}}, "sovereign-faas:nodeEgress: sovereignStrict needs 'restricted'"),
        ({"sovereignStrict": True, "openfaasEdition": "pro", "openfaasLicense": {"secure": "l"}, "nodeEgress": "restricted"}, "sovereign-faas:dnsResolvers: sovereignStrict needs"),
    ],
)
def test_bad_input_is_named(overrides: dict[str, object], message: str) -> None:
    assert message in problems(**overrides)


# --- the ruleset ----------------------------------------------------------------------------


def test_open_adds_no_output_chain() -> None:
    assert "chain output" not in egress_rules(load(), "oslo-1")


def test_restricted_admits_loopback_cluster_nodes_admins_resolvers_and_the_declared() -> None:
    settings = load(nodes=NODES, **RESTRICTED)
    text = egress_rules(settings, "n2")
    output = text[text.index("chain output"):]
    assert "policy drop;" in output and 'oif "lo" accept' in output and "ct state established,related accept" in output
    assert "ip daddr @cluster_v4 accept" in output and "ip daddr @nodes_v4 accept" in output
    assert "ip daddr @admin_v4 tcp sport { 2222, 6443 } accept  # replies to SSH and API sessions" in output  # n2's SSH port
    assert f"ip daddr {RESOLVER}/32 meta l4proto {{ tcp, udp }} th dport 53 accept  # DNS: dnsResolvers" in output
    assert f"ip daddr {MIRROR}/32 meta l4proto tcp th dport 8443 accept  # mirror.example.no" in output
    assert output.rstrip().endswith("counter name egress_dropped reject with icmpx type admin-prohibited\n\t}\n}")
    assert "counter egress_dropped {" in text


def test_ip_literal_mirrors_and_s3_are_admitted_and_names_are_not() -> None:
    settings = settings_for(stack(
        nodeEgress="restricted",
        registryMirrors={"*": ["https://198.51.100.40:5000", "https://registry.example.no"]},
        k3sMirror="https://[2001:db8::40]/k3s",
        etcdS3Bucket="snapshots",
        etcdS3Endpoint="198.51.100.41:9000",
        etcdS3Credentials={"accessKey": {"secure": "a"}, "secretKey": {"secure": "b"}},
    ), SECRETS)
    output = egress_rules(settings, "oslo-1").split("chain output")[1]
    assert "ip daddr 198.51.100.40/32 meta l4proto tcp th dport 5000 accept  # registryMirrors" in output
    assert "ip6 daddr 2001:db8::40/128 meta l4proto tcp th dport 443 accept  # k3sMirror" in output
    assert "ip daddr 198.51.100.41/32 meta l4proto tcp th dport 9000 accept  # etcdS3Endpoint" in output
    assert "registry.example.no" not in output  # a name: only through nodeEgressAllow


def test_the_step_checks_the_api_server_from_every_node_but_the_first() -> None:
    settings = load(nodes=NODES, **RESTRICTED)
    facts = {n.name: ClusterArgs.of(settings).node_facts(n) for n in settings.nodes}
    assert facts["n1"].api_check == () and facts["n2"].api_check == ("--api=10.20.0.11:6443",)
    assert facts["n2"].firewall is not None and "chain output" in facts["n2"].firewall


def test_the_program_registers_the_output_policy() -> None:
    run = run_stack("restricted", stack(**RESTRICTED))
    step = run.get("oslo-1-firewall")
    assert "chain output" in step.inputs["stdin"] and "counter name egress_dropped reject" in step.inputs["stdin"]


# --- for real, in three network namespaces ----------------------------------------------------


@pytest.fixture
def world(netns: str) -> Iterator[dict[str, str]]:  # noqa: F811 (the imported fixture)
    """The "mirror" and "outside" namespaces, each joined to the node (`netns`) by a veth pair."""
    names = {"node": netns, "mirror": f"{netns}-mir", "outside": f"{netns}-out"}
    made: list[str] = []
    try:
        for i, peer in enumerate(("mirror", "outside")):
            _ip("netns", "add", names[peer])
            made.append(names[peer])
            _ip("link", "add", f"eg{i}", "netns", netns, "type", "veth", "peer", "name", "eth0", "netns", names[peer])
            for address in NODE_SIDE[peer]:
                _ip("addr", "add", address, "dev", f"eg{i}", netns=netns)
            for address in FAR_SIDE[peer]:
                _ip("addr", "add", address, "dev", "eth0", netns=names[peer])
            for ns, dev in ((netns, f"eg{i}"), (names[peer], "eth0"), (names[peer], "lo")):
                _ip("link", "set", dev, "up", netns=ns)
        yield names
    finally:
        for name in made:
            subprocess.run(["ip", "netns", "delete", name], capture_output=True, timeout=10)


# Echoes every line on every connection to each port: the far ends, and the node's "SSH".
_SERVER = """
import socket, sys, threading, time
def echo(c):
    with c:
        while data := c.recv(100):
            c.sendall(data)
def serve(port):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port)); s.listen()
    while True:
        threading.Thread(target=echo, args=(s.accept()[0],), daemon=True).start()
for p in sys.argv[1:]:
    threading.Thread(target=serve, args=(int(p),), daemon=True).start()
print("ready", flush=True)
time.sleep(120)  # bounded: the test kills it long before
"""
# How the node's connection to (address, port, protocol) fares: open, refused, blocked (EPERM:
# the output chain dropped it) or silent. UDP: whether the datagram could be sent at all.
_REACH = """
import errno, socket, sys
dst, port, proto = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.socket(type=socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM); s.settimeout(1.0)
try:
    s.connect((dst, port)) if proto == "tcp" else s.sendto(b"q", (dst, port)); print("open")
except (PermissionError, OSError) as exc:
    if isinstance(exc, PermissionError) or exc.errno == errno.EHOSTUNREACH:
        print("blocked")
    elif isinstance(exc, ConnectionRefusedError):
        print("refused")
    else:
        print("silent")
"""
# The SSH-like session: connects from the admin's address, then echoes a line per stdin line.
_SESSION = """
import socket, sys
s = socket.create_connection((sys.argv[1], 22), timeout=3, source_address=(sys.argv[2], 0))
print("connected", flush=True)
for line in sys.stdin:
    try:
        s.sendall(line.encode()); print(s.recv(100).decode().strip() or "closed", flush=True)
    except OSError as exc:
        print(f"lost {exc}", flush=True)
"""


def _start(ns: str, code: str, *args: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", code, *args],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    return proc


def _line(proc: subprocess.Popen[str], timeout: float = 5) -> str:
    """One line of `proc`'s output, bounded."""
    assert proc.stdout is not None
    import selectors
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            raise AssertionError(f"no output from {proc.args[-1]!r} within {timeout}s")
    return proc.stdout.readline().strip()


def reach(ns: str, dst: str, port: int, proto: str = "tcp") -> str:
    argv = ["ip", "netns", "exec", ns, sys.executable, "-c", _REACH, dst, str(port), proto]
    return subprocess.run(argv, capture_output=True, text=True, timeout=10, check=True).stdout.strip()


def dropped(sb: Sandbox) -> int:
    result = sb.run(f"nft list counter inet {firewall.TABLE} {firewall.DROP_COUNTER}", timeout=30)
    assert result.returncode == 0, result
    match = re.search(r"packets (\d+)", result.stdout)
    assert match, result.stdout
    return int(match.group(1))


def apply(sb: Sandbox, rules: str, *args: str) -> Result:
    command = render_command("firewall-apply.sh", (FILE, *args))
    return sb.run(command, stdin=rules, timeout=90)


@pytest.fixture
def servers(world: dict[str, str]) -> Iterator[None]:
    procs = [_start(world["mirror"], _SERVER, "8443", "9999"), _start(world["outside"], _SERVER, "8443", "6443"),
             _start(world["node"], _SERVER, "22")]
    try:
        for proc in procs:
            assert _line(proc) == "ready"
        yield
    finally:
        for proc in procs:
            proc.kill()
            proc.wait(timeout=10)


def test_mirror_reachable_outside_not_session_kept_drops_counted(tmp_path: Path, world: dict[str, str], servers: None) -> None:
    node = world["node"]
    sb = open_sandbox(tmp_path, node)
    before = {dst: reach(node, *dst) for dst in ((MIRROR, 8443), (MIRROR, 9999), (OUTSIDE, 8443))}
    assert set(before.values()) == {"open"}  # no table yet: everything answers
    session = _start(world["outside"], _SESSION, "192.0.2.10", ADMIN)
    try:
        assert _line(session) == "connected"
        rules = egress_rules(load(**RESTRICTED), "oslo-1")
        assert status(apply(sb, rules, ADMIN)).startswith("changed (loaded")
        print(f"--- the kernel's view ---\n{live(sb)}")  # pytest -s shows it
        assert dropped(sb) == 0
        seen = {
            "mirror 8443": reach(node, MIRROR, 8443),
            "mirror 9999": reach(node, MIRROR, 9999),
            "outside 8443": reach(node, OUTSIDE, 8443),
            "resolver udp 53": reach(node, RESOLVER, 53, "udp"),
            "mirror udp 53": reach(node, MIRROR, 53, "udp"),
            "loopback": reach(node, "127.0.0.1", 22),
        }
        assert seen == {"mirror 8443": "open", "mirror 9999": "blocked", "outside 8443": "blocked",
                        "resolver udp 53": "open", "mirror udp 53": "blocked", "loopback": "open"}
        assert session.stdin is not None
        session.stdin.write("still here\n")
        session.stdin.flush()
        assert _line(session) == "still here"  # the established session, through both chains
    finally:
        session.kill()
        session.wait(timeout=10)
    assert dropped(sb) >= 3  # one SYN per blocked TCP try, one datagram per blocked UDP one


def test_a_policy_that_shuts_out_the_api_server_is_rolled_back(tmp_path: Path, world: dict[str, str], servers: None) -> None:
    sb = open_sandbox(tmp_path, world["node"])
    plain = egress_rules(load(), "oslo-1")  # the input chain only
    assert status(apply(sb, plain)).startswith("changed (loaded")
    before = live(sb)
    restricted = egress_rules(load(**RESTRICTED), "oslo-1")
    start = time.monotonic()
    result = apply(sb, restricted, f"--api={OUTSIDE}:6443")
    assert result.returncode != 0, result
    assert f"the new output policy refuses this node's connection to the API server {OUTSIDE}:6443" in result.stderr
    assert "the previous firewall is back in place" in result.stderr
    assert live(sb) == before and sb.files(FILE)[FILE].data == plain.encode()  # type: ignore[union-attr]
    assert time.monotonic() - start < 30
    # An API server the policy admits: loaded, and said so.
    assert "the API server 198.51.100.5:8443: open" in status(apply(sb, restricted, f"--api={MIRROR}:8443"))
    assert "chain output" in live(sb)


def test_an_api_server_silent_before_is_reported_not_held_against_the_ruleset(tmp_path: Path, world: dict[str, str]) -> None:
    sb = open_sandbox(tmp_path, world["node"])
    # 198.51.100.77 is on the mirror's network but nobody has it: ARP goes unanswered.
    line = status(apply(sb, egress_rules(load(**{**RESTRICTED, "nodeEgressAllow": [{"cidr": "198.51.100.77/32"}]}), "oslo-1"), "--api=198.51.100.77:6443"))
    assert line.endswith("the API server 198.51.100.77:6443: silent (it did not answer before either))")


def test_bad_api_argument_is_refused(tmp_path: Path, netns: str) -> None:  # noqa: F811
    sb = open_sandbox(tmp_path, netns)
    result = apply(sb, egress_rules(load(), "oslo-1"), "--api=nowhere")
    assert result.returncode != 0 and "--api must be HOST:PORT or [IPv6]:PORT, got 'nowhere'" in result.stderr

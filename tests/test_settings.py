"""The config layer (settings/): typed, validated before anything is registered, one message
naming the file, the key, what was expected and what was given; no input ends in a traceback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from settings import versions
from settings.errors import ConfigError
from settings.k3s import K3sSettings
from settings.stack import KNOWN_KEYS, from_config
from tests.conftest import settings_for, stack
from tools import plan
from tools.harness import ProgramError, run_stack, stack_config

SSH_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nTEST\n-----END OPENSSH PRIVATE KEY-----\n"


def error(config: dict[str, Any], **kw: Any) -> str:
    with pytest.raises(ConfigError) as caught:
        settings_for(config, **kw)
    return str(caught.value)


# --- what a valid stack gives ----------------------------------------------------------------


def test_minimal_stack_gets_the_defaults() -> None:
    got = settings_for(stack())
    (node,) = got.nodes
    assert (node.name, node.host, node.role, node.user, node.port) == ("oslo-1", "203.0.113.10", "server", "root", 22)
    assert (got.k3s.version, got.k3s.disable, got.k3s.snapshotter) == (versions.K3S, ("traefik",), "overlayfs")
    assert dict(got.kernel.sysctl)["vm.overcommit_memory"] == "1"
    assert got.warnings == ("no domain set: the gateway is served over plain HTTP on port 8080, so its admin password "
                            "crosses the network unencrypted; set domain and acmeEmail for HTTPS",
                            "no alert receiver configured (alertEmailTo or alertWebhookUrls): Alertmanager keeps the alerts but "
                            "sends them nowhere; docs/operations/alerts.md#receivers")


def test_first_node_is_server_and_the_rest_are_agents_by_default() -> None:
    nodes = [{"name": f"n{i}", "host": f"198.51.100.{i}"} for i in range(1, 4)]
    assert [n.role for n in settings_for(stack(nodes=nodes)).nodes] == ["server", "agent", "agent"]


def test_sysctl_merges_over_defaults_and_normalises_whitespace() -> None:
    got = dict(settings_for(stack(sysctl={"vm.swappiness": 10, "net.ipv4.tcp_rmem": "4096   87380 6291456"})).kernel.sysctl)
    assert (got["vm.swappiness"], got["net.ipv4.tcp_rmem"], got["kernel.panic"]) == ("10", "4096 87380 6291456", "10")


def test_extra_flags_become_config_yaml_data() -> None:
    flags = ["--kube-apiserver-arg=audit-log-maxage=30", "--kube-apiserver-arg=a=b", "--flannel-backend=wireguard-native", "--protect-kernel-defaults"]
    assert settings_for(stack(k3sExtraFlags=flags)).k3s.extra_config == {
        "kube-apiserver-arg": ["audit-log-maxage=30", "a=b"],
        "flannel-backend": "wireguard-native",
        "protect-kernel-defaults": True,
    }


def test_kubernetes_version_follows_the_k3s_pin() -> None:
    assert K3sSettings(version="v1.35.5+k3s1").kubernetes_version == "1.35.5"


def test_values_as_pulumi_config_set_stores_them() -> None:
    """Top-level scalars reach the program as text: "300", "true"."""
    got = settings_for(stack(k3sReadyTimeout="600", firewall="true", functionsNonRoot="false"))
    assert (got.k3s.ready_timeout, got.firewall.enabled, got.functions.non_root) == (600, True, False)


@pytest.mark.parametrize("size", ["5e9", "5E9", "1.5Gi", "5368709120", "0.5Ti"])
def test_kubernetes_quantities_with_exponents_are_valid(size: str) -> None:
    assert settings_for(stack(natsStorage=size)).nats.storage == size


def test_hosts_are_kept_in_canonical_form() -> None:
    got = settings_for(stack(nodes=[{"name": "a", "host": "2001:DB8:0:0::1"}, {"name": "b", "host": "Node-2.Example.NO"}], firewall=False))
    assert [n.host for n in got.nodes] == ["2001:db8::1", "node-2.example.no"]


# --- mistakes, each named -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (stack(nodes=[]), "sovereign-faas:nodes: expected a non-empty list of nodes, got []"),
        ({"sshPrivateKey": {"secure": "x"}, "adminCidrs": ["192.0.2.0/24"]}, "sovereign-faas:nodes: required: list of {name, host"),
        (stack(nodes=[{"name": "a", "host": ""}]), "sovereign-faas:nodes[0].host: expected an IP address or DNS name, got ''"),
        (stack(nodes=[{"name": "a", "host": "203.0.113.10:22"}]), "sovereign-faas:nodes[0].host: expected an IP address or DNS name, got '203.0.113.10:22'"),
        (stack(nodes=[{"name": "a", "host": "999.1.1.1"}]), "sovereign-faas:nodes[0].host: expected an IP address or DNS name, got '999.1.1.1'"),
        (stack(nodes=[{"name": "a", "host": "h.example", "port": 70000}]), "sovereign-faas:nodes[0].port: expected an integer from 1 to 65535, got 70000"),
        (stack(nodes=[{"name": "a", "host": "h.example", "port": 0}]), "sovereign-faas:nodes[0].port: expected an integer from 1 to 65535, got 0"),
        (stack(nodes=[{"name": "a", "host": "h.example", "port": "ssh"}]), "sovereign-faas:nodes[0].port: expected an integer from 1 to 65535, got 'ssh'"),
        (stack(nodes=[{"name": "a", "host": "h.example", "port": 22.5}]), "sovereign-faas:nodes[0].port: expected an integer from 1 to 65535, got 22.5"),
        (
            stack(nodes=[{"name": "a", "host": "198.51.100.1"}, {"name": "a", "host": "198.51.100.2"}]),
            "sovereign-faas:nodes[1].name: duplicate node name 'a' (also nodes[0])",
        ),
        (stack(nodes=[{"name": "Oslo_1", "host": "h.example"}]), "sovereign-faas:nodes[0].name: expected a DNS-1123 label"),
        (stack(nodes="oslo-1"), "sovereign-faas:nodes: expected a list, got 'oslo-1'"),
        (stack(nodes=["oslo-1"]), "sovereign-faas:nodes[0]: expected a map of keys to values, got 'oslo-1'"),
        (stack(nodes={"name": "a"}), "sovereign-faas:nodes: expected a list, got {'name': 'a'}"),
        (stack(nodes=[{"host": "h.example"}]), "sovereign-faas:nodes[0].name: required: the node's name in the cluster"),
        (stack(k3sVersion="1.36.4"), "sovereign-faas:k3sVersion: expected a K3s release like 'v1.36.4+k3s1' (v1.<minor>.<patch>+k3s<n>), got '1.36.4'"),
        (stack(k3sVersion="v1.36.4-k3s1"), "sovereign-faas:k3sVersion: expected a K3s release like"),
        (stack(sysctl={"somaxconn": 1024}), "sovereign-faas:sysctl.somaxconn: expected a sysctl key shaped like 'a.b.c' (e.g. net.core.somaxconn), got 'somaxconn'"),
        (stack(sysctl={"vm.swappiness": [10]}), "sovereign-faas:sysctl.vm.swappiness: expected a scalar value (a number or a string like '4096 87380 6291456'), got [10]"),
        (stack(sysctl={"vm.swappiness": {"value": 10}}), "sovereign-faas:sysctl.vm.swappiness: expected a scalar value"),
        (stack(sysctl={"vm.swappiness": True}), "sovereign-faas:sysctl.vm.swappiness: expected a scalar value"),
        (stack(sysctl=["vm.swappiness=10"]), "sovereign-faas:sysctl: expected a map of keys to values, got ['vm.swappiness=10']"),
        (stack(sysctl="vm.swappiness=10"), "sovereign-faas:sysctl: expected a map of keys to values, got 'vm.swappiness=10'"),
        (stack(nodse=[]), "sovereign-faas:nodse: unknown key; did you mean 'nodes'?"),
        (stack(k3sVersoin="v1.36.4+k3s1"), "sovereign-faas:k3sVersoin: unknown key; did you mean 'k3sVersion'?"),
        (stack(nodes=[{"name": "a", "hots": "h.example"}]), "sovereign-faas:nodes[0].hots: unknown key; did you mean 'host'?"),
        (
            stack(nodes=[{"name": "a", "host": "198.51.100.1", "role": "agent"}, {"name": "b", "host": "198.51.100.2"}]),
            "sovereign-faas:nodes[0].role: the first node must be a server: it bootstraps the cluster (an agent-only cluster has no control plane)",
        ),
        (stack(nodes=[{"name": "a", "host": "h.example", "role": "master"}]), "sovereign-faas:nodes[0].role: expected 'server' or 'agent', got 'master'"),
        (stack(nodes=[{"name": "a", "host": "h.example", "privateAddress": "10.0.0"}]), "sovereign-faas:nodes[0].privateAddress: expected an IP address"),
        (stack(k3sDisable=["treafik"]), "sovereign-faas:k3sDisable[0]: expected a K3s packaged component, got 'treafik'; did you mean 'traefik'?"),
        (stack(k3sDisable="traefik"), "sovereign-faas:k3sDisable: expected a list, got 'traefik'"),
        (stack(k3sSnapshotter="zfs"), "sovereign-faas:k3sSnapshotter: expected 'overlayfs' or 'stargz'"),
        (stack(k3sExtraFlags=["kube-apiserver-arg=x"]), "sovereign-faas:k3sExtraFlags[0]: expected a K3s flag like"),
        (stack(k3sExtraFlags=["--token=abc"]), "sovereign-faas:k3sExtraFlags[0]: '--token' is managed by the stack (the stack generates the cluster token)"),
        (stack(k3sReadyTimeout=5), "sovereign-faas:k3sReadyTimeout: expected an integer from 30 to 3600, got 5"),
        (stack(k3sReadyTimeout="9" * 300), "sovereign-faas:k3sReadyTimeout: expected an integer from 30 to 3600, got '99999"),
        ({"nodes": [{"name": "a", "host": "h.example"}], "adminCidrs": ["192.0.2.0/24"]}, "sovereign-faas:sshPrivateKey: required: the SSH private key"),
        # K3s flags whose values the stack reads itself
        (stack(k3sExtraFlags=["--cluster-cidr=banana"]), "sovereign-faas:k3sExtraFlags[0]: expected CIDRs such as '10.42.0.0/16'"),
        (stack(k3sExtraFlags=["--service-cidr=10.43.0.0/40"]), "sovereign-faas:k3sExtraFlags[0]: expected CIDRs such as '10.42.0.0/16'"),
        (stack(k3sExtraFlags=["--cluster-cidr"]), "sovereign-faas:k3sExtraFlags[0]: expected a value: '--cluster-cidr=...'"),
        (stack(k3sExtraFlags=["--cluster-cidr=10.42.0.0/16,10.52.0.0/16"]), "sovereign-faas:k3sExtraFlags[0]: expected at most one CIDR per address family"),
        (stack(k3sExtraFlags=["--flannel-backend=wireguard"]), "sovereign-faas:k3sExtraFlags[0]: expected a flannel backend (vxlan, host-gw, wireguard-native, none), got '--flannel-backend=wireguard'; did you mean 'wireguard-native'?"),
        # absurd sizes
        (stack(natsStorage="9" * 400 + "Gi"), "sovereign-faas:natsStorage: expected a size of at most 8Ei (2^63-1 bytes)"),
        (stack(redisMaxmemory="1e999999999"), "sovereign-faas:redisMaxmemory: expected a Kubernetes quantity"),
        # the same host spelled twice, one private address for two nodes
        (
            stack(nodes=[{"name": "a", "host": "2001:db8::1"}, {"name": "b", "host": "2001:DB8:0::1"}]),
            "sovereign-faas:nodes[1].host: duplicate node host '2001:db8::1' (also nodes[0])",
        ),
        (
            stack(nodes=[{"name": "a", "host": "198.51.100.1", "privateAddress": "10.0.0.1"}, {"name": "b", "host": "198.51.100.2", "privateAddress": "10.0.0.1"}]),
            "sovereign-faas:nodes[1].privateAddress: duplicate node privateAddress '10.0.0.1' (also nodes[0])",
        ),
        # names that would collide or take the system's
        (stack(domain="203.0.113.10", acmeEmail="ops@example.no"), "sovereign-faas:domain: expected a DNS name such as 'faas.example.no'"),
        (stack(openfaasFunctionNamespace="kube-system"), "sovereign-faas:openfaasFunctionNamespace: expected a namespace of the stack's own, not one of the system's"),
        (stack(dataNamespace="default"), "sovereign-faas:dataNamespace: expected a namespace of the stack's own"),
        (stack(dataNamespace="edge"), "sovereign-faas:dataNamespace: 'edge' is also the edge's namespace: each part of the stack needs a namespace of its own"),
        (stack(openfaasNamespace="cert-manager"), "sovereign-faas:openfaasNamespace: 'cert-manager' is also cert-manager's namespace"),
        (stack(dataNamespace="openfaas-fn"), "sovereign-faas:dataNamespace: 'openfaas-fn' is also openfaasFunctionNamespace"),
    ],
)
def test_bad_input_is_named_with_what_was_expected(config: dict[str, Any], expected: str) -> None:
    message = error(config)
    assert "in the stack config:\n  - Pulumi.oslo.yaml: " in message
    assert expected in message


def test_ssh_key_in_plaintext_is_refused_without_showing_it() -> None:
    message = error(stack(), secret_keys=())
    assert "sovereign-faas:sshPrivateKey: must be a secret" in message and "PRIVATE KEY" not in message


@pytest.mark.parametrize(
    ("config", "key"),
    [
        (stack(functionSecrets={"api-key": {"secure": ["hunter2-s3cr3t"]}}), "functionSecrets.api-key"),
        (stack(functionSecrets={"Bad_Name": {"secure": "hunter2-s3cr3t"}}), "functionSecrets.Bad_Name"),
    ],
)
def test_a_secret_of_the_wrong_shape_is_named_but_never_shown(config: dict[str, Any], key: str) -> None:
    message = error(config, secret_keys=("sshPrivateKey", "functionSecrets"))
    assert f"sovereign-faas:{key}:" in message
    assert "hunter2" not in message and "PRIVATE" not in message


def test_every_problem_is_reported_at_once() -> None:
    message = error(stack(nodes=[{"name": "a", "host": "", "port": 0}], k3sVersion="latest"))
    assert "3 problems" in message
    for key in ("nodes[0].host", "nodes[0].port", "k3sVersion"):
        assert f"sovereign-faas:{key}:" in message


def test_a_long_value_is_cut_in_the_message() -> None:
    message = error(stack(k3sVersion="x" * 5000))
    assert len(message) < 400 and "xxx..." in message


def test_even_server_count_warns() -> None:
    nodes = [{"name": f"n{i}", "host": f"198.51.100.{i}", "role": "server"} for i in (1, 2)]
    (warning,) = settings_for(stack(nodes=nodes, domain="faas.example.no", acmeEmail="ops@example.no", acmeServerCidrs=["203.0.113.53/32"],
                                    alertWebhookUrls=["https://198.51.100.77/a"])).warnings
    assert "2 servers" in warning and "use 1, 3 or 5 servers" in warning


def test_the_program_stops_cleanly_before_registering_anything() -> None:
    with pytest.raises(ProgramError) as caught:
        run_stack("oslo", stack(nodes=[{"name": "oslo-1", "host": "203.0.113.10", "port": 70000}]))
    assert "Pulumi.oslo.yaml" in str(caught.value) and "nodes[0].port" in str(caught.value)
    assert "Traceback" not in str(caught.value)
    assert caught.value.registered == ()


# --- the stack file itself, as `make plan` reads it ----------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (b"config:\n  sovereign-faas:nodes: [a\n", "Pulumi.t.yaml: not valid YAML (line 3, column 1)"),
        (b"config:\n\tsovereign-faas:firewall: false\n", "(a tab: YAML indents with spaces only)"),
        (b"config:\n  sovereign-faas:domain: a.no\n  sovereign-faas:domain: b.no\n", "key 'sovereign-faas:domain' is given twice (first on line 2)"),
        (b"config:\n  sovereign-faas:acmeEmail: \xe6@x.no\n", "Pulumi.t.yaml: not UTF-8 text (line 2"),
        (b"- config\n", "Pulumi.t.yaml: expected a map with a `config:` key, got list"),
        (b"config: nodes\n", "Pulumi.t.yaml: config: expected a map of `sovereign-faas:<key>: value`, got str"),
        (b"config:\n  1: x\n", "Pulumi.t.yaml: config: keys must be text"),
        (b"config:\n  sovereign-faas:k3sReadyTimeout: " + b"9" * 5000 + b"\n", "Pulumi.t.yaml: cannot be read"),
    ],
)
def test_a_broken_stack_file_is_named_with_the_line(tmp_path: Path, text: bytes, expected: str) -> None:
    path = tmp_path / "Pulumi.t.yaml"
    path.write_bytes(text)
    with pytest.raises(ProgramError) as caught:
        stack_config("t", path=path)
    assert expected in str(caught.value)


def test_make_plan_exits_2_with_one_message(capsys: pytest.CaptureFixture[str]) -> None:
    assert plan.main(["--stack", "oslo", "--set", "nodes=[a", "--out", "/nonexistent"]) == 2
    assert capsys.readouterr().err.startswith("plan failed: --set nodes: not valid YAML")
    assert plan.main(["--stack", "oslo", "--set", "natsStorage=5 GB", "--out", "/nonexistent"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("plan failed: 1 problem in the stack config:") and "--set natsStorage (make plan SET): " in err and "Traceback" not in err


def test_example_stack_file_commits_no_secret() -> None:
    from tools.harness import PROJECT_DIR

    text = (PROJECT_DIR / "Pulumi.oslo.yaml").read_text()
    assert "secure:" not in text and "PRIVATE KEY" not in text


# --- no input, however strange, ends in a traceback ----------------------------------------

_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**30), max_value=10**30), st.floats(allow_nan=True),
    st.text(max_size=30), st.sampled_from(["", "0", "-1", "1e400", "5Gi", "true", "::1", "10.0.0.0/8", "a" * 300, "{", "["]),
)
_JSON = st.recursive(_SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)), max_leaves=12)
_KEYS = st.sampled_from([*KNOWN_KEYS, "nodse", "", "k3sVersion ", "nodes[0]"])


def _raw(config: dict[str, Any]) -> dict[str, str]:
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(overrides=st.dictionaries(_KEYS, _JSON, max_size=4))
def test_any_values_for_any_keys_give_settings_or_a_named_problem(overrides: dict[str, Any]) -> None:
    config = {**_raw(stack()), "sshPrivateKey": SSH_KEY, **_raw(overrides)}
    try:
        from_config(config, {"sshPrivateKey", "openfaasLicense", "functionSecrets"}, "oslo", secret=lambda v: v, env={})
    except ConfigError as err:
        message = str(err)
        assert "in the stack config:\n  - " in message
        assert all(line.startswith("  - ") and ": " in line for line in message.splitlines()[1:])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(overrides=st.dictionaries(_KEYS, _JSON, max_size=3))
def test_the_program_under_the_engine_plans_or_stops_with_a_message(overrides: dict[str, Any]) -> None:
    """The same through `__main__.py` and the mock engine, as `make plan` runs it."""
    try:
        run_stack("oslo", {**stack(), **overrides})
    except ProgramError as err:
        assert "Traceback" not in str(err)


@settings(max_examples=150, deadline=None)
@given(text=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_any_stack_file_text_gives_config_or_a_message(tmp_path_factory: pytest.TempPathFactory, text: bytes) -> None:
    path = tmp_path_factory.mktemp("stack") / "Pulumi.t.yaml"
    path.write_bytes(text)
    try:
        stack_config("t", path=path)
    except ProgramError as err:
        assert str(err).startswith("Pulumi.t.yaml")


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("functionsFile", "x" * 300, "sovereign-faas:functionsFile: expected a file path (at most 4096 bytes, each name at most 255, no NUL)"),
        ("k3sAirgapDir", "/tmp/" + "y" * 300, "sovereign-faas:k3sAirgapDir: expected a file path"),
        ("k3sAirgapDir", "~nosuchuser-sovereign/assets", "sovereign-faas:k3sAirgapDir: expected a folder with the K3s release assets: no folder"),
    ],
)
def test_paths_the_system_cannot_look_up_are_named_not_crashed_on(key: str, value: str, expected: str) -> None:
    assert expected in error(stack(**{key: value}))


HOSTILE = ("[1, {a: 2}]", "", "{x: [1]}", "\x01", "9" * 400, "~nosuchuser/" + "z" * 300, "null", "-1e309", "[[[[[]]]]]", "{\"a\": {\"b\": null}}")
# The mirror, air-gap, ACME, backup and cron keys' typos (issue 21): ports out of range,
# credentials in URLs, plain http, the wildcard, what the node scripts refuse, upper-case OCI
# paths, IP bucket names, numbers where text belongs, and the same inside the keys' objects.
PASSWORD = "pa55w0rd-never-shown"
URLISH = (
    f"https://ci:{PASSWORD}@h.example.no", "https://h.example.no:99999", "https://h.example.no:0", "http://h.example.no/x",
    "oci://h.example.no:99999/Charts", "oci://h.example.no/Charts", "https://h.example.no/a;reboot", "https://h.example.no/../x", "*",
    "192.168.1.1", "faas..etcd", "h.example.no:99999", "srv/k3s", "kid\nx", "k" * 300, "12345", "true",
)
IN_OBJECTS = (
    json.dumps({"docker.io": [f"https://ci:{PASSWORD}@h.example.no:99999"]}), json.dumps({"*": []}), json.dumps({"h.example.no:99999": []}),
    json.dumps({f"ci:{PASSWORD}@h.example.no": ["https://h.example.no"]}), json.dumps({"openfaas": "oci://r.example.no:0/Up"}),
    json.dumps({"openfaas": f"https://ci:{PASSWORD}@charts.example.no"}), json.dumps({"h.example.no": {"username": 12345, "password": 678}}),
    json.dumps({"accessKey": 12345, "secretKey": True}), json.dumps(["--data-dir=srv/k3s", "--data-dir", "--data-dir=/"]),
    json.dumps([f"https://ci:{PASSWORD}@h.example.no"]),
)
SECRETS = {"sshPrivateKey", "openfaasLicense", "functionSecrets", "registryAuth", "etcdS3Credentials", "acmeEabHmacKey"}


@pytest.mark.parametrize("key", KNOWN_KEYS)
def test_every_key_takes_hostile_values_without_a_traceback(key: str) -> None:
    """Each key with values no one should write: settings (whose egress inventory can be
    drawn up) or a message naming that key, without the password of any URL in it."""
    from render import egress

    for value in (*HOSTILE, *URLISH, *IN_OBJECTS):
        config = {**_raw(stack()), "sshPrivateKey": SSH_KEY, key: value}
        try:
            settings = from_config(config, SECRETS, "oslo", secret=lambda v: v, env={})
        except ConfigError as err:
            # the key itself, or a rule between it and another key that names it
            assert key in str(err) or "functions/stack.yml" in str(err), (value, str(err))
            assert PASSWORD not in str(err), (value, str(err))
        else:
            egress.inventory(settings)  # where an out-of-range port used to raise

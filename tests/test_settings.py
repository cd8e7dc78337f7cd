"""The stack config: typed, validated before anything is registered, with clear messages."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from components import firewall, versions
from components import settings as s
from tests.conftest import stack
from tools.harness import PROJECT_DIR, ProgramError, run_stack


def load(config: dict[str, Any], secret_keys: tuple[str, ...] = ("sshPrivateKey",)) -> s.Settings:
    raw = {}
    for key, value in config.items():
        if isinstance(value, dict) and set(value) == {"secure"}:
            raw[key] = "-----BEGIN OPENSSH PRIVATE KEY-----"
        else:
            raw[key] = value if isinstance(value, str) else json.dumps(value)
    return s.from_config(raw, set(secret_keys), "oslo", secret=lambda v: v)


def error(config: dict[str, Any], **kw: Any) -> str:
    with pytest.raises(s.ConfigError) as caught:
        load(config, **kw)
    return str(caught.value)


def test_minimal_stack_gets_the_defaults() -> None:
    got = load(stack())
    assert got.nodes == (s.NodeSpec(name="oslo-1", host="203.0.113.10", role="server"),)
    assert got.k3s == s.K3sSettings(version=versions.K3S, disable=("traefik",), snapshotter="overlayfs")
    assert dict(got.sysctl)["vm.overcommit_memory"] == "1"
    assert dict(got.sysctl)["net.core.somaxconn"] == "65535"
    # No domain: the one warning is that the gateway's credentials travel unencrypted.
    assert got.warnings == ("no domain set: the gateway is served over plain HTTP on port 8080, so its admin password "
                            "crosses the network unencrypted; set domain and acmeEmail for HTTPS",)


def test_first_node_is_server_and_the_rest_are_agents_by_default() -> None:
    nodes = [{"name": f"n{i}", "host": f"198.51.100.{i}"} for i in range(1, 4)]
    assert [n.role for n in load(stack(nodes=nodes)).nodes] == ["server", "agent", "agent"]


def test_sysctl_merges_over_defaults_and_normalises_whitespace() -> None:
    got = dict(load(stack(sysctl={"vm.swappiness": 10, "net.ipv4.tcp_rmem": "4096   87380 6291456"})).sysctl)
    assert got["vm.swappiness"] == "10"
    assert got["net.ipv4.tcp_rmem"] == "4096 87380 6291456"
    assert got["kernel.panic"] == "10"


def test_extra_flags_become_config_yaml_data() -> None:
    k3s = load(stack(k3sExtraFlags=["--kube-apiserver-arg=audit-log-maxage=30", "--kube-apiserver-arg=a=b", "--flannel-backend=wireguard-native", "--disable-network-policy"])).k3s
    assert k3s.extra_config() == {
        "kube-apiserver-arg": ["audit-log-maxage=30", "a=b"],
        "flannel-backend": "wireguard-native",
        "disable-network-policy": True,
    }


def test_kubernetes_version_follows_the_k3s_pin() -> None:
    assert s.K3sSettings(version="v1.35.5+k3s1").kubernetes_version == "1.35.5"


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (stack(nodes=[]), "sovereign-faas:nodes: expected a non-empty list of nodes"),
        ({"sshPrivateKey": {"secure": "x"}}, "sovereign-faas:nodes: required: a list of nodes"),
        (stack(nodes=[{"name": "a", "host": ""}]), "sovereign-faas:nodes[0].host: required: the node's public IP address or DNS name, got ''"),
        (stack(nodes=[{"name": "a", "host": "203.0.113.10:22"}]), "sovereign-faas:nodes[0].host: expected an IP address or DNS name, got '203.0.113.10:22'"),
        (stack(nodes=[{"name": "a", "host": "999.1.1.1"}]), "sovereign-faas:nodes[0].host: expected an IP address or DNS name, got '999.1.1.1'"),
        (stack(nodes=[{"name": "a", "host": "h.example", "port": 70000}]), "sovereign-faas:nodes[0].port: expected an integer from 1 to 65535, got 70000"),
        (stack(nodes=[{"name": "a", "host": "h.example", "port": 0}]), "sovereign-faas:nodes[0].port: expected an integer from 1 to 65535, got 0"),
        (stack(nodes=[{"name": "a", "host": "h.example", "port": "ssh"}]), "sovereign-faas:nodes[0].port: expected an integer from 1 to 65535, got 'ssh'"),
        (
            stack(nodes=[{"name": "a", "host": "198.51.100.1"}, {"name": "a", "host": "198.51.100.2"}]),
            "sovereign-faas:nodes[1].name: duplicate node name 'a' (also nodes[0])",
        ),
        (stack(nodes=[{"name": "Oslo_1", "host": "h.example"}]), "sovereign-faas:nodes[0].name: expected a DNS-1123 label"),
        (stack(k3sVersion="1.36.4"), "sovereign-faas:k3sVersion: expected a K3s release like 'v1.36.4+k3s1' (v1.<minor>.<patch>+k3s<n>), got '1.36.4'"),
        (stack(k3sVersion="v1.36.4-k3s1"), "sovereign-faas:k3sVersion: expected a K3s release like"),
        (stack(sysctl={"somaxconn": 1024}), "sovereign-faas:sysctl.somaxconn: expected a sysctl key shaped like 'a.b.c' (e.g. net.core.somaxconn), got 'somaxconn'"),
        (stack(sysctl={"vm.swappiness": [10]}), "sovereign-faas:sysctl.vm.swappiness: expected a scalar value (a number or a string like '4096 87380 6291456'), got [10]"),
        (stack(sysctl={"vm.swappiness": {"value": 10}}), "sovereign-faas:sysctl.vm.swappiness: expected a scalar value"),
        (stack(sysctl={"vm.swappiness": True}), "sovereign-faas:sysctl.vm.swappiness: expected a scalar value"),
        (stack(sysctl=["vm.swappiness=10"]), "sovereign-faas:sysctl: expected a map of kernel settings"),
        (stack(nodse=[]), "sovereign-faas:nodse: unknown key; did you mean 'nodes'?"),
        (stack(k3sVersoin="v1.36.4+k3s1"), "sovereign-faas:k3sVersoin: unknown key; did you mean 'k3sVersion'?"),
        (stack(nodes=[{"name": "a", "hots": "h.example"}]), "sovereign-faas:nodes[0].hots: unknown key; did you mean 'host'?"),
        (
            stack(nodes=[{"name": "a", "host": "198.51.100.1", "role": "agent"}, {"name": "b", "host": "198.51.100.2"}]),
            "sovereign-faas:nodes[0].role: the first node must be a server: it bootstraps the cluster (an agent-only cluster has no control plane)",
        ),
        (stack(nodes=[{"name": "a", "host": "h.example", "role": "master"}]), "sovereign-faas:nodes[0].role: expected 'server' or 'agent', got 'master'"),
        (stack(nodes=[{"name": "a", "host": "h.example", "privateAddress": "10.0.0"}]), "sovereign-faas:nodes[0].privateAddress: expected an IP address"),
        (stack(k3sDisable=["treafik"]), "sovereign-faas:k3sDisable[0]: unknown K3s component 'treafik'; did you mean 'traefik'?"),
        (stack(k3sSnapshotter="zfs"), "sovereign-faas:k3sSnapshotter: expected 'overlayfs' or 'stargz'"),
        (stack(k3sExtraFlags=["kube-apiserver-arg=x"]), "sovereign-faas:k3sExtraFlags[0]: expected a K3s flag like"),
        (stack(k3sExtraFlags=["--token=abc"]), "sovereign-faas:k3sExtraFlags[0]: '--token' is managed by the stack (the stack generates the cluster token)"),
        (stack(k3sReadyTimeout=5), "sovereign-faas:k3sReadyTimeout: expected an integer from 30 to 3600, got 5"),
        ({"nodes": [{"name": "a", "host": "h.example"}]}, "sovereign-faas:sshPrivateKey: required: the SSH private key"),
    ],
)
def test_bad_input_is_named_with_what_was_expected(config: dict[str, Any], expected: str) -> None:
    message = error(config)
    assert message.startswith("Pulumi.oslo.yaml: ")
    assert expected in message


def test_ssh_key_in_plaintext_is_refused() -> None:
    assert "sovereign-faas:sshPrivateKey: must be a secret" in error(stack(), secret_keys=())


def test_every_problem_is_reported_at_once() -> None:
    message = error(stack(nodes=[{"name": "a", "host": "", "port": 0}], k3sVersion="latest"))
    assert "3 problems" in message
    for key in ("nodes[0].host", "nodes[0].port", "k3sVersion"):
        assert f"sovereign-faas:{key}:" in message


def test_even_server_count_warns() -> None:
    nodes = [{"name": f"n{i}", "host": f"198.51.100.{i}", "role": "server"} for i in (1, 2)]
    (warning,) = load(stack(nodes=nodes, domain="faas.example.no", acmeEmail="ops@example.no")).warnings
    assert "2 servers" in warning and "use 1, 3 or 5 servers" in warning


def test_the_program_stops_cleanly_before_registering_anything() -> None:
    with pytest.raises(ProgramError) as caught:
        run_stack("oslo", stack(nodes=[{"name": "oslo-1", "host": "203.0.113.10", "port": 70000}]))
    assert "Pulumi.oslo.yaml" in str(caught.value) and "nodes[0].port" in str(caught.value)
    assert "Traceback" not in str(caught.value)
    assert caught.value.registered == ()


def test_pulumi_yaml_declares_the_same_defaults_as_the_code() -> None:
    schema = yaml.safe_load((PROJECT_DIR / "Pulumi.yaml").read_text())["config"]
    base = s.K3sSettings()
    assert schema["k3sVersion"]["default"] == base.version == versions.K3S
    assert schema["k3sDisable"]["default"] == list(base.disable)
    assert schema["k3sSnapshotter"]["default"] == base.snapshotter
    assert schema["k3sExtraFlags"]["default"] == list(base.extra_flags)
    assert schema["k3sReadyTimeout"]["default"] == base.ready_timeout
    assert schema["sshPrivateKey"]["secret"] is True
    assert schema["openfaasLicense"]["secret"] is True and "default" not in schema["openfaasLicense"]
    openfaas = s.OpenFaaSSettings()
    for key, attr in (
        ("openfaasEdition", "edition"),
        ("openfaasNamespace", "namespace"),
        ("openfaasFunctionNamespace", "function_namespace"),
        ("gatewayServiceType", "service_type"),
        ("gatewayNodePort", "node_port"),
        ("gatewayReadTimeout", "read_timeout"),
        ("gatewayWriteTimeout", "write_timeout"),
        ("gatewayUpstreamTimeout", "upstream_timeout"),
        ("queueAckWait", "ack_wait"),
    ):
        assert schema[key]["default"] == getattr(openfaas, attr), key
    assert schema["dataNamespace"]["default"] == s.Settings.data_namespace
    fw = firewall.FirewallSettings()
    assert (schema["firewall"]["default"], schema["adminCidrs"]["default"]) == (fw.enabled, list(fw.admin_cidrs))
    assert schema["allowSshFromAnywhere"]["default"] is fw.allow_ssh_from_anywhere
    functions = s.FunctionSettings()
    assert schema["functionsFile"]["default"] == functions.file
    assert schema["functionsNonRoot"]["default"] is functions.non_root
    declared = set(schema) | {"nodes", "sysctl", "functionSecrets"}  # object keys the schema cannot type
    assert declared == set(s.KNOWN_KEYS)


def test_example_stack_file_commits_no_secret() -> None:
    text = (PROJECT_DIR / "Pulumi.oslo.yaml").read_text()
    assert "secure:" not in text and "PRIVATE KEY" not in text
    assert load(stack(**{k.split(":", 1)[1]: v for k, v in yaml.safe_load(text)["config"].items()})).nodes[0].host == "203.0.113.10"

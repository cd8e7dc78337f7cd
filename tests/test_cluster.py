"""The Cluster component: config.yaml as data, the kubeconfig, the Kubernetes provider."""

from __future__ import annotations

import pytest
import yaml

from render.k3s import ClusterK3s, api_url, k3s_config, public_kubeconfig
from tests.conftest import settings_for, stack
from tools.harness import K3S_KUBECONFIG, StackRun, is_secret, run_stack, unwrap


def test_server_config_yaml_is_exactly_this(oslo: StackRun) -> None:
    config = yaml.safe_load(unwrap(oslo.get("oslo-1-k3s-config").inputs["stdin"]))
    token = config.pop("token")
    assert len(token) == 48 and token.isalnum()
    assert config == {
        "cluster-init": True,  # embedded etcd with one server too: snapshots exist
        "etcd-snapshot-retention": 28,
        "etcd-snapshot-schedule-cron": "0 */6 * * *",
        "disable": ["traefik"],
        "etcd-expose-metrics": True,  # the monitoring stack's etcd job (monitoring: true by default)
        "kubelet-arg": ["allowed-unsafe-sysctls=net.core.somaxconn"],
        "node-name": "oslo-1",
        "secrets-encryption": True,
        "snapshotter": "overlayfs",
        "tls-san": ["203.0.113.10"],
        "write-kubeconfig-mode": "0600",
    }


def test_extra_flags_reach_servers_and_the_agent_ones_reach_agents() -> None:
    settings = settings_for(
        stack(
            nodes=[{"name": "s", "host": "198.51.100.1"}, {"name": "a", "host": "198.51.100.2"}],
            k3sExtraFlags=["--kubelet-arg=max-pods=200", "--kube-apiserver-arg=audit-log-maxage=30"],
        )
    )
    server, agent = (k3s_config(n, ClusterK3s.of(settings), "t0ken") for n in settings.nodes)
    assert server["kubelet-arg"] == ["allowed-unsafe-sysctls=net.core.somaxconn", "max-pods=200"]
    assert server["kube-apiserver-arg"] == ["audit-log-maxage=30"]
    assert agent["kubelet-arg"] == ["allowed-unsafe-sysctls=net.core.somaxconn", "max-pods=200"]
    assert "kube-apiserver-arg" not in agent and agent["server"] == "https://198.51.100.1:6443"


def test_kubeconfig_points_at_the_public_address() -> None:
    doc = yaml.safe_load(public_kubeconfig(K3S_KUBECONFIG, "203.0.113.10"))
    assert doc["clusters"][0]["cluster"]["server"] == "https://203.0.113.10:6443"
    assert doc["users"] == yaml.safe_load(K3S_KUBECONFIG)["users"]
    assert api_url("2001:db8::10") == "https://[2001:db8::10]:6443"
    with pytest.raises(ValueError, match="no clusters"):
        public_kubeconfig("apiVersion: v1\nkind: Config\n", "h")


def test_provider_uses_the_kubeconfig_and_the_output_is_secret(oslo: StackRun) -> None:
    provider = oslo.get("cluster-k8s")
    assert provider.type == "pulumi:providers:kubernetes"
    assert is_secret(provider.inputs["kubeconfig"])
    assert is_secret(oslo.outputs["kubeconfig"])
    kubeconfig = unwrap(oslo.outputs["kubeconfig"])
    assert unwrap(provider.inputs["kubeconfig"]) == kubeconfig
    assert yaml.safe_load(kubeconfig)["clusters"][0]["cluster"]["server"] == "https://203.0.113.10:6443"
    assert "oslo-1-kubeconfig" in provider.options["dependsOn"]


def test_components_are_parented_and_named_after_their_owner(oslo: StackRun) -> None:
    assert oslo.get("cluster").parent is None
    assert {r.name for r in oslo.children("cluster")} == {"cluster-token", "oslo-1", "cluster-k8s"}
    assert oslo.get("oslo-1").type == "sovereign-faas:index:Node"


def test_stack_outputs_list_nodes_and_version(oslo: StackRun) -> None:
    assert oslo.outputs["nodes"] == {"oslo-1": {"host": "203.0.113.10", "role": "server"}}
    assert oslo.outputs["k3sVersion"] == "v1.36.4+k3s1"


def test_ipv6_server_is_bracketed_for_joiners() -> None:
    run = run_stack("v6", stack(nodes=[{"name": "a", "host": "2001:db8::1"}, {"name": "b", "host": "2001:db8::2"}]))
    config = yaml.safe_load(unwrap(run.get("b-k3s-config").inputs["stdin"]))
    assert config["server"] == "https://[2001:db8::1]:6443"

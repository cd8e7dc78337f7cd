"""The Node component: its remote steps, their order, and where secrets may (not) go."""

from __future__ import annotations

import json

import yaml

from render.node.command import render_command
from render.node.steps import SYSCTL_FILE
from settings import versions
from tests.conftest import SSH_KEY
from tools.harness import StackRun, is_secret, masked, unwrap

STEPS = ("sysctl", "host-tuning", "firewall", "kubelet-config", "k3s-config", "k3s-install", "ready")


def commands(run: StackRun):
    return run.of_type("command:remote:Command")


def config_yaml(run: StackRun, node: str) -> dict:
    return yaml.safe_load(unwrap(run.get(f"{node}-k3s-config").inputs["stdin"]))


def test_steps_run_in_order_each_after_the_one_before(oslo: StackRun) -> None:
    names = [r.name for r in oslo.children("oslo-1")]
    assert names == [f"oslo-1-{s}" for s in STEPS] + ["oslo-1-kubeconfig"]
    for before, after in zip(names, names[1:], strict=False):
        assert before in oslo.get(after).options["dependsOn"], f"{after} must wait for {before}"


def test_every_connection_is_secret_and_carries_the_key(three_agents: StackRun) -> None:
    for cmd in commands(three_agents):
        assert is_secret(cmd.inputs["connection"]), cmd.name
        assert unwrap(cmd.inputs["connection"])["privateKey"] == SSH_KEY["secure"]


def test_no_secret_reaches_a_command_string_or_plain_input(three_agents: StackRun) -> None:
    token = config_yaml(three_agents, "bergen-1")["token"]
    kubeconfig = unwrap(three_agents.outputs["kubeconfig"])
    assert len(token) == 48
    plain = json.dumps([masked(r.inputs) for r in three_agents.resources]) + json.dumps(masked(three_agents.outputs))
    for secret in (token, "TEST-KEY-MATERIAL", "S0VZ"):  # S0VZ: the client key in the kubeconfig
        assert secret not in plain
    for cmd in commands(three_agents):
        for verb in ("create", "update", "delete"):
            text = cmd.inputs.get(verb) or ""
            assert not is_secret(text)
            assert token not in text and "PRIVATE KEY" not in text and kubeconfig not in text


def test_token_travels_on_stdin_as_a_secret(oslo: StackRun) -> None:
    stdin = oslo.get("oslo-1-k3s-config").inputs["stdin"]
    assert is_secret(stdin)
    assert set(config_yaml(oslo, "oslo-1")) >= {"token", "tls-san", "disable", "write-kubeconfig-mode"}


def test_sysctl_step_writes_one_file_with_the_settings(oslo: StackRun) -> None:
    step = oslo.get("oslo-1-sysctl")
    assert step.inputs["create"] == render_command("sysctl-apply.sh", (SYSCTL_FILE,))
    assert step.inputs["delete"] == render_command("sysctl-remove.sh", (SYSCTL_FILE,))
    lines = step.inputs["stdin"].splitlines()
    assert "vm.overcommit_memory = 1" in lines and "net.core.somaxconn = 65535" in lines


def test_install_is_pinned_deletes_before_replacing_and_uninstalls(oslo: StackRun) -> None:
    install = oslo.get("oslo-1-k3s-install")
    assert install.inputs["create"] == render_command("k3s-install.sh", (versions.K3S, "server"))
    assert install.inputs["delete"] == render_command("k3s-uninstall.sh")
    assert install.inputs["triggers"] == ["203.0.113.10", "server"]
    assert install.options["deleteBeforeReplace"] is True
    # The tuning steps too: their delete restores what their create saved on the same host.
    first = {"oslo-1-k3s-install", "oslo-1-host-tuning", "oslo-1-kubelet-config"}
    assert all(oslo.get(n).options["deleteBeforeReplace"] is True for n in first)
    others = [c for c in commands(oslo) if c.name not in first]
    assert all(c.options["deleteBeforeReplace"] is False for c in others)


def test_readiness_is_bounded_by_the_configured_timeout(oslo: StackRun) -> None:
    ready = oslo.get("oslo-1-ready")
    assert ready.inputs["create"] == render_command("k3s-ready.sh", ("oslo-1", "300", versions.K3S))
    assert versions.K3S in ready.inputs["triggers"]


def test_kubeconfig_read_is_a_secret_output_with_logging_off(oslo: StackRun) -> None:
    read = oslo.get("oslo-1-kubeconfig")
    assert "stdout" in read.options["additionalSecretOutputs"]
    others = [c for c in commands(oslo) if c.name != read.name]
    assert all("stdout" not in c.options["additionalSecretOutputs"] for c in others)
    assert read.inputs["logging"] == "none"
    assert read.inputs["create"] == render_command("k3s-kubeconfig.sh")


def test_agents_join_the_server_with_the_shared_token(three_agents: StackRun) -> None:
    server = config_yaml(three_agents, "bergen-1")
    for agent in ("bergen-2", "bergen-3"):
        config = config_yaml(three_agents, agent)
        assert config["server"] == "https://10.0.0.1:6443"
        assert config["token"] == server["token"]
        assert config["node-name"] == agent
        assert not {"disable", "tls-san", "cluster-init", "secrets-encryption"} & set(config)
        assert three_agents.get(f"{agent}-k3s-install").inputs["create"].endswith(f"k3s-install.sh {versions.K3S} agent")
        assert f"{agent}-drain" in three_agents.get(f"{agent}-k3s-install").options["dependsOn"]
    # One server: still embedded etcd (cluster-init), so that etcd snapshots exist.
    assert "server" not in server and server["cluster-init"] is True


def test_agent_readiness_is_asked_of_the_server(three_agents: StackRun) -> None:
    ready = three_agents.get("bergen-3-ready")
    assert unwrap(ready.inputs["connection"])["host"] == "198.51.100.1"
    assert ready.inputs["create"].endswith(f"k3s-ready.sh bergen-3 300 {versions.K3S}")


def test_a_sudoer_gets_sudo_and_its_own_port(three_agents: StackRun) -> None:
    for step in STEPS[:3]:
        cmd = three_agents.get(f"bergen-2-{step}")
        assert cmd.inputs["create"].startswith("sudo -n bash -c ")
        connection = unwrap(cmd.inputs["connection"])
        assert (connection["user"], connection["port"]) == ("ops", 2222)
    assert three_agents.get("bergen-1-sysctl").inputs["create"].startswith("bash -c ")


def test_ha_servers_join_one_at_a_time_behind_cluster_init(ha: StackRun) -> None:
    assert config_yaml(ha, "bergen-1")["cluster-init"] is True
    for node, before in (("bergen-2", "bergen-1"), ("bergen-3", "bergen-2")):
        config = config_yaml(ha, node)
        assert config["server"] == "https://10.0.0.1:6443" and "cluster-init" not in config
        assert config["tls-san"] == sorted({three_host(ha, node), config["node-ip"]})
        assert f"{before}-uncordon" in ha.get(f"{node}-drain").options["dependsOn"]


def three_host(run: StackRun, node: str) -> str:
    return unwrap(run.get(f"{node}-sysctl").inputs["connection"])["host"]

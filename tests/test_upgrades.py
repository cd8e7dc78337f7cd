"""Day two: rolling upgrades, removing a node, and a kubeconfig that stays valid.

What the program registers (the order of the steps, what refuses at preview, the provider's
identity), and the day-two scripts run in the sandbox (tests/sandbox.py), whose stand-in
`k3s kubectl` answers from state files: nodes, their versions, their pods, a drain that is
stuck on a PodDisruptionBudget.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from render.node.command import render_command
from settings import versions
from settings.upgrades import first_server_problem, history_problems, version_problem
from tests.conftest import THREE_NODES, stack
from tests.sandbox import Sandbox, open_sandbox
from tests.test_scripts import VERSION, install_server, ok, run
from tools import plan
from tools.harness import ProgramError, StackRun, is_secret, run_stack, unwrap

NEW = "v1.37.1+k3s1"


@pytest.fixture
def sb(tmp_path: Path) -> Sandbox:
    return open_sandbox(tmp_path)
UPGRADE = ("drain", "k3s-install", "ready", "uncordon")


def depends(run: StackRun, name: str) -> set[str]:
    """Every resource `name` waits for, directly or through others."""
    seen: set[str] = set()
    todo = list(run.get(name).options["dependsOn"])
    while todo:
        dep = todo.pop()
        if dep not in seen:
            seen.add(dep)
            try:
                todo += run.get(dep).options["dependsOn"]
            except KeyError:
                pass
    return seen


def script_line(command: str) -> str:
    return command.rsplit("\n", 1)[-1]


# --- the plan: order ------------------------------------------------------------------------


@pytest.mark.parametrize("fixture", ["three_agents", "ha"])
def test_upgrade_steps_form_one_chain_servers_then_agents(fixture: str, request: pytest.FixtureRequest) -> None:
    run: StackRun = request.getfixturevalue(fixture)
    chain = [f"{n}-{s}" for n in ("bergen-1", "bergen-2", "bergen-3") for s in UPGRADE]
    for before, after in zip(chain, chain[1:], strict=False):
        assert before in depends(run, after), f"{after} must wait for {before}"
    # And nothing of a later node runs before an earlier node is uncordoned.
    assert "bergen-1-uncordon" in depends(run, "bergen-2-node-object")


def test_drain_and_uncordon_run_on_the_first_server_with_the_version() -> None:
    run = run_stack("bergen", stack(nodes=THREE_NODES, k3sVersion=NEW, k3sDrainTimeout=120))
    drain, uncordon = run.get("bergen-3-drain"), run.get("bergen-3-uncordon")
    assert drain.inputs["create"] == render_command("k3s-drain.sh", ("bergen-3", "120", NEW))
    assert uncordon.inputs["create"] == render_command("k3s-uncordon.sh", ("bergen-3",))
    for step in (drain, uncordon):
        assert unwrap(step.inputs["connection"])["host"] == "198.51.100.1"
        assert NEW in step.inputs["triggers"] and "delete" not in step.inputs
    ready = run.get("bergen-3-ready")
    assert script_line(ready.inputs["create"]).endswith(f"k3s-ready.sh bergen-3 300 {NEW}")


def test_a_single_node_is_upgraded_in_place_and_cannot_be_removed(oslo: StackRun) -> None:
    names = {r.name for r in oslo.children("oslo-1")}
    assert not names & {"oslo-1-drain", "oslo-1-uncordon", "oslo-1-evict", "oslo-1-node-object"}


def test_removal_order_follows_from_the_dependencies(three_agents: StackRun) -> None:
    for node in ("bergen-2", "bergen-3"):
        evict, node_object = three_agents.get(f"{node}-evict"), three_agents.get(f"{node}-node-object")
        assert "create" not in evict.inputs and "create" not in node_object.inputs
        # Pulumi deletes dependents first: evict (depends on install), install, node-object.
        assert f"{node}-k3s-install" in evict.options["dependsOn"]
        assert f"{node}-node-object" in depends(three_agents, f"{node}-k3s-install")
        assert evict.inputs["delete"] == render_command("k3s-drain.sh", (node, "300"))
        assert node_object.inputs["delete"] == render_command("k3s-node-delete.sh", (node, "300"))
        for step in (evict, node_object):
            assert step.options["deleteBeforeReplace"] is True
            assert unwrap(step.inputs["connection"])["host"] == "198.51.100.1"
            assert versions.K3S not in step.inputs["triggers"]  # an upgrade does not remove
    assert not {"bergen-1-evict", "bergen-1-node-object"} & {r.name for r in three_agents.resources}


def test_make_plan_writes_the_day_two_order(tmp_path) -> None:
    assert plan.main(["--stack", "bergen", "--out", str(tmp_path / "b")]) == 0
    text = (tmp_path / "b" / "node" / "order.txt").read_text()
    upgrade, removal = text.split("# A node removed")
    steps = [line.split(":")[0] for line in upgrade.splitlines() if line and not line.startswith("#")]
    assert steps == [f"{n}-{s}" for n in ("bergen-1", "bergen-2", "bergen-3") for s in UPGRADE]
    assert "bergen-2-evict: k3s-drain.sh bergen-2 300\nbergen-2-k3s-install: k3s-uninstall.sh\n" \
        "bergen-2-node-object: k3s-node-delete.sh bergen-2 300\n" in removal
    assert (tmp_path / "b" / "node" / "bergen-2" / "bergen-2-evict.delete.sh").exists()


def test_make_plan_can_be_given_the_previous_deployment(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    assert plan.main(["--stack", "oslo", "--out", str(tmp_path / "o"), "--previous", "k3sVersion=v1.34.1+k3s1"]) == 2
    assert "skips a minor version" in capsys.readouterr().err
    assert plan.main(["--stack", "oslo", "--out", str(tmp_path / "o"), "--previous", "k3sVersion"]) == 2
    assert "--previous expects KEY=VALUE" in capsys.readouterr().err


# --- the plan: refused at preview -----------------------------------------------------------


def test_first_deploy_has_no_previous_outputs_and_exports_what_the_next_reads(oslo: StackRun) -> None:
    assert oslo.references == ["organization/sovereign-faas/oslo"]  # this very stack, read once
    assert oslo.outputs["k3sVersion"] == versions.K3S and oslo.outputs["firstServer"] == "oslo-1"


@pytest.mark.parametrize(("previous", "wanted", "refusal"), [
    ("v1.35.9+k3s1", "v1.37.1+k3s1", "skips a minor version"),
    ("v1.37.1+k3s1", "v1.36.4+k3s1", "older than the running"),
    ("v1.36.4+k3s2", "v1.36.4+k3s1", "older than the running"),
])
def test_a_skipped_minor_or_a_downgrade_is_refused_before_anything_registers(previous: str, wanted: str, refusal: str) -> None:
    with pytest.raises(ProgramError, match=refusal) as err:
        run_stack("oslo", stack(k3sVersion=wanted), previous={"k3sVersion": previous, "firstServer": "oslo-1"})
    assert err.value.registered == ()
    ack = "skip-minor" if "skips" in refusal else "downgrade"
    run = run_stack("oslo", stack(k3sVersion=wanted, k3sUpgradeAcknowledge=[ack]), previous={"k3sVersion": previous})
    assert run.outputs["k3sVersion"] == wanted


def test_one_minor_or_a_patch_ahead_passes() -> None:
    for previous in ("v1.36.1+k3s1", "v1.35.2+k3s1", versions.K3S):
        assert version_problem(previous, versions.K3S, ()) is None
    assert "upgrade to the newest v1.36 release first" in str(version_problem("v1.35.2+k3s1", NEW, ()))
    assert version_problem("", NEW, ()) is None  # a first deploy


def test_removing_or_moving_the_first_server_is_refused_with_the_way_out() -> None:
    nodes = [n for n in THREE_NODES if n["name"] != "bergen-1"]
    with pytest.raises(ProgramError, match="the first server 'bergen-1' \\(the bootstrap server\\) was removed from nodes") as err:
        run_stack("bergen", stack(nodes=[dict(nodes[0], role="server"), nodes[1]]), previous={"firstServer": "bergen-1"})
    assert "Put 'bergen-1' back first in nodes" in str(err.value) and err.value.registered == ()
    assert "moved from the front" in str(first_server_problem("a", "b", ("b", "a")))
    assert history_problems({"firstServer": "a", "k3sVersion": versions.K3S}, versions.K3S, (), "a", ("a", "b")) == []


def test_removing_an_agent_passes(three_agents: StackRun) -> None:
    run = run_stack("bergen", stack(nodes=THREE_NODES[:2]), previous={"firstServer": "bergen-1", "k3sVersion": versions.K3S})
    assert "bergen-3-k3s-install" not in {r.name for r in run.resources}


def test_acknowledgements_are_checked() -> None:
    with pytest.raises(ProgramError, match="k3sUpgradeAcknowledge"):
        run_stack("oslo", stack(k3sUpgradeAcknowledge=["skip-minors"]))


# --- the plan: a kubeconfig that stays valid ------------------------------------------------


def test_provider_has_a_stable_identity_and_a_secret_kubeconfig(three_agents: StackRun) -> None:
    provider = three_agents.get("cluster-k8s")
    assert provider.inputs["clusterIdentifier"] == "bergen/bergen-1"
    assert is_secret(provider.inputs["kubeconfig"])
    upgraded = run_stack("bergen", stack(nodes=THREE_NODES, k3sVersion=NEW))
    assert upgraded.get("cluster-k8s").inputs["clusterIdentifier"] == "bergen/bergen-1"


def test_kubeconfig_is_read_again_after_what_restarts_the_first_server(three_agents: StackRun) -> None:
    # Secret as a whole: one of them is derived from the config, which carries the token.
    assert is_secret(three_agents.get("bergen-1-kubeconfig").inputs["triggers"])
    triggers = unwrap(three_agents.get("bergen-1-kubeconfig").inputs["triggers"])
    assert triggers[:2] == ["198.51.100.1", versions.K3S]
    assert "KubeletConfiguration" in triggers[2]
    assert re.fullmatch(r"[0-9a-f]{64}", triggers[3])  # a digest of config.yaml, not its text
    token = unwrap(three_agents.get("bergen-1-k3s-config").inputs["stdin"]).split("token: ")[1].split()[0]
    assert token not in yaml.safe_dump(triggers)
    changed = run_stack("bergen", stack(nodes=THREE_NODES, k3sVersion=NEW, k3sExtraFlags=["--kube-apiserver-arg=audit-log-maxage=30"]))
    new = unwrap(changed.get("bergen-1-kubeconfig").inputs["triggers"])
    assert new[1] == NEW and new[3] != triggers[3]


# --- sandbox: drain, uncordon, node delete ---------------------------------------------------


def cluster(sb: Sandbox, nodes: dict[str, str], pods: dict[str, str] | None = None) -> None:
    """The first server, installed, answering for `nodes` (name -> kubelet version), all Ready."""
    install_server(sb)
    sb.set_state("readyz", "ok")
    for name, version in nodes.items():
        sb.set_state(f"nodes/{name}", "True")
        sb.set_state(f"node-versions/{name}", version)
    for name, lines in (pods or {}).items():
        sb.set_state(f"pods/{name}", lines)


PODS = "openfaas/gateway-7d9 ReplicaSet\nkube-system/svclb-x DaemonSet\ndata/redis-0 StatefulSet\n"


def test_drain_is_a_no_op_on_a_first_install_and_at_the_target_version(sb: Sandbox) -> None:
    cluster(sb, {"node-2": NEW})
    ok(run(sb, "k3s-drain.sh", "node-3", "30", NEW), "unchanged \\(node node-3 is not registered")
    ok(run(sb, "k3s-drain.sh", "node-2", "30", NEW), "unchanged \\(node node-2 already runs")
    assert sb.calls("k3s kubectl cordon") == sb.calls("k3s kubectl drain") == []


def test_upgrade_drain_then_uncordon_undoes_only_its_own_cordon(sb: Sandbox) -> None:
    cluster(sb, {"node-2": VERSION, "node-3": VERSION}, {"node-2": PODS})
    ok(run(sb, "k3s-drain.sh", "node-2", "30", NEW), "changed \\(cordoned and drained node node-2 for " + re.escape(NEW))
    assert (sb.state / "unschedulable" / "node-2").exists()
    assert (sb.state / "marks" / "node-2").read_text() == NEW
    assert (sb.state / "pods" / "node-2").read_text() == "kube-system/svclb-x DaemonSet\n"
    assert sb.calls("k3s kubectl drain") == ["k3s kubectl drain node-2 --ignore-daemonsets --delete-emptydir-data --timeout=30s"]
    ok(run(sb, "k3s-uncordon.sh", "node-2"), "changed")
    assert not (sb.state / "unschedulable" / "node-2").exists() and not (sb.state / "marks" / "node-2").exists()
    ok(run(sb, "k3s-uncordon.sh", "node-2"), "unchanged")
    # Someone else's cordon: drained for the upgrade, but left cordoned afterwards.
    sb.set_state("unschedulable/node-3")
    ok(run(sb, "k3s-drain.sh", "node-3", "30", NEW), "changed")
    ok(run(sb, "k3s-uncordon.sh", "node-3"), "unchanged")
    assert (sb.state / "unschedulable" / "node-3").exists()


def test_a_drain_that_times_out_names_the_node_and_the_pods(sb: Sandbox) -> None:
    cluster(sb, {"node-2": VERSION}, {"node-2": PODS})
    sb.set_state("drain-stuck/node-2", "data/redis-0")
    result = run(sb, "k3s-drain.sh", "node-2", "30", NEW)
    assert result.returncode == 1, result
    err = result.stderr.strip().splitlines()[-1]
    assert err.startswith("sovereign-faas: k3s-drain.sh: draining node node-2 failed after at most 30 s (exit 1); "
                          "pods that would not move: openfaas/gateway-7d9 data/redis-0; the node stays cordoned")
    assert "svclb" not in err and "context deadline exceeded" in err
    assert (sb.state / "unschedulable" / "node-2").exists()
    # Fixed (the budget allows it now): the next run drains and carries on.
    sb.clear_state("drain-stuck/node-2")
    ok(run(sb, "k3s-drain.sh", "node-2", "30", NEW), "changed")
    ok(run(sb, "k3s-uncordon.sh", "node-2"), "changed")


def test_a_node_that_does_not_come_back_at_the_new_version_times_out(sb: Sandbox) -> None:
    cluster(sb, {"node-2": VERSION})
    result = run(sb, "k3s-ready.sh", "node-2", "3", NEW, timeout=30)
    assert result.returncode == 1 and result.elapsed < 3 + 12, result
    assert (f"timed out after 3 s waiting for node node-2; last status: node node-2 Ready=True at {VERSION} "
            f"(waiting for {NEW})") in result.stderr
    sb.set_state("node-versions/node-2", NEW)
    result = run(sb, "k3s-ready.sh", "node-2", "30", NEW)
    assert result.returncode == 0 and f"node node-2 Ready at {NEW} after" in result.last_line, result


def test_a_rolling_upgrade_of_the_plan_runs_node_after_node(sb: Sandbox, three_agents: StackRun) -> None:
    """The plan's own commands, in the plan's order, against one first server answering for
    three nodes; the stand-in installer's part is played by setting each node's version."""
    names = ("bergen-1", "bergen-2", "bergen-3")
    upgraded = run_stack("bergen", stack(nodes=THREE_NODES, k3sVersion=NEW))
    cluster(sb, dict.fromkeys(names, VERSION), {n: PODS for n in names})
    sb.clear_calls()
    for node in names:
        ok(sb.run(upgraded.get(f"{node}-drain").inputs["create"]), "changed")
        sb.set_state(f"node-versions/{node}", NEW)  # k3s-install upgraded it
        result = sb.run(upgraded.get(f"{node}-ready").inputs["create"], timeout=30)
        assert result.returncode == 0, result
        ok(sb.run(upgraded.get(f"{node}-uncordon").inputs["create"]), "changed")
    verbs = [" ".join(c.split()[2:4]) for c in sb.calls("k3s kubectl") if c.split()[2] in ("cordon", "drain", "uncordon")]
    assert verbs == [f"{v} {n}" for n in names for v in ("cordon", "drain", "uncordon")]


def test_removal_drains_a_live_node_skips_a_dead_one_then_deletes_it(sb: Sandbox) -> None:
    cluster(sb, {"node-2": VERSION, "node-3": VERSION}, {"node-2": PODS})
    ok(run(sb, "k3s-drain.sh", "node-2", "30"), "changed \\(cordoned and drained node node-2; it")
    assert (sb.state / "marks" / "node-2").read_text() == "removal"
    sb.set_state("nodes/node-3", "Unknown")  # its machine is gone
    ok(run(sb, "k3s-drain.sh", "node-3", "30"), "unchanged \\(node node-3 is not Ready")
    for node in ("node-2", "node-3"):
        ok(run(sb, "k3s-node-delete.sh", node, "30"), f"changed \\(deleted node {node}")
        ok(run(sb, "k3s-node-delete.sh", node, "30"), "unchanged \\(node .* is not registered")
        ok(run(sb, "k3s-drain.sh", node, "30"), "unchanged \\(node .* is not registered")
    assert sb.calls("k3s kubectl delete") == [f"k3s kubectl delete node {n} --ignore-not-found --timeout=30s" for n in ("node-2", "node-3")]


def test_node_delete_after_the_whole_cluster_is_gone(sb: Sandbox) -> None:
    ok(run(sb, "k3s-node-delete.sh", "node-2", "30"), "unchanged \\(K3s is not installed")

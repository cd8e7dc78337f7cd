"""The node's step table (render/node/steps.py, render/node/table.py): what a step follows when
others do not apply, what a broken table is told, where each step's scripts live, and that
adding a step is one entry and two scripts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from components.cluster import ClusterArgs
from render.node import command, steps
from render.node.command import SCRIPTS, SCRIPTS_DIR, Scripts, script_path
from render.node.steps import NodeFacts, node_steps, table
from render.node.table import JOIN_AFTER, Entry, NodeStep, Step, Uploads, render_steps, run
from settings.nodes import NodeSpec
from settings.stack import Settings
from tests.conftest import THREE_NODES, settings_for, stack
from tests.sandbox import open_sandbox
from tests.test_scripts import assert_shellcheck_clean, ok
from tools.harness import run_stack

SERVER = NodeSpec.model_validate({"name": "a", "host": "192.0.2.1", "role": "server"})
AGENT = NodeSpec.model_validate({"name": "b", "host": "192.0.2.2", "user": "ops", "role": "agent"})


def facts(settings: Settings, name: str) -> NodeFacts:
    spec = next(n for n in settings.nodes if n.name == name)
    return ClusterArgs.of(settings).node_facts(spec)


def rendered(entries: tuple[Entry, ...], last: str = "c", spec: NodeSpec = SERVER) -> dict[str, Any]:
    return {e.name: e for e in render_steps(entries, spec, SERVER, SCRIPTS, last=last).entries}


# --- what a step follows --------------------------------------------------------------------

SYSCTL = run("sysctl-apply.sh", "/etc/sysctl.d/90-x.conf")


def test_a_step_that_does_not_apply_hands_on_what_it_followed() -> None:
    got = rendered((
        Step("a", apply=SYSCTL),
        Step("b", apply=SYSCTL, when=False),
        Step("c", apply=SYSCTL),
        Step("d", apply=SYSCTL, follows=("b", "c", JOIN_AFTER)),
    ))
    assert list(got) == ["a", "c", "d"]
    assert got["a"].after == () and got["c"].after == ("a",)
    assert got["d"].after == ("a", "c", JOIN_AFTER)


def test_the_last_step_stands_for_what_it_followed_when_absent() -> None:
    entries = (Step("a", apply=SYSCTL), Step("c", apply=SYSCTL, when=False))
    assert render_steps(entries, SERVER, SERVER, SCRIPTS, last="c").last == ("a",)


def test_steps_on_the_checker_use_its_sudo_and_default_to_the_hosts_trigger() -> None:
    got = rendered((Step("here", apply=SYSCTL), Step("there", apply=SYSCTL, runs_on="checker")), last="there", spec=AGENT)
    assert got["here"].create.startswith("sudo -n bash ") and got["there"].create.startswith("bash ")
    assert got["here"].triggers == got["there"].triggers == ("192.0.2.2",)


@pytest.mark.parametrize(("entries", "message"), [
    ((Step("a", apply=SYSCTL), Step("a", apply=SYSCTL)), "'a' is declared twice"),
    ((Step(JOIN_AFTER, apply=SYSCTL),), f"or is the reserved name '{JOIN_AFTER}'"),
    ((Step("a", apply=SYSCTL, follows=("c",)), Step("c", apply=SYSCTL)), "'a' follows 'c', not an entry before it"),
    ((Step("c"),), "'c' runs no script: give it apply, remove or both"),
    ((Step("c", apply=run("no-such.sh")),), "no script named 'no-such.sh' in a step folder"),
    ((Step("a", apply=SYSCTL),), "the last step 'c' is not in the table"),
])
def test_a_broken_table_is_named(entries: tuple[Entry, ...], message: str) -> None:
    with pytest.raises(ValueError) as caught:
        rendered(entries)
    assert message in str(caught.value)


def test_script_names_must_be_unique_across_the_folders(tmp_path: Path) -> None:
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "k3s-install.sh").write_text("#!/usr/bin/env bash\n")
    with pytest.raises(ValueError) as caught:
        Scripts(SCRIPTS_DIR, tmp_path)
    assert "a script named k3s-install.sh is also at" in str(caught.value)


def test_node_facts_refuse_what_the_steps_cannot_do() -> None:
    settings = settings_for(stack(nodes=THREE_NODES))
    agent = facts(settings, "bergen-2")
    with pytest.raises(ValueError, match="the checker 'bergen-2' must be a server"):
        NodeFacts(**{**agent.__dict__, "checker": agent.spec})
    first = facts(settings, "bergen-1")
    with pytest.raises(ValueError, match="only a node of a cluster of several, not the first server, is removable"):
        NodeFacts(**{**first.__dict__, "removable": True})


# --- the node's own table ---------------------------------------------------------------------


def every_step(tmp_path: Path) -> tuple[Entry, ...]:
    """The table of a node that has every step: firewall, mirrors, air gap, removable."""
    folder = tmp_path / "assets"
    folder.mkdir()
    for name in ("install.sh", "k3s", "sha256sum-amd64.txt", "k3s-airgap-images-amd64.tar.zst"):
        (folder / name).write_text("x")
    mirrors = {"docker.io": ["https://registry.example.no"]}
    settings = settings_for(stack(nodes=THREE_NODES, registryMirrors=mirrors, k3sAirgapDir=str(folder), dnsResolvers=["198.51.100.53"],
                                  distroPhoneHome="off"))
    entries = table(facts(settings, "bergen-2"))
    assert all(e.when for e in entries)
    return entries


def test_every_step_applies_somewhere_in_its_order(tmp_path: Path) -> None:
    names = [e.name for e in every_step(tmp_path)]
    assert names == [
        "sysctl", "host-tuning", "resolvers", "host-endpoints", "firewall", "kubelet-config", "registries", "k3s-config", steps.UPLOADS,
        "node-object", "drain", "k3s-install", "ready", "uncordon", "evict",
    ]


def test_each_script_lives_in_the_folder_of_the_first_step_that_runs_it(tmp_path: Path) -> None:
    owner: dict[str, str] = {}
    for entry in (e for e in every_step(tmp_path) if isinstance(e, Step)):
        for script in (r.script for r in (entry.apply, entry.remove) if r is not None):
            owner.setdefault(script, entry.name)
            assert script_path(script).parent.name == owner[script], f"{script} belongs in scripts/{owner[script]}/"
    # The scripts no node step runs: the cluster reads the kubeconfig on the first server, and
    # restarts CoreDNS there when the resolvers change (it lives with the resolvers step).
    assert set(SCRIPTS.names) - set(owner) == {"k3s-kubeconfig.sh", "coredns-restart.sh"}
    assert script_path("k3s-kubeconfig.sh").parent.name == "kubeconfig"
    assert script_path("coredns-restart.sh").parent.name == "resolvers"


def test_one_node_waits_for_ready_and_several_for_uncordon() -> None:
    one = node_steps(facts(settings_for(stack()), "oslo-1"))
    assert one.last == ("ready",)
    several = node_steps(facts(settings_for(stack(nodes=THREE_NODES)), "bergen-2"))
    assert several.last == ("uncordon",)
    install = next(e for e in several.entries if e.name == "k3s-install")
    assert isinstance(install, NodeStep) and install.after == ("k3s-config", JOIN_AFTER, "node-object", "drain")


# --- adding a step ----------------------------------------------------------------------------

MOTD_APPLY = """#!/usr/bin/env bash
# Usage: motd-apply.sh NODE_NAME
# A throwaway step for tests/test_node_steps.py: the login banner names the node.
set -euo pipefail

readonly SELF=motd-apply.sh
readonly FILE=/etc/motd

[[ $# -eq 1 ]] || die "usage: $SELF NODE_NAME"
want="sovereign-faas node $1"
if [[ -f $FILE && $(<"$FILE") == "$want" ]]; then
  report unchanged
  exit 0
fi
printf '%s\\n' "$want" >"$FILE"
report changed
"""
MOTD_REMOVE = """#!/usr/bin/env bash
# Usage: motd-remove.sh
set -euo pipefail

readonly SELF=motd-remove.sh
readonly FILE=/etc/motd

[[ $# -eq 0 ]] || die "usage: $SELF"
[[ -e $FILE ]] || { report unchanged; exit 0; }
rm -f -- "$FILE"
report changed
"""


def with_motd(n: NodeFacts) -> tuple[Entry, ...]:
    """The node's table with one more entry, after sysctl."""
    entries = table(n)
    motd = Step("motd", apply=run("motd-apply.sh", n.spec.name), remove=run("motd-remove.sh"))
    return (entries[0], motd, *entries[1:])


@pytest.fixture
def motd_scripts(tmp_path: Path) -> Scripts:
    folder = tmp_path / "steps" / "motd"
    folder.mkdir(parents=True)
    (folder / "motd-apply.sh").write_text(MOTD_APPLY)
    (folder / "motd-remove.sh").write_text(MOTD_REMOVE)
    return Scripts(SCRIPTS_DIR, tmp_path / "steps")


def test_adding_a_step_is_one_entry_and_two_scripts(motd_scripts: Scripts, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(steps, "table", with_motd)
    monkeypatch.setattr(command, "SCRIPTS", motd_scripts)
    run_ = run_stack("oslo")
    names = [r.name.removeprefix("oslo-1-") for r in run_.children("oslo-1")]
    assert names == [
        "sysctl", "motd", "host-tuning", "firewall", "kubelet-config", "k3s-config", "k3s-install", "ready", "kubeconfig",
    ]
    motd = run_.get("oslo-1-motd")
    assert motd.options["dependsOn"] == ["oslo-1-sysctl"]
    assert run_.get("oslo-1-host-tuning").options["dependsOn"] == ["oslo-1-motd"]  # the chain closes over it
    assert motd.inputs["create"] == motd_scripts.command("motd-apply.sh", ("oslo-1",))
    assert motd.inputs["delete"] == motd_scripts.command("motd-remove.sh")
    assert motd.inputs["triggers"] == ["203.0.113.10"]


def test_the_added_steps_scripts_run_and_are_shellcheck_clean(motd_scripts: Scripts, tmp_path: Path) -> None:
    for name in ("motd-apply.sh", "motd-remove.sh"):
        assert_shellcheck_clean(motd_scripts.path(name))
    sb = open_sandbox(tmp_path / "sandbox")
    ok(sb.run(motd_scripts.command("motd-apply.sh", ("oslo-1",))), "changed")
    assert sb.read("/etc/motd") == b"sovereign-faas node oslo-1\n"
    ok(sb.run(motd_scripts.command("motd-apply.sh", ("oslo-1",))), "unchanged")
    ok(sb.run(motd_scripts.command("motd-remove.sh")), "changed")
    assert sb.read("/etc/motd") is None


def test_uploads_are_an_entry_of_the_table(tmp_path: Path) -> None:
    uploads = next(e for e in every_step(tmp_path) if isinstance(e, Uploads))
    # After the config, before the install; bergen-2 is a sudoer, so the path is in its home.
    assert uploads.follows is None and all(remote.startswith("sovereign-faas-k3s-assets/") for _, remote in uploads.files)
    assert len(uploads.files) == 4

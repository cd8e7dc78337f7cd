"""Day two: how a node is drained, and what `pulumi up` refuses to do to a running cluster.

The checks compare this deployment with the previous one, whose `k3sVersion` and
`firstServer` outputs the program reads back through a StackReference to its own stack
(components/history.py); a first deploy has none, and nothing is compared.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from settings import outputs
from settings.base import Section, key
from settings.types import K3S_VERSION, between, one_of

ACKNOWLEDGEMENTS = ("skip-minor", "downgrade")


class UpgradeSettings(Section):
    drain_timeout: Annotated[int, between(30, 3600)] = key(
        "k3sDrainTimeout", 300, "Seconds a node's drain may take before an upgrade or a removal fails, naming the pods that would not move (30-3600)"
    )
    acknowledge: tuple[Annotated[str, one_of(ACKNOWLEDGEMENTS)], ...] = key(
        "k3sUpgradeAcknowledge",
        (),
        "Allow what an upgrade refuses: 'skip-minor' (more than one minor version at once), 'downgrade' (an older k3sVersion); remove it after the upgrade",
    )


def _release(version: str) -> tuple[int, int, int] | None:
    match = K3S_VERSION.fullmatch(version)
    return (int(match.group(1)), int(match.group(2)), int(match.group(3))) if match else None


def version_problem(previous: str, wanted: str, acknowledged: tuple[str, ...]) -> str | None:
    """Why moving the running cluster from `previous` to `wanted` is refused, or None."""
    old, new = _release(previous), _release(wanted)
    if old is None or new is None or old == new:
        return None
    if new < old and "downgrade" not in acknowledged:
        return (
            f"k3sVersion {wanted} is older than the running {previous}: K3s does not support downgrades "
            "(etcd and the datastore may already use the newer schema); restore from a snapshot instead, "
            "or, knowing that, set k3sUpgradeAcknowledge: [downgrade]"
        )
    if new[0] > old[0] + 1 and "skip-minor" not in acknowledged:
        between_minor = f"v1.{old[0] + 1}"
        return (
            f"k3sVersion {wanted} skips a minor version from the running {previous}: Kubernetes upgrades "
            f"one minor at a time; upgrade to the newest {between_minor} release first, then to {wanted} "
            "(or set k3sUpgradeAcknowledge: [skip-minor])"
        )
    return None


def first_server_problem(previous: str, first: str, names: tuple[str, ...]) -> str | None:
    """Why changing the bootstrap server from `previous` to `first` is refused, or None."""
    if not previous or previous == first:
        return None
    what = "moved from the front of nodes" if previous in names else "removed from nodes"
    return (
        f"the first server {previous!r} (the bootstrap server) was {what}: every node joins through it "
        f"and the Kubernetes provider is tied to it, so {first!r} cannot take its place. Put {previous!r} "
        "back first in nodes. This stack cannot retire its bootstrap server: to replace its machine, "
        "restore it under the same name from an etcd snapshot (docs/operations/removing-a-node.md); to leave it, "
        "build a new stack, move the workloads and data to it, then destroy this one"
    )


def history_problems(previous: Mapping[str, Any], version: str, acknowledged: tuple[str, ...], first: str, names: tuple[str, ...]) -> list[str]:
    """Everything the previous deployment's outputs say this one must not do."""
    problems = [
        version_problem(str(previous.get(outputs.K3S_VERSION) or ""), version, acknowledged),
        first_server_problem(str(previous.get(outputs.FIRST_SERVER) or ""), first, names),
    ]
    return [p for p in problems if p]

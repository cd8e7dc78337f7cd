"""dataReplicas: its default follows the node count, and what cannot be placed is refused at
preview, naming the key (one replica per node, on nodes that take pods)."""

from __future__ import annotations

import pytest

from settings.errors import ConfigError
from tests.conftest import settings_for, stack


def nodes(count: int) -> list[dict[str, str]]:
    return [{"name": f"n-{i}", "host": f"203.0.113.{10 + i}", "role": "server"} for i in range(count)]


@pytest.mark.parametrize(("count", "replicas"), [(1, 1), (2, 1), (3, 3), (4, 3), (6, 3)])
def test_default_follows_the_node_count(count: int, replicas: int) -> None:
    assert settings_for(stack(nodes=nodes(count))).data_replicas == replicas


@pytest.mark.parametrize(("count", "given"), [(3, "1"), (5, "5"), (3, 3), (4, "3")])
def test_a_placeable_setting_is_taken(count: int, given: object) -> None:
    assert settings_for(stack(nodes=nodes(count), dataReplicas=given)).data_replicas == int(given)  # type: ignore[call-overload]


@pytest.mark.parametrize(
    ("count", "given", "says"),
    [
        (2, "3", "3 replicas need 3 nodes (one each), but the stack has 2"),
        (1, "3", "but the stack has 1"),
        (4, "5", "5 replicas need 5 nodes"),
        (3, "2", "expected 1, 3 or 5"),  # two replicas: no majority after a loss
        (3, "4", "expected 1, 3 or 5"),
        (3, "0", "expected 1, 3 or 5"),
        (3, "-3", "expected 1, 3 or 5"),
        (3, "true", "expected 1, 3 or 5"),  # YAML true is not a count
        (3, "three", "expected 1, 3 or 5"),
        (3, "3.0", "expected 1, 3 or 5"),
        (3, "[3]", "expected 1, 3 or 5"),
    ],
)
def test_what_cannot_be_placed_is_refused(count: int, given: str, says: str) -> None:
    with pytest.raises(ConfigError) as err:
        settings_for(stack(nodes=nodes(count), dataReplicas=given))
    assert "dataReplicas" in str(err.value)
    assert says in str(err.value)
    assert "expected expected" not in str(err.value) and "from 1 to 5" not in str(err.value)  # one message, said once


@pytest.mark.parametrize("taint", ["CriticalAddonsOnly=true:NoExecute", "dedicated=ops:NoSchedule"])
def test_a_taint_on_every_node_leaves_no_room_for_replicas(taint: str) -> None:
    """k3sExtraFlags go to every node: a repelling taint there empties the cluster for the
    replicas, whose pods tolerate nothing; the default (three nodes: 3) is refused too."""
    with pytest.raises(ConfigError) as err:
        settings_for(stack(nodes=nodes(3), k3sExtraFlags=[f"--node-taint={taint}"]))
    assert "dataReplicas" in str(err.value) and taint in str(err.value)


def test_a_soft_taint_keeps_room() -> None:
    config = stack(nodes=nodes(3), k3sExtraFlags=["--node-taint=spot=true:PreferNoSchedule"])
    assert settings_for(config).data_replicas == 3


def test_one_replica_ignores_taints() -> None:
    """A single replica is placed as today; the taint's effect on it is not this rule's business."""
    config = stack(nodes=nodes(3), dataReplicas="1", k3sExtraFlags=["--node-taint=dedicated=ops:NoSchedule"])
    assert settings_for(config).data_replicas == 1

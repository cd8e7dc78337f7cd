"""Every Kubernetes object the stack writes passes the API's schema, strictly (no unknown
field slips through), for the Kubernetes minor of the pinned K3s release.

The edge's custom objects (Gateway API, cert-manager) have no schema in kubernetes-validate;
tests/test_edge.py checks their references to each other instead."""

from __future__ import annotations

import kubernetes_validate
import pytest

from settings.k3s import K3sSettings
from tests.conftest import stack
from tools.harness import PROJECT_DIR, run_stack
from tools.plan import is_kubernetes_object, manifest

# One stack per shape of output; later components add theirs to the same test.
STACKS = {
    "oslo": None,  # the example stack file
    "bergen": None,  # the second example: HA, Pro, HTTPS at the edge
    "pro-nodeport": stack(
        openfaasEdition="pro",
        openfaasLicense={"secure": "licence"},
        gatewayServiceType="NodePort",
        nodes=[{"name": "a", "host": "198.51.100.1"}, {"name": "b", "host": "198.51.100.2"}],
        functionsFile=str(PROJECT_DIR / "tests" / "data" / "functions.yml"),
        functionSecrets={"api-key": {"secure": "k"}},
    ),
    # NATS and Redis sized by hand, in their own namespace, with no topic (no nats-connector).
    "data-sized": stack(
        dataNamespace="events",
        natsStorage="20Gi",
        natsMemoryLimit="1Gi",
        natsCpuLimit="0.5",
        redisMemoryLimit="2G",
        redisMaxmemory="1500M",
        redisCpuLimit="250m",
        redisMaxmemoryPolicy="allkeys-lfu",
        sysctl={"net.core.somaxconn": 8192},
        functionsFile="",
    ),
}


def kubernetes_minor() -> str:
    major, minor, _ = K3sSettings().kubernetes_version.split(".")
    return f"{major}.{minor}.0"


def objects() -> list[tuple[str, dict]]:
    found = []
    for name, config in STACKS.items():
        run = run_stack(name, config)
        found += [(f"{name}/{r.name}", manifest(r)) for r in run.resources if is_kubernetes_object(r)]
    return found


# API groups of the custom objects the stack writes (installed by the edge's charts).
CUSTOM_GROUPS = ("gateway.networking.k8s.io/", "cert-manager.io/")
ALL_OBJECTS = objects()
OBJECTS = [(n, o) for n, o in ALL_OBJECTS if not o["apiVersion"].startswith(CUSTOM_GROUPS)]


def test_only_the_edge_custom_objects_skip_the_schema() -> None:
    custom = {o["kind"] for _, o in ALL_OBJECTS if o["apiVersion"].startswith(CUSTOM_GROUPS)}
    assert custom == {"ClusterIssuer", "Certificate", "Gateway", "HTTPRoute"}


def test_there_are_objects_to_check() -> None:
    kinds = {obj["kind"] for _, obj in OBJECTS}
    assert {"Namespace", "Secret", "Deployment", "Service"} <= kinds


@pytest.mark.parametrize(("name", "obj"), OBJECTS, ids=[n for n, _ in OBJECTS])
def test_object_is_valid_in_strict_mode(name: str, obj: dict) -> None:
    kubernetes_validate.validate(obj, kubernetes_minor(), strict=True)


def test_strict_mode_catches_an_unknown_field() -> None:
    _, obj = OBJECTS[0]
    broken = {**obj, "metadata": {**obj["metadata"], "lables": {"a": "b"}}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, kubernetes_minor(), strict=True)

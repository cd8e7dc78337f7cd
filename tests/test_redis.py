"""The Redis component through the whole program: its objects, its password, its settings, and
the node-side kernel setting its pod relies on."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from components.redis import Redis
from render import redis
from render import stateful as data
from render.function_objects import SECRETS_PATH
from settings import versions
from settings.function_spec import PLATFORM_SECRETS
from settings.kernel import POD_SYSCTLS_ALLOWED
from tests.conftest import THREE_NODES, stack
from tools.harness import ProgramError, StackRun, is_secret, masked, run_stack, unwrap

REDIS_OBJECTS = {
    "redis-password": "random:index/randomPassword:RandomPassword",
    "redis-auth": "kubernetes:core/v1:Secret",
    "redis-function-secret": "kubernetes:core/v1:Secret",
    "redis-config": "kubernetes:core/v1:ConfigMap",
    "redis-service": "kubernetes:core/v1:Service",
    "redis-statefulset": "kubernetes:apps/v1:StatefulSet",
    "redis-policy": "kubernetes:networking.k8s.io/v1:NetworkPolicy",
}


def obj(run: StackRun, name: str) -> dict[str, Any]:
    return masked(run.get(name).inputs)


def redis_container(run: StackRun) -> dict[str, Any]:
    (ctr,) = obj(run, "redis-statefulset")["spec"]["template"]["spec"]["containers"]
    return ctr


def password(run: StackRun) -> str:
    return unwrap(run.get("redis-auth").inputs["stringData"])["password"]


# --- objects ---------------------------------------------------------------------------------


def test_redis_objects_live_in_the_data_namespace_on_the_cluster_provider(oslo: StackRun) -> None:
    assert {r.name: r.type for r in oslo.children("redis")} == REDIS_OBJECTS
    for name, type_ in REDIS_OBJECTS.items():
        if type_.startswith("kubernetes:"):
            r = oslo.get(name)
            assert r.provider == "cluster-k8s" and "data-namespace" in r.options["dependsOn"]
    namespaces = {name: obj(oslo, name)["metadata"]["namespace"] for name in REDIS_OBJECTS if REDIS_OBJECTS[name].startswith("kubernetes:")}
    assert namespaces == {
        "redis-auth": "faas-data",
        "redis-function-secret": "openfaas-fn",
        "redis-config": "faas-data",
        "redis-service": "faas-data",
        "redis-statefulset": "faas-data",
        "redis-policy": "faas-data",
    }
    # The function namespace is OpenFaaS'; the pod mounts the config and the auth Secret.
    assert "openfaas-function-namespace" in oslo.get("redis-function-secret").options["dependsOn"]
    assert {"redis-config", "redis-auth"} <= set(oslo.get("redis-statefulset").options["dependsOn"])


def test_redis_conf_is_rendered_from_data_without_the_password(oslo: StackRun) -> None:
    text = obj(oslo, "redis-config")["data"]["redis.conf"]
    assert text == (
        "bind * -::*\n"
        "protected-mode yes\n"
        "port 6379\n"
        "tcp-backlog 65535\n"
        "timeout 0\n"
        "tcp-keepalive 300\n"
        "daemonize no\n"
        "loglevel notice\n"
        'logfile ""\n'
        "maxmemory 402653184\n"
        "maxmemory-policy volatile-lru\n"
        "appendonly yes\n"
        "appendfsync everysec\n"
        'save ""\n'
        "dir /data\n"
        "enable-protected-configs no\n"
        "enable-debug-command no\n"
        "enable-module-command no\n"
        "include /etc/redis-auth/auth.conf\n"
    )
    assert "requirepass" not in text and password(oslo) not in text
    template = obj(oslo, "redis-statefulset")["spec"]["template"]
    assert template["metadata"]["annotations"] == {"checksum/config": data.checksum(text)}


def test_render_config_quotes_what_needs_quoting() -> None:
    text = redis.render_config({"save": "", "bind": ("a", "b"), "x": 'he said "hi"', "y": False, "n": 7})
    assert text == 'save ""\nbind a b\nx "he said \\"hi\\""\ny no\nn 7\n'


def test_the_password_is_random_secret_and_reaches_redis_only_through_a_secret(oslo: StackRun) -> None:
    generated = oslo.get("redis-password")
    assert generated.parent == "redis" and unwrap(generated.inputs)["length"] == 32 and unwrap(generated.inputs)["special"] is False
    auth = oslo.get("redis-auth")
    assert is_secret(auth.inputs["stringData"])
    pw = password(oslo)
    assert len(pw) == 32
    assert unwrap(auth.inputs["stringData"]) == {"password": pw, "auth.conf": f"requirepass {pw}\n"}
    assert unwrap(auth.inputs)["metadata"]["name"] == "redis-auth"
    # Nowhere in plain: not in any input or output (masked), not in a command line or env.
    plain = json.dumps([masked(r.inputs) for r in oslo.resources]) + json.dumps(masked(oslo.outputs))
    assert pw not in plain
    ctr = redis_container(oslo)
    assert ctr["command"] == ["valkey-server", "/etc/redis/redis.conf"] and "env" not in ctr


def test_functions_get_the_password_as_a_faas_netes_secret(oslo: StackRun) -> None:
    secret = oslo.get("redis-function-secret")
    meta = unwrap(secret.inputs)["metadata"]
    assert (meta["name"], meta["namespace"]) == ("redis-password", "openfaas-fn")
    assert meta["labels"]["app.kubernetes.io/managed-by"] == "openfaas"  # faas-cli secret list shows it
    assert is_secret(secret.inputs["stringData"]) and unwrap(secret.inputs["stringData"]) == {"redis-password": password(oslo)}
    # What functions may name, and the file they read (faas-netes' projected secrets volume).
    assert Redis.secret_names == PLATFORM_SECRETS[:1] == ("redis-password",)
    assert f"{SECRETS_PATH}/{redis.FUNCTION_SECRET}" == "/var/openfaas/secrets/redis-password"
    # A function that mounts it waits for it.
    assert "redis-function-secret" in oslo.get("function-img-resize").options["dependsOn"]


def test_address_is_a_stack_output_and_what_the_example_function_uses(oslo: StackRun) -> None:
    assert oslo.outputs["redisAddress"] == redis.address("faas-data") == "redis.faas-data.svc.cluster.local:6379"
    (fn,) = obj(oslo, "function-img-resize")["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in fn["env"]}
    assert f"{env['redis_host']}:{env['redis_port']}" == oslo.outputs["redisAddress"]


def test_statefulset_runs_the_pinned_image_non_root_on_local_path(oslo: StackRun) -> None:
    spec = obj(oslo, "redis-statefulset")["spec"]
    assert spec["replicas"] == 1 and spec["serviceName"] == "redis"
    (claim,) = spec["volumeClaimTemplates"]
    assert claim["spec"]["storageClassName"] == "local-path" and claim["spec"]["resources"]["requests"]["storage"] == "5Gi"
    pod = spec["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["fsGroup"] == pod["securityContext"]["runAsUser"]
    assert pod["volumes"] == [
        {"name": "config", "configMap": {"name": "redis-config"}},
        {"name": "auth", "secret": {"secretName": "redis-auth", "defaultMode": 0o440}},
    ]
    ctr = redis_container(oslo)
    assert ctr["image"] == versions.REDIS_IMAGE and ctr["image"].startswith("valkey/valkey:9.1.")  # BSD-3 Valkey, not RSAL/SSPL Redis
    assert ctr["resources"] == {"requests": {"cpu": "100m", "memory": "512Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}}
    assert ctr["securityContext"]["readOnlyRootFilesystem"] is True
    assert {m["mountPath"]: m["name"] for m in ctr["volumeMounts"]} == {"/etc/redis": "config", "/etc/redis-auth": "auth", "/data": "data"}


def test_probes_authenticate_with_the_mounted_password(oslo: StackRun) -> None:
    ctr = redis_container(oslo)
    for probe, accept in (("readinessProbe", redis.READY), ("livenessProbe", redis.ALIVE)):
        command = ctr[probe]["exec"]["command"]
        assert command == ["sh", "-c", redis.probe_script("/etc/redis-auth/password", 6379, accept)]
        assert 'VALKEYCLI_AUTH="$(cat /etc/redis-auth/password)" valkey-cli -h 127.0.0.1' in command[2]
    assert "LOADING*" in ctr["livenessProbe"]["exec"]["command"][2] and "LOADING" not in ctr["readinessProbe"]["exec"]["command"][2]


def test_service_and_policy_admit_only_the_function_namespace(oslo: StackRun) -> None:
    svc = obj(oslo, "redis-service")
    assert (svc["metadata"]["name"], svc["spec"]["type"], svc["spec"]["ports"][0]["port"]) == ("redis", "ClusterIP", 6379)
    policy = obj(oslo, "redis-policy")["spec"]
    assert policy == {
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "redis"}},
        "policyTypes": ["Ingress"],
        "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "openfaas-fn"}}}], "ports": [{"protocol": "TCP", "port": 6379}]}],
    }


# --- the pod sysctl and the node agree ----------------------------------------------------------


def node_sides(run: StackRun, node: str) -> tuple[dict[str, str], set[str]]:
    """(the node's sysctl file as a map, the sysctls its kubelet lets pods set)."""
    lines = unwrap(run.get(f"{node}-sysctl").inputs["stdin"]).splitlines()
    sysctl = dict(line.split(" = ", 1) for line in lines if " = " in line)
    config = yaml.safe_load(unwrap(run.get(f"{node}-k3s-config").inputs["stdin"]))
    (allowed,) = [arg.split("=", 1)[1] for arg in config["kubelet-arg"] if arg.startswith("allowed-unsafe-sysctls=")]
    return sysctl, set(allowed.split(","))


@pytest.mark.parametrize(
    "config",
    [None, stack(nodes=THREE_NODES, sysctl={"net.core.somaxconn": 4096})],
    ids=["oslo", "three-nodes-somaxconn-4096"],
)
def test_the_redis_pod_sets_exactly_the_sysctl_every_kubelet_allows_with_the_nodes_value(config: dict[str, Any] | None) -> None:
    run = run_stack("oslo" if config is None else "sysctl", config)
    pod_sysctls = {s["name"]: s["value"] for s in obj(run, "redis-statefulset")["spec"]["template"]["spec"]["securityContext"]["sysctls"]}
    assert set(pod_sysctls) == set(redis.POD_SYSCTLS) == set(POD_SYSCTLS_ALLOWED)
    for node in run.of_type("sovereign-faas:index:Node"):  # local-path may pin Redis to any node
        sysctl, allowed = node_sides(run, node.name)
        assert allowed == set(pod_sysctls), node.name
        assert {key: sysctl[key] for key in pod_sysctls} == pod_sysctls, node.name
    expected = "65535" if config is None else "4096"
    assert pod_sysctls == {"net.core.somaxconn": expected}
    assert f"tcp-backlog {expected}\n" in obj(run, "redis-config")["data"]["redis.conf"]


# --- settings --------------------------------------------------------------------------------


def test_settings_flow_into_the_objects() -> None:
    run = run_stack(
        "sized",
        stack(redisStorage="20Gi", redisMemoryLimit="2Gi", redisCpuLimit="500m", redisMaxmemory="1536Mi", redisMaxmemoryPolicy="allkeys-lfu", dataNamespace="state"),
    )
    text = obj(run, "redis-config")["data"]["redis.conf"]
    assert f"maxmemory {1536 * 2**20}\n" in text and "maxmemory-policy allkeys-lfu\n" in text
    assert obj(run, "redis-statefulset")["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "20Gi"
    assert redis_container(run)["resources"]["limits"] == {"cpu": "500m", "memory": "2Gi"}
    assert run.outputs["redisAddress"] == "redis.state.svc.cluster.local:6379"


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (
            stack(redisMemoryLimit="512MB"),
            "got '512MB'; did you mean '512Mi'?",
        ),
        (stack(redisCpuLimit="2 cores"), "sovereign-faas:redisCpuLimit: expected a Kubernetes quantity such as '512Mi', '250m', '1.5' or '2e9'"),
        (
            stack(redisMaxmemory="1Gi"),
            "sovereign-faas:redisMaxmemory: 1Gi must be smaller than redisMemoryLimit (512Mi): Redis needs memory beyond its data",
        ),
        (stack(redisMaxmemory="512Mi"), "sovereign-faas:redisMaxmemory: 512Mi must be smaller than redisMemoryLimit (512Mi)"),
        (stack(redisMaxmemory="256mb"), "got '256mb'; did you mean '256Mi'?"),
        (stack(redisMaxmemoryPolicy="allkeys-lru2"), "sovereign-faas:redisMaxmemoryPolicy: expected a Redis eviction policy, got 'allkeys-lru2'; did you mean 'allkeys-lru'?"),
        (stack(redisMaxmemoryPolicy="lru"), "sovereign-faas:redisMaxmemoryPolicy: expected a Redis eviction policy, got 'lru'; expected one of: allkeys-lfu, allkeys-lru"),
        (stack(redisStorage="lots"), "sovereign-faas:redisStorage: expected a Kubernetes quantity such as '512Mi', '250m', '1.5' or '2e9'"),
        (stack(redisStorage="500m"), "sovereign-faas:redisStorage: expected a size of at least 64Mi, got '500m'"),
    ],
)
def test_bad_redis_input_stops_the_preview(config: dict[str, Any], expected: str) -> None:
    with pytest.raises(ProgramError) as caught:
        run_stack("oslo", config)
    assert expected in str(caught.value)
    assert caught.value.registered == ()


def test_every_redis_problem_is_reported_at_once() -> None:
    with pytest.raises(ProgramError) as caught:
        run_stack("oslo", stack(redisMemoryLimit="1GB", redisMaxmemoryPolicy="random", natsStorage="x"))
    message = str(caught.value)
    assert "3 problems" in message
    assert all(f"sovereign-faas:{key}:" in message for key in ("redisMemoryLimit", "redisMaxmemoryPolicy", "natsStorage"))

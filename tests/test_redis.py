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


# --- replicated (dataReplicas > 1): a primary, replicas and sentinels -----------------------------


@pytest.fixture(scope="module")
def bergen() -> StackRun:
    """The three-server example stack: dataReplicas defaults to 3."""
    return run_stack("bergen")


REPLICATED_OBJECTS = {
    **REDIS_OBJECTS,
    "redis-headless": "kubernetes:core/v1:Service",
    "redis-budget": "kubernetes:policy/v1:PodDisruptionBudget",
}


def pod_spec(run: StackRun) -> dict[str, Any]:
    return obj(run, "redis-statefulset")["spec"]["template"]["spec"]


def test_bergen_renders_three_replicas_one_per_node_with_a_budget(bergen: StackRun) -> None:
    assert {r.name: r.type for r in bergen.children("redis")} == REPLICATED_OBJECTS
    spec = obj(bergen, "redis-statefulset")["spec"]
    assert (spec["replicas"], spec["serviceName"], spec["podManagementPolicy"]) == (3, "redis-headless", "Parallel")
    assert pod_spec(bergen)["affinity"] == data.one_per_node("redis")
    assert obj(bergen, "redis-budget")["spec"] == {"maxUnavailable": 1, "selector": {"matchLabels": {"app.kubernetes.io/name": "redis"}}}
    # The pods need their DNS names before the StatefulSet starts them.
    assert {"redis-headless", "redis-config", "redis-auth"} <= set(bergen.get("redis-statefulset").options["dependsOn"])


def test_bergen_has_the_sentinels_service_and_no_redis_service(bergen: StackRun) -> None:
    """A Service over every pod would send writes to replicas (READONLY): clients ask the
    sentinels; `redis-headless` names each pod on both ports."""
    sentinel = obj(bergen, "redis-service")
    assert sentinel["metadata"]["name"] == "redis-sentinel" and sentinel["spec"]["type"] == "ClusterIP"
    assert [(p["name"], p["port"]) for p in sentinel["spec"]["ports"]] == [("sentinel", 26379)]
    headless = obj(bergen, "redis-headless")["spec"]
    assert headless["clusterIP"] == "None" and headless["publishNotReadyAddresses"] is True
    assert [(p["name"], p["port"]) for p in headless["ports"]] == [("redis", 6379), ("sentinel", 26379)]
    assert all(masked(r.inputs)["metadata"]["name"] != "redis" for r in bergen.of_type("kubernetes:core/v1:Service") if r.parent == "redis")
    assert bergen.outputs["redisAddress"] == "redis-sentinel.faas-data.svc.cluster.local:26379"
    sentinels = [data.pod_host("redis", "faas-data", i) + ":26379" for i in range(3)]
    assert bergen.outputs["redisSentinels"] == {"masterName": "redis", "sentinels": sentinels}
    assert "redisSentinels" not in run_stack("oslo").outputs


def test_bergen_pods_run_valkey_a_sentinel_sidecar_and_the_init_script(bergen: StackRun) -> None:
    pod = pod_spec(bergen)
    server, sidecar = pod["containers"]
    (init,) = pod["initContainers"]
    assert server["command"] == ["valkey-server", "/etc/redis/redis.conf"]
    assert sidecar["name"] == "sentinel" and sidecar["command"] == ["valkey-server", "/run/valkey/sentinel.conf", "--sentinel"]
    assert sidecar["image"] == init["image"] == server["image"] == versions.REDIS_IMAGE
    assert init["command"] == ["sh", "/etc/redis/redis-init.sh"]
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in init["env"]}
    assert env["POD_NAME"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env["SELF_HOST"] == "$(POD_NAME).redis-headless.faas-data.svc.cluster.local"
    assert env["SENTINELS"] == " ".join(f"{data.pod_host('redis', 'faas-data', i)}:26379" for i in range(3))
    assert (env["PRIMARY_HOST"], env["QUORUM"], env["MASTER_NAME"]) == (data.pod_host("redis", "faas-data", 0), "2", "redis")
    # Nothing secret in any container's environment or command: the password is read from the Secret.
    assert password(bergen) not in json.dumps(pod)
    run = {v["name"]: v for v in pod["volumes"]}["run"]
    assert run == {"name": "run", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}}  # sentinel.conf holds the password
    for ctr in (server, sidecar, init):
        assert ctr["securityContext"]["readOnlyRootFilesystem"] is True
    mounts = {c["name"]: {m["mountPath"]: m.get("readOnly", False) for m in c["volumeMounts"]} for c in (server, sidecar, init)}
    assert mounts["redis"]["/run/valkey"] is True and mounts["sentinel"]["/run/valkey"] is False and mounts["replication"]["/run/valkey"] is False
    probe = sidecar["readinessProbe"]["exec"]["command"][2]
    assert "-p 26379 ping" in probe and "/etc/redis-auth/password" in probe


def test_bergen_configs_are_the_ones_the_fault_test_runs(bergen: StackRun) -> None:
    files = obj(bergen, "redis-config")["data"]
    assert files == redis.config_files(redis.RedisSettings(), "65535", replicas=3)
    conf = files["redis.conf"]
    assert "min-replicas-to-write 1\nmin-replicas-max-lag 10\n" in conf
    assert conf.endswith("include /run/valkey/replication.conf\ninclude /etc/redis-auth/auth.conf\n")  # the password last
    assert files["sentinel.conf"] == (
        "port 26379\nbind * -::*\ndaemonize no\nloglevel notice\nlogfile \"\"\ndir /run/valkey\n"
        "sentinel resolve-hostnames yes\nsentinel announce-hostnames yes\n"
    )
    assert files["sentinel-master.conf"] == (
        "sentinel down-after-milliseconds redis 5000\nsentinel failover-timeout redis 30000\nsentinel parallel-syncs redis 1\n"
    )
    assert files["redis-init.sh"] == redis.INIT_SCRIPT.read_text()
    pw = password(bergen)
    assert unwrap(bergen.get("redis-auth").inputs["stringData"])["auth.conf"] == f"requirepass {pw}\nmasterauth {pw}\n"
    # Any change to any of the files rolls the pods.
    annotation = obj(bergen, "redis-statefulset")["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
    assert annotation == data.checksum("".join(files[k] for k in sorted(files)))


def test_the_init_script_is_posix_sh_and_shellcheck_clean() -> None:
    """The image is Alpine: busybox sh, no bash."""
    from tests.test_scripts import assert_shellcheck_clean

    assert redis.INIT_SCRIPT.read_text().startswith("#!/bin/sh\n")
    assert_shellcheck_clean(redis.INIT_SCRIPT)


REDIS_POD = {"app.kubernetes.io/name": "redis", "app.kubernetes.io/managed-by": "sovereign-faas"}
NATS_POD = {"app.kubernetes.io/name": "nats", "app.kubernetes.io/managed-by": "sovereign-faas"}


def redis_flows(all_policies: list[dict[str, Any]]) -> dict[str, bool]:
    """Who reaches a redis pod on which port, as Kubernetes would decide it (the evaluator of
    tests/test_policies.py, ingress side: the data namespace's egress already allows its own)."""
    from tests.test_policies import Pod, ingress_allowed

    dst = Pod("faas-data", REDIS_POD)
    sources = {
        "function": Pod("openfaas-fn", {"faas_function": "img-resize"}),
        "redis peer": Pod("faas-data", REDIS_POD),
        "nats": Pod("faas-data", NATS_POD),
        "redis-labelled pod elsewhere": Pod("openfaas", REDIS_POD),
        "gateway": Pod("openfaas", {"app": "gateway"}),
    }
    return {f"{name} :{port}": ingress_allowed(all_policies, src, dst, port) for name, src in sources.items() for port in (6379, 26379, 16379)}


EXPECTED_FLOWS = {
    **{f"{name} :{port}": port in (6379, 26379) for name in ("function", "redis peer") for port in (6379, 26379, 16379)},
    **{f"{name} :{port}": False for name in ("nats", "redis-labelled pod elsewhere", "gateway") for port in (6379, 26379, 16379)},
}


def test_bergen_policy_admits_functions_and_the_redis_pods_on_both_ports_only(bergen: StackRun) -> None:
    from tests.test_policies import network_policies

    assert redis_flows(network_policies(bergen)) == EXPECTED_FLOWS


def test_functions_may_ask_the_sentinels_only_where_there_are_any(bergen: StackRun, oslo: StackRun) -> None:
    """Both ends: the function namespace's egress lets 26379 out only on a replicated stack."""
    from tests.test_policies import Pod, allowed, network_policies

    function, pod = Pod("openfaas-fn", {"faas_function": "img-resize"}), Pod("faas-data", REDIS_POD)
    assert allowed(network_policies(bergen), function, pod, 26379) and allowed(network_policies(bergen), function, pod, 6379)
    assert not allowed(network_policies(oslo), function, pod, 26379) and allowed(network_policies(oslo), function, pod, 6379)
    assert not allowed(network_policies(bergen), function, Pod("faas-data", NATS_POD), 26379)


@pytest.mark.parametrize(
    "fooling",
    [
        {"from": [{"podSelector": {}}], "ports": [{"protocol": "TCP", "port": 6379}]},  # every pod of the data namespace: NATS too
        {"from": [{"namespaceSelector": {}, "podSelector": {"matchLabels": data.selector("redis")}}]},  # any namespace's "redis"
        {"from": [{"podSelector": {"matchLabels": data.selector("redis")}}]},  # the peers, but on every port
    ],
)
def test_the_flow_check_catches_a_wider_rule(bergen: StackRun, fooling: dict[str, Any]) -> None:
    """The fooling cases: each wider rule added to the stack's policy changes a flow."""
    from tests.test_policies import network_policies

    policies_ = network_policies(bergen)
    (ours,) = [p for p in policies_ if p["metadata"]["name"] == "redis" and p["metadata"]["namespace"] == "faas-data"]
    wider = {**ours, "spec": {**ours["spec"], "ingress": [*ours["spec"]["ingress"], fooling]}}
    assert redis_flows([wider if p is ours else p for p in policies_]) != EXPECTED_FLOWS


def test_sentinel_names_agree_between_settings_and_render() -> None:
    """The platform env (settings) and the objects (render) name the same pods."""
    from settings.data_services import redis_sentinels

    assert redis_sentinels("state", 5) == redis.sentinels("state", 5)


def test_one_replica_stays_as_it_was(oslo: StackRun) -> None:
    assert redis.config_files(redis.RedisSettings(), "65535") == obj(oslo, "redis-config")["data"]
    assert "initContainers" not in pod_spec(oslo) and len(pod_spec(oslo)["containers"]) == 1
    assert "min-replicas" not in obj(oslo, "redis-config")["data"]["redis.conf"]


@pytest.mark.parametrize("replicas", [3, 5])
def test_the_quorum_is_a_majority(replicas: int) -> None:
    run = run_stack("five", stack(nodes=[{"name": f"n{i}", "host": f"203.0.113.{i + 1}"} for i in range(5)], dataReplicas=str(replicas)))
    (init,) = pod_spec(run)["initContainers"]
    env = {e["name"]: e.get("value") for e in init["env"]}
    assert env["QUORUM"] == str(replicas // 2 + 1) and len(env["SENTINELS"].split()) == replicas
    assert obj(run, "redis-statefulset")["spec"]["replicas"] == replicas

"""The Nats and NatsConnector components through the whole program, and their settings."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from components.nats import NatsConnector, NatsConnectorArgs
from render import nats
from render import stateful as data
from settings import versions
from settings.data_services import NatsSettings
from settings.function_spec import PLATFORM_SECRETS
from tests.conftest import settings_for, stack
from tests.servers import require
from tools.harness import ProgramError, StackRun, is_secret, masked, run_stack, unwrap

NATS_OBJECTS = {
    "nats-function-password": "random:index/randomPassword:RandomPassword",
    "nats-nats-connector-password": "random:index/randomPassword:RandomPassword",  # img-resize has a topic
    "nats-auth": "kubernetes:core/v1:Secret",
    "nats-config": "kubernetes:core/v1:ConfigMap",
    "nats-service": "kubernetes:core/v1:Service",
    "nats-statefulset": "kubernetes:apps/v1:StatefulSet",
    "nats-policy": "kubernetes:networking.k8s.io/v1:NetworkPolicy",
}


def obj(run: StackRun, name: str) -> dict[str, Any]:
    return masked(run.get(name).inputs)


def pod(run: StackRun, name: str) -> dict[str, Any]:
    return obj(run, name)["spec"]["template"]


def stack_file(folder: Path, functions: str) -> str:
    path = folder / "stack.yml"
    path.write_text(f"version: 1.0\nprovider: {{name: openfaas}}\nfunctions:\n{functions}")
    return str(path)


@pytest.fixture(scope="module")
def pro() -> StackRun:
    return run_stack("pro", stack(openfaasEdition="pro", openfaasLicense={"secure": "licence"}))


# --- the server ------------------------------------------------------------------------------


def test_nats_objects_live_in_the_data_namespace_on_the_cluster_provider(oslo: StackRun) -> None:
    assert {r.name: r.type for r in oslo.children("nats")} == NATS_OBJECTS
    for name in (n for n, t in NATS_OBJECTS.items() if t.startswith("kubernetes:")):
        r = oslo.get(name)
        assert r.provider == "cluster-k8s" and "data-namespace" in r.options["dependsOn"]
        assert obj(oslo, name)["metadata"]["namespace"] == "faas-data"
    namespace = obj(oslo, "data-namespace")["metadata"]
    assert namespace["name"] == "faas-data" and namespace["labels"]["app.kubernetes.io/managed-by"] == "sovereign-faas"
    assert {"nats-config", "nats-auth"} <= set(oslo.get("nats-statefulset").options["dependsOn"])


def test_config_is_rendered_from_data_into_the_config_map(oslo: StackRun) -> None:
    text = obj(oslo, "nats-config")["data"]["nats-server.conf"]
    assert text == (
        'listen: "0.0.0.0:4222"\n'
        'http: "0.0.0.0:8222"\n'
        "max_payload: 8388608\n"
        "jetstream {\n"
        '  store_dir: "/data"\n'
        "  max_file_store: 4831838208\n"
        "  max_memory_store: 67108864\n"
        "}\n"
        'include "../nats-auth/passwords.conf"\n'
        "accounts {\n"
        "  EVENTS {\n"
        "    users: [\n"
        '      {user: "function", password: $function_password, permissions: {publish: {allow: ["image-upload", "events.>"]}, '
        'subscribe: {allow: ["events.>", "_INBOX.>"]}, allow_responses: true}}\n'
        '      {user: "nats-connector", password: $nats_connector_password, permissions: {publish: {deny: [">"]}, '
        'subscribe: {allow: ["image-upload"]}}}\n'
        "    ]\n"
        "  }\n"
        "}\n"
    )
    assert text == nats.render_config(nats.server_config(NatsSettings(), nats.NatsClients(("image-upload",))))
    # A config change rolls the pod: nats-server does not reread its file.
    assert pod(oslo, "nats-statefulset")["metadata"]["annotations"] == {"checksum/config": data.checksum(text)}


def test_render_config_writes_blocks_lists_and_quoted_strings_in_order() -> None:
    text = nats.render_config({"b": True, "a": {"x": [1, "y"], "s": 'q"uote'}, "n": 3})
    assert text == 'b: true\na {\n  x: [1, "y"]\n  s: "q\\"uote"\n}\nn: 3\n'
    listed = nats.render_config({"i": nats.Include("../x.conf"), "u": [{"user": "a", "password": nats.Var("p")}]})
    assert listed == 'include "../x.conf"\nu: [\n  {user: "a", password: $p}\n]\n'
    with pytest.raises(TypeError):
        nats.render_config({"bad": 1.5})


def test_statefulset_runs_the_pinned_image_non_root_with_jetstream_on_local_path(oslo: StackRun) -> None:
    spec = obj(oslo, "nats-statefulset")["spec"]
    assert spec["replicas"] == 1 and spec["serviceName"] == "nats"
    assert spec["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    (claim,) = spec["volumeClaimTemplates"]
    assert claim["spec"] == {"accessModes": ["ReadWriteOnce"], "storageClassName": "local-path", "resources": {"requests": {"storage": "5Gi"}}}
    template = spec["template"]["spec"]
    assert template["securityContext"]["runAsNonRoot"] is True and template["securityContext"]["runAsUser"] >= 10000
    assert template["automountServiceAccountToken"] is False
    (ctr,) = template["containers"]
    assert ctr["image"] == versions.NATS_IMAGE and ctr["image"].startswith("nats:2.14.")
    assert ctr["command"] == ["nats-server", "--config", "/etc/nats/nats-server.conf"]
    assert ctr["securityContext"] == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}}
    assert ctr["resources"] == {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "256Mi"}}
    assert ctr["env"] == [{"name": "GOMEMLIMIT", "value": "230MiB"}]
    assert {m["mountPath"]: m["name"] for m in ctr["volumeMounts"]} == {"/etc/nats": "config", "/etc/nats-auth": "auth", "/data": "data"}
    volumes = {v["name"]: v for v in template["volumes"]}
    assert volumes["auth"]["secret"] == {"secretName": "nats-auth", "defaultMode": 0o440}
    assert {p["name"]: p["containerPort"] for p in ctr["ports"]} == {"client": 4222, "monitor": 8222}
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert ctr[probe]["httpGet"]["port"] == "monitor" and ctr[probe]["httpGet"]["path"].startswith("/healthz")


def test_service_and_policy(oslo: StackRun) -> None:
    svc = obj(oslo, "nats-service")
    assert svc["metadata"]["name"] == "nats" and svc["spec"]["type"] == "ClusterIP"
    assert [(p["name"], p["port"]) for p in svc["spec"]["ports"]] == [("client", 4222), ("monitor", 8222)]
    assert svc["spec"]["selector"] == {"app.kubernetes.io/name": "nats"}
    policy = obj(oslo, "nats-policy")["spec"]
    assert policy["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": "nats"}}
    admitted = {
        rule["ports"][0]["port"]: [peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for peer in rule["from"]]
        for rule in policy["ingress"]
    }
    assert admitted == {4222: ["openfaas", "openfaas-fn"], 8222: ["openfaas"]}


def test_settings_flow_into_the_objects() -> None:
    run = run_stack(
        "sized",
        stack(
            natsStorage="10Gi", natsMemoryLimit="1Gi", natsCpuLimit="50m", natsMaxPayload="2Mi",
            dataNamespace="events", openfaasNamespace="faas", openfaasFunctionNamespace="fn",
        ),
    )
    spec = obj(run, "nats-statefulset")["spec"]
    assert spec["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "10Gi"
    (ctr,) = spec["template"]["spec"]["containers"]
    assert ctr["resources"] == {"requests": {"cpu": "50m", "memory": "1Gi"}, "limits": {"cpu": "50m", "memory": "1Gi"}}
    text = obj(run, "nats-config")["data"]["nats-server.conf"]
    assert f"max_file_store: {int(10 * 2**30 * 0.9)}\n" in text and f"max_memory_store: {2**30 // 4}\n" in text
    assert f"max_payload: {2 * 2**20}\n" in text
    froms = [p["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for p in obj(run, "nats-policy")["spec"]["ingress"][0]["from"]]
    assert froms == ["faas", "fn"]
    assert run.outputs["natsUrl"] == "nats://nats.events.svc.cluster.local:4222"


def test_nats_url_is_a_stack_output(oslo: StackRun) -> None:
    assert oslo.outputs["natsUrl"] == "nats://nats.faas-data.svc.cluster.local:4222"


# --- OpenFaaS Pro uses it as its external NATS -------------------------------------------------


def test_pro_points_openfaas_at_this_nats(pro: StackRun) -> None:
    values = masked(pro.get("openfaas-release").inputs)["values"]
    assert values["nats"] == {"external": {"enabled": True, "host": "nats.faas-data.svc.cluster.local", "port": 4222, "clusterName": "faas-cluster"}}


def test_ce_keeps_its_bundled_queue(oslo: StackRun) -> None:
    assert "nats" not in masked(oslo.get("openfaas-release").inputs)["values"]
    text = obj(oslo, "nats-config")["data"]["nats-server.conf"]
    assert "QUEUE" not in text and "no_auth_user" not in text  # no credentials, no connection


def test_pro_queues_in_an_account_of_its_own_entered_without_credentials(pro: StackRun) -> None:
    """Chart 15.0.6 gives the Pro gateway and queue-worker nats_host/nats_port and nothing else."""
    text = obj(pro, "nats-config")["data"]["nats-server.conf"]
    assert text.endswith('  QUEUE {\n    jetstream: "enabled"\n    users: [\n      {user: "openfaas"}\n    ]\n  }\n}\nno_auth_user: "openfaas"\n')
    assert "openfaas-password" not in [r.name for r in pro.children("nats")]  # it could not send one


# --- passwords -------------------------------------------------------------------------------


def passwords(run: StackRun) -> dict[str, str]:
    """Each user's password, read from its client's copy (not from the server's file)."""
    found = {"function": unwrap(run.get("nats-credentials-function").inputs["stringData"])["nats-password"]}
    if any(r.name == "nats-credentials-connector" for r in run.resources):
        found["nats-connector"] = unwrap(run.get("nats-credentials-connector").inputs["stringData"])["password"]
    return found


def test_each_user_has_a_random_password_that_reaches_nats_only_through_a_secret(oslo: StackRun) -> None:
    pws = passwords(oslo)
    assert {len(pw) for pw in pws.values()} == {32} and len(set(pws.values())) == 2
    for name in ("nats-function-password", "nats-nats-connector-password"):
        assert unwrap(oslo.get(name).inputs) == {"length": 32, "special": False}
    auth = oslo.get("nats-auth")
    assert is_secret(auth.inputs["stringData"])
    assert unwrap(auth.inputs["stringData"]) == {
        "passwords.conf": f'function_password: "{pws["function"]}"\nnats_connector_password: "{pws["nats-connector"]}"\n'
    }
    # Nowhere in plain: not in the ConfigMap, any other input, an output, a command line or env.
    plain = json.dumps([masked(r.inputs) for r in oslo.resources]) + json.dumps(masked(oslo.outputs))
    assert not [pw for pw in pws.values() if pw in plain]
    (ctr,) = obj(oslo, "nats-statefulset")["spec"]["template"]["spec"]["containers"]
    assert ctr["env"] == [{"name": "GOMEMLIMIT", "value": "230MiB"}]


def test_functions_get_their_credentials_as_a_faas_netes_secret(oslo: StackRun) -> None:
    secret = oslo.get("nats-credentials-function")
    meta = unwrap(secret.inputs)["metadata"]
    assert (meta["name"], meta["namespace"]) == ("nats-credentials", "openfaas-fn")
    assert meta["labels"]["app.kubernetes.io/managed-by"] == "openfaas"  # faas-cli secret list shows it
    assert is_secret(secret.inputs["stringData"])
    assert unwrap(secret.inputs["stringData"]) == {"nats-user": "function", "nats-password": passwords(oslo)["function"]}
    assert {"openfaas-namespace", "openfaas-function-namespace"} <= set(secret.options["dependsOn"])
    assert "nats-credentials" in PLATFORM_SECRETS
    assert "nats-credentials-function" in oslo.get("function-img-resize").options["dependsOn"]


def test_a_function_may_mount_the_credentials(project_tmp: Path) -> None:
    file = stack_file(project_tmp, "  pub:\n    image: ghcr.io/acme/pub:1\n    secrets: [nats-credentials]\n")
    run = run_stack("publisher", stack(functionsFile=file))
    volumes = obj(run, "function-pub")["spec"]["template"]["spec"]["volumes"]
    assert {"secret": {"name": "nats-credentials"}} in volumes[0]["projected"]["sources"]


# --- the nats-connector ----------------------------------------------------------------------


def test_connector_subscribes_to_the_functions_topics_through_the_gateway(oslo: StackRun) -> None:
    dep = oslo.get("nats-connector-deployment")
    assert dep.parent == "nats-connector" and dep.provider == "cluster-k8s"
    assert "openfaas-release" in dep.options["dependsOn"]
    manifest = obj(oslo, "nats-connector-deployment")
    assert (manifest["metadata"]["name"], manifest["metadata"]["namespace"]) == ("nats-connector", "openfaas")
    spec = manifest["spec"]["template"]["spec"]
    (ctr,) = spec["containers"]
    assert ctr["image"] == versions.NATS_CONNECTOR_IMAGE == "ghcr.io/openfaas/nats-connector:0.3.0"
    password, *env = ctr["env"]
    # The password comes from the connector's Secret and goes into the URL it dials.
    assert password == {"name": "NATS_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "nats-connector-credentials", "key": "password"}}}
    assert {e["name"]: e["value"] for e in env} == {
        "topics": "image-upload",  # img-resize's topic, from functions/stack.yml
        "broker_host": "nats-connector:$(NATS_PASSWORD)@nats.faas-data.svc.cluster.local",
        "gateway_url": "http://gateway.openfaas:8080",
        "basic_auth": "true",
        "secret_mount_path": "/var/secrets/gateway",
        "upstream_timeout": "60s",
        "rebuild_interval": "10s",
        "asynchronous_invocation": "false",
        "print_response": "true",
        "print_response_body": "false",
    }
    assert ctr["volumeMounts"] == [{"name": "auth", "mountPath": "/var/secrets/gateway", "readOnly": True}]
    assert spec["volumes"] == [{"name": "auth", "secret": {"secretName": "basic-auth", "defaultMode": 0o440}}]
    assert ctr["workingDir"] == "/" and spec["securityContext"]["runAsNonRoot"] is True
    secret = oslo.get("nats-credentials-connector")
    assert (unwrap(secret.inputs)["metadata"]["namespace"], unwrap(secret.inputs["stringData"])) == ("openfaas", {"password": passwords(oslo)["nats-connector"]})
    assert is_secret(secret.inputs["stringData"]) and "nats-credentials-connector" in dep.options["dependsOn"]
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert ctr[probe]["exec"]["command"] == ["sh", "-c", nats.connector_probe_script()]
    assert ":107E 01 " in nats.connector_probe_script()  # 4222, ESTABLISHED
    policy = obj(oslo, "nats-connector-policy")
    assert policy["metadata"]["namespace"] == "openfaas"
    assert policy["spec"] == {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "nats-connector"}}, "policyTypes": ["Ingress"]}


def test_connector_topics_are_the_union_sorted_without_repeats(project_tmp: Path) -> None:
    file = stack_file(
        project_tmp,
        "  a:\n    image: ghcr.io/acme/a:1\n    annotations: {topic: orders}\n"
        "  b:\n    image: ghcr.io/acme/b:1\n    annotations: {topic: invoices}\n"
        "  c:\n    image: ghcr.io/acme/c:1\n    annotations: {topic: orders}\n"
        "  d:\n    image: ghcr.io/acme/d:1\n",
    )
    run = run_stack("topics", stack(functionsFile=file, gatewayUpstreamTimeout="30s", openfaasNamespace="faas"))
    env = {e["name"]: e.get("value") for e in obj(run, "nats-connector-deployment")["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["topics"] == "invoices,orders"
    text = obj(run, "nats-config")["data"]["nats-server.conf"]
    assert 'publish: {allow: ["invoices", "orders", "events.>"]}' in text and 'subscribe: {allow: ["invoices", "orders"]}' in text
    assert env["upstream_timeout"] == "30s" and env["gateway_url"] == "http://gateway.faas:8080"


@pytest.mark.parametrize("functions", ["", "  plain:\n    image: ghcr.io/acme/plain:1\n"], ids=["no-functions", "no-topics"])
def test_no_topics_no_connector(project_tmp: Path, functions: str) -> None:
    file = stack_file(project_tmp, functions) if functions else ""
    run = run_stack("quiet", stack(functionsFile=file))
    assert not [r.name for r in run.resources if r.name.startswith("nats-connector") or r.name == "nats-credentials-connector"]
    assert run.get("nats-statefulset")  # the server stays: functions may still publish
    assert [r.name for r in run.children("nats") if r.type.startswith("random:")] == ["nats-function-password"]
    assert "nats-connector" not in obj(run, "nats-config")["data"]["nats-server.conf"]


def test_the_component_refuses_an_empty_topic_list() -> None:
    with pytest.raises(ValueError, match="at least one topic"):
        NatsConnector("c", NatsConnectorArgs(topics=(), broker_host="nats", openfaas_namespace="openfaas", upstream_timeout="60s", provider=None))  # type: ignore[arg-type]


# --- settings --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (
            stack(natsMemoryLimit="512MB"),
            "got '512MB'; did you mean '512Mi'? ('Mi' is 1024^2, 'M' 1000^2, and 'm' means milli)",
        ),
        (stack(natsMemoryLimit="256"), "sovereign-faas:natsMemoryLimit: expected a size of at least 32Mi, got 256; did you mean '256Mi'?"),
        (stack(natsCpuLimit="one"), "sovereign-faas:natsCpuLimit: expected a Kubernetes quantity such as '512Mi', '250m', '1.5' or '2e9'"),
        (stack(natsCpuLimit="128Gi"), "sovereign-faas:natsCpuLimit: expected CPU cores from 10m to 64 (e.g. '500m' or '1'), got '128Gi'"),
        (stack(natsStorage="5 GB"), "sovereign-faas:natsStorage: expected a Kubernetes quantity"),
        (stack(natsStorage=True), "sovereign-faas:natsStorage: expected a Kubernetes quantity such as '512Mi', '250m', '1.5' or '2e9'"),
        (stack(natsMaxPayload="128Mi"), "sovereign-faas:natsMaxPayload: expected at most 64Mi (nats-server's own limit), got '128Mi'"),
        (stack(natsMaxPayload="32Mi", natsMemoryLimit="100Mi"), "sovereign-faas:natsMaxPayload: 32Mi is more than a quarter of natsMemoryLimit (100Mi)"),
        (stack(natsMaxPaylaod="1Mi"), "sovereign-faas:natsMaxPaylaod: unknown key; did you mean 'natsMaxPayload'?"),
    ],
)
def test_bad_nats_input_stops_the_preview(config: dict[str, Any], expected: str) -> None:
    with pytest.raises(ProgramError) as caught:
        run_stack("oslo", config)
    assert expected in str(caught.value)
    assert caught.value.registered == ()


# --- replicated: a JetStream cluster (dataReplicas 3, bergen's three servers) -----------------


@pytest.fixture(scope="module")
def bergen() -> StackRun:
    return run_stack("bergen")


CLUSTER_OBJECTS = {
    **NATS_OBJECTS,
    "nats-route-password": "random:index/randomPassword:RandomPassword",
    "nats-headless": "kubernetes:core/v1:Service",
    "nats-budget": "kubernetes:policy/v1:PodDisruptionBudget",
    # bergen backs its data up (etcdS3Bucket): Pro's queue stream, by user nats-backup
    "nats-nats-backup-password": "random:index/randomPassword:RandomPassword",
}
POD_HOSTS = [f"nats-{i}.nats-headless.faas-data.svc.cluster.local" for i in range(3)]


def test_bergen_runs_three_servers_one_per_node(bergen: StackRun) -> None:
    assert {r.name: r.type for r in bergen.children("nats")} == CLUSTER_OBJECTS
    spec = obj(bergen, "nats-statefulset")["spec"]
    assert (spec["replicas"], spec["serviceName"], spec["podManagementPolicy"]) == (3, "nats-headless", "Parallel")
    (term,) = spec["template"]["spec"]["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term == {"labelSelector": {"matchLabels": {"app.kubernetes.io/name": "nats"}}, "topologyKey": "kubernetes.io/hostname"}
    headless = obj(bergen, "nats-headless")
    assert headless["metadata"]["name"] == "nats-headless"
    assert headless["spec"]["clusterIP"] == "None" and headless["spec"]["publishNotReadyAddresses"] is True
    assert [(p["name"], p["port"]) for p in headless["spec"]["ports"]] == [("client", 4222), ("cluster", 6222), ("monitor", 8222)]
    budget = obj(bergen, "nats-budget")["spec"]
    assert budget == {"maxUnavailable": 1, "selector": {"matchLabels": {"app.kubernetes.io/name": "nats"}}}
    (ctr,) = spec["template"]["spec"]["containers"]
    assert {p["name"]: p["containerPort"] for p in ctr["ports"]} == {"client": 4222, "cluster": 6222, "monitor": 8222}
    # Ready only once caught up (startup: the full /healthz), then in the Service while it serves.
    assert ctr["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert ctr["startupProbe"]["periodSeconds"] * ctr["startupProbe"]["failureThreshold"] == 900
    assert ctr["readinessProbe"]["httpGet"]["path"] == "/healthz?js-server-only=true"


def test_each_server_is_named_after_its_pod_and_advertises_its_dns_name(bergen: StackRun) -> None:
    (ctr,) = obj(bergen, "nats-statefulset")["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e for e in ctr["env"]}
    assert env["POD_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    # Kubernetes expands $(POD_NAME) (defined before them); nats-server reads them as quoted strings.
    assert env["CLIENT_ADVERTISE"]["value"] == '"$(POD_NAME).nats-headless.faas-data.svc.cluster.local:4222"'
    assert env["CLUSTER_ADVERTISE"]["value"] == '"$(POD_NAME).nats-headless.faas-data.svc.cluster.local:6222"'
    assert [e["name"] for e in ctr["env"]].index("POD_NAME") < [e["name"] for e in ctr["env"]].index("CLIENT_ADVERTISE")
    text = obj(bergen, "nats-config")["data"]["nats-server.conf"]
    assert text.startswith("server_name: $POD_NAME\n") and "client_advertise: $CLIENT_ADVERTISE\n" in text
    assert (
        'include "../nats-auth/passwords.conf"\ninclude "../nats-auth/routes.conf"\n'
        "cluster {\n"
        '  name: "nats"\n'
        '  listen: "0.0.0.0:6222"\n'
        "  advertise: $CLUSTER_ADVERTISE\n"
        "  routes: $cluster_routes\n"
        "  authorization {\n"
        '    user: "route"\n'
        "    password: $route_password\n"
        "  }\n"
        "}\n"
    ) in text
    assert "no_advertise" not in text  # clients learn every server (connect_urls)


def test_routes_go_to_every_pod_and_authenticate_with_a_secret_password(bergen: StackRun) -> None:
    auth = bergen.get("nats-auth")
    assert is_secret(auth.inputs["stringData"])
    files = unwrap(auth.inputs["stringData"])
    lines = files["routes.conf"].splitlines()
    assert lines[0].startswith('route_password: "') and len(lines) == 2
    password = json.loads(lines[0].split(": ", 1)[1])
    assert len(password) == 32 and password.isalnum() and password not in passwords(bergen).values()
    assert lines[1] == "cluster_routes: [" + ", ".join(f'"nats://route:{password}@{host}:6222"' for host in POD_HOSTS) + "]"
    assert unwrap(bergen.get("nats-route-password").inputs) == {"length": 32, "special": False}
    # No client holds it, and it is nowhere in plain.
    plain = json.dumps([masked(r.inputs) for r in bergen.resources]) + json.dumps(masked(bergen.outputs))
    assert password not in plain
    assert password not in json.dumps([unwrap(r.inputs) for r in bergen.resources if r.name != "nats-auth"])


def only_nats_pods_reach_routes(policy: dict[str, Any]) -> bool:
    """Every ingress rule that covers the route port (listing it, or listing no ports) admits
    only pods labelled as NATS in the policy's own namespace (a podSelector with no
    namespaceSelector), and some rule admits them."""
    covering = [r for r in policy["spec"].get("ingress", []) if not r.get("ports") or any(p.get("port") == nats.CLUSTER_PORT for p in r["ports"])]
    nats_pods = {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "nats"}}}
    return bool(covering) and all(r.get("from") and all(peer == nats_pods for peer in r["from"]) for r in covering)


def test_the_route_port_admits_only_the_nats_pods(bergen: StackRun) -> None:
    policy = obj(bergen, "nats-policy")
    assert only_nats_pods_reach_routes(policy)
    assert policy == nats.policy("faas-data", "openfaas", "openfaas-fn", replicas=3)
    # The clients' rules are as for one replica; the route rule is the only one added.
    single = nats.policy("faas-data", "openfaas", "openfaas-fn")
    assert policy["spec"]["ingress"][:-1] == single["spec"]["ingress"]


def route_rule(peers: list[dict[str, Any]] | None, ports: list[int] | None = None) -> dict[str, Any]:
    rule: dict[str, Any] = {} if peers is None else {"from": peers}
    return rule | ({"ports": [{"protocol": "TCP", "port": p} for p in ports]} if ports else {})


@pytest.mark.parametrize(
    "extra",
    [
        route_rule([{"podSelector": {}}], [6222]),  # the whole namespace
        route_rule([{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "faas-data"}}}], [6222]),  # the namespace, by name
        route_rule([{"namespaceSelector": {}, "podSelector": {"matchLabels": {"app.kubernetes.io/name": "nats"}}}], [6222]),  # nats pods anywhere
        route_rule(None, [6222]),  # from anywhere
        route_rule([{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "openfaas"}}}]),  # every port, 6222 included
    ],
    ids=["namespace", "namespace-by-name", "any-namespace", "anyone", "all-ports"],
)
def test_a_policy_admitting_more_than_the_nats_pods_fails_the_check(extra: dict[str, Any]) -> None:
    policy = nats.policy("faas-data", "openfaas", "openfaas-fn", replicas=3)
    policy["spec"]["ingress"].append(extra)
    assert not only_nats_pods_reach_routes(policy)
    assert not only_nats_pods_reach_routes(nats.policy("faas-data", "openfaas", "openfaas-fn"))  # no route rule at all


def test_clients_are_given_every_server(bergen: StackRun) -> None:
    assert bergen.outputs["natsUrl"] == ",".join(f"nats://{host}:4222" for host in POD_HOSTS)
    # settings builds the same names as render/stateful (settings may not import render).
    assert [data.pod_host("nats", "faas-data", i) for i in range(3)] == POD_HOSTS
    env = settings_for_nodes(3).data.platform_env(3)
    assert env["NATS_URL"] == bergen.outputs["natsUrl"]
    # The connector and Pro dial one host: the Service, which reaches any ready server.
    connector = {e["name"]: e.get("value") for e in obj(bergen, "nats-connector-deployment")["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert connector["broker_host"].endswith("@nats.faas-data.svc.cluster.local")
    values = masked(bergen.get("openfaas-release").inputs)["values"]["nats"]
    assert values["external"]["host"] == "nats.faas-data.svc.cluster.local"
    assert values["streamReplication"] == 3  # the queue-worker's stream on every server


def settings_for_nodes(count: int) -> Any:
    return settings_for(stack(nodes=[{"name": f"n-{i}", "host": f"203.0.113.{10 + i}", "role": "server"} for i in range(count)]))


def test_one_node_stays_a_single_server(oslo: StackRun, pro: StackRun) -> None:
    """oslo (one node): no cluster, nothing replicated; Pro on one node leaves the chart's
    default stream replication (1)."""
    names = {r.name for r in oslo.children("nats")}
    assert not names & {"nats-headless", "nats-budget", "nats-route-password"}
    text = obj(oslo, "nats-config")["data"]["nats-server.conf"]
    assert "cluster" not in text and "server_name" not in text and "routes.conf" not in text
    assert set(unwrap(oslo.get("nats-auth").inputs["stringData"])) == {"passwords.conf"}
    assert "podManagementPolicy" not in obj(oslo, "nats-statefulset")["spec"]
    assert "streamReplication" not in masked(pro.get("openfaas-release").inputs)["values"]["nats"]
    assert oslo.outputs["natsUrl"] == "nats://nats.faas-data.svc.cluster.local:4222"


def test_nats_server_accepts_the_rendered_cluster_config_as_the_pod_mounts_it(tmp_path: Path) -> None:
    """The bergen config exactly as rendered (only JetStream's directory moved), with Secret
    nats-auth's two files where the pod mounts them and the pod's environment."""
    clients = nats.NatsClients(("image-upload",), pro_queue=True)
    config = nats.server_config(NatsSettings(), clients, replicas=3)
    config["jetstream"] = {**config["jetstream"], "store_dir": str(tmp_path / "js")}
    conf = tmp_path / nats.CONFIG_DIR.lstrip("/") / nats.CONFIG_FILE
    auth = tmp_path / nats.AUTH_DIR.lstrip("/")
    conf.parent.mkdir(parents=True)
    auth.mkdir(parents=True)
    conf.write_text(nats.render_config(config))
    (auth / nats.PASSWORDS_FILE).write_text(nats.passwords_config({u: f"{u}-pw" for u in clients.password_users}))
    (auth / nats.ROUTES_FILE).write_text(nats.routes_config("routePassword0123", nats.route_urls("faas-data", 3)))
    host = "nats-1.nats-headless.faas-data.svc.cluster.local"
    env = {"PATH": os.environ["PATH"], "POD_NAME": "nats-1", "CLIENT_ADVERTISE": json.dumps(f"{host}:4222"), "CLUSTER_ADVERTISE": json.dumps(f"{host}:6222")}

    def check(environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run([require("nats-server"), "-c", str(conf), "-t"], capture_output=True, text=True, timeout=30, env=environment)

    checked = check(env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # Without the pod's name there is no server_name: refused, not started nameless.
    unnamed = check({k: v for k, v in env.items() if k != "POD_NAME"})
    assert unnamed.returncode != 0 and "POD_NAME" in unnamed.stdout + unnamed.stderr
    (auth / nats.ROUTES_FILE).unlink()  # the routes' file missing: refused
    missing = check(env)
    assert missing.returncode != 0 and "routes.conf" in missing.stdout + missing.stderr


def test_a_stack_file_gets_every_server_in_nats_url(project_tmp: Path) -> None:
    """`${NATS_URL}` in the stack file follows the replicas the nodes imply (three nodes: three)."""
    file = stack_file(project_tmp, "  pub:\n    image: ghcr.io/acme/pub:1\n    environment:\n      nats_url: ${NATS_URL}\n")
    three = [{"name": f"n-{i}", "host": f"203.0.113.{10 + i}", "role": "server"} for i in range(3)]
    for nodes, expected in ((three, ",".join(f"nats://{h}:4222" for h in POD_HOSTS)), (None, "nats://nats.faas-data.svc.cluster.local:4222")):
        run = run_stack("publisher", stack(functionsFile=file, **({"nodes": nodes} if nodes else {})))
        env = {e["name"]: e.get("value") for e in obj(run, "function-pub")["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert env["nats_url"] == expected == run.outputs["natsUrl"]

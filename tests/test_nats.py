"""The Nats and NatsConnector components through the whole program, and their settings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from components.nats import NatsConnector, NatsConnectorArgs
from render import nats
from render import stateful as data
from settings import versions
from settings.data_services import NatsSettings
from settings.function_spec import PLATFORM_SECRETS
from tests.conftest import stack
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

"""The OpenFaaS component: the Helm release, its values, the gateway credentials, CE and Pro."""

from __future__ import annotations

import json
from typing import Any

import pytest

from render.openfaas import OPENFAAS_CHART_KEYS, ExternalNats, chart_values, gateway_url
from settings import versions
from settings.openfaas import OpenFaaSSettings
from tests.conftest import stack
from tools.harness import StackRun, is_secret, masked, run_stack, unwrap

LICENSE = {"secure": "eyJhbGciOiJSUzI1NiJ9.TEST-LICENCE.sig"}


@pytest.fixture(scope="module")
def pro() -> StackRun:
    return run_stack("pro", stack(openfaasEdition="pro", openfaasLicense=LICENSE))


@pytest.fixture(scope="module")
def nodeport() -> StackRun:
    return run_stack("np", stack(gatewayServiceType="NodePort", gatewayNodePort=31500, gatewayUpstreamTimeout="2m", gatewayReadTimeout="2m5s", gatewayWriteTimeout="2m5s", queueAckWait="2m30s"))


def leaf_paths(values: dict[str, Any], prefix: str = "") -> set[str]:
    paths: set[str] = set()
    for key, value in values.items():
        path = f"{prefix}{key}"
        paths |= leaf_paths(value, f"{path}.") if isinstance(value, dict) else {path}
    return paths


def test_release_inputs_are_exactly_these(oslo: StackRun) -> None:
    release = oslo.get("openfaas-release")
    inputs = masked(release.inputs)
    assert inputs["chart"] == "openfaas"
    assert inputs["version"] == versions.OPENFAAS_CHART == "15.0.6"
    assert inputs["repositoryOpts"] == {"repo": "https://openfaas.github.io/faas-netes/"}
    assert inputs["name"] == "openfaas" and inputs["namespace"] == "openfaas"
    assert (inputs["createNamespace"], inputs["skipAwait"], inputs["atomic"], inputs["timeout"]) == (False, False, True, 600)
    assert inputs["values"] == {
        "async": True,
        "basic_auth": True,
        "clusterRole": False,
        "exposeServices": True,
        "functionNamespace": "openfaas-fn",
        "gateway": {"readTimeout": "65s", "upstreamTimeout": "60s", "writeTimeout": "65s"},
        "generateBasicAuth": False,
        "openfaasImagePullPolicy": "IfNotPresent",
        "openfaasPro": False,
        "operator": {"create": False},
        "queueWorker": {"ackWait": "60s"},
        "serviceType": "LoadBalancer",
    }


def test_release_waits_for_namespaces_and_auth_on_the_cluster_provider(oslo: StackRun) -> None:
    release = oslo.get("openfaas-release")
    assert release.provider == "cluster-k8s"
    assert {"openfaas-namespace", "openfaas-function-namespace", "openfaas-basic-auth"} <= set(release.options["dependsOn"])
    for name in ("openfaas-namespace", "openfaas-function-namespace", "openfaas-basic-auth"):
        assert oslo.get(name).provider == "cluster-k8s"
        assert oslo.get(name).parent == "openfaas"
    names = {r.name: unwrap(r.inputs)["metadata"]["name"] for r in oslo.children("openfaas") if r.type == "kubernetes:core/v1:Namespace"}
    assert names == {"openfaas-namespace": "openfaas", "openfaas-function-namespace": "openfaas-fn"}


def test_basic_auth_secret_holds_admin_and_the_random_password(oslo: StackRun) -> None:
    secret = oslo.get("openfaas-basic-auth")
    meta = unwrap(secret.inputs)["metadata"]
    assert (meta["name"], meta["namespace"]) == ("basic-auth", "openfaas")
    assert is_secret(secret.inputs["stringData"])
    data = unwrap(secret.inputs["stringData"])
    assert set(data) == {"basic-auth-user", "basic-auth-password"}
    assert data["basic-auth-user"] == "admin"
    assert is_secret(oslo.outputs["adminPassword"])
    password = unwrap(oslo.outputs["adminPassword"])
    assert data["basic-auth-password"] == password and len(password) == 32


def test_password_appears_nowhere_in_plain_inputs_or_outputs(oslo: StackRun) -> None:
    password = unwrap(oslo.outputs["adminPassword"])
    plain = json.dumps([masked(r.inputs) for r in oslo.resources]) + json.dumps(masked(oslo.outputs))
    assert password not in plain


def test_gateway_url_follows_the_service_type(oslo: StackRun, nodeport: StackRun) -> None:
    assert oslo.outputs["gatewayUrl"] == "http://203.0.113.10:8080"
    assert nodeport.outputs["gatewayUrl"] == "http://203.0.113.10:31500"
    values = masked(nodeport.get("openfaas-release").inputs)["values"]
    assert values["serviceType"] == "NodePort" and values["gateway"]["nodePort"] == 31500
    assert values["gateway"]["upstreamTimeout"] == "2m" and values["queueWorker"]["ackWait"] == "2m30s"
    assert gateway_url(OpenFaaSSettings(), "2001:db8::1") == "http://[2001:db8::1]:8080"


def test_ce_makes_no_licence_secret(oslo: StackRun) -> None:
    assert [r.name for r in oslo.children("openfaas") if r.type == "kubernetes:core/v1:Secret"] == ["openfaas-basic-auth"]
    assert oslo.outputs["openfaasEdition"] == "ce"


def test_pro_release_waits_for_the_stack_nats_ce_does_not(pro: StackRun, oslo: StackRun) -> None:
    assert "nats-statefulset" in pro.get("openfaas-release").options["dependsOn"]
    assert "nats-statefulset" not in oslo.get("openfaas-release").options["dependsOn"]


def test_pro_installs_the_licence_before_the_release(pro: StackRun) -> None:
    secret = pro.get("openfaas-license")
    meta = unwrap(secret.inputs)["metadata"]
    assert (meta["name"], meta["namespace"]) == ("openfaas-license", "openfaas")
    assert is_secret(secret.inputs["stringData"])
    assert unwrap(secret.inputs["stringData"]) == {"license": LICENSE["secure"]}
    release = pro.get("openfaas-release")
    assert "openfaas-license" in release.options["dependsOn"]
    assert masked(release.inputs)["values"]["openfaasPro"] is True
    assert LICENSE["secure"] not in json.dumps([masked(r.inputs) for r in pro.resources])


def test_external_nats_is_used_by_pro_only() -> None:
    nats = ExternalNats(host="nats.openfaas.svc.cluster.local")
    pro = chart_values(OpenFaaSSettings(edition="pro", license="x"), nats)
    assert pro["nats"] == {"external": {"enabled": True, "host": "nats.openfaas.svc.cluster.local", "port": 4222, "clusterName": "faas-cluster"}}
    assert "nats" not in chart_values(OpenFaaSSettings(), nats)


def test_a_replicated_nats_gets_the_queue_stream_replicated_on_every_server() -> None:
    """Chart 15.0.6 passes nats.streamReplication to the Pro queue-worker (nats_stream_replicas);
    one replica leaves the chart's default (1) unwritten."""
    pro = OpenFaaSSettings(edition="pro", license="x")
    assert chart_values(pro, ExternalNats(host="nats", stream_replication=3))["nats"]["streamReplication"] == 3
    assert "streamReplication" not in chart_values(pro, ExternalNats(host="nats"))["nats"]
    assert "nats" not in chart_values(OpenFaaSSettings(), ExternalNats(host="nats", stream_replication=3))  # CE: no JetStream queue


@pytest.mark.parametrize(
    ("settings", "replicas"),
    [
        (OpenFaaSSettings(), 1),
        (OpenFaaSSettings(service_type="NodePort"), 1),
        (OpenFaaSSettings(edition="pro", license="x"), 1),
        (OpenFaaSSettings(edition="pro", license="x"), 3),
    ],
)
def test_every_value_written_is_a_chart_key(settings: OpenFaaSSettings, replicas: int) -> None:
    values = chart_values(settings, ExternalNats(host="nats", stream_replication=replicas))
    assert leaf_paths(values) <= OPENFAAS_CHART_KEYS


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (stack(openfaasEdition="enterprise"), "sovereign-faas:openfaasEdition: expected 'ce' (Community Edition) or 'pro'"),
        (stack(openfaasEdition="pro"), "sovereign-faas:openfaasLicense: required for openfaasEdition 'pro'"),
        (stack(openfaasEdition="pro", openfaasLicense="plain"), "sovereign-faas:openfaasLicense: must be a secret"),
        (stack(gatewayReadTimeout="65"), "sovereign-faas:gatewayReadTimeout: expected a duration with a unit, like '65s' or '1m5s', got 65"),
        (stack(gatewayWriteTimeout="one minute"), "sovereign-faas:gatewayWriteTimeout: expected a duration with a unit, like '65s' or '1m5s', got 'one minute'"),
        (stack(queueAckWait=60), "sovereign-faas:queueAckWait: expected a duration with a unit"),
        (stack(gatewayUpstreamTimeout="2m"), "sovereign-faas:gatewayUpstreamTimeout: 2m must be smaller than gatewayReadTimeout (65s)"),
        (stack(gatewayUpstreamTimeout="65s"), "sovereign-faas:gatewayUpstreamTimeout: 65s must be smaller than gatewayWriteTimeout (65s)"),
        (stack(queueAckWait="30s"), "sovereign-faas:queueAckWait: 30s must be at least gatewayUpstreamTimeout (60s)"),
        (stack(gatewayServiceType="ClusterIP"), "sovereign-faas:gatewayServiceType: expected 'LoadBalancer' or 'NodePort', got 'ClusterIP'"),
        (stack(gatewayServiceType="Nodeport"), "did you mean 'NodePort'?"),
        (stack(k3sDisable=["traefik", "servicelb"]), "sovereign-faas:gatewayServiceType: 'LoadBalancer' needs K3s' servicelb"),
        (stack(gatewayServiceType="NodePort", gatewayNodePort=8080), "sovereign-faas:gatewayNodePort: expected an integer from 30000 to 32767, got 8080"),
        (stack(openfaasFunctionNamespace="openfaas"), "sovereign-faas:openfaasFunctionNamespace: 'openfaas' is also openfaasNamespace: each part of the stack needs a namespace of its own"),
        (stack(openfaasNamespace="OpenFaaS"), "sovereign-faas:openfaasNamespace: expected a DNS-1123 label"),
    ],
)
def test_bad_openfaas_input_stops_the_preview(config: dict[str, Any], expected: str) -> None:
    from tools.harness import ProgramError

    with pytest.raises(ProgramError) as caught:
        run_stack("oslo", config)
    assert expected in str(caught.value)
    assert caught.value.registered == ()


def test_go_durations_are_accepted() -> None:
    run = run_stack("d", stack(gatewayReadTimeout="1m5s", gatewayWriteTimeout="1m5s", gatewayUpstreamTimeout="1m", queueAckWait="1m0.5s"))
    assert masked(run.get("openfaas-release").inputs)["values"]["gateway"]["readTimeout"] == "1m5s"

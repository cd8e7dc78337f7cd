"""TLS at the edge: settings, what the stack registers with and without a domain, and the
references between the custom objects (issuer -> certificate -> secret -> listener -> route ->
Service), which no offline schema checks for us."""

from __future__ import annotations

from typing import Any

import pytest

from render import edge, policies
from settings import versions
from tests.conftest import stack
from tests.test_policies import EXTERNAL, Pod, allowed, network_policies
from tools.harness import ProgramError, StackRun, masked, run_stack, unwrap

DOMAIN = "faas.example.no"
TLS = {"domain": DOMAIN, "acmeEmail": "ops@example.no"}


@pytest.fixture(scope="module")
def tls() -> StackRun:
    return run_stack("tls", stack(**TLS))


def objects(run: StackRun) -> dict[str, dict[str, Any]]:
    """The edge's custom objects by role (`edge-<role>`), as the provider gets them."""
    custom = ("kubernetes:gateway.networking.k8s.io/", "kubernetes:cert-manager.io/")
    return {r.name.removeprefix("edge-"): unwrap(r.inputs) for r in run.children("edge") if r.type.startswith(custom)}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"domain": "faas", "acmeEmail": "a@b.no"}, "sovereign-faas:domain: expected a DNS name such as 'faas.example.no'"),
        ({"domain": "*.example.no", "acmeEmail": "a@b.no"}, "no wildcard, not an IP address), got '*.example.no'"),
        ({"domain": "Faas.Example.no", "acmeEmail": "a@b.no"}, "(lower case"),
        ({"domain": DOMAIN, "acmeEmail": "ops.example.no"}, "sovereign-faas:acmeEmail: expected an e-mail address such as 'ops@example.no'"),
        ({"domain": DOMAIN}, "sovereign-faas:acmeEmail: required with domain"),
        ({"acmeEmail": "ops@example.no"}, "sovereign-faas:domain: required with acmeEmail"),
        ({**TLS, "acmeIssuer": "prod"}, "sovereign-faas:acmeIssuer: expected 'staging' or 'production', got 'prod'"),
        ({**TLS, "k3sDisable": ["traefik", "servicelb"]}, "sovereign-faas:k3sDisable: keep servicelb while domain is set"),
        ({**TLS, "k3sDisable": []}, "sovereign-faas:k3sDisable: keep traefik in it while domain is set"),
        ({**TLS, "gatewayServiceType": "NodePort"}, "sovereign-faas:gatewayServiceType: not used while domain is set"),
        ({"domian": DOMAIN}, "did you mean 'domain'"),
    ],
)
def test_bad_input_stops_the_program_before_anything_is_registered(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ProgramError) as caught:
        run_stack("bad-edge", stack(**overrides))
    assert message in str(caught.value) and caught.value.registered == ()


def test_without_a_domain_the_program_warns_and_serves_http(oslo: StackRun) -> None:
    assert any("no domain set: the gateway is served over plain HTTP on port 8080" in w for w in oslo.warnings())
    assert oslo.outputs["gatewayUrl"].startswith("http://") and oslo.children("edge") == []


def test_with_a_domain_everything_points_at_https(tls: StackRun) -> None:
    assert not any("no domain set" in w for w in tls.warnings())
    assert tls.outputs["gatewayUrl"] == f"https://{DOMAIN}"
    assert tls.outputs["functions"] == {"img-resize": f"https://{DOMAIN}/function/img-resize"}
    # The gateway's own Service is no longer published; the host firewall opens 80 and 443.
    assert masked(tls.get("openfaas-release").inputs)["values"]["serviceType"] == "ClusterIP"
    rules = tls.get("oslo-1-firewall").inputs["stdin"]
    assert "tcp dport { 80, 443 } accept  # public: the gateway" in rules and "8080" not in rules


def test_charts_are_pinned_and_installed_in_order(tls: StackRun) -> None:
    traefik, cert_manager = tls.get("edge-traefik").inputs, tls.get("edge-cert-manager").inputs
    assert (traefik["chart"], traefik["version"], traefik["namespace"]) == ("traefik", "42.4.3", "edge")
    assert (cert_manager["chart"], cert_manager["version"], cert_manager["namespace"]) == ("cert-manager", "v1.21.2", "cert-manager")
    assert traefik["atomic"] is True and cert_manager["atomic"] is True
    # The stack brings the Gateway API CRDs (Traefik's chart no longer does), before Traefik,
    # and so before cert-manager, whose Gateway support needs them at start.
    crds = tls.get("edge-gateway-api-crds")
    assert crds.type == "kubernetes:yaml/v2:ConfigFile"
    assert crds.inputs["file"] == f"https://github.com/kubernetes-sigs/gateway-api/releases/download/{versions.GATEWAY_API}/standard-install.yaml"
    assert "edge-gateway-api-crds" in tls.get("edge-traefik").options["dependsOn"]
    assert "edge-traefik" in tls.get("edge-cert-manager").options["dependsOn"]
    for role in objects(tls):
        needs = tls.get(f"edge-{role}").options["dependsOn"]
        assert {"edge-traefik", "edge-cert-manager", "openfaas-release"} <= set(needs), role
    values = unwrap(traefik["values"])
    assert values["providers"]["kubernetesGateway"] == {"enabled": True}
    assert values["gateway"] == {"enabled": False} and values["gatewayClass"]["name"] == edge.GATEWAY_CLASS
    assert values["service"] == {"spec": {"type": "LoadBalancer"}}  # the 40+ Service syntax
    config = unwrap(cert_manager["values"])["config"]
    assert config["gatewayAPI"] == {"enabled": True} and "enableGatewayAPI" not in config  # the deprecated key


def leaf_paths(value: Any, prefix: str = "") -> set[str]:
    if isinstance(value, dict) and value:
        return {p for k, v in value.items() for p in leaf_paths(v, f"{prefix}{k}.")}
    return {prefix.rstrip(".")}


def test_traefik_values_use_only_keys_of_the_pinned_chart() -> None:
    assert leaf_paths(edge.traefik_values()) == edge.TRAEFIK_CHART_KEYS
    # Keys the 40+ chart removed or renamed (its values.schema.json refuses them).
    for gone in ("service.type", "logs.general", "providers.kubernetesIngressNginx.enabled"):
        assert gone not in edge.TRAEFIK_CHART_KEYS


def test_the_certificate_comes_from_the_chosen_issuer(tls: StackRun) -> None:
    objs = objects(tls)
    issuers = {o["metadata"]["name"]: o for o in objs.values() if o["kind"] == "ClusterIssuer"}
    assert {n: i["spec"]["acme"]["server"] for n, i in issuers.items()} == {
        "letsencrypt-staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
        "letsencrypt-production": "https://acme-v02.api.letsencrypt.org/directory",
    }
    cert = objs["certificate"]
    assert cert["spec"]["issuerRef"]["name"] == "letsencrypt-production" and cert["spec"]["dnsNames"] == [DOMAIN]
    staging = objects(run_stack("tls-staging", stack(**TLS, acmeIssuer="staging")))
    assert staging["certificate"]["spec"]["issuerRef"]["name"] == "letsencrypt-staging"


def test_references_between_the_objects_resolve(tls: StackRun) -> None:
    objs = objects(tls)
    gateway, cert = objs["gateway"], objs["certificate"]
    listeners = {item["name"]: item for item in gateway["spec"]["listeners"]}
    # The HTTPS listener serves the secret the certificate fills, in the Gateway's namespace.
    (ref,) = listeners["https"]["tls"]["certificateRefs"]
    assert (ref["name"], cert["metadata"]["namespace"]) == (cert["spec"]["secretName"], gateway["metadata"]["namespace"])
    assert {item["hostname"] for item in listeners.values()} == {DOMAIN}
    # Listener ports are Traefik's entry points, which its Service publishes as 80 and 443.
    assert (listeners["http"]["port"], listeners["https"]["port"]) == (8000, 8443)
    # Every route and the ACME solver attach to a listener that exists and admits their namespace.
    parents = [(objs["redirect"], objs["redirect"]["metadata"]["namespace"]), (objs["route"], objs["route"]["metadata"]["namespace"])]
    solver = objs["issuer-production"]["spec"]["acme"]["solvers"][0]["http01"]["gatewayHTTPRoute"]
    parents.append(({"spec": solver}, cert["metadata"]["namespace"]))  # solver routes live with the Certificate
    for route, ns in parents:
        (parent,) = route["spec"]["parentRefs"]
        assert (parent["name"], parent["namespace"]) == (gateway["metadata"]["name"], gateway["metadata"]["namespace"])
        admitted = listeners[parent["sectionName"]]["allowedRoutes"]["namespaces"]
        if admitted["from"] == "Same":
            assert ns == gateway["metadata"]["namespace"]
        else:
            assert admitted["selector"]["matchLabels"] == {policies.NAMESPACE_LABEL: ns}
    # The gateway route sends to the chart's `gateway` Service on 8080, in its own namespace.
    assert objs["route"]["metadata"]["namespace"] == "openfaas"
    assert objs["route"]["spec"]["rules"] == [{"backendRefs": [{"name": "gateway", "port": 8080}]}]
    assert objs["route"]["spec"]["parentRefs"][0]["sectionName"] == "https"
    assert objs["redirect"]["spec"]["rules"][0]["filters"] == [{"type": "RequestRedirect", "requestRedirect": {"scheme": "https", "statusCode": 301}}]


@pytest.mark.parametrize(
    ("src", "dst", "port", "expected"),
    [
        (EXTERNAL, Pod("edge", {"app.kubernetes.io/name": "traefik"}), 8443, True),
        (EXTERNAL, Pod("edge", {"app.kubernetes.io/name": "traefik"}), 8000, True),
        (EXTERNAL, Pod("edge", {"app.kubernetes.io/name": "traefik"}), 9100, False),
        (EXTERNAL, Pod("edge", {"acme.cert-manager.io/http01-solver": "true"}), 8089, False),
        (Pod("edge", {"app.kubernetes.io/name": "traefik"}), Pod("edge", {"acme.cert-manager.io/http01-solver": "true"}), 8089, True),
        (Pod("edge", {"app.kubernetes.io/name": "traefik"}), Pod("openfaas", {"app": "gateway"}), 8080, True),
        (Pod("edge", {"app.kubernetes.io/name": "traefik"}), Pod("openfaas-fn", {"faas_function": "img-resize"}), 8080, False),
    ],
)
def test_edge_flows(tls: StackRun, src: Pod, dst: Pod, port: int, expected: bool) -> None:
    assert allowed(network_policies(tls), src, dst, port) is expected


@pytest.mark.parametrize(("version", "disabled"), [("v1.36.4+k3s1", False), ("v1.37.1+k3s1", True)])
def test_from_k3s_1_37_its_own_gateway_api_crds_are_off_while_the_edge_owns_them(version: str, disabled: bool) -> None:
    """K3s 1.37 ships a `gateway-api-crd` component of its own; two owners would fight over
    the CRDs, so with a domain the stack disables K3s' (and without one leaves it alone)."""
    from render.k3s import ClusterK3s, k3s_config
    from tests.conftest import settings_for

    with_edge = settings_for(stack(k3sVersion=version, **TLS))
    without = settings_for(stack(k3sVersion=version))
    assert ("gateway-api-crd" in k3s_config(with_edge.first_server, ClusterK3s.of(with_edge), "t")["disable"]) is disabled
    assert "gateway-api-crd" not in k3s_config(without.first_server, ClusterK3s.of(without), "t")["disable"]

"""The egress inventory (components/egress.py), strict mode, chart mirrors and the ACME CA.

The inventory is derived: the images come from the objects the program registers, so a new
image on a new registry is a new row, and every image any registered object runs is in it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from components import egress
from settings import chart_images, versions
from settings.errors import ConfigError
from settings.stack import Settings
from tests.conftest import settings_for, stack
from tools import plan
from tools.harness import PROJECT_DIR, ProgramError, StackRun, is_secret, run_stack, unwrap

EXAMPLES = sorted(p.name.split(".")[1] for p in PROJECT_DIR.glob("Pulumi.*.yaml"))
LICENSE = {"secure": "licence"}
# Every source in the country: what Pulumi.tromso.yaml does, for inline stacks.
MIRRORED: dict[str, Any] = {
    "openfaasEdition": "pro",
    "openfaasLicense": LICENSE,
    "sovereignStrict": True,
    "k3sMirror": "https://mirror.example.no/k3s",
    "registryMirrors": {"*": ["https://registry.example.no"]},
    "chartRepositories": {"openfaas": "https://charts.example.no", "traefik": "https://charts.example.no", "cert-manager": "oci://registry.example.no/charts"},
}


def endpoints_of(name: str, config: dict[str, Any] | None = None) -> tuple[StackRun, list[egress.Endpoint]]:
    run = run_stack(name, config)
    return run, plan.egress_endpoints(run, plan.stack_settings(name, config=config))


def hosts(endpoints: list[egress.Endpoint], phase: str | None = None) -> set[str]:
    return {e.host for e in endpoints if phase in (None, e.phase)}


def registered_images(run: StackRun) -> set[str]:
    return {w.image for r in run.resources if plan.is_kubernetes_object(r) for w in egress.workloads_of(unwrap(r.inputs))}


@pytest.fixture(scope="module")
def examples() -> dict[str, tuple[StackRun, list[egress.Endpoint], Settings]]:
    found = {}
    for name in EXAMPLES:
        run = run_stack(name)
        settings = plan.stack_settings(name)
        found[name] = (run, plan.egress_endpoints(run, settings), settings)
    return found


def test_the_default_example_lists_k3s_registries_chart_repository_and_ce_phone_home(examples: dict) -> None:
    _, endpoints, _ = examples["oslo"]
    assert hosts(endpoints, egress.NODE_INSTALL) == {"raw.githubusercontent.com", "github.com"}
    assert {"docker.io", "ghcr.io", "openfaas.github.io", "checkip.amazonaws.com"} <= hosts(endpoints, egress.CLUSTER)
    assert hosts(endpoints, egress.FUNCTIONS) == {"ghcr.io"}  # img-resize
    assert not any(e.in_country for e in egress.outside(endpoints))
    ce = next(e for e in endpoints if e.host == "checkip.amazonaws.com")
    assert ce.port == 443 and "gateway" in ce.who[0] and ce.fix == "openfaasEdition: pro"
    # ghcr.io twice (the platform's images and img-resize), one host in the summary
    assert egress.summary(endpoints).startswith("egress: 6 hosts outside the cluster, 0 mirrored or allowed, 6 not (checkip.amazonaws.com, docker.io,")


def test_the_https_example_adds_the_edge_charts_quay_and_lets_encrypt(examples: dict) -> None:
    _, endpoints, _ = examples["bergen"]
    assert {"traefik.github.io", "charts.jetstack.io", "quay.io", "acme-v02.api.letsencrypt.org", "acme-staging-v02.api.letsencrypt.org"} <= hosts(endpoints)
    assert "checkip.amazonaws.com" not in hosts(endpoints)  # Pro
    assert egress.TRAEFIK_UPDATE_HOST not in hosts(endpoints)  # checkNewVersion is off


def test_the_strict_example_has_no_endpoint_outside_the_country(examples: dict) -> None:
    run, endpoints, settings = examples["tromso"]
    assert settings.sovereignty.strict
    assert egress.strict_problems(endpoints) == []
    assert egress.summary(endpoints).endswith(" 0 not")
    assert "mirror.example.no" in hosts(endpoints, egress.NODE_INSTALL)
    assert any("pulumi login" in e.fix for e in endpoints if e.phase == egress.OPERATOR)  # documented, not checked


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_image_of_every_registered_object_is_in_the_inventory(examples: dict, name: str) -> None:
    run, endpoints, settings = examples[name]
    images = registered_images(run)
    assert images  # the scan finds the containers
    # What `pulumi up` inventories (from the settings) is what the program registers.
    assert {w.image for w in egress.workloads(settings)} == images
    why = {line for e in endpoints for line in e.why}
    from upstream import kubernetes

    for image in images:
        assert f"image {kubernetes.normalized_image(image)}" in why, image


def test_a_function_on_a_new_registry_adds_a_row(project_tmp: Path) -> None:
    file = project_tmp / "stack.yml"
    file.write_text("version: 1.0\nprovider: {name: openfaas}\nfunctions:\n  hello:\n    image: registry.acme.example:5000/team/hello:1.0.0\n")
    _, endpoints = endpoints_of("newreg", stack(functionsFile=str(file)))
    (row,) = [e for e in endpoints if e.host == "registry.acme.example"]
    assert row.phase == egress.FUNCTIONS and row.port == 5000 and not row.mirrored
    assert row.who == ("Deployment openfaas-fn/hello",) and row.why == ("image registry.acme.example:5000/team/hello:1.0.0",)
    assert row.fix.startswith("registryMirrors (map registry.acme.example:5000")


def test_a_registry_mirror_marks_its_registry_mirrored_and_only_that_one() -> None:
    _, endpoints = endpoints_of("mirror", stack(registryMirrors={"docker.io": ["https://registry.example.no"]}))
    by_host = {e.host: e for e in endpoints if e.phase == egress.CLUSTER}
    assert by_host["docker.io"].mirrored and by_host["docker.io"].via == ("registry.example.no",)
    assert not by_host["ghcr.io"].mirrored


def test_the_airgap_source_is_the_operators_machine_and_k3s_pulls_no_image(tmp_path: Path) -> None:
    from tests.test_mirrors_plan import airgap_folder

    _, endpoints = endpoints_of("airgap", stack(k3sAirgapDir=str(airgap_folder(tmp_path))))
    (install,) = [e for e in endpoints if e.phase == egress.NODE_INSTALL]
    assert install.host == "the operator's machine" and install.mirrored
    assert not any("rancher/" in w for e in endpoints for w in e.why)


def test_system_default_registry_moves_k3s_images_there() -> None:
    _, endpoints = endpoints_of("sdr", stack(systemDefaultRegistry="registry.example.no"))
    row = next(e for e in endpoints if e.host == "registry.example.no")
    assert row.mirrored and any("rancher/mirrored-pause" in w for w in row.why)


def test_plan_writes_the_inventory_and_prints_its_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert plan.main(["--stack", "oslo", "--out", str(tmp_path / "o")]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("egress: "))
    doc = json.loads((tmp_path / "o" / "egress.json").read_text())
    assert doc["summary"] == line and {e["host"] for e in doc["endpoints"]} >= {"github.com", "docker.io"}
    assert set(doc["endpoints"][0]) == {"phase", "host", "port", "who", "why", "mirrored", "allowed", "via", "fix", "note"}
    md = (tmp_path / "o" / "egress.md").read_text()
    assert line in md and "## node install" in md and "## operator" in md


def test_the_program_logs_the_summary_line(oslo: StackRun) -> None:
    assert any(level == "INFO" and m.startswith("egress: 6 hosts outside the cluster") for level, m in oslo.logs)


def test_chart_image_lists_were_read_for_the_pinned_charts() -> None:
    """settings/chart_images.py cites the values.yaml of these pins: re-read it on a bump."""
    assert (versions.OPENFAAS_CHART, versions.TRAEFIK_CHART, versions.CERT_MANAGER_CHART) == ("15.0.6", "42.4.3", "v1.21.2")
    assert chart_images.chart_images("openfaas", pro=False) != chart_images.chart_images("openfaas", pro=True)


# --- strict mode ---------------------------------------------------------------------------


def test_strict_refuses_ce_with_the_reason() -> None:
    with pytest.raises(ConfigError) as err:
        settings_for(stack(sovereignStrict=True))
    assert "sovereign-faas:openfaasEdition: 'ce' cannot run under sovereignStrict" in str(err.value)
    assert "checkip.amazonaws.com" in str(err.value) and "'pro'" in str(err.value)


def test_strict_names_each_endpoint_and_the_key_that_fixes_it_before_registering_anything() -> None:
    with pytest.raises(ProgramError) as err:
        run_stack("strict", stack(sovereignStrict=True, openfaasEdition="pro", openfaasLicense=LICENSE))
    text = str(err.value)
    assert "sovereign-faas:k3sMirror: sovereignStrict: raw.githubusercontent.com:443" in text
    assert "sovereign-faas:registryMirrors: sovereignStrict: docker.io:443" in text
    assert "sovereign-faas:registryMirrors: sovereignStrict: ghcr.io:443" in text
    assert "sovereign-faas:chartRepositories.openfaas: sovereignStrict: openfaas.github.io:443" in text
    assert "api.pulumi.com" not in text  # the operator's side is documented, not refused
    assert not [n for n in err.value.registered if n.endswith("-k3s-install")]


def test_strict_refuses_lets_encrypt_until_an_in_country_ca_is_allowed() -> None:
    edge = {"domain": "faas.example.no", "acmeEmail": "ops@example.no", "k3sDisable": ["traefik"]}
    with pytest.raises(ProgramError) as err:
        run_stack("le", stack(**MIRRORED, **edge))
    assert "sovereign-faas:acmeServer: sovereignStrict: acme-v02.api.letsencrypt.org:443" in str(err.value)
    with pytest.raises(ProgramError) as err:
        run_stack("ca", stack(**MIRRORED, **edge, acmeServer="https://acme.example.no/directory"))
    assert "acme.example.no:443" in str(err.value) and "egressAllowHosts" in str(err.value)
    run = run_stack("ok", stack(**MIRRORED, **edge, acmeServer="https://acme.example.no/directory", egressAllowHosts=["acme.example.no"],
                               gatewayApiCrds="https://mirror.example.no/gateway-api/standard-install.yaml"))
    assert run.of_type("kubernetes:helm.sh/v3:Release")


def test_strict_refuses_open_function_egress() -> None:
    with pytest.raises(ProgramError) as err:
        run_stack("open", stack(**MIRRORED, functionEgress="open"))
    assert "sovereign-faas:functionEgress: sovereignStrict: anywhere (0.0.0.0/0, ::/0)" in str(err.value)


def test_function_egress_settings_are_checked() -> None:
    with pytest.raises(ConfigError) as err:
        settings_for(stack(functionEgress="closed", functionEgressAllow=[{"cidr": "10.0.0.1/8"}]))
    text = str(err.value)
    assert "sovereign-faas:functionEgress:" in text and "sovereign-faas:functionEgressAllow[0].cidr:" in text


# --- chart repositories --------------------------------------------------------------------


def releases(run: StackRun) -> dict[str, dict[str, Any]]:
    return {r.inputs["name"]: unwrap(r.inputs) for r in run.of_type("kubernetes:helm.sh/v3:Release")}


def test_chart_repositories_take_https_and_oci() -> None:
    edge = {"domain": "faas.example.no", "acmeEmail": "ops@example.no", "k3sDisable": ["traefik"]}
    run = run_stack("charts", stack(chartRepositories=MIRRORED["chartRepositories"], **edge))
    found = releases(run)
    assert found["openfaas"]["chart"] == "openfaas" and found["openfaas"]["repositoryOpts"] == {"repo": "https://charts.example.no"}
    assert found["traefik"]["repositoryOpts"] == {"repo": "https://charts.example.no"}
    assert found["cert-manager"]["chart"] == "oci://registry.example.no/charts/cert-manager"
    assert "repositoryOpts" not in found["cert-manager"] and found["cert-manager"]["version"] == versions.CERT_MANAGER_CHART


def test_default_chart_repositories_are_upstream(oslo: StackRun) -> None:
    assert releases(oslo)["openfaas"]["repositoryOpts"] == {"repo": "https://openfaas.github.io/faas-netes/"}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"nginx": "https://charts.example.no"}, "unknown chart 'nginx': the stack installs openfaas, traefik, cert-manager"),
        ({"openfaas": "http://charts.example.no"}, "expected an https Helm repository URL"),
        ({"openfaas": "oci://"}, "expected an https Helm repository URL"),
        ({"openfaas": "ftp://charts.example.no"}, "expected an https Helm repository URL"),
    ],
)
def test_chart_repositories_are_checked(value: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        settings_for(stack(chartRepositories=value))
    assert "sovereign-faas:chartRepositories" in str(err.value) and message in str(err.value)


# --- the ACME CA ---------------------------------------------------------------------------

EDGE = {"domain": "faas.example.no", "acmeEmail": "ops@example.no", "k3sDisable": ["traefik"]}


def custom(run: StackRun, kind: str) -> list[dict[str, Any]]:
    return [unwrap(r.inputs) for r in run.of_type("kubernetes:apiextensions.k8s.io:" + kind)] or [
        unwrap(r.inputs) for r in run.resources if r.inputs.get("kind") == kind
    ]


def test_acme_server_wins_and_only_its_issuer_exists() -> None:
    run = run_stack("ca", stack(**EDGE, acmeServer="https://acme.example.no/directory"))
    (issuer,) = custom(run, "ClusterIssuer")
    assert issuer["metadata"]["name"] == "acme" and issuer["spec"]["acme"]["server"] == "https://acme.example.no/directory"
    assert "externalAccountBinding" not in issuer["spec"]["acme"]
    (cert,) = custom(run, "Certificate")
    assert cert["spec"]["issuerRef"]["name"] == "acme"


def test_lets_encrypt_stays_the_default(oslo: StackRun) -> None:
    run = run_stack("le", stack(**EDGE))
    assert {i["metadata"]["name"] for i in custom(run, "ClusterIssuer")} == {"letsencrypt-production", "letsencrypt-staging"}
    (cert,) = custom(run, "Certificate")
    assert cert["spec"]["issuerRef"]["name"] == "letsencrypt-production"


def test_external_account_binding_goes_into_a_secret_the_issuer_references() -> None:
    run = run_stack("eab", stack(**EDGE, acmeServer="https://acme.example.no/directory", acmeEabKeyId="kid-1", acmeEabHmacKey={"secure": "c2VjcmV0LWhtYWM"}))
    (issuer,) = custom(run, "ClusterIssuer")
    assert issuer["spec"]["acme"]["externalAccountBinding"] == {"keyID": "kid-1", "keySecretRef": {"name": "acme-eab", "key": "secret"}}
    secret = run.get("edge-acme-eab")
    assert unwrap(secret.inputs)["metadata"]["namespace"] == "cert-manager"
    assert is_secret(secret.inputs["stringData"]) or is_secret(secret.inputs["stringData"]["secret"])
    assert unwrap(secret.inputs)["stringData"] == {"secret": "c2VjcmV0LWhtYWM"}
    assert "edge-acme-eab" in run.get("edge-issuer-acme").options["dependsOn"]


@pytest.mark.parametrize(
    ("extra", "secret_keys", "key", "message"),
    [
        ({"acmeServer": "https://acme.example.no", "acmeEabKeyId": "kid"}, (), "acmeEabHmacKey", "required with acmeEabKeyId"),
        ({"acmeEabKeyId": "kid", "acmeEabHmacKey": "abc"}, ("acmeEabHmacKey",), "acmeEabKeyId", "not used without acmeServer"),
        ({"acmeServer": "https://acme.example.no", "acmeEabKeyId": "kid", "acmeEabHmacKey": "a+b="}, ("acmeEabHmacKey",), "acmeEabHmacKey", "un-padded base64url"),
        ({"acmeServer": "https://acme.example.no", "acmeEabKeyId": "kid", "acmeEabHmacKey": "abc"}, (), "acmeEabHmacKey", "must be a secret"),
        ({"acmeServer": "acme.example.no"}, (), "acmeServer", "expected an http(s) URL"),
    ],
)
def test_acme_settings_are_checked(extra: dict[str, Any], secret_keys: tuple[str, ...], key: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        settings_for(stack(**EDGE, **extra), secret_keys=("sshPrivateKey", *secret_keys))
    assert f"sovereign-faas:{key}:" in str(err.value) and message in str(err.value)


def test_acme_server_without_domain_is_refused() -> None:
    with pytest.raises(ConfigError) as err:
        settings_for(stack(acmeServer="https://acme.example.no/directory"))
    assert "sovereign-faas:acmeServer: not used without domain" in str(err.value)


def test_the_readme_shows_each_example_stacks_summary_line(examples: dict) -> None:
    readme = (PROJECT_DIR / "README.md").read_text()
    for name, (_, endpoints, _) in examples.items():
        assert f"{(name + ':').ljust(7)} {egress.summary(endpoints)}\n" in readme, name


def test_egress_allow_hosts_are_host_names() -> None:
    with pytest.raises(ConfigError) as err:
        settings_for(stack(egressAllowHosts=["https://acme.example.no"]))
    assert "sovereign-faas:egressAllowHosts[0]:" in str(err.value)


def test_pulumi_up_inventories_what_a_stack_with_every_kind_of_workload_registers() -> None:
    """Connectors (NATS and cron), functions with digests and tags: what `pulumi up` reads from
    the components' manifests is what the program registers."""
    from tests.conftest import settings_for
    from tests.test_manifests import STACKS

    config = STACKS["pro-nodeport"]
    assert config is not None
    run = run_stack("every-kind", config)
    settings = settings_for(config, secret_keys=("sshPrivateKey", "openfaasLicense", "functionSecrets"))
    images = registered_images(run)
    assert {"ghcr.io/openfaas/cron-connector:0.7.0", "ghcr.io/openfaas/nats-connector:0.3.0"} <= images
    assert {w.image for w in egress.workloads(settings)} == images

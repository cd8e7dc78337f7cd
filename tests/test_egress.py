"""The egress inventory (render/egress.py), strict mode, chart mirrors and the ACME CA.

The inventory is derived: the images come from the objects the program registers, so a new
image on a new registry is a new row, and every image any registered object runs is in it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from render import egress
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
    "nodeEgress": "restricted",  # the nodes' own traffic (tests/test_node_egress.py)
    "dnsResolvers": ["198.51.100.53"],
    "ntpServers": ["ntp.example.no"],  # the host's own endpoints (tests/test_host_endpoints.py)
    "aptMirror": "https://mirror.example.no/ubuntu",
    "distroPhoneHome": "off",
    "k3sMirror": "https://mirror.example.no/k3s",
    "registryMirrors": {"*": ["https://registry.example.no"]},
    "chartRepositories": {"openfaas": "https://charts.example.no", "traefik": "https://charts.example.no", "cert-manager": "oci://registry.example.no/charts"},
    "registryMirrorsOnly": True,
    "egressAllowHosts": ["mirror.example.no", "registry.example.no", "charts.example.no", "ntp.example.no", "198.51.100.53"],
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
    # ghcr.io twice (the platform's images and img-resize), one host in the summary;
    # registry.k8s.io for the monitoring stack's kube-state-metrics
    assert "registry.k8s.io" in hosts(endpoints, egress.CLUSTER)
    assert egress.summary(endpoints).startswith("egress: 15 hosts outside the cluster, 0 mirrored or allowed, 15 not (api.snapcraft.io, archive.ubuntu.com, checkip.amazonaws.com,")


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
    assert any(level == "INFO" and m.startswith("egress: 15 hosts outside the cluster") for level, m in oslo.logs)


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
        run_stack("strict", stack(sovereignStrict=True, openfaasEdition="pro", openfaasLicense=LICENSE, nodeEgress="restricted",
                                  dnsResolvers=["198.51.100.53"]))
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
    declared = {**MIRRORED, "egressAllowHosts": [*MIRRORED["egressAllowHosts"], "acme.example.no"]}
    run = run_stack("ok", stack(**declared, **edge, acmeServer="https://acme.example.no/directory", acmeServerCidrs=["203.0.113.53/32"],
                               gatewayApiCrds="https://mirror.example.no/gateway-api/standard-install.yaml"))
    assert run.of_type("kubernetes:helm.sh/v3:Release")


def test_strict_refuses_open_function_egress() -> None:
    with pytest.raises(ProgramError) as err:
        run_stack("open", stack(**MIRRORED, functionEgress="open"))
    assert "sovereign-faas:functionEgress: sovereignStrict: anywhere (0.0.0.0/0, ::/0)" in str(err.value)


# --- strict mode cannot be fooled (issue 18, "Why" 1-3) ------------------------------------------

IN_COUNTRY_EDGE = {"domain": "faas.example.no", "acmeEmail": "ops@example.no", "k3sDisable": ["traefik"], "acmeServerCidrs": ["203.0.113.53/32"],
                   "acmeServer": "https://acme.example.no/directory", "gatewayApiCrds": "https://mirror.example.no/gateway-api/standard-install.yaml"}
DECLARED = {**MIRRORED, "egressAllowHosts": [*MIRRORED["egressAllowHosts"], "acme.example.no"]}


def strict_refusal(**changes: Any) -> str:
    """The strict, fully mirrored stack with `changes`: the plan's refusal (it must refuse)."""
    with pytest.raises((ProgramError, ConfigError)) as err:
        run_stack("fooled", stack(**{**DECLARED, **IN_COUNTRY_EDGE, **changes}))
    return str(err.value)


def test_the_honest_strict_stack_plans() -> None:
    run = run_stack("honest", stack(**DECLARED, **IN_COUNTRY_EDGE))
    assert run.of_type("kubernetes:helm.sh/v3:Release")


@pytest.mark.parametrize(
    ("changes", "wanted"),
    [
        # A "mirror" that is the upstream itself, or a CDN of one.
        ({"registryMirrors": {"*": ["https://mirror.gcr.io"]}}, "registryMirrors.*[0]: sovereignStrict: mirror.gcr.io:443 is the upstream itself (gcr.io)"),
        ({"registryMirrors": {"*": ["https://registry-1.docker.io"]}}, "registryMirrors.*[0]: sovereignStrict: registry-1.docker.io:443 is the upstream itself (docker.io)"),
        ({"chartRepositories": {**MIRRORED["chartRepositories"], "openfaas": "https://openfaas.github.io/faas-netes/"}},
         "chartRepositories.openfaas: sovereignStrict: openfaas.github.io:443 is the upstream itself (github.io)"),
        ({"k3sMirror": "https://github.com/k3s-io/k3s/releases/download"}, "k3sMirror: sovereignStrict: github.com:443 is the upstream itself (github.com)"),
        ({"gatewayApiCrds": "https://github.com/kubernetes-sigs/gateway-api/releases/download/v1.5.1/standard-install.yaml"},
         "gatewayApiCrds: sovereignStrict: github.com:443 is the upstream itself"),
        ({"systemDefaultRegistry": "ghcr.io"}, "systemDefaultRegistry: sovereignStrict: ghcr.io:443 is the upstream itself (ghcr.io)"),
        # A mirror the operator did not declare in the country, or on another port than declared.
        ({"registryMirrors": {"*": ["https://registry.example.se"]}}, "registryMirrors.*[0]: sovereignStrict: registry.example.se:443 is not declared"),
        ({"registryMirrors": {"*": ["https://registry.example.no:5000"]},
          "egressAllowHosts": ["registry.example.no:443", "mirror.example.no", "charts.example.no", "acme.example.no", "ntp.example.no", "198.51.100.53"]},
         "registryMirrors.*[0]: sovereignStrict: registry.example.no:5000 is not declared"),
        # Open egress in all but name, and the fallback to upstream.
        ({"functionEgressAllow": [{"cidr": "0.0.0.0/0"}]}, "functionEgressAllow[0].cidr: sovereignStrict: 0.0.0.0/0 is open egress in all but name"),
        ({"functionEgressAllow": [{"cidr": "0.0.0.0/1"}, {"cidr": "128.0.0.0/1"}]}, "functionEgressAllow[1].cidr: sovereignStrict: 128.0.0.0/1"),
        ({"functionEgressAllow": [{"cidr": "::/0"}]}, "functionEgressAllow[0].cidr: sovereignStrict: ::/0 is open egress"),
        ({"nodeEgressAllow": [{"cidr": "0.0.0.0/0", "ports": [443]}]}, "nodeEgressAllow[0].cidr: sovereignStrict: 0.0.0.0/0 is open egress in all but name"),
        ({"acmeServerCidrs": ["::/0"]}, "acmeServerCidrs[0]: sovereignStrict: ::/0 is open egress in all but name"),
        ({"registryMirrorsOnly": False}, "registryMirrorsOnly: sovereignStrict needs it true"),
        # Backups abroad: with a bucket, the endpoint must be named, in the country.
        ({"etcdS3Bucket": "faas-etcd", "etcdS3Credentials": {"accessKey": {"secure": "a"}, "secretKey": {"secure": "b"}}},
         "etcdS3Endpoint: required with etcdS3Bucket: without it K3s uploads the snapshots"),
        ({"etcdS3Bucket": "faas-etcd", "etcdS3Endpoint": "s3.amazonaws.com", "etcdS3Credentials": {"accessKey": {"secure": "a"}, "secretKey": {"secure": "b"}}},
         "etcdS3Endpoint: sovereignStrict: s3.amazonaws.com:443 is the upstream itself (amazonaws.com)"),
        ({"etcdS3Bucket": "faas-etcd", "etcdS3Endpoint": "s3.example.se", "etcdS3Credentials": {"accessKey": {"secure": "a"}, "secretKey": {"secure": "b"}}},
         "etcdS3Endpoint: sovereignStrict: s3.example.se:443 is not declared"),
        # Extra flags that switch a protection off or add a source behind the inventory.
        ({"k3sExtraFlags": ["--disable-network-policy"]}, "k3sExtraFlags[0]: '--disable-network-policy' is managed by the stack"),
        ({"k3sExtraFlags": ["--pause-image=registry.k8s.io/pause:3.10"]}, "k3sExtraFlags[0]: '--pause-image' is managed by the stack"),
        ({"k3sExtraFlags": ["--kubelet-arg=pod-infra-container-image=registry.k8s.io/pause:3.10"]}, "k3sExtraFlags[0]: '--kubelet-arg=pod-infra-con"),
        ({"k3sExtraFlags": ["--flannel-backend=none"]}, "k3sExtraFlags[0]: '--flannel-backend=none' removes the CNI"),
        ({"k3sExtraFlags": ["--etcd-snapshot-dir=/mnt/elsewhere"]}, "k3sExtraFlags[0]: '--etcd-snapshot-dir' is managed by the stack"),
        # The platform's own egress left open, or open in all but name.
        ({"platformEgress": "open"}, "platformEgress: sovereignStrict needs 'restricted'"),
        ({"acmeServerCidrs": []}, "acmeServerCidrs: sovereignStrict needs the ACME server's addresses"),
        ({"nodes": [{"name": "tromso-1", "host": "node1.example.no"}]}, "nodes: sovereignStrict needs the servers' addresses (tromso-1 known by name)"),
        # The nodes' own servers: a public resolver, a time or package server abroad.
        ({"dnsResolvers": ["8.8.8.8"]}, "dnsResolvers[0]: sovereignStrict: 8.8.8.8:53 is the upstream itself (Google Public DNS)"),
        ({"ntpServers": ["time.google.com"]}, "ntpServers[0]: sovereignStrict: time.google.com:123 is the upstream itself (google.com)"),
        ({"ntpServers": ["no.pool.ntp.org"]}, "ntpServers[0]: sovereignStrict: no.pool.ntp.org:123 is the upstream itself (ntp.org)"),
        ({"aptMirror": "http://archive.ubuntu.com/ubuntu"}, "aptMirror: sovereignStrict: archive.ubuntu.com:80 is the upstream itself (ubuntu.com)"),
        # Declaring an upstream, or a whole top-level domain, in the country.
        ({"egressAllowHosts": [*DECLARED["egressAllowHosts"], "objects.githubusercontent.com"]}, "egressAllowHosts[6]: 'objects.githubusercontent.com' is an upstream"),
        ({"egressAllowHosts": ["*.no"]}, "egressAllowHosts[0]: '*.no' would declare a whole top-level domain"),
    ],
)
def test_strict_mode_cannot_be_fooled(changes: dict[str, Any], wanted: str) -> None:
    assert f"sovereign-faas:{wanted}" in strict_refusal(**changes)


def test_a_declared_domain_covers_its_hosts_and_a_port_only_itself() -> None:
    run_stack("domain", stack(**{**DECLARED, **IN_COUNTRY_EDGE, "egressAllowHosts": ["*.example.no", "198.51.100.53"]}))
    text = strict_refusal(egressAllowHosts=["*.example.no:5000"])
    assert "registryMirrors.*[0]: sovereignStrict: registry.example.no:443 is not declared" in text


def test_system_default_registry_counts_for_k3s_images_only() -> None:
    _, found = endpoints_of("sdr", stack(systemDefaultRegistry="registry.example.no"))
    ghcr = [e for e in found if e.host == "ghcr.io" and e.phase == egress.CLUSTER]
    assert ghcr and not any(e.mirrored for e in ghcr)  # the platform's images still come from ghcr.io
    own = [e for e in found if e.host == "registry.example.no"]
    assert own and all(e.mirrored for e in own) and any("K3s" in w for e in own for w in e.who)


def test_an_upstream_named_as_a_mirror_is_not_mirrored_outside_strict_mode() -> None:
    _, found = endpoints_of("gcr", stack(registryMirrors={"*": ["https://mirror.gcr.io"]}))
    assert not any(e.mirrored for e in found if e.phase == egress.CLUSTER)


def test_the_backup_target_is_an_endpoint() -> None:
    s3 = {"etcdS3Bucket": "faas-etcd", "etcdS3Endpoint": "s3.example.no:9000", "etcdS3Credentials": {"accessKey": {"secure": "a"}, "secretKey": {"secure": "b"}}}
    _, found = endpoints_of("s3", stack(**s3))
    rows = [e for e in found if e.phase == egress.BACKUPS]
    # A row for the etcd snapshots and one for each data backup (CE: Valkey's only), same rule.
    assert [(e.host, e.port, e.in_country) for e in rows] == [("s3.example.no", 9000, False)] * 2
    assert [e.who for e in rows] == [("K3s on every server (etcd snapshots)",), ("CronJob faas-data/valkey-backup (15 */6 * * *)",)]
    _, found = endpoints_of("s3-declared", stack(**s3, egressAllowHosts=["s3.example.no:9000"]))
    assert [e.in_country for e in found if e.phase == egress.BACKUPS] == [True, True]
    _, found = endpoints_of("s3-no-data", stack(**s3, dataBackups=False))
    assert [e.who for e in found if e.phase == egress.BACKUPS] == [("K3s on every server (etcd snapshots)",)]
    _, found = endpoints_of("no-s3", stack())
    assert not [e for e in found if e.phase == egress.BACKUPS]


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


def test_the_docs_show_each_example_stacks_summary_line(examples: dict) -> None:
    page = (PROJECT_DIR / "docs" / "sovereignty.md").read_text()
    for name, (_, endpoints, _) in examples.items():
        assert f"{(name + ':').ljust(7)} {egress.summary(endpoints)}\n" in page, name


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
    # A Pro stack: the Pro cron-connector (settings/versions.py), not the CE one.
    assert {"ghcr.io/openfaasltd/cron-connector:0.2.14", "ghcr.io/openfaas/nats-connector:0.3.0"} <= images
    assert "ghcr.io/openfaas/cron-connector:0.7.0" not in images
    assert {w.image for w in egress.workloads(settings)} == images


def test_the_docs_list_every_managed_flag_and_upstream() -> None:
    from settings.k3s import MANAGED_FLAGS
    from settings.sovereignty import UPSTREAM_DOMAINS

    text = (PROJECT_DIR / "docs" / "sovereignty.md").read_text()
    assert [f for f in MANAGED_FLAGS if f"| `--{f}` |" not in text] == []
    assert [d for d in UPSTREAM_DOMAINS if f"`{d}`" not in text] == []

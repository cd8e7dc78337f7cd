"""Issue 21: what the node scripts or the upstream tools would refuse, the mirror, air-gap,
ACME, backup and cron keys refuse at preview, naming the key, with no traceback, no userinfo
or secret in the message, and nothing written by `make plan`."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from render.node.command import script_path
from settings import versions
from settings.edge import EAB_STAND_IN
from settings.errors import ConfigError
from tests.conftest import settings_for, stack
from tests.test_mirrors_plan import airgap_folder
from tools import plan

MIRROR = "https://registry.example.no"
SECRETS = ("sshPrivateKey", "registryAuth", "etcdS3Credentials", "acmeEabHmacKey")


def error(config: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as caught:
        settings_for(config, secret_keys=SECRETS)
    message = str(caught.value)
    assert "Traceback" not in message and message.startswith(("1 problem", "2 problems", "3 problems"))
    return message


def planned(tmp_path: Path, capsys: pytest.CaptureFixture[str], *settings: str) -> tuple[int, str, Path]:
    """`make plan` with `--set` for each of `settings`: exit code, stderr, the output folder."""
    out = tmp_path / "plan"
    code = plan.main(["--stack", "oslo", "--out", str(out), *(arg for s in settings for arg in ("--set", s))])
    return code, capsys.readouterr().err, out


# --- 1. tracebacks ------------------------------------------------------------------------------


@pytest.mark.parametrize(("overrides", "expected"), [
    ({"registryMirrors": {"docker.io": ["https://registry.example.no:99999"]}},
     "sovereign-faas:registryMirrors.docker.io[0]: expected an http(s) URL with a port from 1 to 65535, got 'https://registry.example.no:99999'"),
    ({"chartRepositories": {"openfaas": "oci://registry.example.no:99999/charts"}},
     "sovereign-faas:chartRepositories.openfaas: expected an OCI path with a port from 1 to 65535"),
    ({"chartRepositories": {"traefik": "https://charts.example.no:65536"}}, "sovereign-faas:chartRepositories.traefik: expected an http(s) URL with a port"),
    ({"k3sMirror": "https://mirror.example.no:70000/k3s"}, "sovereign-faas:k3sMirror: expected an http(s) URL with a port from 1 to 65535"),
    ({"gatewayApiCrds": "https://crds.example.no:99999/standard-install.yaml"}, "sovereign-faas:gatewayApiCrds: expected an http(s) URL with a port"),
    ({"systemDefaultRegistry": "*"}, "sovereign-faas:systemDefaultRegistry: expected a registry host such as 'docker.io'"),
])
def test_what_raised_deep_in_the_plan_is_refused_with_its_key(overrides: dict[str, Any], expected: str) -> None:
    assert expected in error(stack(**overrides))


@pytest.mark.parametrize("setting", [
    'registryMirrors={"docker.io": ["https://registry.example.no:99999"]}',
    'chartRepositories={"openfaas": "oci://registry.example.no:99999/charts"}',
    'systemDefaultRegistry="*"',
])
def test_make_plan_exits_2_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str], setting: str) -> None:
    code, err, out = planned(tmp_path, capsys, setting)
    assert code == 2 and err.startswith("plan failed: 1 problem in the stack config:") and "Traceback" not in err
    assert not out.exists()
    (out / "manifests").mkdir(parents=True)
    (out / "plan.json").write_text("the previous plan\n")
    assert planned(tmp_path, capsys, setting)[0] == 2
    assert (out / "plan.json").read_text() == "the previous plan\n"  # the last good plan stays


def test_an_air_gapped_stack_is_planned(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = airgap_folder(tmp_path)
    code, err, out = planned(tmp_path, capsys, f"k3sAirgapDir={folder}")
    assert code == 0, err
    copies = [r for r in json.loads((out / "plan.json").read_text())["resources"] if r["type"] == "command:remote:CopyToRemote"]
    # The plan names each upload's source file, never its content.
    assert sorted(c["inputs"]["source"]["fileAsset"] for c in copies) == sorted(
        str(folder / f) for f in ("install.sh", "k3s", "sha256sum-amd64.txt", "k3s-airgap-images-amd64.tar.zst")
    )
    assert "operator's machine" in (out / "egress.md").read_text()


# --- 2. external account binding ---------------------------------------------------------------

EAB = ["domain=faas.example.no", "acmeEmail=ops@example.no", "acmeServer=https://acme.example.no/directory", "acmeEabKeyId=kid-1"]


@pytest.mark.parametrize("hmac", [[], ["acmeEabHmacKey={secure: v1:c2VjcmV0LWNpcGhlcnRleHQ=}"]])
def test_a_stack_with_external_account_binding_is_planned(tmp_path: Path, capsys: pytest.CaptureFixture[str], hmac: list[str]) -> None:
    """With the HMAC key in the user's encrypted config (or not in the repo's stack file at all)."""
    code, err, out = planned(tmp_path, capsys, *EAB, *hmac)
    assert code == 0, err
    secret = (out / "manifests" / "secret-cert-manager-acme-eab.yaml").read_text()
    assert "secret: '[secret]'" in secret
    assert "kid-1" in (out / "manifests" / "clusterissuer-acme.yaml").read_text()
    # The stand-in the plan checks the format with is never written.
    assert not any(EAB_STAND_IN in f.read_text() for f in out.rglob("*") if f.is_file())


ACME = {"domain": "faas.example.no", "acmeEmail": "ops@example.no", "acmeServer": "https://acme.example.no/directory"}


@pytest.mark.parametrize(("key_id", "hmac", "expected"), [
    ("kid\n2", "c2VjcmV0", "sovereign-faas:acmeEabKeyId: expected the key ID your CA gave you (1-256 printable ASCII characters, no spaces), got 'kid\\n2'"),
    ("k" * 100_000, "c2VjcmV0", "sovereign-faas:acmeEabKeyId: expected the key ID your CA gave you"),
    ("kid 2", "c2VjcmV0", "sovereign-faas:acmeEabKeyId: expected the key ID"),
    ("", "c2VjcmV0", "sovereign-faas:acmeEabKeyId: expected the key ID"),
    ("kid-1", "c2VjcmV0a", "sovereign-faas:acmeEabHmacKey: expected the un-padded base64url HMAC key"),  # 4n+1: no whole byte
    ("kid-1", "c2Vj cmV0", "sovereign-faas:acmeEabHmacKey: expected the un-padded base64url HMAC key"),
])
def test_the_binding_is_checked_as_cert_manager_and_the_ca_read_it(key_id: str, hmac: str, expected: str) -> None:
    message = error(stack(**ACME, acmeEabKeyId=key_id, acmeEabHmacKey={"secure": hmac}))
    assert expected in message and hmac not in message and len(message) < 500


def test_a_valid_binding_is_taken() -> None:
    got = settings_for(stack(**ACME, acmeEabKeyId="f_AtDuUJ4PPCh0g9fQoAJQ", acmeEabHmacKey={"secure": "c2VjcmV0LWhtYWM"}), secret_keys=SECRETS)
    assert got.edge.eab_key_id == "f_AtDuUJ4PPCh0g9fQoAJQ"


# --- 3. scalars the CLI stores as numbers or booleans ------------------------------------------
# `pulumi config set --path` stores "true"/"false" as booleans and digits as numbers inside an
# object; the keys below hold text and take them as the text typed.


def test_a_numeric_registry_user_is_its_digits() -> None:
    config = stack(registryMirrors={"docker.io": [MIRROR]}, registryAuth={"registry.example.no": {"username": 12345, "password": {"secure": 987654}}})
    creds = settings_for(config, secret_keys=SECRETS).mirrors.registry_auth["registry.example.no"]
    assert (creds.username, creds.password) == ("12345", "987654")


def test_numeric_and_boolean_scalars_in_objects_are_text() -> None:
    got = settings_for(stack(
        nodes=[{"name": 1, "host": "203.0.113.10"}],
        etcdS3Bucket="faas-etcd",
        etcdS3Endpoint="s3.example.no",
        etcdS3Credentials={"accessKey": {"secure": 1234567}, "secretKey": {"secure": True}},
        functionSecrets={"pin": {"secure": 4711}},
    ), secret_keys=(*SECRETS, "functionSecrets"))
    assert got.nodes[0].name == "1"
    creds = got.backups.s3_credentials
    assert creds is not None and (creds.access_key.get_secret_value(), creds.secret_key.get_secret_value()) == ("1234567", "true")


@pytest.mark.parametrize("username", [1.5, None, [1], {"a": 1}])
def test_what_no_cli_stores_as_text_is_still_refused(username: Any) -> None:
    config = stack(registryMirrors={"docker.io": [MIRROR]}, registryAuth={"registry.example.no": {"username": username, "password": {"secure": "pw-xyz"}}})
    message = error(config)
    assert "sovereign-faas:registryAuth.registry.example.no.username: expected text" in message and "pw-xyz" not in message


# --- 4. what the node scripts would refuse, refused by the plan --------------------------------


def script_accepts(script: str, function: str, *args: str) -> bool:
    """Whether `function` of the node script accepts `args`: the script's own text, run by bash
    (only that function and a `die` that exits; it checks its arguments and touches nothing)."""
    text = script_path(script).read_text()
    match = re.search(rf"^{function}\(\) \{{\n.*?^\}}\n", text, re.S | re.M)
    assert match, f"{function} not found in {script}"
    code = f"die() {{ exit 1; }}\nSELF={script}\n{match.group(0)}{function} \"$@\"\n"
    return subprocess.run(["bash", "-c", code, script, *args], capture_output=True, timeout=10).returncode == 0


def plan_accepts(**overrides: Any) -> bool:
    try:
        settings_for(stack(**overrides), secret_keys=SECRETS)
    except ConfigError:
        return False
    return True


K3S_MIRRORS = [
    "https://mirror.example.no/k3s", "https://10.0.0.5:8080/k3s", "https://[2001:db8::1]/k3s", "https://m.example.no/a_b~c%2Bd/+e",
    "https://m.example.no/k3s;reboot", "https://m.example.no/$(id)", "https://m.example.no/k3s/../etc", "https://m.example.no/a..b",
    "https://m.example.no/k3s`id`", "https://m.example.no/k3s'x", "https://m.example.no/a b", "https://m.example.no/k3s&x", "https://m.example.no/*",
    "https://m.example.no/k3s|x", "https://m.example.no/k3s\\x", "https://m.example.no/(k3s)", "https://m.example.no/k3s!",
]


@pytest.mark.parametrize("url", K3S_MIRRORS)
def test_k3s_mirror_follows_the_install_scripts_allow_list(url: str) -> None:
    """(https URLs: the script also takes http, which the plan refuses, class 7)"""
    node = script_accepts("k3s-install.sh", "check_args", versions.K3S, "server", url.rstrip("/"))
    assert plan_accepts(k3sMirror=url) == node, (url, node)


def test_a_k3s_mirror_the_install_script_refuses_is_named() -> None:
    message = error(stack(k3sMirror="https://m.example.no/k3s;reboot"))
    assert "sovereign-faas:k3sMirror: expected a base URL the install step takes" in message


DATA_DIRS = [
    "/srv/k3s", "/var/lib/rancher/k3s/", "/a", "/srv/k3s.d/x_y-z", "srv/k3s", "./k3s", "~/k3s", "/srv/k 3s", "/srv/k3s;reboot",
    "/srv/$(id)", "/srv/../etc", "/srv/a..b", "/", "//", "/srv/k3s\nx", "/srv/kß", "",
]


def dropin_of(data_dir: str) -> str:
    """Where the plan puts the kubelet drop-in for a `--data-dir` (K3s' own value, trailing / off)."""
    from settings.k3s import KUBELET_DROPIN_NAME

    return f"{data_dir.rstrip('/')}/agent/etc/kubelet.conf.d/{KUBELET_DROPIN_NAME}"


@pytest.mark.parametrize("data_dir", DATA_DIRS)
def test_data_dir_follows_the_kubelet_drop_in_steps_rule(data_dir: str) -> None:
    # "/" itself: K3s would use the root, the plan's drop-in path would not (refused by both).
    node = script_accepts("kubelet-config.sh", "check_file", dropin_of(data_dir)) and data_dir.strip("/") != ""
    assert plan_accepts(k3sExtraFlags=[f"--data-dir={data_dir}"]) == node, (data_dir, node)


def test_a_data_dir_the_drop_in_step_refuses_is_named() -> None:
    message = error(stack(k3sExtraFlags=["--kube-apiserver-arg=a=b", "--data-dir=srv/k3s"]))
    assert "sovereign-faas:k3sExtraFlags[1]: expected an absolute data directory such as '/srv/k3s'" in message
    assert "expected a value: '--data-dir=...'" in error(stack(k3sExtraFlags=["--data-dir"]))


# --- 5. accepted, then broken when used ---------------------------------------------------------

S3_CREDS = {"accessKey": {"secure": "AKIAEXAMPLE"}, "secretKey": {"secure": "s3-secret-xyz"}}


@pytest.mark.parametrize(("overrides", "expected"), [
    ({"chartRepositories": {"openfaas": "oci://registry.example.no/Charts"}}, "sovereign-faas:chartRepositories.openfaas: expected an OCI repository path in lower case"),
    ({"chartRepositories": {"openfaas": "oci://registry.example.no/charts/-x"}}, "sovereign-faas:chartRepositories.openfaas: expected an OCI repository path in lower case"),
    ({"chartRepositories": {"openfaas": "oci://registry.example.no/a..b"}}, "sovereign-faas:chartRepositories.openfaas: expected an OCI repository path in lower case"),
    ({**ACME, "acmeServer": "http://acme.example.no/directory"}, "sovereign-faas:acmeServer: expected an https URL: ACME runs over HTTPS only (RFC 8555 6.1)"),
    ({"etcdS3Bucket": "faas-etcd", "etcdS3Credentials": S3_CREDS, "etcdS3Endpoint": "minio.example.no:99999"},
     "sovereign-faas:etcdS3Endpoint: expected an S3 endpoint as host[:port] without https://, such as 's3.example.no' or 'minio.example.no:9000', with a port from 1 to 65535"),
    ({"etcdS3Bucket": "faas-etcd", "etcdS3Credentials": S3_CREDS, "etcdS3Endpoint": "minio.example.no:0"}, "sovereign-faas:etcdS3Endpoint: expected an S3 endpoint"),
    ({"etcdS3Bucket": "192.168.1.10", "etcdS3Credentials": S3_CREDS}, "sovereign-faas:etcdS3Bucket: expected an S3 bucket name: 3-63 lower-case letters, digits, dots and hyphens, not an IP address"),
    ({"etcdS3Bucket": "faas..etcd", "etcdS3Credentials": S3_CREDS}, "sovereign-faas:etcdS3Bucket: expected an S3 bucket name: 3-63 lower-case letters, digits, dots and hyphens (no '..', '.-' or '-.')"),
    ({"etcdS3Bucket": "faas.-etcd", "etcdS3Credentials": S3_CREDS}, "sovereign-faas:etcdS3Bucket: expected an S3 bucket name"),
    ({"etcdS3Bucket": "faas-.etcd", "etcdS3Credentials": S3_CREDS}, "sovereign-faas:etcdS3Bucket: expected an S3 bucket name"),
    ({"registryMirrors": {"docker.io": ["https://registry.example.no:0"]}}, "sovereign-faas:registryMirrors.docker.io[0]: expected an http(s) URL with a port from 1 to 65535"),
    ({"registryMirrors": {"registry.example.no:99999": [MIRROR]}}, "sovereign-faas:registryMirrors.registry.example.no:99999: expected a registry host such as 'docker.io', 'ghcr.io' or 'registry.example.no:5000', or '*'"),
    ({"registryMirrors": {"docker.io": [MIRROR]}, "registryCa": {"registry.example.no:0": "x"}}, "sovereign-faas:registryCa.registry.example.no:0: expected a registry host"),
    ({"registryMirrors": {"*": []}, "registryMirrorsOnly": True},
     "sovereign-faas:registryMirrors.*: no endpoints, with registryMirrorsOnly and no embeddedRegistry: nothing is left to pull any images from; list a mirror"),
    ({"registryMirrors": {"docker.io": [MIRROR], "ghcr.io": []}, "registryMirrorsOnly": "true"}, "sovereign-faas:registryMirrors.ghcr.io: no endpoints, with registryMirrorsOnly"),
])
def test_what_would_break_when_used_is_refused(overrides: dict[str, Any], expected: str) -> None:
    message = error(stack(**overrides))
    assert expected in message and "s3-secret-xyz" not in message


@pytest.mark.parametrize("overrides", [
    {"chartRepositories": {"openfaas": "oci://Registry.Example.no:5000/charts/open_faas/x__y/a-b/v.1"}},
    {"etcdS3Bucket": "faas.etcd-1", "etcdS3Credentials": S3_CREDS, "etcdS3Endpoint": "minio.example.no:9000"},
    {"registryMirrors": {"*": []}, "registryMirrorsOnly": True, "embeddedRegistry": True},  # the peers are the source
    {"registryMirrors": {"docker.io": ["https://registry.example.no:65535"]}, "registryMirrorsOnly": True},
    {**ACME, "acmeServer": "https://acme.example.no:8443/directory"},
])
def test_the_valid_neighbours_are_taken(overrides: dict[str, Any]) -> None:
    assert plan_accepts(**overrides)


# --- 6. credentials in a URL: refused, never echoed ---------------------------------------------

PW = "Pa55-w0rd-leak"


@pytest.mark.parametrize(("overrides", "key", "pointer"), [
    ({"registryMirrors": {"docker.io": [f"https://ci:{PW}@registry.example.no"]}}, "registryMirrors.docker.io[0]", "go in registryAuth.<host>, as a secret"),
    ({"registryMirrors": {"docker.io": [f"https://ci:{PW}@registry.example.no:99999/x y"]}}, "registryMirrors.docker.io[0]", "registryAuth"),
    ({"k3sMirror": f"https://ci:{PW}@mirror.example.no/k3s"}, "k3sMirror", "serve the assets without them, or use k3sAirgapDir"),
    ({"gatewayApiCrds": f"https://ci:{PW}@crds.example.no/standard-install.yaml"}, "gatewayApiCrds", "serve the copy without them"),
    ({"chartRepositories": {"openfaas": f"https://ci:{PW}@charts.example.no"}}, "chartRepositories.openfaas", "serve the charts without credentials"),
    ({"chartRepositories": {"openfaas": f"oci://ci:{PW}@registry.example.no/charts"}}, "chartRepositories.openfaas", "serve the charts without credentials"),
    ({**ACME, "acmeServer": f"https://ci:{PW}@acme.example.no/directory"}, "acmeServer", "acmeEabKeyId and acmeEabHmacKey"),
    ({"systemDefaultRegistry": f"ci:{PW}@registry.example.no"}, "systemDefaultRegistry", "registryAuth.<host>"),
    ({"registryMirrors": {f"ci:{PW}@registry.example.no": [MIRROR]}}, "registryMirrors.***@registry.example.no", "registryAuth.<host>"),
])
def test_credentials_in_a_url_are_refused_and_never_printed(overrides: dict[str, Any], key: str, pointer: str) -> None:
    message = error(stack(**overrides))
    assert f"sovereign-faas:{key}: " in message and pointer in message
    assert PW not in message and "ci:" not in message
    assert "holds credentials (the userinfo before the host)" in message or "a registry host holds no credentials" in message


@pytest.mark.parametrize("value", [
    f"https://ci:{PW}@registry.example.no", f"ci:{PW}@registry.example.no/x", [f"https://ci:{PW}@r.example.no"],
    f"https://ci:{PW * 8}@registry.example.no",  # longer than a message shows: cut after the userinfo is gone
])
def test_userinfo_never_reaches_a_message_whatever_else_is_wrong(value: Any) -> None:
    """A URL given where a list or map belongs is shown as given: minus its userinfo."""
    for key in ("registryMirrors", "chartRepositories", "k3sMirror", "egressAllowHosts", "registryAuth"):
        message = error(stack(**{key: value}))
        assert f"sovereign-faas:{key}" in message and PW[:8] not in message, message


def test_an_image_digest_is_no_userinfo() -> None:
    from settings.errors import without_userinfo

    digest = "ghcr.io/org/app:1.0@sha256:" + "a" * 64
    assert without_userinfo(f"got 'nginx:1.27@sha256:{'b' * 64}' and {digest}") == f"got 'nginx:1.27@sha256:{'b' * 64}' and {digest}"
    assert without_userinfo("got 'https://u:p@h', 'u:p@h'") == "got 'https://***@h', '***@h'"


# --- 7. what decides what runs never comes over plain http -------------------------------------


@pytest.mark.parametrize(("key", "value", "why"), [
    ("gatewayApiCrds", "http://crds.example.no/standard-install.yaml", "the CRDs are cluster-wide objects"),
    ("k3sMirror", "http://mirror.example.no/k3s", "the K3s binary and the sums it is checked against come over the same channel"),
    ("k3sMirror", "http://10.0.0.5:8080/k3s", "a network without TLS has k3sAirgapDir"),
])
def test_downloads_that_decide_what_runs_are_https_only(key: str, value: str, why: str) -> None:
    message = error(stack(**{key: value}))
    assert f"sovereign-faas:{key}: expected an https URL: " in message and why in message


def test_the_https_copies_are_taken() -> None:
    got = settings_for(stack(gatewayApiCrds="https://crds.example.no/standard-install.yaml", k3sMirror="https://mirror.example.no/k3s"), secret_keys=SECRETS)
    assert (got.mirrors.gateway_api_crds_url, got.mirrors.k3s_mirror) == ("https://crds.example.no/standard-install.yaml", "https://mirror.example.no/k3s")


# --- 8. cron on Pro: the Pro connector, which takes cron-function beside other topics ----------

NIGHTLY_ORDERS = "  nightly:\n    image: ghcr.io/acme/nightly:1.0.0\n    annotations: {topic: 'cron-function,orders', schedule: '0 2 * * *'}\n"
PRO = {"openfaasEdition": "pro", "openfaasLicense": {"secure": "licence-jwt"}}


def functions_file(folder: Path, functions: str) -> str:
    path = folder / "stack.yml"
    path.write_text(f"version: 1.0\nprovider: {{name: openfaas}}\nfunctions:\n{functions}")
    return str(path)


def test_ce_refuses_cron_function_in_a_topic_list_and_pro_takes_it() -> None:
    from settings.function_spec import Function, problems_with

    fn = Function(name="a", image="a:1", topic="cron-function, orders", annotations={"schedule": "@daily"})
    ce = [message for key, message in problems_with(fn, pro=False) if key == "topic"]
    cron = next(m for m in ce if "the cron-connector schedules only a function whose topic is exactly 'cron-function'" in m)
    assert "openfaasEdition 'pro' lifts this" in cron
    assert problems_with(fn, pro=True) == []
    # On Pro the schedule of such a function is still checked.
    late = Function(name="a", image="a:1", topic="orders,cron-function", annotations={"schedule": "0 25 * * *"})
    assert "end of range (25) above maximum (23)" in dict(problems_with(late, pro=True))["annotations.schedule"]
    assert "annotations.schedule" in dict(problems_with(Function(name="a", image="a:1", topic="orders,cron-function"), pro=True))


def test_pro_deploys_the_pro_cron_connector_with_the_license(project_tmp: Path) -> None:
    from tools.harness import masked, run_stack

    run = run_stack("cron-pro", stack(functionsFile=functions_file(project_tmp, NIGHTLY_ORDERS), **PRO))
    pod = masked(run.get("cron-connector-deployment").inputs)["spec"]["template"]["spec"]
    (ctr,) = pod["containers"]
    assert ctr["image"] == versions.CRON_CONNECTOR_PRO_IMAGE == "ghcr.io/openfaasltd/cron-connector:0.2.14"
    # As faas-netes' chart/cron-connector runs it with openfaasPro: true.
    assert ctr["command"] == ["/usr/bin/cron-connector", "-license-file=/var/secrets/license/license"]
    assert {"name": "license", "mountPath": "/var/secrets/license", "readOnly": True} in ctr["volumeMounts"]
    assert {"name": "license", "secret": {"secretName": "openfaas-license", "defaultMode": 0o440}} in pod["volumes"]
    # The nats-connector takes the function's other topic.
    nats = masked(run.get("nats-connector-deployment").inputs)["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "topics", "value": "orders"} in nats["env"]
    assert run.get("cron-connector").type == "sovereign-faas:index:CronConnector"


def test_the_pro_cron_connector_is_inventoried_and_mirrored(project_tmp: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Read from the manifests `make plan` writes, like every image a Deployment runs."""
    file = functions_file(project_tmp, NIGHTLY_ORDERS)
    image = "image ghcr.io/openfaasltd/cron-connector:0.2.14"
    for mirrors, mirrored in (([]), False), (['registryMirrors={"ghcr.io": ["https://registry.example.no"]}'], True):
        code, err, out = planned(tmp_path, capsys, "openfaasEdition=pro", f"functionsFile={file}", *mirrors)
        assert code == 0, err
        endpoints = json.loads((out / "egress.json").read_text())["endpoints"]
        (ghcr,) = [e for e in endpoints if e["host"] == "ghcr.io" and image in e["why"]]
        assert "Deployment openfaas/cron-connector" in ghcr["who"] and ghcr["mirrored"] is mirrored

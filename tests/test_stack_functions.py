"""The Functions component through the whole program: stack.yml in, faas-netes objects out."""

from __future__ import annotations

from pathlib import Path

import pytest

from settings import stack as s
from settings.function_spec import Function
from tests.conftest import stack
from tools.harness import PROJECT_DIR, ProgramError, StackRun, is_secret, masked, run_stack, unwrap


def stack_file(folder: Path, functions: str) -> str:
    path = folder / "stack.yml"
    path.write_text(f"version: 1.0\nprovider: {{name: openfaas}}\nfunctions:\n{functions}")
    return str(path)


def many(count: int, labels: str = "") -> str:
    return "".join(f"  fn{i}:\n    image: ghcr.io/acme/fn{i}:1.0.0\n{labels}" for i in range(count))


def test_img_resize_from_the_repository_stack_file(oslo: StackRun) -> None:
    dep = oslo.get("function-img-resize")
    assert dep.type == "kubernetes:apps/v1:Deployment" and dep.parent == "functions"
    assert dep.provider == "cluster-k8s"
    assert "openfaas-release" in dep.options["dependsOn"]
    obj = masked(dep.inputs)
    assert obj["metadata"]["namespace"] == "openfaas-fn" and obj["metadata"]["labels"] == {"faas_function": "img-resize"}
    pod = obj["spec"]["template"]
    assert pod["metadata"]["annotations"] == {"prometheus.io.scrape": "false", "topic": "image-upload"}
    assert pod["metadata"]["labels"] == {"com.openfaas.scale.max": "5", "com.openfaas.scale.min": "1", "faas_function": "img-resize"}
    (ctr,) = pod["spec"]["containers"]
    assert ctr["image"] == "ghcr.io/sovereign-faas/img-resize:0.1.0"  # ${REGISTRY:-...} default
    names = [e["name"] for e in ctr["env"]]
    assert names == sorted(names) and {"redis_host", "write_timeout", "exec_timeout"} <= set(names)
    assert ctr["resources"] == {"limits": {"cpu": "500m", "memory": "512Mi"}, "requests": {"cpu": "100m", "memory": "128Mi"}}
    assert ctr["securityContext"]["readOnlyRootFilesystem"] is True
    assert {v["name"] for v in pod["spec"]["volumes"]} == {"img-resize-projected-secrets", "temp"}
    svc = masked(oslo.get("function-img-resize-service").inputs)
    assert (svc["metadata"]["name"], svc["spec"]["ports"][0]["port"], svc["spec"]["selector"]) == ("img-resize", 8080, {"faas_function": "img-resize"})
    assert oslo.outputs["functions"] == {"img-resize": "http://203.0.113.10:8080/function/img-resize"}


def test_substitution_reads_the_environment_of_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGISTRY", "registry.example.no/media")
    run = run_stack("env", stack())
    (ctr,) = masked(run.get("function-img-resize").inputs)["spec"]["template"]["spec"]["containers"]
    assert ctr["image"] == "registry.example.no/media/img-resize:0.1.0"


def test_declared_secrets_are_created_labelled_and_mounted(project_tmp: Path) -> None:
    file = stack_file(project_tmp, "  pay:\n    image: ghcr.io/acme/pay:1.0.0\n    secrets: [api-key, redis-password]\n")
    run = run_stack("sec", stack(functionsFile=file, functionSecrets={"api-key": {"secure": "s3cr3t-value"}}))
    secret = run.get("function-secret-api-key")
    meta = unwrap(secret.inputs)["metadata"]
    assert (meta["name"], meta["namespace"], meta["labels"]) == ("api-key", "openfaas-fn", {"app.kubernetes.io/managed-by": "openfaas"})
    assert is_secret(secret.inputs["stringData"]) and unwrap(secret.inputs["stringData"]) == {"api-key": "s3cr3t-value"}
    assert "function-secret-api-key" in run.get("function-pay").options["dependsOn"]
    assert "s3cr3t-value" not in str([masked(r.inputs) for r in run.resources])


@pytest.mark.parametrize(
    ("functions", "extra", "expected"),
    [
        ("  pay:\n    image: a:1\n    secrets: [api-key]\n", {}, "functions.pay.secrets[0]: unknown secret 'api-key': declare it (pulumi config set --secret --path 'functionSecrets.api-key' VALUE)"),
        (many(16), {}, ": functions: 16 functions; OpenFaaS CE allows at most 15 (with more, every call answers 405); openfaasEdition 'pro' lifts this"),
        ("  a:\n    image: a:1\n    labels: {com.openfaas.scale.min: 9}\n", {}, "functions.a.labels.com.openfaas.scale.min: got 9, too high for Community Edition; OpenFaaS CE allows at most 5"),
        ("  a:\n    image: a:1\n    labels: {com.openfaas.scale.zero: true}\n", {}, "functions.a.labels.com.openfaas.scale.zero: scale to zero is not available for Community Edition"),
        ("  a:\n    image: a:1\n    limits: {memory: 512MB}\n", {}, "functions.a.limits.memory: expected a Kubernetes quantity"),
        ("  Bad:\n    image: a:1\n", {}, "functions.Bad.name: expected a DNS-1123 label"),
        ("  a:\n    image: a:1\n    annotations: {com.openfaas.ready.http.initialDelay: soon}\n", {}, "functions.a.annotations.com.openfaas.ready.http.initialDelay: "),
        ("  a:\n    image: /a:1\n", {}, "functions.a.image: expected a container image reference"),
        ("  a:\n    image: a:1\n    labels: {team: media ops}\n", {}, "functions.a.labels.team: expected a label value"),
        ("  a:\n    image: a:1\n    environment: {A=B: 1}\n", {}, "functions.a.environment.A=B: expected an environment variable name"),
        ("  a:\n    image: a:1\n    limits: {memory: 128}\n", {}, "functions.a.limits.memory: '128' is below 6Mi, too little for any container to start; a number without a unit is bytes: did you mean '128Mi'?"),
        ("  a:\n    image: a:1\n", {"functionSecrets": {"k": "plain"}}, "sovereign-faas:functionSecrets: must be a secret"),
        ("  a:\n    image: a:1\n", {"functionSecrets": {"redis-password": {"secure": "x"}}}, "sovereign-faas:functionSecrets.redis-password: expected a name of your own: this one is published by the platform itself"),
        ("  a:\n    image: a:1\n", {"functionsNonRoot": "maybe"}, "sovereign-faas:functionsNonRoot: expected true or false, got 'maybe'"),
        ("  a:\n    image: a:1\n", {"functionSecrets": {"nats-credentials": {"secure": "x"}}}, "sovereign-faas:functionSecrets.nats-credentials: expected a name of your own"),
        # A topic is a subject in NATS' permissions: an invalid one would stop nats-server.
        ("  a:\n    image: a:1\n    annotations: {topic: orders..new}\n", {}, "functions.a.topic: 'orders..new' is not a NATS subject: expected tokens joined by '.'"),
        ("  a:\n    image: a:1\n    annotations: {topic: 'image upload'}\n", {}, "functions.a.topic: 'image upload' is not a NATS subject"),
    ],
)
def test_function_mistakes_stop_the_preview(project_tmp: Path, functions: str, extra: dict, expected: str) -> None:
    file = stack_file(project_tmp, functions)
    with pytest.raises(ProgramError) as caught:
        run_stack("bad", stack(functionsFile=file, **extra))
    assert expected in str(caught.value)
    assert caught.value.registered == ()
    if "functions." in expected:
        assert f"{file}: functions." in str(caught.value)  # the stack file is named


def test_pro_lifts_the_ce_limits(project_tmp: Path) -> None:
    labels = "    labels: {com.openfaas.scale.min: 0, com.openfaas.scale.max: 10, com.openfaas.scale.zero: true}\n"
    file = stack_file(project_tmp, many(20, labels))
    run = run_stack("pro", stack(functionsFile=file, openfaasEdition="pro", openfaasLicense={"secure": "lic"}))
    assert len([r for r in run.of_type("kubernetes:apps/v1:Deployment") if r.name.startswith("function-")]) == 20
    pod = masked(run.get("function-fn3").inputs)["spec"]["template"]
    assert pod["metadata"]["labels"]["com.openfaas.scale.zero"] == "true"
    assert masked(run.get("function-fn3").inputs)["spec"]["replicas"] == 1  # min 0: start with one


def test_no_stack_file_means_no_functions() -> None:
    run = run_stack("none", stack(functionsFile=""))
    assert [r for r in run.of_type("kubernetes:apps/v1:Deployment") if r.name.startswith("function-")] == [] and run.outputs["functions"] == {}


def test_typed_and_file_functions_must_not_share_a_name() -> None:
    raw = {"nodes": '[{"name": "a", "host": "h.example"}]', "sshPrivateKey": "k", "firewall": "false"}
    typed = (Function(name="img-resize", image="a:1", source="functions/__init__.py"),)
    with pytest.raises(s.ConfigError) as caught:
        s.from_config(raw, {"sshPrivateKey"}, "t", secret=lambda v: v, typed_functions=typed, env={})
    assert "functions/stack.yml: functions.img-resize: a function of this name is also declared in functions/__init__.py" in str(caught.value)


def test_the_stack_file_follows_the_data_namespace() -> None:
    """functions/stack.yml names Redis as ${REDIS_HOST:-...}; the stack fills it in, so a new
    dataNamespace does not leave the function pointing at the old address."""
    run = run_stack("renamed-data", stack(dataNamespace="state"))
    ctr = unwrap(run.get("function-img-resize").inputs)["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in ctr["env"]}
    assert (env["redis_host"], env["redis_port"]) == ("redis.state.svc.cluster.local", "6379")
    assert run.outputs["redisAddress"] == "redis.state.svc.cluster.local:6379"


def test_the_stack_wins_over_the_shell_for_platform_addresses() -> None:
    raw = {"nodes": '[{"name": "a", "host": "h.example"}]', "sshPrivateKey": "k", "firewall": "false", "dataNamespace": "state"}
    loaded = s.from_config(raw, {"sshPrivateKey"}, "t", secret=lambda v: v, env={"REDIS_HOST": "elsewhere"})
    (fn,) = loaded.functions.functions
    assert dict(fn.environment)["redis_host"] == "redis.state.svc.cluster.local"


def test_ce_takes_scale_zero_false_from_a_stack_file(project_tmp: Path) -> None:
    file = stack_file(project_tmp, "  a:\n    image: ghcr.io/acme/a:1.0.0\n    labels: {com.openfaas.scale.zero: false, com.openfaas.scale.min: 0}\n")
    run = run_stack("zero-false", stack(functionsFile=file))
    assert masked(run.get("function-a").inputs)["spec"]["template"]["metadata"]["labels"]["com.openfaas.scale.zero"] == "false"


def test_a_ready_path_in_the_stack_file_reaches_the_readiness_probe(project_tmp: Path) -> None:
    file = stack_file(project_tmp, "  model:\n    image: ghcr.io/acme/model:1.0.0\n    annotations: {com.openfaas.ready.http.path: /ready, com.openfaas.ready.http.initialDelay: 20s}\n")
    ctr = masked(run_stack("ready", stack(functionsFile=file)).get("function-model").inputs)["spec"]["template"]["spec"]["containers"][0]
    assert ctr["readinessProbe"]["httpGet"]["path"] == "/ready" and ctr["readinessProbe"]["initialDelaySeconds"] == 20
    assert ctr["livenessProbe"]["httpGet"]["path"] == "/_/health"


def test_function_deployments_leave_replicas_to_the_autoscaler_and_time_out_in_3_minutes(oslo: StackRun) -> None:
    dep = oslo.get("function-img-resize")
    assert dep.options["ignoreChanges"] == ["spec.replicas"]
    assert dep.options["customTimeouts"] == {"create": "3m", "update": "3m"}
    assert masked(dep.inputs)["spec"]["replicas"] == 1  # still sent on create
    # Nothing else gets them: the Service is owned by the stack alone.
    svc = oslo.get("function-img-resize-service")
    assert svc.options["ignoreChanges"] == [] and "customTimeouts" not in svc.options


@pytest.mark.parametrize("kind", ["absolute", "dotdot", "symlink"])
def test_a_functions_file_outside_the_project_is_refused(project_tmp: Path, tmp_path: Path, kind: str) -> None:
    outside = tmp_path / "stack.yml"
    outside.write_text("version: 1.0\nprovider: {name: openfaas}\nfunctions:\n  leak:\n    image: SECRET-CONTENT\n")
    if kind == "absolute":
        file = str(outside)
    elif kind == "dotdot":
        file = "../" * len(PROJECT_DIR.parts) + str(outside).lstrip("/")
    else:
        (project_tmp / "link.yml").symlink_to(outside)
        file = str((project_tmp / "link.yml").relative_to(PROJECT_DIR))
    with pytest.raises(ProgramError) as caught:
        run_stack("outside", stack(functionsFile=file))
    message = str(caught.value)
    assert "sovereign-faas:functionsFile: " in message and "resolves outside the project directory (symlinks followed)" in message
    assert "SECRET-CONTENT" not in message

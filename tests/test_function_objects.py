"""A typed Function and the Kubernetes objects it becomes (no engine needed: plain data)."""

from __future__ import annotations

import pytest

from render.function_objects import container, deployment, pull_policy, service, topics
from settings.function_spec import Function, Resources, problems_with

NS = "openfaas-fn"
PROBE = {"httpGet": {"path": "/_/health", "port": 8080, "scheme": "HTTP"}, "timeoutSeconds": 1, "failureThreshold": 3}


def test_a_plain_function_becomes_exactly_this_deployment() -> None:
    fn = Function(name="hello", image="ghcr.io/acme/hello:1.0.0", environment={"b": "2", "a": "1"})
    assert deployment(fn, NS, non_root=True) == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "hello",
            "namespace": NS,
            "labels": {"faas_function": "hello"},
            "annotations": {"prometheus.io.scrape": "false"},
        },
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"faas_function": "hello"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {
                "metadata": {"labels": {"faas_function": "hello"}, "annotations": {"prometheus.io.scrape": "false"}},
                "spec": {
                    "containers": [
                        {
                            "name": "hello",
                            "image": "ghcr.io/acme/hello:1.0.0",
                            "imagePullPolicy": "IfNotPresent",
                            "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                            "env": [{"name": "a", "value": "1"}, {"name": "b", "value": "2"}],
                            "readinessProbe": {**PROBE, "initialDelaySeconds": 0, "periodSeconds": 1},
                            "livenessProbe": {**PROBE, "initialDelaySeconds": 2, "periodSeconds": 5},
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "capabilities": {"drop": ["ALL"]},
                                "runAsNonRoot": True,
                                "runAsUser": 12000,
                            },
                        }
                    ],
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
                },
            },
        },
    }
    assert service(fn, NS) == {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "hello", "namespace": NS, "annotations": {"prometheus.io.scrape": "false"}},
        "spec": {
            "type": "ClusterIP",
            "selector": {"faas_function": "hello"},
            "ports": [{"name": "http", "port": 8080, "targetPort": 8080, "protocol": "TCP"}],
        },
    }


def test_secrets_and_a_read_only_root_filesystem() -> None:
    fn = Function(
        name="billing",
        image="ghcr.io/acme/billing@sha256:" + "a" * 64,
        secrets=("api-key", "db-password"),
        read_only_root_filesystem=True,
        fprocess="python3 index.py",
        environment={"z": "1"},
        limits=Resources(memory="256Mi", cpu="500m"),
        requests=Resources(memory="64Mi"),
        labels={"com.openfaas.scale.min": "2", "team": "pay"},
        topic="invoices",
        non_root=False,
    )
    manifest = deployment(fn, NS, non_root=True)
    pod = manifest["spec"]["template"]
    assert manifest["spec"]["replicas"] == 2
    assert pod["metadata"]["labels"] == {"com.openfaas.scale.min": "2", "team": "pay", "faas_function": "billing"}
    assert pod["metadata"]["annotations"] == {"prometheus.io.scrape": "false", "topic": "invoices"}
    assert pod["spec"]["volumes"] == [
        {"name": "billing-projected-secrets", "projected": {"sources": [{"secret": {"name": "api-key"}}, {"secret": {"name": "db-password"}}]}},
        {"name": "temp", "emptyDir": {}},
    ]
    (ctr,) = pod["spec"]["containers"]
    assert ctr["volumeMounts"] == [
        {"name": "billing-projected-secrets", "mountPath": "/var/openfaas/secrets", "readOnly": True},
        {"name": "temp", "mountPath": "/tmp", "readOnly": False},
    ]
    assert ctr["env"] == [{"name": "fprocess", "value": "python3 index.py"}, {"name": "z", "value": "1"}]
    assert ctr["resources"] == {"limits": {"memory": "256Mi", "cpu": "500m"}, "requests": {"memory": "64Mi"}}
    assert ctr["imagePullPolicy"] == "IfNotPresent"
    # non_root=False on the function wins over the stack default: no runAsNonRoot/runAsUser.
    assert ctr["securityContext"] == {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "readOnlyRootFilesystem": True}


def test_function_level_non_root_uses_the_stack_default_when_unset() -> None:
    fn = Function(name="a", image="a:1")
    assert "runAsUser" not in container(fn, non_root=False)["securityContext"]
    assert container(fn, non_root=True)["securityContext"]["runAsUser"] == 12000


@pytest.mark.parametrize(
    ("image", "policy"),
    [
        ("ghcr.io/acme/fn:1.0.0", "IfNotPresent"),
        ("ghcr.io/acme/fn@sha256:" + "0" * 64, "IfNotPresent"),
        ("ghcr.io/acme/fn:latest", "Always"),
        ("ghcr.io/acme/fn", "Always"),
        ("registry.local:5000/fn", "Always"),
        ("registry.local:5000/fn:2", "IfNotPresent"),
    ],
)
def test_pull_policy_depends_on_whether_the_image_can_move(image: str, policy: str) -> None:
    assert pull_policy(image) == policy


def test_scale_min_zero_still_deploys_one_replica() -> None:
    assert Function(name="a", image="a:1", scale_min=0).replicas() == 1


def test_topics_are_the_sorted_union() -> None:
    fns = (Function(name="a", image="a:1", topic="b"), Function(name="c", image="c:1", topic="a,b"), Function(name="d", image="d:1"))
    assert topics(fns) == ("a", "b")


@pytest.mark.parametrize(
    ("fn", "key", "message"),
    [
        (Function(name="a", image="a:1", labels={"com.openfaas.scale.min": "6"}), "labels.com.openfaas.scale.min", "got 6, too high for Community Edition; OpenFaaS CE allows at most 5 replicas; openfaasEdition 'pro' lifts this"),
        (Function(name="a", image="a:1", scale_max=10), "labels.com.openfaas.scale.max", "got 10, too high for Community Edition; OpenFaaS CE allows at most 5 replicas"),
        (Function(name="a", image="a:1", labels={"com.openfaas.scale.zero": "true"}), "labels.com.openfaas.scale.zero", "scale to zero is not available for Community Edition; OpenFaaS CE allows com.openfaas.scale.zero only as 'false'"),
        (Function(name="a", image="a:1", labels={"com.openfaas.scale.zero-duration": "5m"}), "labels.com.openfaas.scale.zero-duration", "is an OpenFaaS Pro scaling label, not available for Community Edition; OpenFaaS CE allows only com.openfaas.scale.min/max/factor"),
        (Function(name="a", image="a:1", labels={"com.openfaas.scale.target": "50"}), "labels.com.openfaas.scale.target", "Pro scaling label"),
        (Function(name="a", image="a:1", labels={"com.openfaas.scale.type": "cpu"}), "labels.com.openfaas.scale.type", "Pro scaling label"),
        (Function(name="a", image="a:1", topic="a,b"), "topic", "'a,b' names several topics; OpenFaaS CE allows one topic per function"),
        (Function(name="a", image="a:1", image_pull_secrets=("regcred",)), "image_pull_secrets", "OpenFaaS CE allows public images only"),
        (Function(name="a", image="a:1", annotations={"iam.amazonaws.com/role": "x"}), "annotations.iam.amazonaws.com/role", "refused by faas-netes CE"),
        (Function(name="a", image="a:1", limits=Resources(memory="512MB")), "limits.memory", "got '512MB'"),
        (Function(name="a", image="a:1", requests=Resources(cpu="half")), "requests.cpu", "expected a Kubernetes quantity such as '512Mi', '250m', '1.5' or '2e9'"),
        (Function(name="a", image="a:1", labels={"com.openfaas.scale.min": "3", "com.openfaas.scale.max": "2"}), "labels.com.openfaas.scale.min", "3 is larger than com.openfaas.scale.max (2)"),
        (Function(name="a", image="a:1", labels={"com.openfaas.scale.max": "many"}), "labels.com.openfaas.scale.max", "expected a whole number, got 'many'"),
        (Function(name="Bad_Name", image="a:1"), "name", "expected a DNS-1123 label"),
    ],
)
def test_ce_limits_and_bad_values_are_named(fn: Function, key: str, message: str) -> None:
    found = dict(problems_with(fn, pro=False))
    assert key in found and message in found[key], found


def test_pro_allows_what_ce_refuses() -> None:
    fn = Function(name="a", image="a:1", labels={"com.openfaas.scale.min": "0", "com.openfaas.scale.max": "10", "com.openfaas.scale.zero": "true"}, topic="a,b", image_pull_secrets=("regcred",))
    assert problems_with(fn, pro=True) == []
    assert len(problems_with(fn, pro=False)) == 4  # min 0 is fine on CE too


@pytest.mark.parametrize(
    "labels",
    [
        {"com.openfaas.scale.zero": "false"},  # refused only when "true"
        {"com.openfaas.scale.zero": "True"},  # the comparison is exact
        {"com.openfaas.scale.min": "0"},  # CE starts one replica; only > 5 is refused
        {"com.openfaas.scale.min": "5", "com.openfaas.scale.max": "5"},
        {"com.openfaas.scale.target-proportion": "0.9"},  # not in validate.go
    ],
)
def test_ce_accepts_what_faas_netes_ce_accepts(labels: dict[str, str]) -> None:
    assert problems_with(Function(name="a", image="a:1", labels=labels), pro=False) == []


LONG = "f" * 46  # 46 + len("-projected-secrets") = 64


@pytest.mark.parametrize(
    ("fn", "key", "message"),
    [
        (Function(name="fn", image="<MY_IMAGE>"), "image", "expected a container image reference"),
        (Function(name="fn", image="ghcr.io/Acme/fn:1"), "image", "got 'ghcr.io/Acme/fn:1'"),
        (Function(name="fn", image="ghcr.io/acme/fn :1"), "image", "expected a container image reference"),
        (Function(name="fn", image="/fn:1.0"), "image", "as if the registry part were an unset variable (${REGISTRY}?), got '/fn:1.0'"),
        (Function(name="1fn", image="a:1"), "name", "the function's Service is named like it: a Service name: expected a DNS-1035 label"),
        (Function(name=LONG, image="a:1", secrets=("api-key",)), "name", f"'{LONG}-projected-secrets' would be longer than a Kubernetes volume name may be (63): a function with secrets may have at most 45 characters"),
        (Function(name="fn", image="a:1", labels={"team": "media ops"}), "labels.team", "expected a label value: at most 63 characters"),
        (Function(name="fn", image="a:1", labels={"team": "`x`"}), "labels.team", "got '`x`'"),
        (Function(name="fn", image="a:1", labels={"team": "x" * 64}), "labels.team", "expected a label value: at most 63"),
        (Function(name="fn", image="a:1", labels={"my team": "x"}), "labels.my team", "a label key: expected a qualified name"),
        (Function(name="fn", image="a:1", labels={"a/b/c": "x"}), "labels.a/b/c", "more than one '/'"),
        (Function(name="fn", image="a:1", annotations={"bad key!": "x"}), "annotations.bad key!", "an annotation key: expected a qualified name"),
        (Function(name="fn", image="a:1", annotations={"big": "x" * (256 * 1024)}), "annotations", "Kubernetes allows at most 262144"),
        (Function(name="fn", image="a:1", environment={"A=B": "x"}), "environment.A=B", "expected an environment variable name: printable ASCII characters other than '='"),
        (Function(name="fn", image="a:1", environment={"": "x"}), "environment.", "it must be non-empty"),
        (Function(name="fn", image="a:1", limits=Resources(memory="128Mi"), requests=Resources(memory="256Mi")), "requests.memory", "256Mi is more than limits.memory (128Mi): Kubernetes refuses requests above limits"),
        (Function(name="fn", image="a:1", limits=Resources(cpu="500m"), requests=Resources(cpu="1")), "requests.cpu", "1 is more than limits.cpu (500m)"),
        (Function(name="fn", image="a:1", limits=Resources(memory="128")), "limits.memory", "'128' is below 6Mi, too little for any container to start; a number without a unit is bytes: did you mean '128Mi'?"),
        (Function(name="fn", image="a:1", limits=Resources(memory="4Mi")), "limits.memory", "'4Mi' is below 6Mi"),
    ],
)
def test_what_the_api_server_or_kubelet_would_refuse(fn: Function, key: str, message: str) -> None:
    for pro in (False, True):
        found = dict(problems_with(fn, pro=pro))
        assert key in found and message in found[key], found


@pytest.mark.parametrize(
    "fn",
    [
        Function(name="f" * 45, image="a:1", secrets=("api-key",)),
        Function(name="f" * 63, image="a:1"),
        Function(name="fn", image="localhost:5000/fn", limits=Resources(memory="6Mi", cpu="1"), requests=Resources(memory="6Mi", cpu="1")),
        Function(name="fn", image="nginx", requests=Resources(memory="1Gi")),  # no limit: nothing to compare
        Function(name="fn", image="a:1", labels={"example.com/team": "", "a.b_c-d": "X.y"}, annotations={"Example.COM/Key": "any value at all"}),
        Function(name="fn", image="a:1", environment={"1VAR": "x", "my.var": "y"}),
    ],
)
def test_what_kubernetes_accepts_is_accepted(fn: Function) -> None:
    assert problems_with(fn, pro=True) == []


def probes_of(annotations: dict[str, str]) -> tuple[dict, dict]:
    ctr = container(Function(name="fn", image="a:1", annotations=annotations), non_root=True)
    return ctr["readinessProbe"], ctr["livenessProbe"]


def test_without_probe_annotations_our_defaults_stay() -> None:
    assert probes_of({}) == ({**PROBE, "initialDelaySeconds": 0, "periodSeconds": 1}, {**PROBE, "initialDelaySeconds": 2, "periodSeconds": 5})


def test_ready_annotations_shape_the_readiness_probe() -> None:
    ready, live = probes_of({"com.openfaas.ready.http.path": "/ready", "com.openfaas.ready.http.initialDelay": "30s", "com.openfaas.ready.http.periodSeconds": "2s"})
    assert ready == {**PROBE, "httpGet": {"path": "/ready", "port": 8080, "scheme": "HTTP"}, "initialDelaySeconds": 30, "periodSeconds": 2}
    assert live == {**PROBE, "initialDelaySeconds": 2, "periodSeconds": 5}  # liveness is health's


def test_health_annotations_shape_liveness_and_lend_readiness_their_path() -> None:
    ready, live = probes_of({"com.openfaas.health.http.path": "/healthz", "com.openfaas.health.http.initialDelaySeconds": "10", "com.openfaas.health.http.periodSeconds": "1m"})
    assert live == {**PROBE, "httpGet": {"path": "/healthz", "port": 8080, "scheme": "HTTP"}, "initialDelaySeconds": 10, "periodSeconds": 60}
    assert ready["httpGet"]["path"] == "/healthz" and (ready["initialDelaySeconds"], ready["periodSeconds"]) == (0, 1)


def test_durations_truncate_to_whole_seconds_as_go_does() -> None:
    ready, _ = probes_of({"com.openfaas.ready.http.initialDelay": "1.9s", "com.openfaas.ready.http.initialDelaySeconds": "3"})
    assert ready["initialDelaySeconds"] == 3  # the documented Seconds key is read last


@pytest.mark.parametrize(
    ("annotations", "key", "message"),
    [
        ({"com.openfaas.ready.http.path": "ready"}, "annotations.com.openfaas.ready.http.path", "expected an HTTP path starting with '/' (no spaces), got 'ready'"),
        ({"com.openfaas.health.http.path": "/a b"}, "annotations.com.openfaas.health.http.path", "expected an HTTP path starting with '/'"),
        ({"com.openfaas.ready.http.initialDelay": "2 seconds"}, "annotations.com.openfaas.ready.http.initialDelay", "seconds ('30') or a Go duration ('2s', '1m30s'), got '2 seconds'"),
        ({"com.openfaas.ready.http.periodSeconds": "0"}, "annotations.com.openfaas.ready.http.periodSeconds", "expected at least 1 second"),
        ({"com.openfaas.health.http.periodSeconds": "500ms"}, "annotations.com.openfaas.health.http.periodSeconds", "expected at least 1 second"),
        ({"com.openfaas.health.http.initialDelay": "-1s"}, "annotations.com.openfaas.health.http.initialDelay", "expected at least 0 seconds"),
        ({"com.openfaas.ready.http.initialDelaySeconds": "x"}, "annotations.com.openfaas.ready.http.initialDelaySeconds", "got 'x'"),
    ],
)
def test_probe_annotations_are_validated(annotations: dict[str, str], key: str, message: str) -> None:
    for pro in (False, True):
        found = dict(problems_with(Function(name="fn", image="a:1", annotations=annotations), pro=pro))
        assert key in found and message in found[key], found

"""The faas-cli stack.yml loader, on real-looking files."""

from __future__ import annotations

from pathlib import Path

import pytest

from settings.errors import ConfigError, Report
from settings.functions import Function, Resources
from settings.stackfile import load, substitute

NAMESPACE = "openfaas-fn"


def write(tmp_path: Path, text: str, **files: str) -> Path:
    for name, content in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(content)
    path = tmp_path / "stack.yml"
    path.write_text(text)
    return path


def read(path: Path, env: dict[str, str] | None = None) -> tuple[Function, ...]:
    problems = Report("Pulumi.test.yaml")
    functions = load(path, "stack.yml", env or {}, NAMESPACE, problems)
    problems.raise_if_any()
    return functions


def errors(path: Path, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        read(path, env)
    return str(caught.value)


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        ("${A}", {"A": "x"}, "x"),
        ("${A}", {}, ""),
        ("${A:-d}", {}, "d"),
        ("${A:-d}", {"A": ""}, "d"),
        ("${A:-d}", {"A": "x"}, "x"),
        ("${A-d}", {"A": ""}, ""),
        ("${A=d}", {}, "d"),
        ("${A=d}", {"A": ""}, ""),
        ("${A:=d}", {"A": ""}, "d"),
        ("img:${TAG:-1.0}-${ARCH}", {"ARCH": "arm64"}, "img:1.0-arm64"),
        ("$A and $$", {"A": "x"}, "$A and $$"),  # only the braced forms, like the README says
    ],
)
def test_substitution_follows_faas_cli(text: str, env: dict[str, str], expected: str) -> None:
    assert substitute(text, env) == expected


def test_a_full_function_is_read_as_faas_cli_would_send_it(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
version: 1.0
provider: {name: openfaas, gateway: "${OPENFAAS_URL:-http://127.0.0.1:8080}"}
configuration:
  templates: [{name: python3-http, source: https://github.com/openfaas/python-flask-template}]
functions:
  thumb:
    lang: python3-http
    handler: ./thumb
    image: ${REGISTRY:-ghcr.io/acme}/thumb:${TAG:-1.2.3}
    fprocess: python3 index.py
    environment: {retries: 3, debug: true, ratio: 1.5, empty: null, name: thumb}
    environment_file: [env/base.yml, env/prod.yml]
    secrets: [api-key]
    labels: {com.openfaas.scale.min: 2, team: media}
    annotations: {topic: uploads, owner: media}
    limits: {memory: 256Mi, cpu: 1}
    requests: {memory: 64Mi}
    readonly_root_filesystem: true
    constraints: ["node.platform.os == linux"]
    build_args: {PIP_INDEX: internal}
    build_options: [dev]
    skip_build: false
    platforms: linux/amd64
""",
        **{"env/base.yml": "environment:\n  retries: 5\n  region: osl\n",
        "env/prod.yml": "environment:\n  region: bgo\n"},
    )
    (fn,) = read(path, {"TAG": "2.0.0"})
    assert fn == Function(
        name="thumb",
        image="ghcr.io/acme/thumb:2.0.0",
        environment={"retries": "5", "debug": "true", "ratio": "1.5", "empty": "", "name": "thumb", "region": "bgo"},
        secrets=("api-key",),
        labels={"com.openfaas.scale.min": "2", "team": "media"},
        annotations={"owner": "media"},
        limits=Resources(memory="256Mi", cpu="1"),
        requests=Resources(memory="64Mi"),
        read_only_root_filesystem=True,
        topic="uploads",
        fprocess="python3 index.py",
        lang="python3-http",
        handler="./thumb",
        build_args={"PIP_INDEX": "internal"},
        source="stack.yml",
    )


def test_the_repository_stack_file_loads(tmp_path: Path) -> None:
    from tools.harness import PROJECT_DIR

    (fn,) = read(PROJECT_DIR / "functions" / "stack.yml")
    assert fn.name == "img-resize" and fn.topic == "image-upload"
    assert fn.environment["write_timeout"] == "30s"  # from its environment_file
    assert fn.limits == Resources(memory="512Mi", cpu="500m")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("functions:\n  f:\n    lang: go\n", "stack.yml: functions.f.image: required: the image to deploy, got None"),
        ("functions:\n  f:\n    image: a:1\n    imgae: b\n", "stack.yml: functions.f.imgae: unknown key; did you mean 'image'?"),
        ("functions:\n  f:\n    image: a:1\n    environment: [a, b]\n", "stack.yml: functions.f.environment: expected a map, got list"),
        ("functions:\n  f:\n    image: a:1\n    environment: {a: [1]}\n", "stack.yml: functions.f.environment.a: expected a string, number or boolean, got list [1]"),
        ("functions:\n  f:\n    image: a:1\n    secrets: api-key\n", "stack.yml: functions.f.secrets: expected a list of strings, got 'api-key'"),
        ("functions:\n  f:\n    image: a:1\n    readonly_root_filesystem: yes please\n", "stack.yml: functions.f.readonly_root_filesystem: expected true or false"),
        ("functions:\n  f:\n    image: a:1\n    limits: {memory: 1Gi, gpu: 1}\n", "stack.yml: functions.f.limits.gpu: unknown key"),
        ("functions:\n  f:\n    image: a:1\n    environment_file: [missing.yml]\n", "stack.yml: functions.f.environment_file[0]: missing.yml: no such file (read relative to stack.yml)"),
        ("functions:\n  f:\n    image: a:1\n    namespace: other\n", "stack.yml: functions.f.namespace: functions deploy to openfaasFunctionNamespace ('openfaas-fn'), got 'other'"),
        ("version: 2.0\nfunctions: {}\n", "stack.yml: version: expected '1.0'"),
        ("provider: {name: faasd}\nfunctions: {}\n", "stack.yml: provider.name: expected 'openfaas', got 'faasd'"),
        ("fnctions: {}\n", "stack.yml: fnctions: unknown key; did you mean 'functions'?"),
        ("functions:\n  f: [image]\n", "stack.yml: functions.f: expected a map, got list"),
        ("functions:\n  f:\n  - : :\n", "stack.yml: (file): not valid YAML"),
    ],
)
def test_mistakes_name_the_file_the_function_and_the_key(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in errors(write(tmp_path, text))


def test_env_file_must_hold_an_environment_map(tmp_path: Path) -> None:
    path = write(tmp_path, "functions:\n  f:\n    image: a:1\n    environment_file: [e.yml]\n", **{"e.yml": "env:\n  a: 1\n"})
    assert "stack.yml: functions.f.environment_file[0]: e.yml must hold only an `environment:` map" in errors(path)


def test_missing_stack_file_is_named(tmp_path: Path) -> None:
    assert "sovereign-faas:functionsFile: stack.yml: no such file" in errors(tmp_path / "stack.yml")

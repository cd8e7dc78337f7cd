"""The faas-cli stack.yml loader, on real-looking files."""

from __future__ import annotations

from pathlib import Path

import pytest

from settings.errors import ConfigError, Report
from settings.function_spec import Function, Resources
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
        ("${A:-d}", {"A": ""}, "d"),
        ("${IMAGE:-ghcr.io/${OWNER:-me}/fn:${TAG:-dev}}", {"TAG": "2"}, "ghcr.io/me/fn:2"),
        ("$A and $$ and $${A}", {"A": "x"}, "$A and $ and ${A}"),
        ("${A,,}", {"A": "ABC"}, "abc"),
    ],
)
def test_substitution_is_drone_envsubst(text: str, env: dict[str, str], expected: str) -> None:
    assert substitute(text, env) == expected  # the full table is tests/test_envsubst.py


def test_nested_defaults_in_a_stack_file(tmp_path: Path) -> None:
    path = write(tmp_path, "provider: {name: openfaas}\nfunctions:\n  f:\n    image: ${IMAGE:-ghcr.io/${OWNER:-me}/fn:${TAG:-dev}}\n")
    assert read(path, {"OWNER": "acme"})[0].image == "ghcr.io/acme/fn:dev"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("provider: {name: openfaas}\nfunctions:\n  f:\n    image: ${TAG-1}\n", "stack.yml: line 4: missing closing brace"),
        ("provider: {name: openfaas}\n\nfunctions:\n  f:\n    image: ${}\n", "stack.yml: line 5: "),
        ("provider: {name: openfaas}\nfunctions:\n  f:\n    image: ${TAG\n", "stack.yml: line 4: "),
    ],
)
def test_substitution_errors_give_the_line(tmp_path: Path, text: str, expected: str) -> None:
    message = errors(write(tmp_path, text))
    assert expected in message and "Traceback" not in message


def test_a_full_function_is_read_as_faas_cli_would_send_it(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
version: 1.0
provider: {name: openfaas, gateway: "${OPENFAAS_URL:-http://127.0.0.1:8080}"}
configuration:
  templates: [{name: python3-http, source: https://github.com/openfaas/python-flask-template}]
  copy: [common]
functions:
  thumb:
    lang: python3-http
    handler: ./thumb
    image: ${REGISTRY:-ghcr.io/acme}/thumb:${TAG:-1.2.3}
    fprocess: python3 index.py
    environment: {retries: 3, debug: true, ratio: 1.50, hex: 0x10, answer: yes, empty: null, name: thumb}
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
    build_secrets: {token: ~/.token}
""",
        **{"env/base.yml": "environment:\n  retries: 5\n  region: osl\n",
        "env/prod.yml": "environment:\n  region: bgo\n"},
    )
    (fn,) = read(path, {"TAG": "2.0.0"})
    assert fn == Function(
        name="thumb",
        image="ghcr.io/acme/thumb:2.0.0",
        # yaml.v3 decodes a string from the scalar as written: 1.50, 0x10 and yes stay as they are.
        environment={"retries": "5", "debug": "true", "ratio": "1.50", "hex": "0x10", "answer": "yes", "empty": "", "name": "thumb", "region": "bgo"},
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
        ("functions:\n  f:\n    lang: go\n", "stack.yml: functions.f.image: required: the container image function 'f' runs, e.g. ghcr.io/you/f:1.0.0"),
        ("functions:\n  f:\n    image: a:1\n    imgae: b\n", "stack.yml: functions.f.imgae: unknown key; did you mean 'image'?"),
        ("functions:\n  f:\n    image: a:1\n    environment: [a, b]\n", "stack.yml: functions.f.environment: expected a map, got a list"),
        ("functions:\n  f:\n    image: a:1\n    environment: {a: [1]}\n", "stack.yml: functions.f.environment.a: expected a string, number or boolean, got a list"),
        ("functions:\n  f:\n    image: a:1\n    secrets: api-key\n", "stack.yml: functions.f.secrets: expected a list of strings, got 'api-key'"),
        ("functions:\n  f:\n    image: a:1\n    readonly_root_filesystem: yes please\n", "stack.yml: functions.f.readonly_root_filesystem: expected true or false"),
        ("functions:\n  f:\n    image: a:1\n    limits: {memory: 1Gi, gpu: 1}\n", "stack.yml: functions.f.limits.gpu: unknown key"),
        ("functions:\n  f:\n    image: a:1\n    environment_file: [missing.yml]\n", "stack.yml: functions.f.environment_file[0]: missing.yml: no such file (read relative to stack.yml)"),
        ("functions:\n  f:\n    image: a:1\n    namespace: other\n", "stack.yml: functions.f.namespace: functions deploy to openfaasFunctionNamespace ('openfaas-fn'), got 'other'"),
        ("version: 2.0\nfunctions: {}\n", "stack.yml: version: expected '1.0'"),
        ("provider: {name: faasd}\nfunctions: {}\n", "stack.yml: provider.name: expected 'openfaas', got 'faasd'"),
        ("fnctions: {}\n", "stack.yml: fnctions: unknown key; did you mean 'functions'?"),
        ("functions:\n  f: [image]\n", "stack.yml: functions.f: expected a map, got a list"),
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


P = "provider: {name: openfaas}\n"
F = P + "functions:\n  f:\n    image: a:1\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "stack.yml: (file): empty: faas-cli refuses it"),
        ("# only a comment\n", "stack.yml: (file): empty"),
        ("functions:\n  f:\n    image: a:1\n", "stack.yml: provider.name: required: faas-cli refuses a stack file without it"),
        ("provider: {gateway: http://x}\nfunctions: {}\n", "stack.yml: provider.name: required"),
        (P + "functions:\n  f:\n    image: a:1\n  f:\n    image: b:1\n", "stack.yml: (file): not valid YAML (line 5, column 3): key 'f' is given twice (first on line 3)"),
        (F + "    labels: {a: 1, a: 2}\n", "stack.yml: (file): not valid YAML (line 5, column 20): key 'a' is given twice"),
        ("- just\n- a list\n", "stack.yml: (file): expected a map, got a list"),
        (F + "    build_options: dev\n", "stack.yml: functions.f.build_options: expected a list of strings, got 'dev'"),
        (F + "    build_options: [[dev]]\n", "stack.yml: functions.f.build_options[0]: expected a string, got a list"),
        (F + "    skip_build: maybe\n", "stack.yml: functions.f.skip_build: expected true or false, got 'maybe'"),
        (F + '    skip_build: "true"\n', "stack.yml: functions.f.skip_build: expected true or false, got 'true'"),
        (F + "    platforms: [linux/amd64]\n", "stack.yml: functions.f.platforms: expected a string, got a list"),
        (F + "    build_secrets: [a]\n", "stack.yml: functions.f.build_secrets: expected a map, got a list"),
        (F + "    build_secrets: {a: {b: c}}\n", "stack.yml: functions.f.build_secrets.a: expected a string, number or boolean, got a map"),
        (F + "    build_args: {a: [1]}\n", "stack.yml: functions.f.build_args.a: expected a string, number or boolean, got a list"),
        (F + "    image: {name: a}\n", "stack.yml: (file): not valid YAML"),  # image twice
        (P + "functions:\n  f:\n    image: {name: a}\n", "stack.yml: functions.f.image: expected a string, got a map"),
        (F + "    lang: [go]\n", "stack.yml: functions.f.lang: expected a string, got a list"),
        (F + "    limits: {memory: [1]}\n", "stack.yml: functions.f.limits.memory: expected a string, got a list"),
        (P + "configuration: {templates: python3}\nfunctions: {}\n", "stack.yml: configuration.templates: expected a list of {name, source}, got 'python3'"),
        (P + "configuration: {templates: [python3]}\nfunctions: {}\n", "stack.yml: configuration.templates[0]: expected a map, got 'python3'"),
        (P + "configuration: {templates: [{name: a, src: b}]}\nfunctions: {}\n", "stack.yml: configuration.templates[0].src: unknown key; did you mean 'source'?"),
        (P + "configuration: {templates: [{name: [a]}]}\nfunctions: {}\n", "stack.yml: configuration.templates[0].name: expected a string, got a list"),
        (P + "configuration: {copy: common}\nfunctions: {}\n", "stack.yml: configuration.copy: expected a list of strings, got 'common'"),
        (P + "configuration: {cpy: [a]}\nfunctions: {}\n", "stack.yml: configuration.cpy: unknown key; did you mean 'copy'?"),
        ("version: 1.00\n" + F, "stack.yml: version: expected '1.0' (the only stack file version faas-cli knows), got 1.00"),
    ],
)
def test_faas_cli_refusals_name_the_key(tmp_path: Path, text: str, expected: str) -> None:
    message = errors(write(tmp_path, text))
    assert expected in message, message


def test_yaml_v3_scalars_for_typed_fields(tmp_path: Path) -> None:
    # A string field takes any scalar as written; a bool field YAML 1.1's yes/no too (decode.go).
    path = write(tmp_path, F + "    skip_build: yes\n    readonly_root_filesystem: On\n    platforms: 1\n    build_options: [1, true]\n    fprocess: 1.50\n")
    (fn,) = read(path)
    assert fn.read_only_root_filesystem is True and fn.fprocess == "1.50"


def test_not_utf8_gives_the_line(tmp_path: Path) -> None:
    path = tmp_path / "stack.yml"
    path.write_bytes(b"provider: {name: openfaas}\nfunctions:\n  f:\n    image: caf\xe9:1\n")
    assert "stack.yml: (file): not UTF-8 text (line 4, byte" in errors(path)


def test_not_yaml_gives_the_line_and_no_traceback(tmp_path: Path) -> None:
    message = errors(write(tmp_path, P + "functions:\n  f:\n    image: a:1\n   lang: go\n"))
    assert "stack.yml: (file): not valid YAML (line 5, column 4): did not find expected key" in message and "Traceback" not in message



def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    (tmp_path / "outside.yml").write_text("environment:\n  token: SECRET-CONTENT\n")
    return root


def read_in(root: Path, text: str) -> str:
    path = root / "stack.yml"
    path.write_text(text)
    problems = Report("Pulumi.test.yaml")
    load(path, "stack.yml", {}, NAMESPACE, problems, root=root)
    return "\n".join(problems.lines)


def test_an_environment_file_outside_the_project_is_refused(tmp_path: Path) -> None:
    root = project(tmp_path)
    message = read_in(root, F + "    environment_file: [../outside.yml]\n")
    assert "stack.yml: functions.f.environment_file[0]: ../outside.yml is outside the project directory (symlinks resolved)" in message
    assert "SECRET-CONTENT" not in message


def test_a_symlinked_environment_file_that_leaves_the_project_is_refused(tmp_path: Path) -> None:
    root = project(tmp_path)
    (root / "env.yml").symlink_to(tmp_path / "outside.yml")
    message = read_in(root, F + "    environment_file: [env.yml]\n")
    assert "functions.f.environment_file[0]: env.yml is outside the project directory" in message and "SECRET-CONTENT" not in message


def test_a_symlink_inside_the_project_is_fine(tmp_path: Path) -> None:
    root = project(tmp_path)
    (root / "real.yml").write_text("environment:\n  a: 1\n")
    (root / "env.yml").symlink_to(root / "real.yml")
    assert read_in(root, F + "    environment_file: [env.yml]\n") == ""


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("big.yml", "SECRET-CONTENT " * 5000),  # a long string, not a map
        ("list.yml", "- SECRET-CONTENT\n" * 2000),
        ("bad.yml", "environment: {a: SECRET-CONTENT " + "x" * 5000 + "\n"),
        ("typed.yml", "environment:\n  a: [SECRET-CONTENT " + "y" * 5000 + "]\n"),
    ],
)
def test_messages_never_print_a_file(tmp_path: Path, name: str, content: str) -> None:
    root = project(tmp_path)
    (root / name).write_text(content)
    message = read_in(root, F + f"    environment_file: [{name}]\n")
    assert message and "SECRET-CONTENT" not in message and len(message) < 400, message


def test_a_long_value_in_the_stack_file_is_cut(tmp_path: Path) -> None:
    message = errors(write(tmp_path, F + "    namespace: " + "n" * 5000 + "\n"))
    assert "functions.f.namespace" in message and len(message) < 400

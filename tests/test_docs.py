"""Every config key is declared once, in settings/: Pulumi.yaml's schema and the README's
tables are generated from the models (`make docs`), and must be current."""

from __future__ import annotations

import yaml

from settings.stack import KNOWN_KEYS, SECRET_KEYS, SECTIONS, StackConfig
from tools import docs
from tools.harness import PROJECT_DIR, required_secrets


def test_generated_parts_are_current() -> None:
    assert docs.main(["--check"]) == 0, "Pulumi.yaml or README.md is stale: run `make docs` and commit the result"


def test_the_schema_declares_every_key_it_can_with_the_models_defaults() -> None:
    schema = yaml.safe_load((PROJECT_DIR / "Pulumi.yaml").read_text())["config"]
    fields = [f for m in SECTIONS.values() for f in m.model_fields.values()]
    undeclared = {str(f.alias) for f in fields if not docs.typed_in_schema(f)}
    assert {"nodes", "sysctl", "functionSecrets", "domain", "openfaasLicense"} <= undeclared
    assert set(schema) | undeclared == set(KNOWN_KEYS) and not set(schema) & undeclared
    header = (PROJECT_DIR / "Pulumi.yaml").read_text().split("\nconfig:", 1)[0]
    assert all(f"#   {key}" in header for key in undeclared)  # each still documented there
    defaults = StackConfig.model_validate({"nodes": [{"name": "a", "host": "h.example"}], "sshPrivateKey": "k", "adminCidrs": ["192.0.2.0/24"]})
    for section in ("k3s", "openfaas", "nats", "redis", "firewall", "data"):
        model = getattr(defaults, section)
        for name, info in type(model).model_fields.items():
            if info.alias in schema and "default" in schema[info.alias] and name not in model.model_fields_set:
                value = getattr(model, name)
                assert schema[info.alias]["default"] == (list(value) if isinstance(value, tuple) else value), info.alias


def test_secrets_are_marked_and_the_required_ones_get_plan_placeholders() -> None:
    schema = yaml.safe_load((PROJECT_DIR / "Pulumi.yaml").read_text())["config"]
    assert {k for k, v in schema.items() if v.get("secret")} == set(SECRET_KEYS) & set(schema)
    assert {"sshPrivateKey", "openfaasLicense", "functionSecrets"} <= set(SECRET_KEYS)
    # acmeEabHmacKey, like openfaasLicense, is read only when the keys it goes with are set.
    assert set(required_secrets()) == {"sshPrivateKey", "openfaasLicense", "acmeEabHmacKey"}  # placeholders in plans


def test_a_stale_table_is_found(tmp_path, monkeypatch) -> None:
    readme = tmp_path / "README.md"
    text = (PROJECT_DIR / "README.md").read_text().replace("| `k3sReadyTimeout` | integer | `300` |", "| `k3sReadyTimeout` | integer | `301` |")
    readme.write_text(text)
    monkeypatch.setattr(docs, "README", readme)
    assert docs.main(["--check"]) == 1



# What the Pulumi CLI checks of a stack against Pulumi.yaml before the program runs (pulumi's
# sdk/go/common/workspace ValidateStackConfigAndApplyProjectConfig, cases from its
# project_test.go): a typed key without a default must be set ("Stack 'dev' is missing
# configuration value"), a set value must have its declared type, a secret one must be
# encrypted; keys the project does not declare pass through untouched.
_PULUMI_TYPES = {"string": str, "integer": int, "boolean": bool, "array": list}


def cli_problems(stack_file: str, set_as_secrets: tuple[str, ...]) -> list[str]:
    schema = yaml.safe_load((PROJECT_DIR / "Pulumi.yaml").read_text())["config"]
    values = {k.split(":", 1)[1]: v for k, v in (yaml.safe_load((PROJECT_DIR / stack_file).read_text())["config"] or {}).items()}
    values.update({k: {"secure": "v1:..."} for k in set_as_secrets})
    problems = []
    for key, spec in schema.items():
        if key not in values:
            if "default" not in spec:
                problems.append(f"missing configuration value '{key}'")
            continue
        value = values[key]
        if spec.get("secret"):
            if not (isinstance(value, dict) and "secure" in value):
                problems.append(f"'{key}' must be encrypted as it's secret")
        elif not isinstance(value, _PULUMI_TYPES[spec["type"]]) or (spec["type"] == "integer" and isinstance(value, bool)):
            problems.append(f"'{key}' must be of type '{spec['type']}'")
    return problems


def test_the_cli_accepts_each_example_stack_as_the_readme_sets_it_up() -> None:
    """The README's deploy steps set sshPrivateKey (and, for Pro, openfaasLicense) as secrets."""
    for path in sorted(PROJECT_DIR.glob("Pulumi.*.yaml")):
        assert cli_problems(path.name, ("sshPrivateKey",)) == [], path.name


def test_no_optional_key_is_declared_so_that_the_cli_would_require_it() -> None:
    schema = yaml.safe_load((PROJECT_DIR / "Pulumi.yaml").read_text())["config"]
    assert {k for k, v in schema.items() if "default" not in v} == {"sshPrivateKey"}
    for key in ("domain", "acmeEmail", "openfaasLicense", "k3sMirror", "nodes"):
        assert key not in schema, key

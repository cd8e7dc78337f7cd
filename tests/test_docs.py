"""Every config key is declared once, in settings/: Pulumi.yaml's schema and the README's
tables are generated from the models (`make docs`), and must be current."""

from __future__ import annotations

import yaml

from settings.stack import KNOWN_KEYS, SECRET_KEYS, SECTIONS, StackConfig
from tools import docs
from tools.harness import PROJECT_DIR, required_secrets


def test_generated_parts_are_current() -> None:
    assert docs.main(["--check"]) == 0, "Pulumi.yaml or README.md is stale: run `make docs` and commit the result"


def test_the_schema_declares_every_scalar_and_list_key_with_the_models_defaults() -> None:
    schema = yaml.safe_load((PROJECT_DIR / "Pulumi.yaml").read_text())["config"]
    objects = {str(f.alias) for m in SECTIONS.values() for f in m.model_fields.values() if docs.pulumi_type(f) == "object"}
    assert {"nodes", "sysctl", "functionSecrets"} <= objects
    assert set(schema) | objects == set(KNOWN_KEYS) and not set(schema) & objects
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
    assert set(required_secrets()) == {"sshPrivateKey", "openfaasLicense", "acmeEabHmacKey"}


def test_a_stale_table_is_found(tmp_path, monkeypatch) -> None:
    readme = tmp_path / "README.md"
    text = (PROJECT_DIR / "README.md").read_text().replace("| `k3sReadyTimeout` | integer | `300` |", "| `k3sReadyTimeout` | integer | `301` |")
    readme.write_text(text)
    monkeypatch.setattr(docs, "README", readme)
    assert docs.main(["--check"]) == 1


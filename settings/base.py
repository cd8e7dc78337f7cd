"""What every section model shares: frozen, keys by their config name, secrets marked."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo

from settings.errors import refused, secret_advice


class Section(BaseModel):
    """A group of flat stack config keys (`k3sVersion`, `k3sDisable`, ...) under one model.
    Keys are the fields' aliases; code and tests may also use the field names."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_by_name=True, validate_by_alias=True)


def key(alias: str, default: Any = None, description: str = "", **extra: Any) -> Any:
    """A config key: its name as the user writes it, its default and its description (the
    Pulumi.yaml schema and the tables of docs/configuration.md are generated from these)."""
    return Field(default, alias=alias, description=description, json_schema_extra=extra or None)


def secret_key(alias: str, description: str, required: bool = False, default: Any = None, **extra: Any) -> Any:
    """A key whose value must be set with `pulumi config set --secret`; messages never show it."""
    return Field(... if required else default, alias=alias, description=description, json_schema_extra={"secret": True, **extra})


def require_secret(value: Any, info: ValidationInfo, alias: str, command: str) -> Any:
    """A value given in plain text where a secret belongs is refused, without echoing it."""
    keys = (info.context or {}).get("secret_keys")
    if value is not None and keys is not None and alias not in keys:
        raise refused(f"must be a secret: {secret_advice(alias, command)}")
    return value

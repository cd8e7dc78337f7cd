"""Alerting: where Alertmanager sends alerts (e-mail through a smarthost, webhooks in the
country) and the thresholds the alert rules use. The rules: render/monitoring/rules.py; the
runbooks: docs/operations/alerts.md."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any, cast
from urllib.parse import urlsplit

from pydantic import BeforeValidator, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from settings.base import Section, key, require_secret, secret_key
from settings.errors import expected, refused, rules
from settings.types import Email, Text, between, canonical_host, https_only

# host:port, the port required: Alertmanager's email_config dials `smarthost` as given
# (net.SplitHostPort in its notify/email package), so a bare host fails at the first alert,
# long after the preview. IPv6 in brackets.
_SMARTHOST = re.compile(r"(?P<host>\[[0-9A-Fa-f:.]+\]|[^:\[\]]+):(?P<port>[0-9]{1,5})")
_SMARTHOST_HINT = "expected an SMTP server as host:port, such as 'smtp.example.no:587' (the port is required)"


def _smarthost(value: Any) -> str:
    if not isinstance(value, str) or "@" in value or "/" in value or not (match := _SMARTHOST.fullmatch(value.strip())):
        raise expected(_SMARTHOST_HINT)
    try:
        host = canonical_host(match["host"].strip("[]"))
    except ValueError:
        raise expected(_SMARTHOST_HINT) from None
    port = int(match["port"])
    if not 1 <= port <= 65535:
        raise expected(f"{_SMARTHOST_HINT}, with a port from 1 to 65535")
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _ratio(value: Any) -> float:
    """A share between 0 and 1 exclusive, as a number or the text `pulumi config set` stores."""
    number: Any = value
    if isinstance(value, str) and re.fullmatch(r"[0-9]*\.?[0-9]+", value.strip()):
        number = float(value)
    if isinstance(number, bool) or not isinstance(number, (int, float)) or not 0 < number < 1:
        raise expected("expected a share between 0 and 1, such as 0.05 (5%)")
    return float(number)


Smarthost = Annotated[str, BeforeValidator(_smarthost)]
Ratio = Annotated[float, BeforeValidator(_ratio)]
# The shared https URL check (settings/types.py), called directly: its refusal is re-worded below.
_HTTPS = cast(Callable[[Any], str], https_only(
    "alerts carry node names, namespaces and error rates: they cross the network encrypted",
    "a token goes in alertWebhookToken (a secret, sent as a bearer token)",
).func)
_TOKEN_HINT = "a token goes in alertWebhookToken (a secret, sent as a bearer token), not in the URL"


def _webhook(value: Any) -> str:
    """An https URL without credentials or a query string: the URL lands in Alertmanager's
    config (a ConfigMap), so what a token could hide in is refused, and a refusal never
    repeats the URL."""
    if isinstance(value, str) and ("?" in value or "#" in value):
        raise refused(f"holds a query string or fragment, which would be written to Alertmanager's ConfigMap: {_TOKEN_HINT}")
    try:
        return _HTTPS(value)
    except PydanticCustomError as err:
        raise refused(str((err.context or {}).get("message", err.message()))) from None


WebhookUrl = Annotated[str, BeforeValidator(_webhook)]


class AlertingSettings(Section):
    email_to: tuple[Email, ...] = key("alertEmailTo", (), "Addresses Alertmanager e-mails alerts to (needs alertEmailFrom and alertSmarthost)")
    email_from: Email | None = key("alertEmailFrom", None, "The From: address of alert e-mails")
    smarthost: Smarthost | None = key("alertSmarthost", None, "SMTP server alert e-mails go through, host:port (e.g. 'smtp.example.no:587'); STARTTLS is required")
    smtp_user: Text | None = key("alertSmtpUser", None, "SMTP user name, with alertSmtpPassword")
    smtp_password: SecretStr | None = secret_key(
        "alertSmtpPassword", "SMTP password for alertSmtpUser (pulumi config set --secret alertSmtpPassword); mounted as a file, never in the config"
    )
    webhook_urls: tuple[WebhookUrl, ...] = key(
        "alertWebhookUrls", (), "https URLs Alertmanager POSTs alerts to (its webhook format); under sovereignStrict each host must be in egressAllowHosts"
    )
    webhook_token: SecretStr | None = secret_key(
        "alertWebhookToken", "Bearer token sent to alertWebhookUrls (pulumi config set --secret alertWebhookToken); mounted as a file"
    )
    disk_percent: Annotated[int, between(50, 99)] = key("alertDiskPercent", 85, "NodeDiskFull fires when a node filesystem is fuller than this (percent, 50-99)")
    memory_percent: Annotated[int, between(50, 99)] = key(
        "alertMemoryPercent", 90, "NodeMemoryPressure fires when a node uses more of its memory than this (percent, 50-99), or the kubelet reports MemoryPressure"
    )
    function_error_ratio: Ratio = key("alertFunctionErrorRatio", 0.05, "FunctionErrorRate fires when more than this share of a function's calls fail with 5xx (0-1)")
    nats_pending: Annotated[int, between(1, 100_000_000)] = key(
        "alertNatsPendingMessages", 1000, "NatsStreamBacklogGrowing fires when a consumer has more messages pending than this and still growing"
    )
    backup_max_age_hours: Annotated[int, between(1, 24 * 31)] = key(
        "alertBackupMaxAgeHours", 48, "DataBackupMissing fires when a data backup CronJob has not succeeded for this many hours (twice a daily schedule)"
    )

    @field_validator("smtp_password", mode="after")
    @classmethod
    def _password_secret(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        return require_secret(value, info, "alertSmtpPassword", "pulumi config set --secret alertSmtpPassword")

    @field_validator("webhook_token", mode="after")
    @classmethod
    def _token_secret(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        return require_secret(value, info, "alertWebhookToken", "pulumi config set --secret alertWebhookToken")

    @model_validator(mode="after")
    def _receivers_complete(self) -> AlertingSettings:
        email = {"alertEmailTo": bool(self.email_to), "alertEmailFrom": self.email_from is not None, "alertSmarthost": self.smarthost is not None}
        found: list[tuple[str, str] | None] = []
        if any(email.values()):
            given = ", ".join(k for k, v in email.items() if v)
            found += [(k, f"required with {given}: an alert e-mail needs a recipient, a sender and a server") for k, v in email.items() if not v]
        # A secret without its user or URL is ignored, as openfaasLicense is with 'ce': `make plan`
        # stands in for every secret scalar a stack file leaves out (tools/harness.py).
        password = bool(self.smtp_password and self.smtp_password.get_secret_value())
        found += [
            ("alertSmtpUser", "only used with alertSmarthost: set the server too, or remove it") if self.smtp_user and not self.smarthost else None,
            ("alertSmtpPassword", "required with alertSmtpUser: pulumi config set --secret alertSmtpPassword") if self.smtp_user and not password else None,
        ]
        rules(found)
        return self

    @property
    def email(self) -> bool:
        return bool(self.email_to)

    @property
    def receivers(self) -> bool:
        """Alerts reach someone: an e-mail address or a webhook is configured."""
        return self.email or bool(self.webhook_urls)

    @property
    def receiver_endpoints(self) -> tuple[tuple[str, int], ...]:
        """Where Alertmanager connects: (host, port) of the smarthost and of each webhook URL
        (https: 443 unless it names a port), an IPv6 address without brackets."""
        found: list[tuple[str, int]] = []
        if self.smarthost:
            host, _, port = self.smarthost.rpartition(":")
            found.append((host.strip("[]"), int(port)))
        for url in self.webhook_urls:
            # _webhook made it an https URL with a host (render/addresses.url_host_port reads it
            # alike; settings may not import render).
            parts = urlsplit(url)
            found.append((parts.hostname or url, parts.port or 443))
        return tuple(found)


def no_receiver_warning() -> str:
    return (
        "no alert receiver configured (alertEmailTo or alertWebhookUrls): Alertmanager keeps the alerts but sends them nowhere; "
        "docs/operations/alerts.md#receivers"
    )


def receiver_anywhere_warning(names: list[tuple[str, int]]) -> str:
    shown = ", ".join(f"{host} (port {port})" for host, port in names)
    return (
        f"alert receiver{'s' if len(names) > 1 else ''} {shown} {'are names' if len(names) > 1 else 'is a name'}: under platformEgress 'restricted' Alertmanager may reach any address on that "
        "port, as a host name cannot be a NetworkPolicy peer; give the receiver by its IP address to narrow it; "
        "docs/operations/alerts.md#receivers"
    )

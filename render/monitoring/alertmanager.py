"""alertmanager.yml as data: the receivers the operator configured (settings/alerting.py), one
route tree, and the secrets only as files under /etc/alertmanager/secrets/ (the monitoring
component mounts them from a Secret: `secret_files`), never inline, so the rendered config is
fit for a ConfigMap. tests/test_alerts.py checks every shape with `amtool check-config` and the
routing with `amtool config routes test`.

Field names: Alertmanager's config/notifiers.go (EmailConfig: to, from, smarthost,
auth_username, auth_password_file, require_tls, send_resolved; WebhookConfig: url,
send_resolved, http_config) and common/config HTTPClientConfig (authorization.credentials_file).
A webhook's `url_file` would keep the whole URL secret, but Debian's amtool 0.25 (what checks
the config here) does not know it; a token travels as a bearer token instead, and the URL
itself may hold none (settings/alerting.py refuses credentials in it).
"""

from __future__ import annotations

from typing import Any

import yaml

from render import policies
from settings.alerting import AlertingSettings
from settings.stack import Settings
from settings.types import is_ip

SECRETS_DIR = "/etc/alertmanager/secrets"
SMTP_PASSWORD = "smtp-password"
WEBHOOK_TOKEN = "webhook-token"
OPERATORS = "operators"
NOWHERE = "nowhere"  # the receiver with no notifier: alerts are kept and shown, sent nowhere


def secret_path(name: str) -> str:
    return f"{SECRETS_DIR}/{name}"


def _email(alerting: AlertingSettings) -> dict[str, Any]:
    email: dict[str, Any] = {
        "to": ", ".join(alerting.email_to),
        "from": alerting.email_from,
        "smarthost": alerting.smarthost,
        "require_tls": True,  # STARTTLS or nothing: the alerts name the cluster's nodes and namespaces
        "send_resolved": True,
    }
    if alerting.smtp_user:
        email["auth_username"] = alerting.smtp_user
        email["auth_password_file"] = secret_path(SMTP_PASSWORD)
    return email


def _webhook(url: str, token: bool) -> dict[str, Any]:
    hook: dict[str, Any] = {"url": url, "send_resolved": True}
    if token:
        hook["http_config"] = {"authorization": {"type": "Bearer", "credentials_file": secret_path(WEBHOOK_TOKEN)}}
    return hook


def _receivers(alerting: AlertingSettings) -> list[dict[str, Any]]:
    if not alerting.receivers:
        return [{"name": NOWHERE}]
    receiver: dict[str, Any] = {"name": OPERATORS}
    if alerting.email:
        receiver["email_configs"] = [_email(alerting)]
    if alerting.webhook_urls:
        token = bool(alerting.webhook_token and alerting.webhook_token.get_secret_value())
        receiver["webhook_configs"] = [_webhook(url, token) for url in alerting.webhook_urls]
    return [receiver]


def config(alerting: AlertingSettings) -> dict[str, Any]:
    receiver = OPERATORS if alerting.receivers else NOWHERE
    return {
        "route": {
            "receiver": receiver,
            # One notification per alert and place; a node that goes down is one message,
            # not one per pod on it.
            "group_by": ["alertname", "namespace", "node"],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "12h",
            # Critical alerts repeat every hour until resolved.
            "routes": [{"receiver": receiver, "matchers": ['severity="critical"'], "repeat_interval": "1h"}],
        },
        # A node that is down explains its other warnings: only the critical one is sent.
        "inhibit_rules": [{"source_matchers": ['alertname="NodeNotReady"'], "target_matchers": ['severity="warning"'], "equal": ["node"]}],
        "receivers": _receivers(alerting),
    }


def alertmanager_config(alerting: AlertingSettings) -> str:
    """The text of alertmanager.yml: same settings, same bytes."""
    return yaml.safe_dump(config(alerting), sort_keys=False, default_flow_style=False, width=1000)


def secret_files(settings: Settings) -> dict[str, Any]:
    """File name under SECRETS_DIR -> its content, a Pulumi secret (Settings holds them as
    such): what the monitoring component puts in Alertmanager's Secret."""
    files = {SMTP_PASSWORD: settings.alert_smtp_password, WEBHOOK_TOKEN: settings.alert_webhook_token}
    return {name: value for name, value in files.items() if value is not None}


def destinations(alerting: AlertingSettings) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """Where Alertmanager may connect under platformEgress restricted, (cidr, ports), for its
    egress NetworkPolicy: the smarthost's and each webhook's host:port. An IP address is that
    address alone (/32, /128); a host name has no fixed address, so it opens any address on its
    port only, as cert-manager's ACME egress does while acmeServerCidrs is empty (the preview
    warns: settings/alerting.receiver_anywhere_warning). Same settings, same order."""
    by_cidr: dict[str, set[int]] = {}
    for host, port in alerting.receiver_endpoints:  # the hosts the warning names too
        for cidr in (policies.host_cidr(host),) if is_ip(host) else policies.ANYWHERE:
            by_cidr.setdefault(cidr, set()).add(port)
    return tuple((cidr, tuple(sorted(ports))) for cidr, ports in sorted(by_cidr.items()))

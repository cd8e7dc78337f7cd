"""TLS at the edge: the domain the gateway is served on, and the ACME account for it."""

from __future__ import annotations

from typing import Annotated

from pydantic import model_validator

from settings.base import Section, key
from settings.errors import rules
from settings.types import DnsName, Email, one_of

NAMESPACE = "edge"
CERT_MANAGER_NAMESPACE = "cert-manager"
PUBLIC_PORTS = (80, 443)
ACME_SERVERS = {
    "staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
    "production": "https://acme-v02.api.letsencrypt.org/directory",
}


class EdgeSettings(Section):
    domain: DnsName | None = key(
        "domain", None, "DNS name to serve the gateway on over HTTPS (e.g. faas.example.no; an A record to the nodes); unset: plain HTTP on the gateway's port"
    )
    email: Email | None = key("acmeEmail", None, "Contact e-mail for Let's Encrypt; required with domain")
    issuer: Annotated[str, one_of(ACME_SERVERS)] = key(
        "acmeIssuer", "production", "Let's Encrypt environment, production or staging (untrusted certificates, for trial runs)"
    )

    @model_validator(mode="after")
    def _domain_and_email_together(self) -> EdgeSettings:
        rules([
            ("acmeEmail", "required with domain: Let's Encrypt needs a contact address") if self.domain and not self.email else None,
            ("domain", "required with acmeEmail: the name the certificate is for") if self.email and not self.domain else None,
        ])
        return self

    @property
    def enabled(self) -> bool:
        return self.domain is not None

    @property
    def url(self) -> str:
        return f"https://{self.domain}"


def plain_http_warning(port: int) -> str:
    return (
        f"no domain set: the gateway is served over plain HTTP on port {port}, so its admin "
        "password crosses the network unencrypted; set domain and acmeEmail for HTTPS"
    )

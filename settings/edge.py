"""TLS at the edge: the domain the gateway is served on, and the ACME account for it."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import SecretStr, ValidationInfo, field_validator, model_validator

from settings.base import Section, key, require_secret, secret_key
from settings.errors import rules
from settings.types import DnsName, Email, https_only, matching, one_of

NAMESPACE = "edge"
CERT_MANAGER_NAMESPACE = "cert-manager"
PUBLIC_PORTS = (80, 443)
ACME_SERVERS = {
    "staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
    "production": "https://acme-v02.api.letsencrypt.org/directory",
}


# The key ID goes into the JWS header of the account request (RFC 8555 7.3.4) and into the
# ClusterIssuer as text: CAs hand out short printable tokens (base64url, hex, UUIDs).
EabKeyId = Annotated[str, matching(r"[!-~]{1,256}", "the key ID your CA gave you (1-256 printable ASCII characters, no spaces)")]
# What a plan reads for the HMAC key it cannot decrypt (tools/harness.py): the shape
# cert-manager takes, so the format check below has something to pass; plans show "[secret]".
EAB_STAND_IN = "cGxhbi1zdGFuZC1pbg"  # base64url of "plan-stand-in"
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")


def _hmac_problem(hmac: str) -> bool:
    """Not un-padded base64url, as cert-manager decodes it (a length of 4n+1 decodes to nothing whole)."""
    return not _BASE64URL.fullmatch(hmac) or len(hmac) % 4 == 1


class EdgeSettings(Section):
    domain: DnsName | None = key(
        "domain", None, "DNS name to serve the gateway on over HTTPS (e.g. faas.example.no; an A record to the nodes); unset: plain HTTP on the gateway's port"
    )
    email: Email | None = key("acmeEmail", None, "Contact e-mail for Let's Encrypt; required with domain")
    issuer: Annotated[str, one_of(ACME_SERVERS)] = key(
        "acmeIssuer", "production", "Let's Encrypt environment, production or staging (untrusted certificates, for trial runs)"
    )

    acme_server: Annotated[str, https_only("ACME runs over HTTPS only (RFC 8555 6.1)", "the CA binds the account with acmeEabKeyId and acmeEabHmacKey")] | None = key(
        "acmeServer",
        None,
        "ACME directory URL (https) of the CA to get the certificate from (e.g. https://acme.example.no/directory); when set it wins over acmeIssuer",
    )
    eab_key_id: EabKeyId | None = key("acmeEabKeyId", None, "External account binding: the key ID your CA gave you (with acmeEabHmacKey)")
    eab_hmac_key: SecretStr | None = secret_key(
        "acmeEabHmacKey",
        "External account binding: the base64url HMAC key your CA gave you, as a secret (pulumi config set --secret acmeEabHmacKey ...)",
        stand_in=EAB_STAND_IN,
    )

    @field_validator("eab_hmac_key", mode="after")
    @classmethod
    def _secret(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        return require_secret(value, info, "acmeEabHmacKey", "pulumi config set --secret acmeEabHmacKey ...")

    @model_validator(mode="after")
    def _domain_and_email_together(self) -> EdgeSettings:
        # The HMAC key is read only with acmeEabKeyId (a plan puts a placeholder in every
        # secret key the schema declares, like openfaasLicense for CE).
        hmac = self.eab_hmac_key.get_secret_value() if self.eab_hmac_key else ""
        rules([
            ("acmeEmail", "required with domain: Let's Encrypt needs a contact address") if self.domain and not self.email else None,
            ("domain", "required with acmeEmail: the name the certificate is for") if self.email and not self.domain else None,
            ("acmeEabHmacKey", "required with acmeEabKeyId: an external account binding is a key ID and its HMAC key") if self.eab_key_id and not hmac else None,
            # cert-manager reads the key as un-padded base64url (ACMEExternalAccountBinding.keySecretRef).
            ("acmeEabHmacKey", "expected the un-padded base64url HMAC key your CA gave you (letters, digits, '-' and '_')")
            if self.eab_key_id and hmac and _hmac_problem(hmac) else None,
            ("acmeEabKeyId", "not used without acmeServer: Let's Encrypt needs no external account binding") if self.eab_key_id and not self.acme_server else None,
            ("acmeServer", "not used without domain: there is no certificate to get") if self.acme_server and not self.domain else None,
        ])
        return self

    @property
    def acme_directory(self) -> str:
        """The ACME directory cert-manager registers with: acmeServer, or Let's Encrypt's."""
        return self.acme_server or ACME_SERVERS[self.issuer]

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

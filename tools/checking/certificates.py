"""Certificate expiry: the edge's (a TLS handshake to the gateway URL) and K3s' client
certificate in the kubeconfig output."""

from __future__ import annotations

import base64
import datetime as dt
import socket
import ssl
import urllib.error
import urllib.parse
import urllib.request

import yaml

from settings import outputs as out
from tools.checking.clients import Clients
from tools.checking.rows import FAIL, OK, SKIP, UTC, Row
from tools.checking.stack import Stack

CERT_WARN_DAYS = 14  # the certificate alert's threshold (issue 20)


# --- certificates ------------------------------------------------------------------------------


def _der_item(data: bytes, i: int) -> tuple[int, int, int]:
    """(tag, start of contents, end of contents) of the DER item at `i`."""
    tag, length = data[i], data[i + 1]
    i += 2
    if length & 0x80:
        n = length & 0x7F
        length = int.from_bytes(data[i : i + n], "big")
        i += n
    return tag, i, i + length


def not_after(der: bytes) -> dt.datetime:
    """The notAfter of an X.509 certificate (RFC 5280 4.1: Certificate > TBSCertificate >
    [0] version (optional), serialNumber, signature, issuer, validity {notBefore, notAfter})."""
    _, tbs, _ = _der_item(der, 0)  # into Certificate
    _, i, _ = _der_item(der, tbs)  # into TBSCertificate
    tag, _, end = _der_item(der, i)
    if tag == 0xA0:  # the version
        i = end
    for _ in range(3):  # serialNumber, signature, issuer
        i = _der_item(der, i)[2]
    _, validity, _ = _der_item(der, i)
    after = _der_item(der, validity)[2]  # past notBefore
    tag, start, end = _der_item(der, after)
    fmt = "%y%m%d%H%M%SZ" if tag == 0x17 else "%Y%m%d%H%M%SZ"  # UTCTime, GeneralizedTime
    return dt.datetime.strptime(der[start:end].decode(), fmt).replace(tzinfo=UTC)


def _expiry_row(check: str, target: str, expires: dt.datetime, now: dt.datetime, note: str = "") -> Row:
    days = (expires - now).total_seconds() / 86400
    detail = f"expires {expires:%Y-%m-%d %H:%M} UTC, in {days:.0f} days{note}"
    return Row(check, target, OK if days >= CERT_WARN_DAYS else FAIL, detail if days >= 0 else f"expired {expires:%Y-%m-%d} UTC")


def edge_certificate(stack: Stack, c: Clients) -> list[Row]:
    """A TLS handshake to the gateway URL, verified as a client would (system CAs)."""
    url = urllib.parse.urlsplit(str(stack.outputs[out.GATEWAY_URL]))
    if url.scheme != "https":
        return [Row("certificate", url.netloc, SKIP, "the gateway is served over plain HTTP (no domain)")]
    host, port = url.hostname or "", url.port or 443
    context = ssl.create_default_context(cafile=c.cafile)
    try:
        with (
            socket.create_connection((host, port), timeout=c.http.deadline.timeout(10)) as raw,
            context.wrap_socket(raw, server_hostname=host) as tls,
        ):
            der = tls.getpeercert(binary_form=True) or b""
    except ssl.SSLCertVerificationError as err:
        return [Row("certificate", f"{host}:{port}", FAIL, f"not trusted: {err.verify_message}")]
    return [_expiry_row("certificate", f"{host}:{port}", not_after(der), c.now())]


def kubeconfig_certificate(stack: Stack, c: Clients) -> list[Row]:
    """K3s' admin client certificate in the kubeconfig output: valid a year, renewed by K3s
    within 90 days of expiry at a restart, so a kubeconfig read once goes stale."""
    config = yaml.safe_load(str(stack.outputs[out.KUBECONFIG])) or {}
    rows = []
    for user in config.get("users") or []:
        data = (user.get("user") or {}).get("client-certificate-data")
        if not data:
            rows.append(Row("client cert", user.get("name", "?"), SKIP, "no client-certificate-data (token or exec auth)"))
            continue
        pem = base64.b64decode(data).decode()
        der = ssl.PEM_cert_to_DER_cert(pem.split("-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n")
        rows.append(
            _expiry_row(
                "client cert",
                f"kubeconfig {user.get('name', '?')}",
                not_after(der),
                c.now(),
                ", renewed by K3s at a restart within 90 days",
            )
        )
    return rows or [Row("client cert", "kubeconfig", SKIP, "no users in the kubeconfig")]

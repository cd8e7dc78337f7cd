"""Addresses and URLs of the stack's endpoints, with IPv6 addresses in brackets."""

from __future__ import annotations

from urllib.parse import urlsplit

HTTPS = 443
HTTP = 80


def host_port(host: str, port: int) -> str:
    """`host:port`, with an IPv6 address in brackets (a host name never holds a ':')."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def endpoint(scheme: str, host: str, port: int) -> str:
    """`scheme://host:port`, with an IPv6 address in brackets."""
    return f"{scheme}://{host_port(host, port)}"


def url_host_port(url: str) -> tuple[str, int | None]:
    """The host a URL names and the port it reaches: its own, else its scheme's (https and
    oci: 443, http: 80; another scheme: None)."""
    parts = urlsplit(url)
    default = HTTPS if parts.scheme in ("https", "oci") else HTTP if parts.scheme == "http" else None
    return parts.hostname or url, parts.port or default

"""URLs to the cluster's endpoints, with IPv6 addresses in brackets."""

from __future__ import annotations

import ipaddress


def endpoint(scheme: str, host: str, port: int) -> str:
    """`scheme://host:port`, with an IPv6 address in brackets."""
    try:
        if ipaddress.ip_address(host).version == 6:
            host = f"[{host}]"
    except ValueError:
        pass
    return f"{scheme}://{host}:{port}"

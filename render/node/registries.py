"""The node side of in-country mirrors (settings/mirrors.py): what a node's registries step
writes, the K3s flags the mirror keys turn into, and where a node's K3s comes from.

registries.yaml. K3s reads /etc/rancher/k3s/registries.yaml when it starts: `mirrors` maps an
upstream registry to endpoints, `configs` holds a mirror host's credentials and the CA its TLS
certificate is checked against. The CA files are written next to it, under
/etc/rancher/k3s/registry-ca/. `registries-apply.sh` writes all of them from one stdin
document, one file per line as `<path under /etc/rancher/k3s> <base64 content>`: plain lines
a bash script parses with `read` and `base64 -d`, no YAML parser on the node.

The step exists only when there is something to write (a mirror, or the embedded registry,
which needs registries listed under `mirrors`). Without one, a node keeps K3s' defaults and
the plan of a stack without mirrors is what it was; removing the last mirror deletes the
step, and its delete removes the files and restarts K3s once.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import yaml

from settings.mirrors import INSTALLER, MirrorsSettings, airgap_assets
from settings.nodes import NodeSpec

K3S_DIR = "/etc/rancher/k3s"
REGISTRIES_FILE = f"{K3S_DIR}/registries.yaml"
CA_DIR = f"{K3S_DIR}/registry-ca"
# Where CopyToRemote puts the air-gap assets: root writes it directly; a sudoer's SFTP session
# cannot, so for one the path is relative (to the SSH user's home), as k3s-install.sh reads it.
ASSETS_DIR = "/var/lib/sovereign-faas/k3s-assets"
ASSETS_DIR_SUDO = "sovereign-faas-k3s-assets"
EMBEDDED_REGISTRY_PORT = 5001  # Spegel's peer-to-peer port (K3s docs: registry-mirror.md)


def ca_file(host: str) -> str:
    return f"{CA_DIR}/{host}.pem"


def registries(mirrors: MirrorsSettings) -> dict[str, Any] | None:
    """registries.yaml as data, or None when there is nothing to write."""
    entries: dict[str, Any] = {host: {"endpoint": list(urls)} if urls else {} for host, urls in sorted(mirrors.registry_mirrors.items())}
    if mirrors.embedded_registry and "*" not in entries:
        # Spegel shares only the registries listed under `mirrors`; `*` lists them all.
        entries["*"] = {}
    if not entries:
        return None
    configs: dict[str, Any] = {}
    for host in sorted({*mirrors.registry_auth, *mirrors.registry_ca}):
        config: dict[str, Any] = {}
        if host in mirrors.registry_auth:
            creds = mirrors.registry_auth[host]
            config["auth"] = {"username": creds.username, "password": creds.password}
        if host in mirrors.registry_ca:
            config["tls"] = {"ca_file": ca_file(host)}
        configs[host] = config
    doc: dict[str, Any] = {"mirrors": entries}
    if configs:
        doc["configs"] = configs
    return doc


def registries_stdin(mirrors: MirrorsSettings) -> str | None:
    """What registries-apply.sh reads: one line per file, `<path> <base64>`."""
    doc = registries(mirrors)
    if doc is None:
        return None
    header = "# Written by sovereign-faas (Pulumi, registries-apply.sh). Local changes are overwritten.\n"
    files = {"registries.yaml": header + yaml.safe_dump(doc, sort_keys=False, default_flow_style=False)}
    files.update({f"registry-ca/{host}.pem": pem for host, pem in sorted(mirrors.registry_ca.items())})
    return "".join(f"{path} {base64.b64encode(text.encode()).decode()}\n" for path, text in files.items())


def k3s_flags(spec: NodeSpec, mirrors: MirrorsSettings) -> dict[str, Any]:
    """The config.yaml keys the mirror settings set on `spec` (settings/k3s.py MANAGED_FLAGS).
    `system-default-registry` and `embedded-registry` are server flags (the embedded registry
    is turned on cluster-wide by the servers); the endpoint fallback is per node."""
    flags: dict[str, Any] = {}
    if mirrors.mirrors_only:
        flags["disable-default-registry-endpoint"] = True
    if spec.role == "server":
        if mirrors.system_default_registry:
            flags["system-default-registry"] = mirrors.system_default_registry
        if mirrors.embedded_registry:
            flags["embedded-registry"] = True
    return flags


def assets_dir(spec: NodeSpec, version: str) -> str:
    return f"{ASSETS_DIR_SUDO if spec.sudo else ASSETS_DIR}/{version}"


def install_source(spec: NodeSpec, mirrors: MirrorsSettings, version: str) -> tuple[str, ...]:
    """k3s-install.sh's third argument: a mirror base URL, the uploaded assets' folder, or
    nothing (upstream: the pinned release from GitHub)."""
    if mirrors.k3s_mirror:
        return (mirrors.k3s_mirror,)
    if mirrors.k3s_airgap_dir:
        return (f"dir:{assets_dir(spec, version)}",)
    return ()


def airgap_files(mirrors: MirrorsSettings) -> tuple[str, ...]:
    """The files of k3sAirgapDir every node gets: the installer and each architecture's set."""
    if not mirrors.k3s_airgap_dir:
        return ()
    sets = airgap_assets(Path(mirrors.k3s_airgap_dir).expanduser())
    return (INSTALLER, *(f for arch in sorted(sets) for f in sets[arch]))


def airgap_uploads(spec: NodeSpec, mirrors: MirrorsSettings, version: str) -> tuple[tuple[str, str], ...]:
    """(file on this machine, path on `spec`) for each air-gap asset; none without k3sAirgapDir."""
    folder = assets_dir(spec, version)
    local = Path(mirrors.k3s_airgap_dir or ".").expanduser()
    return tuple((str(local / file), f"{folder}/{file}") for file in airgap_files(mirrors))

"""In-country mirrors for everything the platform fetches: container images, Helm charts and
K3s itself. What each setting does on the nodes: docs/sovereignty.md#mirrors-on-the-nodes.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import ValidationInfo, field_validator, model_validator

from settings import versions
from settings.base import Section, key, require_secret, secret_key
from settings.errors import expected, refused, rules
from settings.types import Bool, ChartRepository, LocalPath, RegistryHost, RegistryName, Text, https_only, url

# The charts the stack installs, by the name `chartRepositories` keys them with.
CHARTS = ("openfaas", "traefik", "cert-manager")

# K3s release assets per architecture (`uname -m` on the node picks one): the binary, the
# release's sums file, the images tarball (the first of these names that the folder holds).
ARCHES = {"amd64": "k3s", "arm64": "k3s-arm64"}
IMAGE_SUFFIXES = (".tar.zst", ".tar.gz", ".tar")
INSTALLER = "install.sh"
_PEM = re.compile(r"\s*(-----BEGIN CERTIFICATE-----\r?\n[A-Za-z0-9+/=\r\n]+-----END CERTIFICATE-----\s*)+")


def airgap_assets(folder: Path) -> dict[str, tuple[str, ...]]:
    """The files of `folder` to upload, by architecture: binary, sums file, images tarball
    (install.sh goes with every architecture). Names only; contents are never read here."""
    found: dict[str, tuple[str, ...]] = {}
    for arch, binary in ARCHES.items():
        images = next((f"k3s-airgap-images-{arch}{s}" for s in IMAGE_SUFFIXES if (folder / f"k3s-airgap-images-{arch}{s}").is_file()), None)
        sums = f"sha256sum-{arch}.txt"
        if (folder / binary).is_file() and (folder / sums).is_file() and images:
            found[arch] = (binary, sums, images)
    return found


def _airgap_problem(text: str) -> str | None:
    try:
        folder = Path(text).expanduser()
        if not folder.is_dir():
            return f"no folder {text!r} on this machine"
    except (OSError, RuntimeError):  # `~nosuchuser`, a name the system cannot look up
        return f"no folder {text!r} on this machine"
    wanted = ", ".join(f"{b} + sha256sum-{a}.txt + k3s-airgap-images-{a}.tar.zst" for a, b in ARCHES.items())
    if not (folder / INSTALLER).is_file():
        return f"{text!r} has no {INSTALLER} (the installer of the pinned release, from raw.githubusercontent.com/k3s-io/k3s/<version>/install.sh)"
    if not airgap_assets(folder):
        return f"{text!r} holds no complete set of K3s release assets; expected, for at least one architecture: {wanted}"
    return None


# What components/scripts/k3s-install.sh's check_args takes as SOURCE (it refuses the rest on
# the node, after the earlier steps ran): the same rule, so the preview refuses it instead.
_INSTALL_SOURCE = re.compile(r"https?://[][A-Za-z0-9.:-]+(/[A-Za-z0-9._~%/+-]*)?")


def _install_source_problem(url: str) -> str | None:
    if not _INSTALL_SOURCE.fullmatch(url) or ".." in url:
        return "expected a base URL the install step takes: letters, digits and . _ ~ % / + - in the path, no '..' (k3s-install.sh)"
    return None


# A mirror endpoint; its credentials are registryAuth's, keyed by the endpoint's host.
MirrorUrl = Annotated[str, url("the user and password go in registryAuth.<host>, as a secret")]


class RegistryCredentials(Section):
    username: Text = key("username", ..., "user name at the mirror")
    password: Text = key("password", ..., "password or token at the mirror")


class MirrorsSettings(Section):
    registry_mirrors: dict[RegistryHost, tuple[MirrorUrl, ...]] = key(
        "registryMirrors",
        {},
        "map of upstream registry to in-country mirror endpoints, e.g. {docker.io: [https://registry.example.no]}; '*' for every registry; rendered to /etc/rancher/k3s/registries.yaml",
        kind="object",
    )
    registry_auth: dict[RegistryHost, RegistryCredentials] = secret_key(
        "registryAuth",
        "map of mirror host to {username, password}, as a secret (pulumi config set --secret --path 'registryAuth[\"registry.example.no\"].password' ...)",
        default={},
        kind="object",
    )
    registry_ca: dict[RegistryHost, str] = key(
        "registryCa", {}, "map of mirror host to the PEM CA certificate that signed its TLS certificate (written to /etc/rancher/k3s/registry-ca/<host>.pem)", kind="object"
    )
    mirrors_only: Bool = key(
        "registryMirrorsOnly", False, "Never fall back to the upstream registry when a mirror fails (K3s --disable-default-registry-endpoint); needs registryMirrors"
    )
    system_default_registry: RegistryName | None = key(
        "systemDefaultRegistry", None, "Registry K3s pulls its own images from (K3s --system-default-registry), e.g. registry.example.no"
    )
    chart_repositories: dict[str, ChartRepository] = key(
        "chartRepositories",
        {},
        f"map of chart ({', '.join(CHARTS)}) to an in-country Helm repository URL or an oci:// registry path",
        kind="object",
    )
    # https only, for both: the CRDs are cluster-wide objects, and K3s' binary comes with the
    # sums it is checked against over the same channel, so plain http lets anyone on the path
    # choose what runs. (A plain-http network has k3sAirgapDir: the assets come over SSH.)
    gateway_api_crds: Annotated[str, https_only(
        "the CRDs are cluster-wide objects, and over plain http anyone on the path could change them",
        "pulumi-kubernetes fetches the file without credentials: serve the copy without them",
    )] | None = key(
        "gatewayApiCrds",
        None,
        "In-country copy (https) of the Gateway API standard-install.yaml the edge applies (default: the pinned release on github.com, settings/versions.py)",
    )
    k3s_mirror: Annotated[str, https_only(
        "the K3s binary and the sums it is checked against come over the same channel, so over plain http anyone on the path "
        "could replace both; a network without TLS has k3sAirgapDir (the assets from this machine, over SSH)",
        "the install step fetches without credentials: serve the assets without them, or use k3sAirgapDir",
    )] | None = key(
        "k3sMirror", None, "HTTPS base URL serving the K3s release assets as <base>/<version, + as %2B>/<asset> (install.sh, k3s or k3s-arm64, k3s-airgap-images-<arch>.tar.zst, sha256sum-<arch>.txt); checked against the sums"
    )
    k3s_airgap_dir: LocalPath | None = key(
        "k3sAirgapDir", None, "Folder on the operator's machine with the K3s release assets (install.sh, k3s or k3s-arm64, sha256sum-<arch>.txt, k3s-airgap-images-<arch>.tar.zst), uploaded to every node and checked against the sums (air gap)"
    )
    embedded_registry: Bool = key(
        "embeddedRegistry", False, "K3s' embedded registry mirror (Spegel): nodes pull images from each other (port 5001 between nodes)"
    )

    @field_validator("registry_ca", mode="after")
    @classmethod
    def _pem(cls, value: dict[str, str]) -> dict[str, str]:
        for host, pem in value.items():
            if not _PEM.fullmatch(pem):
                raise refused(f"the CA for {host!r} is not a PEM certificate ('-----BEGIN CERTIFICATE-----' ... '-----END CERTIFICATE-----')")
        return {host: pem.strip() + "\n" for host, pem in value.items()}

    @field_validator("k3s_mirror", mode="after")
    @classmethod
    def _install_source(cls, value: str | None) -> str | None:
        problem = _install_source_problem(value) if value else None
        if problem:
            raise expected(problem)
        return value

    @field_validator("k3s_airgap_dir", mode="after")
    @classmethod
    def _airgap(cls, value: str | None) -> str | None:
        problem = _airgap_problem(value) if value else None
        if problem:
            raise expected(f"expected a folder with the K3s release assets: {problem}")
        return value

    @property
    def endpoint_hosts(self) -> frozenset[str]:
        """The hosts of every mirror endpoint (`registry.example.no:5000`), and the system
        default registry: the hosts credentials and CAs may be given for."""
        hosts = {urlsplit(url).netloc.lower() for urls in self.registry_mirrors.values() for url in urls}
        return frozenset(hosts | ({self.system_default_registry} if self.system_default_registry else set()))

    @model_validator(mode="after")
    def _rules(self) -> MirrorsSettings:
        hosts = self.endpoint_hosts
        known = ", ".join(sorted(hosts)) or "none: set registryMirrors first"
        rules([
            ("k3sAirgapDir", "k3sMirror and k3sAirgapDir are exclusive: K3s comes from the mirror or from this machine, not both")
            if self.k3s_mirror and self.k3s_airgap_dir
            else None,
            *(
                (f"registryAuth.{host}", f"{host!r} is not the host of a registryMirrors endpoint or systemDefaultRegistry (known: {known})")
                for host in self.registry_auth
                if host not in hosts
            ),
            *(
                (f"registryCa.{host}", f"{host!r} is not the host of a registryMirrors endpoint or systemDefaultRegistry (known: {known})")
                for host in self.registry_ca
                if host not in hosts
            ),
            ("registryMirrorsOnly", "needs registryMirrors: without a mirror there would be nowhere left to pull from")
            if self.mirrors_only and not self.registry_mirrors
            else None,
            *self._nowhere_to_pull_from(),
        ])
        return self

    def _nowhere_to_pull_from(self) -> list[tuple[str, str]]:
        """An empty endpoint list only lists a registry for the embedded registry to share;
        with registryMirrorsOnly and no embedded registry, its images have no source left."""
        if not self.mirrors_only or self.embedded_registry:
            return []
        return [
            (f"registryMirrors.{host}", f"no endpoints, with registryMirrorsOnly and no embeddedRegistry: nothing is left to pull {'any' if host == '*' else host} images from; list a mirror")
            for host, urls in self.registry_mirrors.items()
            if not urls
        ]

    @field_validator("chart_repositories", mode="after")
    @classmethod
    def _known_charts(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(CHARTS))
        if unknown:
            raise refused(f"unknown chart {', '.join(map(repr, unknown))}: the stack installs {', '.join(CHARTS)}")
        return value

    def chart_repository(self, chart: str, default: str) -> str:
        """Where `chart` comes from: its chartRepositories entry, or upstream."""
        return self.chart_repositories.get(chart, default)

    @property
    def gateway_api_crds_url(self) -> str:
        """Where the edge's Gateway API CRDs come from: the in-country copy, or the pinned release."""
        return self.gateway_api_crds or versions.GATEWAY_API_CRDS

    def mirrors_registry(self, registry: str) -> bool:
        """registryMirrors covers `registry` (by name or '*')."""
        return bool(self.registry_mirrors.get(registry) or self.registry_mirrors.get("*"))

    @field_validator("registry_auth", mode="after")
    @classmethod
    def _secret(cls, value: dict[str, RegistryCredentials], info: ValidationInfo) -> dict[str, RegistryCredentials]:
        return require_secret(value or None, info, "registryAuth", "pulumi config set --secret --path 'registryAuth.<host>.password' ...") or {}


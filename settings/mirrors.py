"""In-country mirrors for everything the platform fetches: container images, Helm charts and
K3s itself. What each setting does on the nodes: README "Where your bits and data go".
"""

from __future__ import annotations

from pydantic import ValidationInfo, field_validator

from settings.base import Section, key, require_secret, secret_key
from settings.errors import refused
from settings.types import Bool, ChartRepository, RegistryHost, Url

# The charts the stack installs, by the name `chartRepositories` keys them with.
CHARTS = ("openfaas", "traefik", "cert-manager")


class RegistryCredentials(Section):
    username: str = key("username", ..., "user name at the mirror")
    password: str = key("password", ..., "password or token at the mirror")


class MirrorsSettings(Section):
    registry_mirrors: dict[RegistryHost, tuple[Url, ...]] = key(
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
        "registryCa", {}, "map of mirror host to the PEM CA certificate that signed its TLS certificate", kind="object"
    )
    mirrors_only: Bool = key(
        "registryMirrorsOnly", False, "Never fall back to the upstream registry when a mirror fails (K3s --disable-default-endpoint)"
    )
    system_default_registry: RegistryHost | None = key(
        "systemDefaultRegistry", None, "Registry K3s pulls its own images from (K3s --system-default-registry), e.g. registry.example.no"
    )
    chart_repositories: dict[str, ChartRepository] = key(
        "chartRepositories",
        {},
        f"map of chart ({', '.join(CHARTS)}) to an in-country Helm repository URL or an oci:// registry path",
        kind="object",
    )
    k3s_mirror: Url | None = key(
        "k3sMirror", None, "Base URL serving the K3s release assets (install.sh, k3s, k3s-airgap-images-<arch>.tar.zst, sha256sum-<arch>.txt)"
    )
    k3s_airgap_dir: str | None = key(
        "k3sAirgapDir", None, "Folder on the operator's machine with the K3s release assets, uploaded to every node (air gap)"
    )
    embedded_registry: Bool = key(
        "embeddedRegistry", False, "K3s' embedded registry mirror (Spegel): nodes pull images from each other (port 5001 between nodes)"
    )

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

    def mirrors_registry(self, registry: str) -> bool:
        """registryMirrors covers `registry` (by name or '*')."""
        return bool(self.registry_mirrors.get(registry) or self.registry_mirrors.get("*"))

    @field_validator("registry_auth", mode="after")
    @classmethod
    def _secret(cls, value: dict[str, RegistryCredentials], info: ValidationInfo) -> dict[str, RegistryCredentials]:
        return require_secret(value or None, info, "registryAuth", "pulumi config set --secret --path 'registryAuth.<host>.password' ...") or {}


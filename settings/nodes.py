"""The nodes the cluster runs on, and how the stack reaches them over SSH."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import SecretStr, ValidationInfo, field_validator, model_validator

from settings.base import Section, key, require_secret, secret_key
from settings.errors import expected, rules
from settings.types import DnsLabel, Host, IpAddress, Port, matching, one_of

ROLES = ("server", "agent")
UnixUser = Annotated[str, matching(r"[a-z_][a-z0-9_-]{0,31}", "a Unix user name (root, or a sudoer)")]
HostKey = Annotated[str, matching(r"(ssh-|ecdsa-)[A-Za-z0-9@.-]+ [A-Za-z0-9+/=]+( .*)?", "the node's SSH host public key ('ssh-ed25519 AAAA...')")]


class NodeSpec(Section):
    """One VPS. The first node is a server: it bootstraps the cluster."""

    name: DnsLabel = key("name", ..., "the node's name in the cluster (DNS-1123 label)")
    host: Host = key("host", ..., "the node's public IP address or DNS name")
    user: UnixUser = key("user", "root", "SSH user: root, or a sudoer (sudo -n)")
    port: Port = key("port", 22, "SSH port")
    role: Annotated[str, one_of(ROLES)] = key("role", "agent", "server or agent; default: server for the first node, agent for the others")
    private_address: IpAddress | None = key("privateAddress", None, "the address the other nodes reach it at")
    host_key: HostKey | None = key("hostKey", None, "the node's SSH host public key, to pin it")

    @property
    def sudo(self) -> bool:
        return self.user != "root"

    @property
    def address(self) -> str:
        """Where the other nodes reach this one."""
        return self.private_address or self.host


def _nodes(value: Any) -> Any:
    """A non-empty list; a node without a role is a server if it comes first, else an agent."""
    if not isinstance(value, list):
        return value
    if not value:
        raise expected("expected a non-empty list of nodes")
    return [dict({"role": "server" if i == 0 else "agent"}, **n) if isinstance(n, dict) else n for i, n in enumerate(value)]


class NodesSettings(Section):
    nodes: tuple[NodeSpec, ...] = key(
        "nodes", ..., "list of {name, host, user, port, role, privateAddress, hostKey}; the first is the K3s server", kind="object"
    )
    ssh_private_key: SecretStr = secret_key(
        "sshPrivateKey", "the SSH private key for every node, as a secret (cat ~/.ssh/id_ed25519 | pulumi config set --secret sshPrivateKey)", required=True
    )

    _check_nodes = field_validator("nodes", mode="before")(lambda cls, v: _nodes(v))

    @field_validator("ssh_private_key", mode="after")
    @classmethod
    def _secret(cls, value: SecretStr, info: ValidationInfo) -> SecretStr:
        return require_secret(value, info, "sshPrivateKey", "pulumi config set --secret sshPrivateKey")

    @model_validator(mode="after")
    def _roles_and_uniqueness(self) -> NodesSettings:
        found: list[tuple[str, str] | None] = []
        for attr, alias in (("name", "name"), ("host", "host"), ("private_address", "privateAddress")):
            seen: dict[str, int] = {}
            for i, node in enumerate(self.nodes):
                value: str | None = getattr(node, attr)
                if value is None:
                    continue
                if value in seen:
                    found.append((f"nodes[{i}].{alias}", f"duplicate node {alias} '{value}' (also nodes[{seen[value]}]); each node needs its own"))
                seen.setdefault(value, i)
        if self.nodes[0].role != "server":
            found.append(("nodes[0].role", "the first node must be a server: it bootstraps the cluster (an agent-only cluster has no control plane)"))
        rules(found)
        return self

"""The stack's settings: read once from the stack config, validated, frozen.

Nothing is registered before `load()` returns, so a mistake in `Pulumi.<stack>.yaml` stops
`pulumi preview` with one message that names the file, the key and what was expected, and no
resource is half-applied. Every problem found is reported together, not just the first.

Defaults live here (the dataclass fields) and are repeated in `Pulumi.yaml` for `pulumi config`
users; a test keeps the two equal.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pulumi

from components import edge, firewall, nats, redis, stackfile, versions
from components.function import PLATFORM_SECRETS, Function, ce_count_problem, problems_with
from components.policies import GATEWAY_PORT
from components.validation import (
    DNS_LABEL,
    PROJECT,
    Problems,
    check_keys,
    duration_seconds,
    parse_bool,
    parse_duration,
    parse_int,
    string_list,
    suggest,
)
from components.validation import (
    ConfigError as ConfigError,  # re-exported: __main__ catches settings.ConfigError
)

# Kernel settings every node gets unless the stack overrides a key (values are sysctl strings).
# Why each one: see README "Kernel settings".
DEFAULT_SYSCTL: dict[str, str] = {
    "vm.overcommit_memory": "1",  # Redis forks for persistence; it warns (and may fail) without
    "net.core.somaxconn": "65535",  # host accept queue; pods set their own (per netns)
    "vm.panic_on_oom": "0",  # K3s CIS guide: let the OOM killer act, do not panic
    "kernel.panic": "10",  # K3s CIS guide: reboot 10 s after a panic
    "kernel.panic_on_oops": "1",  # K3s CIS guide
    "fs.inotify.max_user_instances": "8192",  # many pods on one node exhaust the default 128
    "fs.inotify.max_user_watches": "524288",
}

# The pod sysctl the kubelet must allow so Redis can raise its own accept queue.
POD_SYSCTLS_ALLOWED = ("net.core.somaxconn",)

K3S_COMPONENTS = ("coredns", "servicelb", "traefik", "local-storage", "metrics-server", "runtimes")
SNAPSHOTTERS = ("overlayfs", "stargz")
ROLES = ("server", "agent")

# config.yaml keys the stack writes itself; `k3sExtraFlags` may not set them.
MANAGED_K3S_FLAGS: dict[str, str] = {
    "token": "the stack generates the cluster token",
    "server": "agents and extra servers join the first node",
    "cluster-init": "set when there is more than one server",
    "node-name": "set from nodes[].name",
    "node-ip": "set from nodes[].privateAddress",
    "node-external-ip": "set from nodes[].host",
    "tls-san": "set from the server hosts",
    "disable": "use k3sDisable",
    "snapshotter": "use k3sSnapshotter",
    "write-kubeconfig-mode": "always 0600",
    "secrets-encryption": "always on",
}
_LIST_FLAG = re.compile(r".*-arg$|^(tls-san|node-label|node-taint|kube-.*-arg)$")


@dataclass(frozen=True)
class NodeSpec:
    name: str
    host: str
    role: str
    user: str = "root"
    port: int = 22
    private_address: str | None = None
    host_key: str | None = None

    @property
    def sudo(self) -> bool:
        return self.user != "root"

    @property
    def address(self) -> str:
        """Where the other nodes reach this one."""
        return self.private_address or self.host


@dataclass(frozen=True)
class K3sSettings:
    version: str = versions.K3S
    disable: tuple[str, ...] = ("traefik",)
    snapshotter: str = "overlayfs"
    extra_flags: tuple[str, ...] = ()
    ready_timeout: int = 300

    @property
    def kubernetes_version(self) -> str:
        """`v1.36.4+k3s1` -> `1.36.4`, the Kubernetes release this K3s ships."""
        return self.version[1:].split("+", 1)[0]

    def extra_config(self) -> dict[str, Any]:
        """`--flag=value` strings as config.yaml data (repeatable flags become lists)."""
        out: dict[str, Any] = {}
        for flag in self.extra_flags:
            name, sep, value = flag[2:].partition("=")
            item: Any = value if sep else True
            if _LIST_FLAG.match(name):
                out.setdefault(name, []).append(item)
            else:
                out[name] = item
        return out


EDITIONS = ("ce", "pro")
SERVICE_TYPES = ("LoadBalancer", "NodePort")


@dataclass(frozen=True)
class OpenFaaSSettings:
    edition: str = "ce"
    license: pulumi.Input[str] | None = field(default=None, repr=False)  # Pro only; a secret
    namespace: str = "openfaas"
    function_namespace: str = "openfaas-fn"
    service_type: str = "LoadBalancer"
    node_port: int = 31112
    read_timeout: str = "65s"
    write_timeout: str = "65s"
    upstream_timeout: str = "60s"
    ack_wait: str = "60s"

    @property
    def pro(self) -> bool:
        return self.edition == "pro"

    @property
    def public_port(self) -> int:
        """Where the nodes serve the gateway when there is no edge in front of it."""
        return self.node_port if self.service_type == "NodePort" else GATEWAY_PORT


PROJECT_DIR = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class FunctionSettings:
    file: str = "functions/stack.yml"  # relative to the project; "" for none
    functions: tuple[Function, ...] = ()  # typed ones first, then the stack file's
    secrets: tuple[tuple[str, pulumi.Input[str]], ...] = field(default=(), repr=False)  # from functionSecrets
    non_root: bool = True


@dataclass(frozen=True)
class Settings:
    stack: str
    nodes: tuple[NodeSpec, ...]
    ssh_private_key: pulumi.Input[str] = field(repr=False)
    k3s: K3sSettings = K3sSettings()
    sysctl: tuple[tuple[str, str], ...] = tuple(DEFAULT_SYSCTL.items())
    firewall: firewall.FirewallSettings = firewall.FirewallSettings()
    openfaas: OpenFaaSSettings = OpenFaaSSettings()
    edge: edge.EdgeSettings = edge.EdgeSettings()
    data_namespace: str = "faas-data"  # NATS and Redis
    nats: nats.NatsSettings = nats.NatsSettings()
    redis: redis.RedisSettings = redis.RedisSettings()
    functions: FunctionSettings = FunctionSettings()
    warnings: tuple[str, ...] = ()

    @property
    def servers(self) -> tuple[NodeSpec, ...]:
        return tuple(n for n in self.nodes if n.role == "server")

    @property
    def first_server(self) -> NodeSpec:
        return self.nodes[0]


# --- reading ------------------------------------------------------------------------------


_HOSTNAME = re.compile(r"^(?=.{1,253}$)([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$")
_K3S_VERSION = re.compile(r"^v1\.\d+\.\d+\+k3s\d+$")
_SYSCTL_KEY = re.compile(r"^[a-z0-9_]+(\.[a-zA-Z0-9_-]+)+$")
_FLAG = re.compile(r"^--([a-z0-9]+(-[a-z0-9]+)*)(=.*)?$")
_USER = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")


def is_host(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        return bool(_HOSTNAME.match(value)) and not value.replace(".", "").isdigit()


def _nodes(raw: Any, problems: Problems) -> tuple[NodeSpec, ...]:
    if raw is None:
        problems.add("nodes", "required: a list of nodes, e.g. [{name: oslo-1, host: 203.0.113.10}]; the first is the K3s server")
        return ()
    if not isinstance(raw, list) or not raw:
        problems.add("nodes", f"expected a non-empty list of nodes, got {raw!r}")
        return ()
    nodes: list[NodeSpec] = []
    for i, item in enumerate(raw):
        node = _node(item, i, problems)
        if node:
            nodes.append(node)
    for attr, what in (("name", "name"), ("host", "host")):
        seen: dict[str, int] = {}
        for i, item in enumerate(raw):
            value = item.get(attr) if isinstance(item, dict) else None
            if isinstance(value, str) and value:
                if value in seen:
                    problems.add(f"nodes[{i}].{attr}", f"duplicate node {what} '{value}' (also nodes[{seen[value]}]); each node needs its own")
                seen.setdefault(value, i)
    if nodes and nodes[0].role != "server":
        problems.add("nodes[0].role", "the first node must be a server: it bootstraps the cluster (an agent-only cluster has no control plane)")
    return tuple(nodes)


_NODE_KEYS = ("name", "host", "user", "port", "role", "privateAddress", "hostKey")


def _node(item: Any, i: int, problems: Problems) -> NodeSpec | None:
    path = f"nodes[{i}]"
    if not isinstance(item, dict):
        problems.add(path, f"expected an object with name and host, got {item!r}")
        return None
    check_keys(item, _NODE_KEYS, path, problems)
    ok = True
    name = item.get("name")
    if not isinstance(name, str) or not DNS_LABEL.match(name):
        problems.add(f"{path}.name", f"expected a DNS-1123 label (lower-case letters, digits, '-', at most 63), got {name!r}")
        ok = False
    host = item.get("host")
    if not isinstance(host, str) or not host.strip():
        problems.add(f"{path}.host", f"required: the node's public IP address or DNS name, got {host!r}")
        ok = False
    elif not is_host(host):
        problems.add(f"{path}.host", f"expected an IP address or DNS name, got {host!r}")
        ok = False
    user = item.get("user", "root")
    if not isinstance(user, str) or not _USER.match(user):
        problems.add(f"{path}.user", f"expected a Unix user name (root, or a sudoer), got {user!r}")
        ok = False
    port = parse_int(item.get("port", 22), f"{path}.port", 1, 65535, problems)
    role = item.get("role", "server" if i == 0 else "agent")
    if role not in ROLES:
        problems.add(f"{path}.role", f"expected 'server' or 'agent', got {role!r}" + (suggest(role, ROLES) if isinstance(role, str) else ""))
        ok = False
    private = item.get("privateAddress")
    if private is not None and not (isinstance(private, str) and _is_ip(private)):
        problems.add(f"{path}.privateAddress", f"expected an IP address on the nodes' private network, got {private!r}")
        ok = False
    host_key = item.get("hostKey")
    if host_key is not None and not (isinstance(host_key, str) and host_key.startswith(("ssh-", "ecdsa-"))):
        problems.add(f"{path}.hostKey", f"expected the node's SSH host public key ('ssh-ed25519 AAAA...'), got {host_key!r}")
        ok = False
    if not ok or port is None:
        return None
    return NodeSpec(name=name, host=host, role=role, user=user, port=port, private_address=private, host_key=host_key)  # type: ignore[arg-type]


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        return False


def _k3s(raw: Mapping[str, Any], problems: Problems) -> K3sSettings:
    base = K3sSettings()
    version = raw.get("k3sVersion", base.version)
    if not isinstance(version, str) or not _K3S_VERSION.match(version):
        problems.add("k3sVersion", f"expected a K3s release like '{versions.K3S}' (v1.<minor>.<patch>+k3s<n>), got {version!r}")
        version = base.version
    disable = string_list(raw.get("k3sDisable", list(base.disable)), "k3sDisable", problems) or ()
    for i, item in enumerate(disable):
        if item not in K3S_COMPONENTS:
            problems.add(f"k3sDisable[{i}]", f"unknown K3s component {item!r}" + suggest(item, K3S_COMPONENTS))
    snapshotter = raw.get("k3sSnapshotter", base.snapshotter)
    if snapshotter not in SNAPSHOTTERS:
        problems.add("k3sSnapshotter", f"expected 'overlayfs' or 'stargz' (lazy image pulling, experimental), got {snapshotter!r}")
    flags = string_list(raw.get("k3sExtraFlags", []), "k3sExtraFlags", problems) or ()
    for i, flag in enumerate(flags):
        match = _FLAG.match(flag)
        if not match:
            problems.add(f"k3sExtraFlags[{i}]", f"expected a K3s flag like '--kube-apiserver-arg=audit-log-maxage=30', got {flag!r}")
        elif match.group(1) in MANAGED_K3S_FLAGS:
            problems.add(f"k3sExtraFlags[{i}]", f"'--{match.group(1)}' is managed by the stack ({MANAGED_K3S_FLAGS[match.group(1)]})")
    timeout = parse_int(raw.get("k3sReadyTimeout", base.ready_timeout), "k3sReadyTimeout", 30, 3600, problems)
    return K3sSettings(
        version=version,
        disable=tuple(disable),
        snapshotter=str(snapshotter),
        extra_flags=tuple(flags),
        ready_timeout=timeout or base.ready_timeout,
    )


def _sysctl(raw: Any, problems: Problems) -> tuple[tuple[str, str], ...]:
    merged = dict(DEFAULT_SYSCTL)
    if raw is None:
        return tuple(merged.items())
    if not isinstance(raw, dict):
        problems.add("sysctl", f"expected a map of kernel settings like {{vm.swappiness: 10}}, got {raw!r}")
        return tuple(merged.items())
    for key, value in raw.items():
        path = f"sysctl.{key}"
        if not isinstance(key, str) or not _SYSCTL_KEY.match(key):
            problems.add(path, f"expected a sysctl key shaped like 'a.b.c' (e.g. net.core.somaxconn), got {key!r}")
        elif isinstance(value, bool) or not isinstance(value, (str, int)):
            problems.add(path, f"expected a scalar value (a number or a string like '4096 87380 6291456'), got {value!r}")
        elif "\n" in str(value) or not str(value).strip():
            problems.add(path, f"expected a one-line, non-empty value, got {value!r}")
        else:
            merged[key] = " ".join(str(value).split())
    return tuple(merged.items())


def _openfaas(raw: Mapping[str, Any], secret_keys: set[str], k3s: K3sSettings, problems: Problems) -> OpenFaaSSettings:
    base = OpenFaaSSettings()
    edition = raw.get("openfaasEdition", base.edition)
    if edition not in EDITIONS:
        problems.add("openfaasEdition", f"expected 'ce' (Community Edition) or 'pro' (Standard/Enterprise, needs a licence), got {edition!r}")
    license_ = raw.get("openfaasLicense")
    if edition == "pro" and not license_:
        problems.add("openfaasLicense", "required for openfaasEdition 'pro': cat license.txt | pulumi config set --secret openfaasLicense")
    elif license_ and "openfaasLicense" not in secret_keys:
        problems.add("openfaasLicense", "must be a secret: set it again with `pulumi config set --secret openfaasLicense`")
    names = {}
    for key, default in (("openfaasNamespace", base.namespace), ("openfaasFunctionNamespace", base.function_namespace)):
        names[key] = raw.get(key, default)
        if not isinstance(names[key], str) or not DNS_LABEL.match(names[key]):
            problems.add(key, f"expected a namespace name (DNS-1123 label), got {names[key]!r}")
    if names["openfaasNamespace"] == names["openfaasFunctionNamespace"]:
        problems.add("openfaasFunctionNamespace", "must differ from openfaasNamespace: faas-netes watches a namespace of its own")
    service_type = raw.get("gatewayServiceType", base.service_type)
    if service_type not in SERVICE_TYPES:
        problems.add("gatewayServiceType", f"expected 'LoadBalancer' or 'NodePort', got {service_type!r}" + (suggest(service_type, SERVICE_TYPES) if isinstance(service_type, str) else ""))
    elif service_type == "LoadBalancer" and "servicelb" in k3s.disable:
        problems.add("gatewayServiceType", "'LoadBalancer' needs K3s' servicelb, which k3sDisable turns off; use 'NodePort' or keep servicelb")
    node_port = parse_int(raw.get("gatewayNodePort", base.node_port), "gatewayNodePort", 30000, 32767, problems)
    timeouts = {
        key: parse_duration(raw, key, default, problems)
        for key, default in (
            ("gatewayReadTimeout", base.read_timeout),
            ("gatewayWriteTimeout", base.write_timeout),
            ("gatewayUpstreamTimeout", base.upstream_timeout),
            ("queueAckWait", base.ack_wait),
        )
    }
    upstream = timeouts["gatewayUpstreamTimeout"]
    if upstream:
        for key in ("gatewayReadTimeout", "gatewayWriteTimeout"):
            other = timeouts[key]
            if other and duration_seconds(upstream) >= duration_seconds(other):
                problems.add("gatewayUpstreamTimeout", f"{upstream} must be smaller than {key} ({other}): the gateway must outlive the call it proxies")
        ack = timeouts["queueAckWait"]
        if ack and duration_seconds(ack) < duration_seconds(upstream):
            problems.add("queueAckWait", f"{ack} must be at least gatewayUpstreamTimeout ({upstream}): NATS would redeliver an async call that is still running")
    return OpenFaaSSettings(
        edition=str(edition),
        license=license_ or None,
        namespace=str(names["openfaasNamespace"]),
        function_namespace=str(names["openfaasFunctionNamespace"]),
        service_type=str(service_type),
        node_port=node_port or base.node_port,
        read_timeout=timeouts["gatewayReadTimeout"] or base.read_timeout,
        write_timeout=timeouts["gatewayWriteTimeout"] or base.write_timeout,
        upstream_timeout=upstream or base.upstream_timeout,
        ack_wait=timeouts["queueAckWait"] or base.ack_wait,
    )


# Keys this module understands (without the project prefix); components add their own.
CORE_KEYS = (
    "nodes",
    "sshPrivateKey",
    "k3sVersion",
    "k3sDisable",
    "k3sSnapshotter",
    "k3sExtraFlags",
    "k3sReadyTimeout",
    "sysctl",
    "openfaasEdition",
    "openfaasLicense",
    "openfaasNamespace",
    "openfaasFunctionNamespace",
    "gatewayServiceType",
    "gatewayNodePort",
    "gatewayReadTimeout",
    "gatewayWriteTimeout",
    "gatewayUpstreamTimeout",
    "queueAckWait",
    "dataNamespace",
    "functionsFile",
    "functionSecrets",
    "functionsNonRoot",
)
KNOWN_KEYS = CORE_KEYS + firewall.KEYS + edge.KEYS + nats.KEYS + redis.KEYS


def _data_namespace(raw: Mapping[str, Any], openfaas: OpenFaaSSettings, problems: Problems) -> str:
    name = raw.get("dataNamespace", Settings.data_namespace)
    if not isinstance(name, str) or not DNS_LABEL.match(name):
        problems.add("dataNamespace", f"expected a namespace name (DNS-1123 label), got {name!r}")
    elif name in (openfaas.namespace, openfaas.function_namespace):
        problems.add("dataNamespace", f"must differ from the OpenFaaS namespaces, got {name!r}: NATS and Redis get their own network policies")
    return str(name)


_SECRET_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")


def _function_secrets(raw: Any, secret_keys: set[str], problems: Problems) -> dict[str, str]:
    """functionSecrets: {name: value}; each becomes a Secret `name` with one key `name`,
    which is what `faas-cli secret create name` makes."""
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
        problems.add("functionSecrets", "expected a map of secret name to value: pulumi config set --secret --path 'functionSecrets.api-key' VALUE")
        return {}
    if "functionSecrets" not in secret_keys:
        problems.add("functionSecrets", "must be a secret: set each value with `pulumi config set --secret --path 'functionSecrets.<name>' VALUE`")
    for name in raw:
        if not _SECRET_NAME.match(name):
            problems.add(f"functionSecrets.{name}", "expected a Kubernetes Secret name (lower-case letters, digits, '-', '.')")
        elif name in PLATFORM_SECRETS:
            problems.add(f"functionSecrets.{name}", "is published by the platform itself; choose another name")
    return raw


def _edge(
    values: Mapping[str, Any], k3s: K3sSettings, openfaas: OpenFaaSSettings, problems: Problems
) -> tuple[edge.EdgeSettings, OpenFaaSSettings]:
    """The edge's settings, and OpenFaaS as it runs behind it (ClusterIP: the edge is the only
    way in). What a domain needs from the other settings is checked here."""
    tls = edge.parse_settings(values, problems)
    if not tls.enabled:
        return tls, openfaas
    if "servicelb" in k3s.disable:
        problems.add("k3sDisable", "keep servicelb while domain is set: it publishes the edge on ports 80 and 443")
    if "traefik" not in k3s.disable:
        problems.add("k3sDisable", "keep traefik in it while domain is set: K3s' bundled Traefik would take ports 80 and 443 from the edge's")
    for key in ("gatewayServiceType", "gatewayNodePort"):
        if key in values:
            problems.add(key, "not used while domain is set (the edge serves the gateway on 443): remove it")
    return tls, replace(openfaas, service_type="ClusterIP")


def platform_env(data_namespace: str) -> dict[str, str]:
    """What the stack file may substitute about the platform itself (`${REDIS_HOST:-...}`),
    so it follows `dataNamespace`; these win over the shell's variables of the same name."""
    return {
        "REDIS_HOST": redis.host(data_namespace),
        "REDIS_PORT": str(redis.PORT),
        "NATS_URL": nats.url(data_namespace),
    }


def _functions(
    values: Mapping[str, Any],
    secret_keys: set[str],
    openfaas: OpenFaaSSettings,
    typed: tuple[Function, ...],
    env: Mapping[str, str],
    problems: Problems,
) -> tuple[FunctionSettings, dict[str, str]]:
    base = FunctionSettings()
    file = values.get("functionsFile", base.file)
    loaded: tuple[Function, ...] = ()
    if not isinstance(file, str):
        problems.add("functionsFile", f"expected a path relative to the project, got {file!r}")
    elif file:
        loaded = stackfile.load(PROJECT_DIR / file, file, env, openfaas.function_namespace, problems)
    declared = _function_secrets(values.get("functionSecrets"), secret_keys, problems)
    non_root = parse_bool(values.get("functionsNonRoot", base.non_root), "functionsNonRoot", problems)
    functions = (*typed, *loaded)
    _check_functions(functions, set(declared) | set(PLATFORM_SECRETS), openfaas.pro, problems)
    count = ce_count_problem(len(functions)) if not openfaas.pro else None
    if count:
        problems.add_file(str(file or "functions/__init__.py"), "functions", count)
    settings = FunctionSettings(file=str(file), functions=functions, non_root=base.non_root if non_root is None else non_root)
    return settings, declared


def _check_functions(functions: tuple[Function, ...], secrets: set[str], pro: bool, problems: Problems) -> None:
    seen: dict[str, str] = {}
    for fn in functions:
        where = f"functions.{fn.name}"
        if fn.name in seen:
            problems.add_file(fn.source, f"{where}", f"a function of this name is also declared in {seen[fn.name]}")
        seen.setdefault(fn.name, fn.source)
        for key, message in problems_with(fn, pro):
            problems.add_file(fn.source, f"{where}.{key}", message)
        for i, name in enumerate(fn.secrets):
            if name not in secrets:
                problems.add_file(
                    fn.source,
                    f"{where}.secrets[{i}]",
                    f"unknown secret {name!r}: declare it (pulumi config set --secret --path 'functionSecrets.{name}' VALUE) "
                    f"or use one the platform publishes ({', '.join(PLATFORM_SECRETS)})",
                )


def _decode(value: str) -> Any:
    """Object and list values reach the program as JSON text; everything else stays the string
    the user typed (numbers are parsed where a number is expected, with a message if not)."""
    if value.lstrip()[:1] not in ("[", "{"):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def from_config(
    raw: Mapping[str, str],
    secret_keys: set[str],
    stack: str,
    secret: Callable[[str], pulumi.Input[str]] = pulumi.Output.secret,
    typed_functions: tuple[Function, ...] = (),
    env: Mapping[str, str] | None = None,
) -> Settings:
    """Validate raw config (`{"nodes": "<json>", ...}`, project prefix removed) into Settings."""
    problems = Problems(f"Pulumi.{stack}.yaml")
    values = {k: _decode(v) for k, v in raw.items()}
    check_keys(values, KNOWN_KEYS, "", problems)
    nodes = _nodes(values.get("nodes"), problems)
    key = raw.get("sshPrivateKey")
    if not key:
        problems.add(
            "sshPrivateKey",
            "required: the SSH private key for the nodes, as a secret "
            "(cat ~/.ssh/id_ed25519 | pulumi config set --secret sshPrivateKey)",
        )
    elif "sshPrivateKey" not in secret_keys:
        problems.add("sshPrivateKey", "must be a secret: set it again with `pulumi config set --secret sshPrivateKey`")
    k3s = _k3s(values, problems)
    sysctl = _sysctl(values.get("sysctl"), problems)
    host_firewall = firewall.parse_settings(values, problems)
    if host_firewall.enabled:
        firewall.node_address_problems(nodes, problems)
    openfaas = _openfaas(values, secret_keys, k3s, problems)
    tls, openfaas = _edge(values, k3s, openfaas, problems)
    data_namespace = _data_namespace(values, openfaas, problems)
    nats_settings = nats.parse_settings(values, problems)
    redis_settings = redis.parse_settings(values, problems)
    env = {**(os.environ if env is None else env), **platform_env(data_namespace)}
    functions, declared = _functions(values, secret_keys, openfaas, typed_functions, env, problems)
    problems.raise_if_any()
    warnings: list[str] = [] if tls.enabled else [edge.plain_http_warning(openfaas.public_port)]
    servers = sum(1 for n in nodes if n.role == "server")
    if servers % 2 == 0:
        warnings.append(
            f"{servers} servers: embedded etcd needs a majority, so an even count tolerates no more "
            f"failures than {servers - 1}; use 1, 3 or 5 servers"
        )
    return Settings(
        stack=stack,
        nodes=nodes,
        ssh_private_key=secret(key or ""),
        k3s=k3s,
        sysctl=sysctl,
        firewall=host_firewall,
        edge=tls,
        openfaas=replace(openfaas, license=secret(raw["openfaasLicense"]) if openfaas.license else None),
        data_namespace=data_namespace,
        nats=nats_settings,
        redis=redis_settings,
        functions=replace(functions, secrets=tuple((name, secret(value)) for name, value in sorted(declared.items()))),
        warnings=tuple(warnings),
    )


def load() -> Settings:
    """Settings for the running stack, from the config the Pulumi engine handed the program."""
    prefix = f"{PROJECT}:"
    every = {**pulumi.runtime.config.get_config_env(), **pulumi.runtime.config.CONFIG.get()}
    raw = {k[len(prefix):]: str(v) for k, v in every.items() if k.startswith(prefix)}
    secret_keys = {k for k in raw if pulumi.runtime.config.is_config_secret(prefix + k)}
    from functions import FUNCTIONS  # the stack's typed functions (functions/__init__.py)

    return from_config(raw, secret_keys, pulumi.get_stack(), typed_functions=FUNCTIONS)

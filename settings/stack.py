"""The whole stack config: every section, the rules between them, and the one entry point.

`load()` reads the config the Pulumi engine handed the program; `from_config()` does the work
(and is what the tests call). Nothing is registered before it returns, so a mistake stops
`pulumi preview` with one message naming every problem, and no resource is half-applied.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

import pulumi
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from settings import stackfile
from settings.alerting import AlertingSettings, no_receiver_warning, receiver_anywhere_warning
from settings.backups import BackupsSettings
from settings.data_services import DataSettings, NatsSettings, RedisSettings
from settings.edge import CERT_MANAGER_NAMESPACE, PUBLIC_PORTS, EdgeSettings, plain_http_warning
from settings.edge import NAMESPACE as EDGE_NAMESPACE
from settings.errors import PROJECT, ConfigError, Report, rules
from settings.firewall import FirewallSettings
from settings.function_spec import PLATFORM_SECRETS, Function, FunctionsSettings, ce_count_problem, cron_ce_problem, problems_with
from settings.host import HostSettings
from settings.k3s import K3sSettings
from settings.kernel import KernelSettings
from settings.mirrors import MirrorsSettings
from settings.monitoring import MonitoringSettings
from settings.nodes import NodeSpec, NodesSettings
from settings.openfaas import OpenFaaSSettings
from settings.sovereignty import SovereigntySettings, acme_anywhere_warning, api_server_anywhere_warning, open_egress_warning
from settings.types import is_ip
from settings.upgrades import UpgradeSettings

PROJECT_DIR = Path(__file__).resolve().parents[1]


def _section() -> Any:
    return Field(json_schema_extra={"section": True})


class StackConfig(BaseModel):
    """Every key of `Pulumi.<stack>.yaml`. The keys are flat (`k3sVersion`, `natsStorage`);
    each belongs to one section model, which declares it once."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    nodes: NodesSettings = _section()
    k3s: K3sSettings = _section()
    backups: BackupsSettings = _section()
    kernel: KernelSettings = _section()
    firewall: FirewallSettings = _section()
    host: HostSettings = _section()
    edge: EdgeSettings = _section()
    openfaas: OpenFaaSSettings = _section()
    data: DataSettings = _section()
    nats: NatsSettings = _section()
    redis: RedisSettings = _section()
    monitoring: MonitoringSettings = _section()
    functions: FunctionsSettings = _section()
    mirrors: MirrorsSettings = _section()
    upgrades: UpgradeSettings = _section()
    sovereignty: SovereigntySettings = _section()
    alerting: AlertingSettings = _section()

    @model_validator(mode="before")
    @classmethod
    def _into_sections(cls, values: Any) -> Any:
        """Flat keys into their sections; a key no section declares stays, and is refused."""
        if not isinstance(values, Mapping):
            return values
        out: dict[str, Any] = {name: {} for name in SECTIONS}
        for key, value in values.items():
            section = KEY_SECTION.get(key)
            if section:
                out[section][key] = value
            else:
                out[key] = value
        return out

    @model_validator(mode="after")
    def _between_sections(self) -> StackConfig:
        rules([*self._edge_needs(), *self._namespaces_differ(), *self._firewall_needs_addresses(), self._strict_needs_pro(), *self._host_egress_rules(), self._replicas_fit()])
        if not self.edge.enabled and self.openfaas.service_type == "LoadBalancer" and "servicelb" in self.k3s.disable:
            rules([("gatewayServiceType", "'LoadBalancer' needs K3s' servicelb, which k3sDisable turns off; use 'NodePort' or keep servicelb")])
        return self

    def _edge_needs(self) -> list[tuple[str, str]]:
        if not self.edge.enabled:
            return []
        found = []
        if "servicelb" in self.k3s.disable:
            found.append(("k3sDisable", "keep servicelb while domain is set: it publishes the edge on ports 80 and 443"))
        if "traefik" not in self.k3s.disable:
            found.append(("k3sDisable", "keep traefik in it while domain is set: K3s' bundled Traefik would take ports 80 and 443 from the edge's"))
        for name in ("service_type", "node_port"):
            if name in self.openfaas.model_fields_set:
                alias = OpenFaaSSettings.model_fields[name].alias
                found.append((str(alias), "not used while domain is set (the edge serves the gateway on 443): remove it"))
        return found

    def _strict_needs_pro(self) -> tuple[str, str] | None:
        if not self.sovereignty.strict or self.openfaas.pro:
            return None
        return (
            "openfaasEdition",
            "'ce' cannot run under sovereignStrict: at start-up OpenFaaS CE (faas-netes) GETs https://checkip.amazonaws.com "
            "and exits when it cannot reach it; use 'pro' (Standard/Enterprise runs without it) or turn sovereignStrict off",
        )

    def _host_egress_rules(self) -> list[tuple[str, str] | None]:
        """The output policy lives in the host firewall's table; strict mode needs it on, and
        in-country resolvers (settings/host.py)."""
        host, strict = self.host, self.sovereignty.strict
        return [
            ("nodeEgress", "'restricted' needs the host firewall (firewall: true): the output policy is a chain of its table")
            if host.restricted and not self.firewall.enabled else None,
            ("nodeEgress", "sovereignStrict needs 'restricted': with 'open' any process on a node can send data anywhere")
            if strict and not host.restricted else None,
            ("dnsResolvers", "sovereignStrict needs the in-country DNS resolvers (IP addresses) the nodes and CoreDNS forward to")
            if strict and not host.dns_resolvers else None,
        ]

    def _replicas_fit(self) -> tuple[str, str] | None:
        """Each data replica needs a node of its own (required anti-affinity): more replicas
        than nodes that take pods would leave some Pending forever."""
        replicas = self.data.replicas_for(len(self.nodes.nodes))
        if replicas == 1:
            return None
        repelling = self.k3s.repelling_taints
        if repelling:
            return (
                "dataReplicas",
                f"{replicas} replicas need nodes that take pods, but k3sExtraFlags taints every node with {', '.join(repelling)}, "
                "which the data pods do not tolerate; remove the taint or set dataReplicas: 1",
            )
        nodes = len(self.nodes.nodes)
        if replicas > nodes:
            return ("dataReplicas", f"{replicas} replicas need {replicas} nodes (one each), but the stack has {nodes}; add nodes or set dataReplicas: 1")
        return None

    def _namespaces_differ(self) -> list[tuple[str, str]]:
        """Each namespace gets its own NetworkPolicies: two parts of the stack in one would
        get each other's. (key the user sets or None, what it is, the name)"""
        names = [
            ("openfaasNamespace", "openfaasNamespace", self.openfaas.namespace),
            ("openfaasFunctionNamespace", "openfaasFunctionNamespace", self.openfaas.function_namespace),
            ("dataNamespace", "dataNamespace", self.data.namespace),
            (None, "the edge's namespace", EDGE_NAMESPACE),
            (None, "cert-manager's namespace", CERT_MANAGER_NAMESPACE),
        ]
        if self.monitoring.enabled:
            names.append(("monitoringNamespace", "monitoringNamespace", self.monitoring.namespace))
        found = []
        for (key_a, what_a, name_a), (key_b, what_b, name_b) in combinations(names, 2):
            if name_a == name_b:
                key, other = (key_b, what_a) if key_b else (key_a, what_b)
                found.append((str(key), f"{name_a!r} is also {other}: each part of the stack needs a namespace of its own"))
        return found

    def _firewall_needs_addresses(self) -> list[tuple[str, str]]:
        """Node-to-node rules need addresses: with more than one node, each needs an IP literal."""
        nodes = self.nodes.nodes
        if not self.firewall.enabled or len(nodes) < 2:
            return []
        return [
            (
                f"nodes[{i}].host",
                f"{node.host!r} is a name; with the firewall on, the other nodes are admitted by address: give an IP as host or privateAddress",
            )
            for i, node in enumerate(nodes)
            if node.private_address is None and not is_ip(node.host)
        ]


SECTIONS: dict[str, type[BaseModel]] = {
    name: info.annotation  # type: ignore[misc]
    for name, info in StackConfig.model_fields.items()
}
# Which section declares each config key (its alias).
KEY_SECTION: dict[str, str] = {
    str(info.alias): name for name, model in SECTIONS.items() for info in model.model_fields.values()
}
def _is_secret(info: Any) -> bool:
    return isinstance(info.json_schema_extra, dict) and bool(info.json_schema_extra.get("secret"))


SECRET_KEYS = tuple(k for k, s in KEY_SECTION.items() for f in SECTIONS[s].model_fields.values() if f.alias == k and _is_secret(f))
KNOWN_KEYS = tuple(KEY_SECTION)


# --- what the components get ------------------------------------------------------------------


@dataclass(frozen=True)
class FunctionSet:
    functions: tuple[Function, ...] = ()  # typed ones first, then the stack file's
    secrets: tuple[tuple[str, pulumi.Input[str]], ...] = field(default=(), repr=False)  # from functionSecrets
    non_root: bool = True
    file: str = ""


@dataclass(frozen=True, kw_only=True)
class Settings:
    """The validated stack, as the components use it: one field per section, the secrets as
    Pulumi inputs, and the values derived from several sections, named (`from_config` sets
    them). No section is reached any other way."""

    stack: str
    nodes: tuple[NodeSpec, ...]  # in the order the user wrote them: the first bootstraps
    k3s: K3sSettings
    backups: BackupsSettings
    kernel: KernelSettings
    firewall: FirewallSettings
    host: HostSettings
    edge: EdgeSettings
    openfaas: OpenFaaSSettings  # as deployed: behind the edge the gateway's Service is ClusterIP
    data: DataSettings
    nats: NatsSettings
    redis: RedisSettings
    monitoring: MonitoringSettings
    mirrors: MirrorsSettings
    upgrades: UpgradeSettings
    sovereignty: SovereigntySettings
    alerting: AlertingSettings
    ssh_private_key: pulumi.Input[str] = field(repr=False)
    openfaas_license: pulumi.Input[str] | None = field(default=None, repr=False)
    acme_eab_hmac_key: pulumi.Input[str] | None = field(default=None, repr=False)
    # Alertmanager's receiver secrets, mounted as files (render/monitoring/alertmanager.py).
    alert_smtp_password: pulumi.Input[str] | None = field(default=None, repr=False)
    alert_webhook_token: pulumi.Input[str] | None = field(default=None, repr=False)
    functions: FunctionSet = FunctionSet()
    warnings: tuple[str, ...] = ()
    # Derived.
    servers: tuple[NodeSpec, ...]  # the control plane, first server first
    first_server: NodeSpec  # the bootstrap server: nodes[0], always a server
    public_ports: tuple[int, ...]  # the TCP ports everyone may reach: where the gateway is served
    data_replicas: int  # of NATS and of Valkey: dataReplicas, or its default for the node count


def settings_of(stack: str, config: StackConfig, **secrets_and_functions: Any) -> Settings:
    """The components' view of a validated StackConfig: its sections, and what they imply."""
    openfaas = config.openfaas
    if config.edge.enabled:
        openfaas = openfaas.model_copy(update={"service_type": "ClusterIP"})  # the edge is the only way in
    nodes = config.nodes.nodes
    return Settings(
        stack=stack,
        nodes=nodes,
        k3s=config.k3s,
        backups=config.backups,
        kernel=config.kernel,
        firewall=config.firewall,
        host=config.host,
        edge=config.edge,
        openfaas=openfaas,
        data=config.data,
        nats=config.nats,
        redis=config.redis,
        monitoring=config.monitoring,
        mirrors=config.mirrors,
        upgrades=config.upgrades,
        sovereignty=config.sovereignty,
        alerting=config.alerting,
        servers=tuple(n for n in nodes if n.role == "server"),
        first_server=nodes[0],
        public_ports=PUBLIC_PORTS if config.edge.enabled else (openfaas.public_port,),
        data_replicas=config.data.replicas_for(len(nodes)),
        **secrets_and_functions,
    )


# --- reading ------------------------------------------------------------------------------


def decode(raw: Mapping[str, str]) -> dict[str, Any]:
    """Object and list values reach the program as JSON text; everything else stays the
    string the user typed (each type parses its own, with a message if it cannot). Secret
    scalars are never parsed."""
    out: dict[str, Any] = {}
    for key, value in raw.items():
        out[key] = value
        if key in ("sshPrivateKey", "openfaasLicense", "acmeEabHmacKey", "alertSmtpPassword", "alertWebhookToken") or not isinstance(value, str) or value.lstrip()[:1] not in ("[", "{"):
            continue
        try:
            out[key] = json.loads(value)
        except (ValueError, RecursionError):
            pass  # the type says what it expected
    return out


def from_config(
    raw: Mapping[str, str],
    secret_keys: set[str],
    stack: str,
    secret: Callable[[str], pulumi.Input[str]] = pulumi.Output.secret,
    typed_functions: tuple[Function, ...] = (),
    env: Mapping[str, str] | None = None,
) -> Settings:
    """Validate raw config (`{"nodes": "<json>", ...}`, project prefix removed) into Settings."""
    report = Report(f"Pulumi.{stack}.yaml")
    try:
        config = StackConfig.model_validate(decode(raw), context={"secret_keys": secret_keys})
    except ValidationError as err:
        report.add_validation(err, StackConfig)
        report.raise_if_any()
        raise  # unreachable: a ValidationError has at least one error
    env = {**(os.environ if env is None else env), **config.data.platform_env(config.data.replicas_for(len(config.nodes.nodes)))}
    functions = _functions(config, typed_functions, env, report)
    report.raise_if_any()
    license_ = config.openfaas.license
    return settings_of(
        stack,
        config,
        ssh_private_key=secret(config.nodes.ssh_private_key.get_secret_value()),
        openfaas_license=secret(license_.get_secret_value()) if license_ and config.openfaas.pro else None,
        acme_eab_hmac_key=secret(eab.get_secret_value()) if (eab := config.edge.eab_hmac_key) and config.edge.eab_key_id else None,
        alert_smtp_password=secret(pw.get_secret_value()) if (pw := config.alerting.smtp_password) and config.alerting.smtp_user else None,
        alert_webhook_token=secret(tok.get_secret_value()) if (tok := config.alerting.webhook_token) and config.alerting.webhook_urls else None,
        functions=FunctionSet(
            functions=functions,
            secrets=tuple((name, secret(value.get_secret_value())) for name, value in sorted(config.functions.secrets.items())),
            non_root=config.functions.non_root,
            file=config.functions.file,
        ),
        warnings=_warnings(config),
    )


def _functions(config: StackConfig, typed: tuple[Function, ...], env: Mapping[str, str], report: Report) -> tuple[Function, ...]:
    file = config.functions.file
    loaded: tuple[Function, ...] = ()
    if file and not (PROJECT_DIR / file).resolve().is_relative_to(PROJECT_DIR.resolve()):
        shown = file if len(file) <= 60 else file[:57] + "..."
        report.add("functionsFile", f"{shown!r} resolves outside the project directory (symlinks followed): keep the stack file in the project")
    elif file:
        loaded = stackfile.load(PROJECT_DIR / file, file, env, config.openfaas.function_namespace, report, root=PROJECT_DIR)
    functions = (*typed, *loaded)
    known = set(config.functions.secrets) | set(PLATFORM_SECRETS)
    seen: dict[str, str] = {}
    for fn in functions:
        where = f"functions.{fn.name}"
        if fn.name in seen:
            report.add_file(fn.source, where, f"a function of this name is also declared in {seen[fn.name]}")
        seen.setdefault(fn.name, fn.source)
        for key, message in problems_with(fn, config.openfaas.pro):
            report.add_file(fn.source, f"{where}.{key}", message)
        for i, name in enumerate(fn.secrets):
            if name not in known:
                report.add_file(
                    fn.source,
                    f"{where}.secrets[{i}]",
                    f"unknown secret {name!r}: declare it (pulumi config set --secret --path 'functionSecrets.{name}' VALUE) "
                    f"or use one the platform publishes ({', '.join(PLATFORM_SECRETS)})",
                )
    count = ce_count_problem(len(functions)) if not config.openfaas.pro else None
    if count:
        report.add_file(file or "functions/__init__.py", "functions", count)
    cron = cron_ce_problem(functions) if not config.openfaas.pro else None
    if cron:
        report.add_file(file or "functions/__init__.py", "functions", cron)
    return functions


def _warnings(config: StackConfig) -> tuple[str, ...]:
    warnings = [] if config.edge.enabled else [plain_http_warning(config.openfaas.public_port)]
    if config.sovereignty.functions_open:
        warnings.append(open_egress_warning())
    warnings += _platform_egress_warnings(config)
    if config.monitoring.enabled and not config.alerting.receivers:  # no Alertmanager, nothing to warn of
        warnings.append(no_receiver_warning())
    servers = sum(1 for n in config.nodes.nodes if n.role == "server")
    if servers % 2 == 0:
        warnings.append(
            f"{servers} servers: embedded etcd needs a majority, so an even count tolerates no more "
            f"failures than {servers - 1}; use 1, 3 or 5 servers"
        )
    return tuple(warnings)


def _platform_egress_warnings(config: StackConfig) -> list[str]:
    """Where platformEgress 'restricted' must leave a port open to any address."""
    if config.sovereignty.platform_open:
        return []
    found = [
        api_server_anywhere_warning(f"nodes[{i}].host {n.host!r}")
        for i, n in enumerate(config.nodes.nodes)
        if n.role == "server" and not is_ip(n.address) and "advertise-address" not in config.k3s.extra_config
    ]
    if config.edge.enabled and not config.sovereignty.acme_server_cidrs:
        found.append(acme_anywhere_warning())
    backups = config.backups
    if backups.data_on and not backups.data_s3_ranges:
        found.append(
            f"dataBackupS3Cidrs is empty and etcdS3Endpoint {backups.s3_endpoint!r} is a name: the backup pods may reach any address "
            f"on port {backups.s3_port} (a NetworkPolicy matches addresses, not names); list the endpoint's addresses in dataBackupS3Cidrs"
        )
    named = [(h, p) for h, p in config.alerting.receiver_endpoints if not is_ip(h)]
    if config.monitoring.enabled and named:
        found.append(receiver_anywhere_warning(named))
    return found


def load(typed_functions: tuple[Function, ...] = ()) -> Settings:
    """Settings for the running stack, from the config the Pulumi engine handed the program
    (`typed_functions`: the stack's own, functions/__init__.py)."""
    prefix = f"{PROJECT}:"
    every = {**pulumi.runtime.config.get_config_env(), **pulumi.runtime.config.CONFIG.get()}
    raw = {k[len(prefix):]: str(v) for k, v in every.items() if k.startswith(prefix)}
    secret_keys = {k for k in raw if pulumi.runtime.config.is_config_secret(prefix + k)}
    return from_config(raw, secret_keys, pulumi.get_stack(), typed_functions=typed_functions)


__all__ = ["ConfigError", "Settings", "StackConfig", "from_config", "load"]

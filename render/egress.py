"""The egress inventory: every endpoint outside the cluster the stack depends on, as data.

Derived, not written by hand: from the images the stack's objects run (`make plan` reads them
from the registered objects, `pulumi up` from the same data the components render), each
chart's image list (settings/chart_images.py), the Helm releases' repositories, the K3s
install source, the ACME server, the edition and the function egress settings. So a new image
on a new registry is a new row without anyone editing this module.

Each row: phase, host (and port), who connects, why, whether an in-country mirror serves it
(`mirrored`) and whether the user declared the host in the country (`allowed`:
egressAllowHosts, functionEgressAllow). Strict mode (sovereignStrict) refuses a stack with a
row that is neither, except the operator's side (state backend, CI), which depends on
`pulumi login` and the runner, not on this program. docs/sovereignty.md.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from render import data_backups, monitoring, nats, redis
from render.addresses import HTTPS, url_host_port
from render.cron_connector import cron_manifests
from render.edge import CERT_MANAGER_REPO, TRAEFIK_REPO, traefik_values
from render.function_objects import cron_functions, deployment, topics
from render.host_egress import host_rows
from render.openfaas import CHART_REPO as OPENFAAS_REPO
from settings import chart_images
from settings.edge import ACME_SERVERS, CERT_MANAGER_NAMESPACE
from settings.edge import NAMESPACE as EDGE_NAMESPACE
from settings.errors import Report
from settings.sovereignty import upstream_of
from settings.stack import Settings
from settings.types import is_ip
from upstream import kubernetes

NODE_INSTALL = "node install"
HOST = "host run time"  # the nodes' own endpoints: render/host_egress.py
CLUSTER = "cluster run time"
BACKUPS = "backups"
FUNCTIONS = "function run time"
OPERATOR = "operator"
PHASES = (NODE_INSTALL, HOST, CLUSTER, BACKUPS, FUNCTIONS, OPERATOR)
CE_CHECK_URL = "https://checkip.amazonaws.com"  # faas-netes pkg/config/connectivity.go
TRAEFIK_UPDATE_HOST = "update.traefik.io"  # Traefik's global.checkNewVersion
# The widest range strict mode takes in functionEgressAllow, nodeEgressAllow and
# acmeServerCidrs, per IP version: a /8 (16.7 million addresses) is already far more than any
# one in-country service needs; anything wider (0.0.0.0/0, two /1 halves) is the internet,
# whatever it is called.
WIDEST_ALLOW = {4: 8, 6: 16}


@dataclass(frozen=True)
class Workload:
    """An image one of the stack's objects runs."""

    image: str
    namespace: str
    who: str  # "Deployment openfaas-fn/img-resize"


@dataclass(frozen=True)
class Endpoint:
    phase: str
    host: str
    port: int | None
    who: tuple[str, ...]
    why: tuple[str, ...]
    mirrored: bool = False  # served by an in-country mirror the config names
    allowed: bool = False  # a host or range the user declared (egressAllowHosts, functionEgressAllow)
    via: tuple[str, ...] = ()  # the mirrors that serve it
    fix: str = ""  # the key that would make it in-country
    note: str = ""

    @property
    def in_country(self) -> bool:
        return self.mirrored or self.allowed

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}" if self.port and not self.host.endswith(f":{self.port}") else self.host


@dataclass
class _Row:
    phase: str
    host: str
    port: int | None
    who: set[str] = field(default_factory=set)
    why: set[str] = field(default_factory=set)
    mirrored: bool = True
    allowed: bool = True
    via: set[str] = field(default_factory=set)
    fix: list[str] = field(default_factory=list)
    note: str = ""


# --- the images --------------------------------------------------------------------------------


def images_in(value: Any) -> list[str]:
    """Every container image in a Kubernetes object (any `image` text under a container list)."""
    found: list[str] = []
    if isinstance(value, Mapping):
        for k, v in value.items():
            if k in ("containers", "initContainers", "ephemeralContainers") and isinstance(v, list):
                found += [c["image"] for c in v if isinstance(c, Mapping) and isinstance(c.get("image"), str)]
            else:
                found += images_in(v)
    elif isinstance(value, list):
        for item in value:
            found += images_in(item)
    return found


def workloads_of(obj: Mapping[str, Any]) -> list[Workload]:
    """The images a registered object runs, with who runs them."""
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace") or ""
    who = f"{obj.get('kind', '?')} {ns}/{meta.get('name', '?')}" if ns else f"{obj.get('kind', '?')} {meta.get('name', '?')}"
    return [Workload(image, ns, who) for image in images_in(obj.get("spec"))]


def workloads(settings: Settings) -> list[Workload]:
    """The images the stack's own objects run, read from the very manifests the components
    render and register (so a new container anywhere is a new row; tests/test_egress.py holds
    this to what the program registers)."""
    openfaas, fns = settings.openfaas, settings.functions.functions
    objects = [
        *nats.manifests(settings.nats, settings.data.namespace, openfaas.namespace, openfaas.function_namespace).values(),
        *redis.manifests(settings.redis, settings.data.namespace, openfaas.function_namespace, settings.kernel.sysctl).values(),
        *(deployment(fn, openfaas.function_namespace, settings.functions.non_root) for fn in fns),
        *monitoring.all_objects(settings).values(),  # none with monitoring off
    ]
    if topics(fns):
        objects += nats.connector_manifests(topics(fns), nats.host(settings.data.namespace), openfaas.namespace, openfaas.upstream_timeout).values()
    if cron_functions(fns):
        objects += cron_manifests(openfaas.namespace, openfaas.pro).values()
    objects += data_backups.manifests(data_backups.of(settings)).values()
    return [w for obj in objects for w in workloads_of(obj)]


def charts(settings: Settings) -> list[tuple[str, str, str]]:
    """(chart, namespace, repository) of every Helm release, mirrors applied."""
    found = [("openfaas", settings.openfaas.namespace, OPENFAAS_REPO)]
    if settings.edge.enabled:
        found += [("traefik", EDGE_NAMESPACE, TRAEFIK_REPO), ("cert-manager", CERT_MANAGER_NAMESPACE, CERT_MANAGER_REPO)]
    return [(chart, ns, settings.mirrors.chart_repository(chart, repo)) for chart, ns, repo in found]


# --- the inventory -----------------------------------------------------------------------------


def _registry_port(registry: str) -> tuple[str, int]:
    match = re.fullmatch(r"(.+):([0-9]+)", registry)
    if match and ("[" in match.group(1) or ":" not in match.group(1)):
        return match.group(1).strip("[]"), int(match.group(2))
    return registry, HTTPS


def inventory(settings: Settings, images: Iterable[Workload] | None = None) -> list[Endpoint]:
    """Every endpoint outside the cluster, in phase order, then by host. `images`: the
    workloads' images (default: from the settings, as `pulumi up` renders them)."""
    workload_list = list(workloads(settings) if images is None else images)
    found = _Inventory(settings)
    found.node_install()
    found.host_run_time()
    found.cluster_run_time([w for w in workload_list if w.namespace != settings.openfaas.function_namespace])
    found.alert_receivers()
    found.backups()
    found.function_run_time([w for w in workload_list if w.namespace == settings.openfaas.function_namespace])
    found.operator_side()
    return found.endpoints()


class _Inventory:
    """The rows, merged by (phase, host, port): several reasons to reach one host are one row."""

    def __init__(self, settings: Settings) -> None:
        self.settings, self.mirrors = settings, settings.mirrors
        self.rows: dict[tuple[str, str, int | None, str], _Row] = {}
        self.sovereignty = settings.sovereignty
        self.mirror_hosts = {url_host_port(url) for urls in self.mirrors.registry_mirrors.values() for url in urls}

    def in_country(self, host: str, port: int | None) -> bool:
        """A source the config names may count as in the country: never an upstream, and in
        strict mode only a host the operator declared (egressAllowHosts)."""
        return upstream_of(host) is None and (not self.sovereignty.strict or self.sovereignty.declares(host, port))

    def add(self, phase: str, host: str, port: int | None, who: str, why: str, *, mirrored: bool, allowed: bool | None = None,
            via: Iterable[str] = (), fix: str = "", note: str = "", own_row: str = "") -> None:
        """`own_row`: a row of its own for this reason, not merged with others to the same host
        (each backup is one: removing one removes its row)."""
        row = self.rows.setdefault((phase, host, port, own_row), _Row(phase, host, port))
        row.who.add(who)
        row.why.add(why)
        row.mirrored &= mirrored
        row.allowed &= self.sovereignty.declares(host, port) if allowed is None else allowed
        row.via.update(via)
        if fix and fix not in row.fix:
            row.fix.append(fix)
        row.note = row.note or note

    def registry(self, phase: str, image: str, who: str, *, k3s_own: bool = False) -> None:
        """The registry `image` is pulled from: mirrored when registryMirrors covers it with
        in-country endpoints, when it is itself such an endpoint, or (K3s' own images only)
        when it is the systemDefaultRegistry."""
        mirrors = self.mirrors
        reg = kubernetes.image_registry(image)
        host, port = _registry_port(reg)
        endpoints = [url_host_port(u) for u in (mirrors.registry_mirrors.get(reg) or mirrors.registry_mirrors.get("*") or ())]
        via = [h for h, _ in endpoints]
        mirrored = (
            bool(endpoints) and all(self.in_country(h, p) for h, p in endpoints)
            or ((host, port) in self.mirror_hosts and self.in_country(host, port))
            or (k3s_own and reg == mirrors.system_default_registry and self.in_country(host, port))
        )
        fallback = via and not mirrors.mirrors_only
        self.add(phase, host, port, who, f"image {kubernetes.normalized_image(image)}", mirrored=mirrored, via=via,
                 fix=f"registryMirrors (map {reg} or '*' to an in-country mirror)",
                 note=f"containerd falls back to {reg} when the mirror fails; registryMirrorsOnly: true stops that" if fallback else "")

    def node_install(self) -> None:
        """The K3s installer, binary and images."""
        mirrors, who = self.mirrors, "k3s-install step on every node"
        if mirrors.k3s_airgap_dir:
            self.add(NODE_INSTALL, "the operator's machine", None, who, "K3s assets uploaded over SSH (k3sAirgapDir)", mirrored=True)
        elif mirrors.k3s_mirror:
            host, port = url_host_port(mirrors.k3s_mirror)
            self.add(NODE_INSTALL, host, port, who, "K3s installer, binary, sums and images tarball (k3sMirror)",
                     mirrored=self.in_country(host, port), fix="k3sMirror (an in-country copy of the release) and egressAllowHosts")
        else:
            fix = "k3sMirror or k3sAirgapDir"
            self.add(NODE_INSTALL, "raw.githubusercontent.com", HTTPS, who, f"the K3s {self.settings.k3s.version} installer (install.sh)", mirrored=False, fix=fix)
            self.add(NODE_INSTALL, "github.com", HTTPS, who, "the K3s binary and its sha256 sums (release assets)",
                     mirrored=False, fix=fix, note="redirects to GitHub's asset host (*.githubusercontent.com)")

    def host_run_time(self) -> None:
        """The nodes' own endpoints (render/host_egress.py)."""
        for r in host_rows(self.settings):
            # A server the config names counts only as render/egress.py's other sources do:
            # never an upstream, and under strict mode only when declared.
            named = r.in_country and self.in_country(r.host, r.port)
            self.add(HOST, r.host, r.port, r.who, r.why, mirrored=r.mirrored and named, allowed=named and not r.mirrored, fix=r.fix, note=r.note)

    def cluster_run_time(self, platform: list[Workload]) -> None:
        """K3s' own images (unless the images tarball is installed), the platform's images and
        charts, the edge's CRDs, CA and Traefik's update check, CE's phone-home."""
        settings, mirrors = self.settings, self.mirrors
        if not (mirrors.k3s_airgap_dir or mirrors.k3s_mirror):
            for image in chart_images.K3S_SYSTEM:
                name = kubernetes.normalized_image(image)
                if mirrors.system_default_registry:
                    image = f"{mirrors.system_default_registry}/{name.split('/', 1)[1]}"
                self.registry(CLUSTER, image, "K3s (containerd on every node)", k3s_own=True)
        for w in platform:
            self.registry(CLUSTER, w.image, w.who)
        for chart, ns, repo in charts(settings):
            for image in chart_images.chart_images(chart, settings.openfaas.pro):
                self.registry(CLUSTER, image, f"Helm release {chart} ({ns})")
            host, port = url_host_port(repo)
            self.add(CLUSTER, host, port, "pulumi-kubernetes' Helm client, where `pulumi up` runs", f"chart {chart} from {repo}",
                     mirrored=chart in mirrors.chart_repositories and self.in_country(host, port), fix=f"chartRepositories.{chart}")
        if settings.edge.enabled:
            self._edge()
        if not settings.openfaas.pro:
            host, port = url_host_port(CE_CHECK_URL)
            self.add(CLUSTER, host, port, f"faas-netes, in the gateway pod ({settings.openfaas.namespace})",
                     "CE checks it can reach the internet at start-up and exits when not (faas-netes pkg/config/connectivity.go)",
                     mirrored=False, fix="openfaasEdition: pro")

    def _edge(self) -> None:
        settings = self.settings
        crds = self.mirrors.gateway_api_crds_url
        host, port = url_host_port(crds)
        self.add(CLUSTER, host, port, "pulumi-kubernetes, where `pulumi up` runs", f"the Gateway API CRDs ({crds})",
                 mirrored=bool(self.mirrors.gateway_api_crds) and self.in_country(host, port),
                 fix="gatewayApiCrds (an in-country copy of standard-install.yaml)")
        servers = [settings.edge.acme_server] if settings.edge.acme_server else list(ACME_SERVERS.values())
        for url in servers:
            host, port = url_host_port(url)
            self.add(CLUSTER, host, port, f"cert-manager ({CERT_MANAGER_NAMESPACE})", f"ACME account and certificate orders ({url})",
                     mirrored=False, fix="acmeServer (an in-country CA) and egressAllowHosts")
        if (traefik_values().get("global") or {}).get("checkNewVersion", True):
            self.add(CLUSTER, TRAEFIK_UPDATE_HOST, HTTPS, f"Traefik ({EDGE_NAMESPACE})", "checks for new versions (global.checkNewVersion)", mirrored=False)

    def alert_receivers(self) -> None:
        """Where Alertmanager sends alerts (settings/alerting.py): node names, namespaces and
        error rates leave the cluster there, so each receiver is a row like any other."""
        alerting, who = self.settings.alerting, "Alertmanager (monitoring)"
        receivers = [(f"alertWebhookUrls[{i}]", *url_host_port(url), "alert webhook") for i, url in enumerate(alerting.webhook_urls)]
        if alerting.smarthost:
            receivers.append(("alertSmarthost", *_registry_port(alerting.smarthost), "alert e-mails (SMTP)"))
        for key, host, port, what in receivers:
            self.add(CLUSTER, host, port, who, f"{what} ({key})", mirrored=False, fix=f"{key} (a receiver in the country) and egressAllowHosts")

    def backups(self) -> None:
        """Where every server uploads its etcd snapshots (the whole cluster state, Secrets
        included), when etcdS3Bucket is set, and where each data backup uploads (a row each:
        the same endpoint and the same rule, in strict mode declared in egressAllowHosts)."""
        backups = self.settings.backups
        if backups.s3_bucket is None or backups.s3_endpoint is None:
            return
        host, port = _registry_port(backups.s3_endpoint)
        fix = "etcdS3Endpoint (an in-country object store) and egressAllowHosts"
        self.add(BACKUPS, host, port, "K3s on every server (etcd snapshots)", f"snapshots to bucket {backups.s3_bucket}", mirrored=False, fix=fix)
        cfg = data_backups.of(self.settings)
        for obj in data_backups.manifests(cfg).values():
            if obj["kind"] == "CronJob":
                name, env = obj["metadata"]["name"], obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["env"]
                service = next(e["value"] for e in env if e["name"] == "SERVICE")
                self.add(BACKUPS, host, port, f"CronJob {cfg.namespace}/{name} ({obj['spec']['schedule']})",
                         f"{service} backups to {data_backups.s3_path(backups)}/{service}, the newest {backups.data_retention} kept",
                         mirrored=False, fix=fix, own_row=name)

    def function_run_time(self, functions: list[Workload]) -> None:
        """The functions' images, and where functions may send data."""
        sovereignty = self.settings.sovereignty
        for w in functions:
            self.registry(FUNCTIONS, w.image, w.who)
        fn_pods = f"function pods ({self.settings.openfaas.function_namespace})"
        if sovereignty.functions_open:
            self.add(FUNCTIONS, "anywhere (0.0.0.0/0, ::/0)", None, fn_pods, "functionEgress: open", mirrored=False, allowed=False,
                     fix="functionEgress: restricted")
            return
        for i, dest in enumerate(sovereignty.function_egress_allow):
            port = dest.ports[0] if len(dest.ports) == 1 else None
            ports = ", ".join(map(str, dest.ports)) or "every port"
            self.add(FUNCTIONS, dest.cidr, port, fn_pods, f"functionEgressAllow[{i}] (TCP {ports})", mirrored=False, allowed=True)

    def operator_side(self) -> None:
        """Not this program's to decide (docs/sovereignty.md)."""
        self.add(OPERATOR, "the state backend `pulumi login` points at (Pulumi Cloud: api.pulumi.com)", None, "the pulumi CLI",
                 "the stack's state, secrets encrypted by its secrets provider", mirrored=False, allowed=False,
                 fix="pulumi login s3://<bucket>?endpoint=<in-country>&region=<r> or file://<folder>")
        self.add(OPERATOR, "the CI runner (.github/workflows/preview.yml: GitHub-hosted, github.com)", None, "the preview workflow",
                 "pulumi preview in pull requests, with the stack's config", mirrored=False, allowed=False, fix="a self-hosted runner in the country")

    def endpoints(self) -> list[Endpoint]:
        order = {p: i for i, p in enumerate(PHASES)}
        return [
            Endpoint(r.phase, r.host, r.port, tuple(sorted(r.who)), tuple(sorted(r.why)), r.mirrored, r.allowed and not r.mirrored,
                     tuple(sorted(r.via)), " / ".join(r.fix), r.note)
            for _, r in sorted(self.rows.items(), key=lambda kr: (order[kr[1].phase], kr[1].host, kr[1].port or 0, kr[0][3]))
        ]


def outside(endpoints: Iterable[Endpoint]) -> list[Endpoint]:
    """What the program decides (the operator's rows depend on `pulumi login` and the runner)."""
    return [e for e in endpoints if e.phase != OPERATOR]


def summary(endpoints: Iterable[Endpoint]) -> str:
    """One line of hosts: a host reached in two phases (ghcr.io for the platform and for the
    functions) is one host; it is "not" mirrored or allowed if it is not in any of them."""
    rows = outside(endpoints)
    hosts = {e.host for e in rows}
    rest = sorted({e.host for e in rows if not e.in_country})
    tail = f" ({', '.join(rest)})" if rest else ""
    noun = "host" if len(hosts) == 1 else "hosts"
    return f"egress: {len(hosts)} {noun} outside the cluster, {len(hosts) - len(rest)} mirrored or allowed, {len(rest)} not{tail}"


def strict_problems(endpoints: Iterable[Endpoint]) -> list[tuple[str, str]]:
    """(key that would fix it, what is wrong) for each endpoint strict mode refuses."""
    return [
        (
            _fix_key(e.fix),
            f"sovereignStrict: {e.address} ({e.phase}; {', '.join(e.who)}: {'; '.join(e.why)}) is neither an in-country mirror "
            f"nor in egressAllowHosts; fix: {e.fix or 'egressAllowHosts'}",
        )
        for e in outside(endpoints)
        if not e.in_country
    ]


def _fix_key(fix: str) -> str:
    match = re.match(r"[A-Za-z][A-Za-z0-9.]*", fix)
    return match.group(0) if match else "egressAllowHosts"


def as_json(stack: str, endpoints: list[Endpoint]) -> str:
    return json.dumps({"stack": stack, "summary": summary(endpoints), "endpoints": [asdict(e) for e in endpoints]}, indent=2) + "\n"


def as_markdown(stack: str, endpoints: list[Endpoint]) -> str:
    lines = [f"# Egress of stack {stack}", "", summary(endpoints), ""]
    for phase in PHASES:
        rows = [e for e in endpoints if e.phase == phase]
        if not rows:
            continue
        lines += [f"## {phase}", "", "| host | who connects | why | in country | fix |", "|---|---|---|---|---|"]
        for e in rows:
            where = "mirrored" + (f" ({', '.join(e.via)})" if e.via else "") if e.mirrored else "allowed" if e.allowed else "**no**"
            if phase == OPERATOR:
                where = "depends on you"
            why = "<br>".join(e.why) + (f"<br>({e.note})" if e.note else "")
            lines.append(f"| {e.address} | {'<br>'.join(e.who)} | {why} | {where} | {'' if e.in_country else e.fix} |")
        lines.append("")
    return "\n".join(lines)


def sources(settings: Settings) -> list[tuple[str, str, int | None]]:
    """(key, host, port) of every source the config names as in the country: the registry
    mirrors, the system default registry, the chart repositories, the K3s and CRD copies, the
    ACME server, the S3 endpoint and the alert receivers."""
    mirrors, found = settings.mirrors, []
    for reg, urls in sorted(mirrors.registry_mirrors.items()):
        found += [(f"registryMirrors.{reg}[{i}]", *url_host_port(url)) for i, url in enumerate(urls)]
    if mirrors.system_default_registry:
        found.append(("systemDefaultRegistry", *_registry_port(mirrors.system_default_registry)))
    found += [(f"chartRepositories.{chart}", *url_host_port(url)) for chart, url in sorted(mirrors.chart_repositories.items())]
    for key, url in (("k3sMirror", mirrors.k3s_mirror), ("gatewayApiCrds", mirrors.gateway_api_crds), ("acmeServer", settings.edge.acme_server)):
        if url:
            found.append((key, *url_host_port(url)))
    host = settings.host
    found += [(f"dnsResolvers[{i}]", ip, 53) for i, ip in enumerate(host.dns_resolvers)]
    found += [(f"ntpServers[{i}]", server, 123) for i, server in enumerate(host.ntp_servers)]
    if host.apt_mirror:
        found.append(("aptMirror", *url_host_port(host.apt_mirror)))
    if settings.backups.s3_bucket and settings.backups.s3_endpoint:
        found.append(("etcdS3Endpoint", *_registry_port(settings.backups.s3_endpoint)))
    alerting = settings.alerting
    found += [(f"alertWebhookUrls[{i}]", *url_host_port(url)) for i, url in enumerate(alerting.webhook_urls)]
    if alerting.smarthost:
        found.append(("alertSmarthost", *_registry_port(alerting.smarthost)))
    return found


def source_problems(settings: Settings) -> list[tuple[str, str]]:
    """sovereignStrict: a source named as in the country is neither an upstream nor undeclared,
    and containerd may not fall back to the upstream registries."""
    sovereignty, problems = settings.sovereignty, []
    for key, host, port in sources(settings):
        address = f"{host}:{port}" if port else host
        if upstream := upstream_of(host):
            problems.append((key, f"sovereignStrict: {address} is the upstream itself ({upstream}), not a copy in the country: point {key} at your in-country mirror"))
        elif not sovereignty.declares(host, port):
            problems.append((key, f"sovereignStrict: {address} is not declared in the country; if it is, add it (or its domain, '*.example.no') to egressAllowHosts"))
    # Every range an operator allows, whoever may reach it: functions, the nodes, cert-manager.
    ranges = [(f"functionEgressAllow[{i}].cidr", d.cidr) for i, d in enumerate(sovereignty.function_egress_allow)]
    ranges += [(f"nodeEgressAllow[{i}].cidr", d.cidr) for i, d in enumerate(settings.host.node_egress_allow)]
    ranges += [(f"acmeServerCidrs[{i}]", cidr) for i, cidr in enumerate(sovereignty.acme_server_cidrs)]
    ranges += [(f"dataBackupS3Cidrs[{i}]", cidr) for i, cidr in enumerate(settings.backups.data_s3_cidrs)]
    for key, cidr in ranges:
        net = ipaddress.ip_network(cidr)
        if net.prefixlen < WIDEST_ALLOW[net.version]:
            problems.append((key, f"sovereignStrict: {cidr} is open egress in all but name; name your in-country "
                                  f"destinations, each at most a /{WIDEST_ALLOW[net.version]}"))
    if sovereignty.platform_open:
        problems.append(("platformEgress", "sovereignStrict needs 'restricted': with 'open' the platform's pods (the queue-worker's callbacks among them) reach any address"))
    if settings.edge.enabled and not sovereignty.acme_server_cidrs:
        problems.append(("acmeServerCidrs", "sovereignStrict needs the ACME server's addresses: without them cert-manager may reach any address on the ACME port"))
    if settings.backups.data_on and not settings.backups.data_s3_ranges:
        problems.append(("dataBackupS3Cidrs", "sovereignStrict needs the S3 endpoint's addresses (etcdS3Endpoint is a name): without them the "
                                              "backup pods may reach any address on its port"))
    named = [n.name for n in settings.servers if not is_ip(n.private_address or n.host)]
    if named and not sovereignty.platform_open:
        problems.append(("nodes", f"sovereignStrict needs the servers' addresses ({', '.join(named)} known by name): without them the pods that use "
                                  "the API server may reach any address on its port; give each server an IP as host or privateAddress"))
    if not settings.mirrors.mirrors_only:
        problems.append(("registryMirrorsOnly", "sovereignStrict needs it true: otherwise containerd pulls from the upstream registry whenever a mirror fails"))
    return problems


def check_strict(settings: Settings, endpoints: Iterable[Endpoint]) -> None:
    """sovereignStrict: a ConfigError naming each source that cannot be in the country and each
    endpoint not in the country, with the key that fixes it."""
    if not settings.sovereignty.strict:
        return
    report = Report(f"Pulumi.{settings.stack}.yaml")
    for key, message in (*source_problems(settings), *strict_problems(endpoints)):
        report.add(key, message)
    report.raise_if_any()

"""The monitoring stack through the whole program: its objects, prometheus.yml checked by the
real promtool and started in a real prometheus, its policies, images, secrets and settings."""

from __future__ import annotations

import configparser
import contextlib
import json
import re
import shutil
import subprocess
import time
import urllib.parse
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import redis as redis_client
import yaml

from render import egress, monitoring
from render import stateful as data
from render.monitoring import alertmanager, dashboards, objects, policies, ports, rules, scrape
from render.monitoring.exporters import REDIS_PASSWORD_FILE, nats_exporter_args, redis_password_file, redis_urls
from render.policies import NAMESPACE_LABEL
from settings import versions
from settings.alerting import receiver_anywhere_warning
from settings.errors import ConfigError
from tests.conftest import THREE_NODES, settings_for, stack
from tests.servers import (
    LOOPBACK,
    free_port,
    http_get,
    loopback_nats_config,
    loopback_redis_config,
    nats_server,
    redis_server,
    require,
    stop_process,
)
from tools import plan
from tools.harness import PROJECT_DIR, StackRun, is_secret, masked, run_stack, unwrap
from upstream import prometheus_sd

IMAGES = (
    versions.PROMETHEUS_IMAGE,
    versions.ALERTMANAGER_IMAGE,
    versions.GRAFANA_IMAGE,
    versions.NODE_EXPORTER_IMAGE,
    versions.KUBE_STATE_METRICS_IMAGE,
    versions.REDIS_EXPORTER_IMAGE,
    versions.NATS_EXPORTER_IMAGE,
)
EDGE = {"domain": "faas.example.no", "acmeEmail": "ops@example.no"}


@pytest.fixture(scope="module")
def bergen() -> StackRun:
    """Three servers, Pro, HTTPS at the edge (Traefik and cert-manager are scraped too)."""
    return run_stack("bergen")


@pytest.fixture(scope="module")
def off() -> StackRun:
    return run_stack("oslo", stack(monitoring=False, nodes=THREE_NODES))


def obj(run: StackRun, name: str) -> dict[str, Any]:
    return masked(run.get(name).inputs)


def kube_objects(run: StackRun) -> list[dict[str, Any]]:
    return [plan.manifest(r) for r in run.resources if plan.is_kubernetes_object(r)]


def prometheus_yml(run: StackRun) -> dict[str, Any]:
    return yaml.safe_load(obj(run, "monitoring-prometheus-config")["data"]["prometheus.yml"])


def pod_spec(o: Mapping[str, Any]) -> dict[str, Any]:
    return o["spec"]["template"]["spec"]


# --- the objects ----------------------------------------------------------------------------


def test_the_stack_registers_its_parts_in_its_namespace_after_the_data_services(oslo: StackRun) -> None:
    children = {r.name: r for r in oslo.children("monitoring")}
    kinds = {(r.type.rsplit(":", 1)[-1], r.name) for r in children.values()}
    for kind, name in [
        ("Namespace", "monitoring-namespace"),
        ("StatefulSet", "monitoring-prometheus-statefulset"),
        ("StatefulSet", "monitoring-grafana-statefulset"),
        ("Deployment", "monitoring-alertmanager-deployment"),
        ("Deployment", "monitoring-kube-state-metrics-deployment"),
        ("DaemonSet", "monitoring-node-exporter-daemonset"),
        ("Deployment", "monitoring-nats-exporter"),
        ("Deployment", "monitoring-redis-exporter"),
        ("Secret", "monitoring-grafana-secret"),
        ("Secret", "monitoring-redis-exporter-secret"),
    ]:
        assert (kind, name) in kinds
    for r in children.values():
        if r.type.startswith("kubernetes:") and "Namespace" not in r.type:
            assert r.provider == "cluster-k8s"
            assert {"monitoring-namespace", "data-namespace", "redis-statefulset", "nats-statefulset", "openfaas-release"} <= set(r.options["dependsOn"])
    grafana = set(oslo.get("monitoring-grafana-statefulset").options["dependsOn"])
    assert {"monitoring-grafana-secret", "monitoring-grafana-config", "monitoring-grafana-dashboards"} <= grafana  # what it mounts
    namespaces = {obj(oslo, n)["metadata"].get("namespace") for n, r in children.items() if r.type.startswith("kubernetes:")}
    namespaces.discard(None)  # the namespace itself, the cluster roles
    assert namespaces == {"monitoring", "faas-data", "openfaas"}  # openfaas: the gateway's metrics policy


def test_prometheus_keeps_its_tsdb_on_a_volume_with_both_retentions() -> None:
    settings = settings_for(stack(monitoringRetention="30d", monitoringRetentionSize="8Gi", monitoringStorage="10Gi"))
    sts = monitoring.all_objects(settings)["prometheus-statefulset"]
    (ctr,) = pod_spec(sts)["containers"]
    assert "--storage.tsdb.retention.time=30d" in ctr["args"] and "--storage.tsdb.retention.size=8192MB" in ctr["args"]
    assert sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "10Gi"
    assert {"name": "data", "mountPath": objects.TSDB_DIR} in ctr["volumeMounts"]
    assert {"name": "rules", "mountPath": "/etc/prometheus/rules", "readOnly": True} in ctr["volumeMounts"]
    assert pod_spec(sts)["serviceAccountName"] == "prometheus" and pod_spec(sts)["automountServiceAccountToken"] is True
    assert ctr["resources"]["requests"]["memory"] == ctr["resources"]["limits"]["memory"] == "512Mi"


def test_every_container_is_sized_and_locked_down(oslo: StackRun) -> None:
    workloads = [o for o in kube_objects(oslo) if o["kind"] in ("Deployment", "StatefulSet", "DaemonSet") and o["metadata"]["name"] in MONITORING_WORKLOADS]
    assert len(workloads) == len(MONITORING_WORKLOADS)
    for o in workloads:
        pod = pod_spec(o)
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["enableServiceLinks"] is False
        host = {k for k in ("hostNetwork", "hostPID", "hostIPC") if pod.get(k)}
        assert host == ({"hostNetwork", "hostPID"} if o["metadata"]["name"] == "node-exporter" else set())
        for c in pod["containers"]:
            assert c["securityContext"] == data.CONTAINER_SECURITY
            assert set(c["resources"]) == {"requests", "limits"} and {"cpu", "memory"} <= set(c["resources"]["requests"])
        # Only what reads the API gets a token.
        assert pod["automountServiceAccountToken"] is (o["metadata"]["name"] in ("prometheus", "kube-state-metrics"))


MONITORING_WORKLOADS = ("prometheus", "grafana", "alertmanager", "kube-state-metrics", "node-exporter", "nats-exporter", "redis-exporter")


def test_cluster_roles_read_and_never_reach_secrets(oslo: StackRun) -> None:
    roles = [o for o in kube_objects(oslo) if o["kind"] == "ClusterRole" and o["metadata"]["name"].startswith("monitoring-")]
    assert {r["metadata"]["name"] for r in roles} == {"monitoring-prometheus", "monitoring-kube-state-metrics"}
    for role in roles:
        for rule in role["rules"]:
            assert set(rule["verbs"]) <= {"get", "list", "watch"}
            assert not {"secrets", "configmaps", "*"} & set(rule.get("resources", []))
    ksm = pod_spec(obj(oslo, "monitoring-kube-state-metrics-deployment"))["containers"][0]
    (resources,) = [a.removeprefix("--resources=") for a in ksm["args"] if a.startswith("--resources=")]
    granted = {r for rule in next(r for r in roles if r["metadata"]["name"].endswith("kube-state-metrics"))["rules"] for r in rule["resources"]}
    # What it lists is what it may list, and the custom resources its discovery finds.
    assert set(resources.split(",")) | {"customresourcedefinitions", "etcdsnapshotfiles"} == granted


def test_requests_per_node_are_what_the_docs_say(oslo: StackRun) -> None:
    mine = [o for o in kube_objects(oslo) if o["metadata"]["name"] in MONITORING_WORKLOADS]
    per_node, rest = objects.requested(mine)
    doc = (PROJECT_DIR / "docs" / "operations" / "monitoring.md").read_text()
    assert f"every node: {per_node}" in doc
    assert f"the node that runs the rest: {per_node + rest}" in doc
    assert per_node.cpu > 0 and rest.memory > per_node.memory


# --- prometheus.yml -------------------------------------------------------------------------


def loopback_config(config: dict[str, Any], sa_dir: Path, rules_dir: Path) -> str:
    """prometheus.yml as Debian's promtool can read it: its build has no Kubernetes discovery
    (prometheus 2.42+ds), so each kubernetes_sd_configs becomes a static target; the pod's
    ServiceAccount files and the rules directory point at the test's own."""
    config = json.loads(json.dumps(config))
    for job in config["scrape_configs"]:
        if job.pop("kubernetes_sd_configs", None) is not None:
            job["static_configs"] = [{"targets": [f"{LOOPBACK}:1"]}]
    text = yaml.safe_dump(config, sort_keys=False)
    return text.replace(scrape.SA_DIR, str(sa_dir)).replace(scrape.RULES_DIR, str(rules_dir))


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([require("promtool"), *args], capture_output=True, text=True, timeout=60, cwd=cwd)


@pytest.fixture
def sa_dir(tmp_path: Path) -> Path:
    sa = tmp_path / "sa"
    sa.mkdir()
    (sa / "token").write_text("test-token\n")
    shutil.copy("/etc/ssl/certs/ca-certificates.crt", sa / "ca.crt")
    return sa


def write_rules(tmp_path: Path, rule_files: Mapping[str, str]) -> Path:
    rules = tmp_path / "rules"
    rules.mkdir(exist_ok=True)
    for name, text in rule_files.items():
        (rules / name).write_text(text)
    return rules


@pytest.mark.parametrize("name", ["oslo", "bergen"])
def test_the_rendered_prometheus_yml_passes_promtool(name: str, request: pytest.FixtureRequest, sa_dir: Path, tmp_path: Path) -> None:
    run = request.getfixturevalue(name)
    config = prometheus_yml(run)
    rules = write_rules(tmp_path, monitoring.inputs(plan.stack_settings(name)).rule_files)
    (tmp_path / "prometheus.yml").write_text(loopback_config(config, sa_dir, rules))
    result = promtool("check", "config", "prometheus.yml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


def test_promtool_refuses_what_prometheus_would(oslo: StackRun, sa_dir: Path, tmp_path: Path) -> None:
    """The check above can fail: a bad duration or a timeout above the interval is refused."""
    for broken in ({"scrape_interval": "forever"}, {"scrape_interval": "5s", "scrape_timeout": "10s"}):
        config = prometheus_yml(oslo)
        config["global"].update(broken)
        (tmp_path / "bad.yml").write_text(loopback_config(config, sa_dir, write_rules(tmp_path, {})))
        assert promtool("check", "config", "bad.yml", cwd=tmp_path).returncode != 0


def test_a_short_interval_shortens_the_timeout_and_still_passes(sa_dir: Path, tmp_path: Path) -> None:
    config = scrape.prometheus_config(scrape.ScrapeTargets.of(settings_for(stack(monitoringScrapeInterval="5s"))))
    assert config["global"]["scrape_timeout"] == "5s"
    (tmp_path / "p.yml").write_text(loopback_config(config, sa_dir, write_rules(tmp_path, {})))
    assert promtool("check", "config", "p.yml", cwd=tmp_path).returncode == 0


@pytest.mark.parametrize("name", ["oslo", "bergen"])
def test_every_kubernetes_discovery_block_is_one_prometheus_loads(name: str, request: pytest.FixtureRequest) -> None:
    blocks = [sd for job in prometheus_yml(request.getfixturevalue(name))["scrape_configs"] for sd in job.get("kubernetes_sd_configs", [])]
    assert len(blocks) >= 9
    assert all(prometheus_sd.problems(sd) == [] for sd in blocks)


@pytest.mark.parametrize(
    ("sd", "problem"),
    [
        ({"role": "pods"}, "unknown Kubernetes SD role 'pods'"),
        ({}, "role missing"),
        ({"role": "pod", "namespace": {"names": ["x"]}}, "field namespace not found"),
        ({"role": "node", "selectors": [{"role": "pod", "label": "a=b"}]}, "node role supports only node selectors"),
        ({"role": "pod", "authorization": {"credentials_file": "/t"}}, "provide the 'api_server' URL explicitly"),
        ({"role": "pod", "selectors": [{"role": "pod"}, {"role": "pod"}]}, "duplicated selector role"),
    ],
)
def test_the_discovery_check_refuses_what_prometheus_refuses(sd: dict[str, Any], problem: str) -> None:
    assert any(problem in p for p in prometheus_sd.problems(sd))


def test_every_job_the_design_names_is_there(oslo: StackRun, bergen: StackRun) -> None:
    assert [j["job_name"] for j in prometheus_yml(bergen)["scrape_configs"]] == list(scrape.JOBS)
    assert [j["job_name"] for j in prometheus_yml(oslo)["scrape_configs"]] == [j for j in scrape.JOBS if j not in scrape.EDGE_JOBS]


def test_the_kubelet_and_cadvisor_come_through_the_api_server_with_the_pods_token(oslo: StackRun) -> None:
    jobs = {j["job_name"]: j for j in prometheus_yml(oslo)["scrape_configs"]}
    for name, path in (("kubelet", "/metrics"), ("cadvisor", "/metrics/cadvisor")):
        job = jobs[name]
        assert job["scheme"] == "https" and job["authorization"] == {"credentials_file": f"{scrape.SA_DIR}/token"}
        assert job["tls_config"] == {"ca_file": f"{scrape.SA_DIR}/ca.crt"}
        rewrite = next(r for r in job["relabel_configs"] if r.get("target_label") == "__metrics_path__")
        assert rewrite["replacement"] == f"/api/v1/nodes/$1/proxy{path}"
        assert {"source_labels": ["__meta_kubernetes_node_name"], "target_label": "instance"} in job["relabel_configs"]
    etcd = jobs["etcd"]
    assert etcd["kubernetes_sd_configs"][0]["selectors"] == [{"role": "node", "label": "node-role.kubernetes.io/etcd=true"}]
    assert etcd["relabel_configs"][0]["replacement"] == f"$1:{ports.ETCD_METRICS}"


def test_the_plan_is_byte_identical_for_the_same_inputs() -> None:
    settings = settings_for(stack(**EDGE))
    first = yaml.safe_dump(monitoring.all_objects(settings), sort_keys=False)
    assert first == yaml.safe_dump(monitoring.all_objects(settings_for(stack(**EDGE))), sort_keys=False)


# --- a real prometheus ------------------------------------------------------------------------


@contextlib.contextmanager
def prometheus(tmp_path: Path, args: list[str]) -> Iterator[subprocess.Popen[bytes]]:
    log = (tmp_path / "prometheus.log").open("wb")
    process = subprocess.Popen([require("prometheus"), *args], stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        yield process
    finally:
        stop_process(process, timeout=15)
        log.close()


def wait_for(check: Any, timeout: float, process: subprocess.Popen[bytes], log: Path) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"prometheus exited with {process.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        with contextlib.suppress(OSError):
            found = check()
            if found:
                return found
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout} s:\n{log.read_text(errors='replace')[-3000:]}")


def loopback_args(settings: Any, tmp_path: Path, port: int) -> list[str]:
    """The container's own flags (objects.prometheus_args), with the test's paths and 127.0.0.1."""
    args = objects.prometheus_args(settings.monitoring, str(tmp_path), str(tmp_path / "tsdb"))
    return [f"--web.listen-address={LOOPBACK}:{port}" if a.startswith("--web.listen-address=") else a for a in args]


def test_a_real_prometheus_starts_with_the_rendered_flags_and_scrapes_itself(oslo: StackRun, sa_dir: Path, tmp_path: Path) -> None:
    settings = plan.stack_settings("oslo")
    port = free_port()
    config = prometheus_yml(oslo)
    config["global"].update(scrape_interval="1s", scrape_timeout="1s", evaluation_interval="1s")
    config["scrape_configs"] = [{**config["scrape_configs"][0], "static_configs": [{"targets": [f"{LOOPBACK}:{port}"]}]}]
    config.pop("alerting")  # no Alertmanager here
    (tmp_path / objects.PROMETHEUS_FILE).write_text(loopback_config(config, sa_dir, write_rules(tmp_path, monitoring.inputs(settings).rule_files)))
    args = loopback_args(settings, tmp_path, port)
    assert "--storage.tsdb.retention.size=4096MB" in args and "--storage.tsdb.retention.time=15d" in args
    log = tmp_path / "prometheus.log"
    with prometheus(tmp_path, args) as process:
        wait_for(lambda: http_get(port, "/-/ready", timeout=2)[0] == 200, 60, process, log)
        query = "/api/v1/query?" + urllib.parse.urlencode({"query": 'up{job="prometheus"}'})

        def up() -> bool:
            status, body = http_get(port, query, timeout=2)
            result = json.loads(body)["data"]["result"] if status == 200 else []
            return bool(result) and result[0]["value"][1] == "1"

        wait_for(up, 30, process, log)
        status, body = http_get(port, "/api/v1/status/flags", timeout=2)
        flags = json.loads(body)["data"]
        assert flags["storage.tsdb.retention.time"] == "15d" and flags["storage.tsdb.retention.size"] == "4GiB"


def test_a_kubernetes_quantity_as_the_size_would_stop_prometheus(tmp_path: Path, sa_dir: Path) -> None:
    """Why the size is converted: Prometheus reads '4Gi' as no size at all and exits."""
    port = free_port()
    (tmp_path / objects.PROMETHEUS_FILE).write_text(yaml.safe_dump({"global": {"scrape_interval": "1s"}}))
    args = [a if not a.startswith("--storage.tsdb.retention.size=") else "--storage.tsdb.retention.size=4Gi" for a in loopback_args(settings_for(stack()), tmp_path, port)]
    with prometheus(tmp_path, args) as process:
        process.wait(30)
        assert process.returncode != 0


# --- policies -------------------------------------------------------------------------------


def selects(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """A LabelSelector's matchLabels and matchExpressions (In, Exists), as Kubernetes reads them."""
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for e in selector.get("matchExpressions") or []:
        if e["operator"] == "In" and labels.get(e["key"]) not in e["values"]:
            return False
        if e["operator"] == "Exists" and e["key"] not in labels:
            return False
    return True


def admits(policy: Mapping[str, Any], ns: str, labels: Mapping[str, str], port: int, source_ns: str, source: Mapping[str, str]) -> bool:
    """Does this ingress policy admit a pod (source_ns, source) to (ns, labels):port? As
    Kubernetes reads a peer: a podSelector alone means the policy's own namespace."""
    spec = policy["spec"]
    if policy["metadata"]["namespace"] != ns or "Ingress" not in spec["policyTypes"] or not selects(spec["podSelector"], labels):
        return False
    for rule in spec.get("ingress") or []:
        if rule.get("ports") and port not in [p["port"] for p in rule["ports"]]:
            continue
        for peer in rule.get("from") or [{"ipBlock": {"cidr": "0.0.0.0/0"}}]:
            if "ipBlock" in peer:
                return True
            ns_sel, pod_sel = peer.get("namespaceSelector"), peer.get("podSelector")
            ns_ok = selects(ns_sel, {NAMESPACE_LABEL: source_ns}) if ns_sel is not None else source_ns == ns
            if ns_ok and (pod_sel is None or selects(pod_sel, source)):
                return True
    return False


PROMETHEUS_POD = {"app.kubernetes.io/name": "prometheus", "app.kubernetes.io/managed-by": "pulumi"}
# (namespace, pod labels, port) of each pod our Prometheus or an exporter must reach, in bergen.
SCRAPED = [
    ("openfaas", {"app": "gateway"}, ports.GATEWAY_METRICS, "monitoring", PROMETHEUS_POD),
    ("faas-data", {"app.kubernetes.io/name": "nats-exporter"}, ports.NATS_EXPORTER, "monitoring", PROMETHEUS_POD),
    ("faas-data", {"app.kubernetes.io/name": "redis-exporter"}, ports.REDIS_EXPORTER, "monitoring", PROMETHEUS_POD),
    ("faas-data", {"app.kubernetes.io/name": "nats"}, ports.NATS_MONITOR, "faas-data", {"app.kubernetes.io/name": "nats-exporter"}),
    ("faas-data", {"app.kubernetes.io/name": "redis"}, ports.REDIS, "faas-data", {"app.kubernetes.io/name": "redis-exporter"}),
    ("edge", {"app.kubernetes.io/name": "traefik"}, ports.TRAEFIK_METRICS, "monitoring", PROMETHEUS_POD),
    ("monitoring", {"app.kubernetes.io/name": "alertmanager"}, ports.ALERTMANAGER, "monitoring", PROMETHEUS_POD),
    ("monitoring", {"app.kubernetes.io/name": "kube-state-metrics"}, ports.KUBE_STATE_METRICS, "monitoring", PROMETHEUS_POD),
    ("monitoring", {"app.kubernetes.io/name": "prometheus"}, ports.PROMETHEUS, "monitoring", {"app.kubernetes.io/name": "grafana"}),
]


def network_policies(run: StackRun) -> list[dict[str, Any]]:
    return [o for o in kube_objects(run) if o["kind"] == "NetworkPolicy"]


@pytest.mark.parametrize(("ns", "labels", "port", "source_ns", "source"), SCRAPED, ids=[f"{s[0]}/{next(iter(s[1].values()))}:{s[2]}" for s in SCRAPED])
def test_policies_admit_each_scrape(bergen: StackRun, ns: str, labels: dict[str, str], port: int, source_ns: str, source: dict[str, str]) -> None:
    assert any(admits(p, ns, labels, port, source_ns, source) for p in network_policies(bergen))
    # ...and not from another namespace's pods with the same labels (OpenFaaS' own Prometheus).
    assert not any(admits(p, ns, labels, port, "openfaas-fn", source) for p in network_policies(bergen) if p["metadata"]["name"] in OURS)


OURS = {p["metadata"]["name"] for p in policies.ingress_policies(policies.Placement("monitoring", "openfaas", "faas-data", True))}


def too_wide(policy: Mapping[str, Any]) -> list[str]:
    """What an ingress policy of ours admits beyond one namespace's labelled pods on named ports."""
    found = []
    for rule in policy["spec"].get("ingress") or []:
        if not rule.get("ports"):
            found.append("a rule without ports (every port)")
        for peer in rule.get("from") or [None]:
            if peer is None or "ipBlock" in peer:
                found.append("a rule from anywhere")
                continue
            if not (peer.get("namespaceSelector") or {}).get("matchLabels", {}).get(NAMESPACE_LABEL):
                found.append("a peer in every namespace")
            if not (peer.get("podSelector") or {}).get("matchLabels"):
                found.append("every pod of a namespace")
    return found


def test_our_ingress_policies_admit_nothing_wider_than_the_scraper(bergen: StackRun) -> None:
    ours = [p for p in network_policies(bergen) if p["metadata"]["name"] in OURS and p["metadata"]["name"] != "default-deny-ingress"]
    assert len(ours) == len(OURS) - 1
    assert {p["metadata"]["name"]: too_wide(p) for p in ours} == {p["metadata"]["name"]: [] for p in ours}


@pytest.mark.parametrize(
    "peer",
    [
        {"namespaceSelector": {}},  # every namespace
        {"namespaceSelector": {}, "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}}},
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}},  # every pod there
        {"ipBlock": {"cidr": "0.0.0.0/0"}},
    ],
)
def test_the_width_check_catches_a_policy_open_to_more(peer: dict[str, Any]) -> None:
    policy = {"spec": {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{"from": [peer], "ports": [{"protocol": "TCP", "port": 8082}]}]}}
    assert too_wide(policy)
    assert too_wide({"spec": {"ingress": [{"from": [policies.prometheus("monitoring")]}]}}) == ["a rule without ports (every port)"]


def test_with_platform_egress_restricted_prometheus_reaches_the_nodes_by_address_only(bergen: StackRun) -> None:
    egress_policy = obj(bergen, "monitoring-policy-prometheus-egress")
    rules = egress_policy["spec"]["egress"]
    assert all(r.get("ports") for r in rules)  # never every port
    to_hosts = {p["port"]: {peer["ipBlock"]["cidr"] for peer in r["to"]} for r in rules for p in r["ports"] if "ipBlock" in r["to"][0]}
    assert to_hosts[ports.NODE_EXPORTER] == {"10.20.0.11/32", "10.20.0.12/32", "10.20.0.13/32"}  # bergen's private addresses
    assert to_hosts[ports.ETCD_METRICS] == {"10.20.0.11/32", "10.20.0.12/32", "10.20.0.13/32"}  # three servers
    # Traefik's metrics share node-exporter's port number, but only Traefik's pods are named.
    (traefik,) = [r for r in rules if ports.TRAEFIK_METRICS in [p["port"] for p in r["ports"]] and "podSelector" in r["to"][0]]
    assert traefik["to"] == [policies.pods("edge", {"matchLabels": {"app.kubernetes.io/name": "traefik"}})]
    assert all("0.0.0.0/0" != peer.get("ipBlock", {}).get("cidr") for r in rules for peer in r["to"])


def test_node_firewall_and_k3s_open_the_metrics_ports_only_with_monitoring(bergen: StackRun, off: StackRun) -> None:
    def ruleset(run: StackRun, node: str) -> str:
        return unwrap(run.get(f"{node}-firewall").inputs["stdin"])

    def k3s(run: StackRun, node: str) -> dict[str, Any]:
        return yaml.safe_load(unwrap(run.get(f"{node}-k3s-config").inputs["stdin"]))

    assert re.search(r"saddr @nodes_v4 tcp dport \{[^}]*9100, 2381 \}", ruleset(bergen, "bergen-2"))
    assert "9100" not in ruleset(off, "bergen-2") and "2381" not in ruleset(off, "bergen-2")
    assert k3s(bergen, "bergen-1")["etcd-expose-metrics"] is True
    assert "etcd-expose-metrics" not in k3s(off, "bergen-1")


# --- images, secrets, Grafana -------------------------------------------------------------------


def test_every_image_is_pinned_inventoried_and_mirrored_on_tromso(bergen: StackRun) -> None:
    run = run_stack("tromso")  # sovereignStrict: it refuses anything not in the country
    settings = plan.stack_settings("tromso")
    endpoints = plan.egress_endpoints(run, settings)
    for image in IMAGES:
        why = f"image {egress.kubernetes.normalized_image(image)}"
        (row,) = [e for e in endpoints if why in e.why]
        assert row.mirrored and row.via == ("registry.example.no",)
    registered = {w.image for r in run.resources if plan.is_kubernetes_object(r) for w in egress.workloads_of(unwrap(r.inputs))}
    assert set(IMAGES) <= registered
    assert set(IMAGES) <= {w.image for w in egress.workloads(settings)}  # what `pulumi up`'s strict check sees


def test_the_passwords_are_secrets_in_files_never_in_variables_or_arguments(oslo: StackRun) -> None:
    grafana = oslo.get("monitoring-grafana-secret")
    assert is_secret(grafana.inputs["stringData"])
    values = unwrap(grafana.inputs["stringData"])
    assert set(values) == {"admin-password", "secret-key"} and values["admin-password"] != values["secret-key"]
    redis_file = oslo.get("monitoring-redis-exporter-secret")
    assert is_secret(redis_file.inputs["stringData"])
    password = unwrap(oslo.get("redis-auth").inputs["stringData"])["password"]
    assert json.loads(unwrap(redis_file.inputs["stringData"])[REDIS_PASSWORD_FILE]) == {"redis://redis.faas-data.svc.cluster.local:6379": password}
    assert is_secret(oslo.outputs["grafanaAdminPassword"])
    text = json.dumps([unwrap(r.inputs) for r in oslo.resources if r.name.startswith("monitoring-") and "secret" not in r.name])
    assert values["admin-password"] not in text and password not in text
    env = {e["name"]: e.get("value") for e in pod_spec(obj(oslo, "monitoring-grafana-statefulset"))["containers"][0]["env"]}
    assert env["GF_SECURITY_ADMIN_PASSWORD__FILE"] == f"{objects.GRAFANA_SECRET_DIR}/admin-password"
    assert "GF_SECURITY_ADMIN_PASSWORD" not in env


def test_the_password_file_is_what_redis_exporter_reads() -> None:
    text = redis_password_file("pw", redis_urls("faas-data"))
    assert json.loads(text) == {"redis://redis.faas-data.svc.cluster.local:6379": "pw"}
    assert text == redis_password_file("pw", redis_urls("faas-data"))


def phone_home_problems(text: str) -> list[str]:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(text)
    return [f"[{s}] {k}" for (s, k), v in objects.PHONE_HOME_KEYS.items() if not parser.has_option(s, k) or parser.get(s, k) != v]


def test_grafana_phones_nowhere_and_is_published_nowhere(oslo: StackRun) -> None:
    ini = obj(oslo, "monitoring-grafana-config")["data"]["grafana.ini"]
    assert phone_home_problems(ini) == []
    assert phone_home_problems(ini.replace("reporting_enabled = false", "reporting_enabled = true")) == ["[analytics] reporting_enabled"]
    assert phone_home_problems(ini.replace("[news]\nnews_feed_enabled = false\n", "")) == ["[news] news_feed_enabled"]
    assert obj(oslo, "monitoring-grafana-service")["spec"]["type"] == "ClusterIP"
    assert not any(admits(p, "monitoring", {"app.kubernetes.io/name": "grafana"}, ports.GRAFANA, ns, {"app": "x"}) for p in network_policies(oslo) for ns in ("monitoring", "openfaas", "edge"))
    assert "port-forward svc/grafana" in oslo.outputs["grafana"]
    datasources = yaml.safe_load(obj(oslo, "monitoring-grafana-datasources")["data"]["prometheus.yml"])
    assert datasources["datasources"][0]["url"] == "http://prometheus.monitoring.svc.cluster.local:9090"


# --- settings -------------------------------------------------------------------------------


def test_monitoring_off_renders_none_of_it(off: StackRun) -> None:
    assert not [r.name for r in off.resources if r.name.startswith("monitoring") or "exporter" in r.name]
    assert not [o for o in kube_objects(off) if o["metadata"].get("namespace") == "monitoring"]
    assert "grafana" not in off.outputs
    assert monitoring.all_objects(settings_for(stack(monitoring=False))) == {}
    assert not any(w.who.endswith(("prometheus", "grafana")) for w in egress.workloads(settings_for(stack(monitoring=False))))


@pytest.mark.parametrize(
    ("config", "key", "text"),
    [
        (stack(monitoringRetention="forever"), "monitoringRetention", "expected a Prometheus duration"),
        (stack(monitoringRetention="1.5d"), "monitoringRetention", "expected a Prometheus duration"),
        (stack(monitoringRetention="0d"), "monitoringRetention", "expected a Prometheus duration"),
        (stack(monitoringRetentionSize="6Gi"), "monitoringRetentionSize", "must be smaller than monitoringStorage (5Gi)"),
        (stack(monitoringRetentionSize="5Gi"), "monitoringRetentionSize", "must be smaller than monitoringStorage"),
        (stack(monitoringNamespace="faas-data"), "monitoringNamespace", "'faas-data' is also dataNamespace"),
        (stack(monitoringNamespace="openfaas"), "monitoringNamespace", "is also openfaasNamespace"),
        (stack(monitoringNamespace="kube-system"), "monitoringNamespace", ""),
        (stack(monitoringScrapeInterval="30"), "monitoringScrapeInterval", "expected a Prometheus duration"),
        (stack(monitoringPrometheusMemory="512MB"), "monitoringPrometheusMemory", ""),
    ],
)
def test_bad_monitoring_config_is_refused_naming_the_key(config: dict[str, Any], key: str, text: str) -> None:
    with pytest.raises(ConfigError) as caught:
        settings_for(config)
    assert f"{key}:" in str(caught.value) and text in str(caught.value)


def test_a_namespace_clash_is_no_clash_with_monitoring_off() -> None:
    assert settings_for(stack(monitoring=False, monitoringNamespace="faas-data")).monitoring.enabled is False


def test_alertmanager_reaches_only_the_receivers_it_is_given() -> None:
    placement = policies.Placement("monitoring", "openfaas", "faas-data", False)
    restricted = policies.policies.PlatformEgress("openfaas-fn", "faas-data", ("203.0.113.10/32",), 6443)
    nodes = settings_for(stack()).nodes
    names = {p["metadata"]["name"] for p in policies.egress_policies(placement, restricted, nodes)}
    assert "alertmanager-egress" not in names  # the namespace's own policy: DNS and itself only
    (am,) = [p for p in policies.egress_policies(placement, restricted, nodes, [("198.51.100.25/32", (587,))]) if p["metadata"]["name"] == "alertmanager-egress"]
    assert am["spec"]["egress"] == [{"to": [{"ipBlock": {"cidr": "198.51.100.25/32"}}], "ports": [{"protocol": "TCP", "port": 587}]}]


# --- the exporters against real servers ------------------------------------------------------

# The monitoring endpoint each of the NATS exporter's flags reads (nats-io/prometheus-nats-
# exporter v0.20.1: exporter/exporter.go createCollector names, collector/jsz.go the suffix `all` uses).
NATS_ENDPOINTS = {
    "-varz": "/varz",
    "-connz": "/connz",
    "-routez": "/routez",
    "-subz": "/subsz",
    "-healthz": "/healthz",
    "-jsz=all": "/jsz?consumers=true&config=true&raft=true",
}


def test_the_nats_exporters_endpoints_answer_on_a_real_server_with_the_stacks_config(tmp_path: Path) -> None:
    args = nats_exporter_args(["http://nats:8222"])
    flags = [a for a in args if a.startswith("-") and not a.startswith(("-port=", "-use_internal"))]
    assert set(flags) == set(NATS_ENDPOINTS)
    port, monitor = free_port(), free_port()
    with nats_server(tmp_path, loopback_nats_config(tmp_path, port, monitor), port):
        for flag, path in NATS_ENDPOINTS.items():
            status, body = http_get(monitor, path)
            assert status == 200, (flag, body[:200])
            assert isinstance(json.loads(body), dict), flag


def test_the_password_file_authenticates_against_a_real_server(tmp_path: Path) -> None:
    """What redis_exporter reads from its file is the password the stack's redis.conf sets."""
    password = "Exporter0Password1"
    (entry,) = json.loads(redis_password_file(password, redis_urls("faas-data"))).values()
    port = free_port()
    with redis_server(tmp_path, loopback_redis_config(tmp_path, port, password), port):
        assert redis_client.Redis(host=LOOPBACK, port=port, password=entry, socket_timeout=5).ping() is True
        with pytest.raises(redis_client.AuthenticationError):
            redis_client.Redis(host=LOOPBACK, port=port, password=entry + "x", socket_timeout=5).ping()


# --- the wiring between the monitoring stack and the alerting side ---------------------------

SMTP = {"alertEmailTo": ["ops@example.no"], "alertEmailFrom": "alertmanager@example.no", "alertSmarthost": "smtp.example.no:587",
        "alertSmtpUser": "alertmanager", "alertSmtpPassword": {"secure": "smtp-secret-1"}}
HOOKS = {"alertWebhookUrls": ["https://198.51.100.77/alerts", "https://[2001:db8::5]:8443/hook"], "alertWebhookToken": {"secure": "hook-token-1"}}
ALERT_SECRET_KEYS = ("sshPrivateKey", "alertSmtpPassword", "alertWebhookToken")


@pytest.fixture(scope="module")
def receivers() -> StackRun:
    """One node, platformEgress restricted (the default), an e-mail receiver through a named
    smarthost and two webhooks by address, both with their credentials."""
    return run_stack("oslo", stack(**SMTP, **HOOKS))


def file_keys(doc: Any) -> list[str]:
    """Every `*_file` value of alertmanager.yml, wherever it is."""
    if isinstance(doc, dict):
        return [v for k, v in doc.items() if k.endswith("_file") and isinstance(v, str)] + [f for v in doc.values() for f in file_keys(v)]
    return [f for v in doc for f in file_keys(v)] if isinstance(doc, list) else []


def test_alertmanager_reads_its_credentials_from_the_secret_the_component_registers(receivers: StackRun) -> None:
    secret = receivers.get("monitoring-alertmanager-secret")
    assert is_secret(secret.inputs["stringData"])
    meta = unwrap(secret.inputs["metadata"])
    assert (meta["name"], meta["namespace"]) == (objects.ALERTMANAGER_SECRETS, "monitoring")
    values = unwrap(secret.inputs["stringData"])
    assert values == {"smtp-password": "smtp-secret-1", "webhook-token": "hook-token-1"}
    deployment = obj(receivers, "monitoring-alertmanager-deployment")
    pod = pod_spec(deployment)
    (volume,) = [v for v in pod["volumes"] if "secret" in v]
    assert volume["secret"]["secretName"] == unwrap(secret.inputs["metadata"])["name"]
    (mount,) = [m for m in pod["containers"][0]["volumeMounts"] if m["name"] == volume["name"]]
    config = yaml.safe_load(obj(receivers, "monitoring-alertmanager-config")["data"]["alertmanager.yml"])
    files = file_keys(config)
    assert len(files) == 3 and {Path(f).parent.as_posix() for f in files} == {mount["mountPath"]}  # e-mail, two webhooks
    assert {Path(f).name for f in files} == set(values)  # every file it reads is in the Secret, and nothing more
    assert "monitoring-alertmanager-secret" in receivers.get("monitoring-alertmanager-deployment").options["dependsOn"]
    text = json.dumps([unwrap(r.inputs) for r in receivers.resources if r.name != "monitoring-alertmanager-secret"])
    assert "smtp-secret-1" not in text and "hook-token-1" not in text


def test_the_file_check_finds_every_file_key() -> None:
    assert file_keys({"a": [{"auth_password_file": "/x/y"}, {"http_config": {"authorization": {"credentials_file": "/x/z"}}}]}) == ["/x/y", "/x/z"]
    assert file_keys({"url": "https://h/p", "smtp_file": 3}) == []


def test_without_credentials_no_secret_and_the_mount_is_optional(oslo: StackRun) -> None:
    assert not [r for r in oslo.resources if r.name == "monitoring-alertmanager-secret"]
    (volume,) = [v for v in pod_spec(obj(oslo, "monitoring-alertmanager-deployment"))["volumes"] if "secret" in v]
    assert volume["secret"]["optional"] is True  # the pod starts without it
    assert not [d for d in oslo.get("monitoring-alertmanager-deployment").options["dependsOn"] if "secret" in d]
    # A webhook without a token: no credential, no Secret.
    settings = settings_for(stack(alertWebhookUrls=["https://hooks.example.no/a"]))
    assert alertmanager.secret_files(settings) == {}


def test_alertmanager_reaches_each_receiver_on_its_port_only(receivers: StackRun) -> None:
    rules = obj(receivers, "monitoring-policy-alertmanager-egress")["spec"]["egress"]
    got = {(peer["ipBlock"]["cidr"], p["port"]) for r in rules for peer in r["to"] for p in r["ports"]}
    assert got == {("0.0.0.0/0", 587), ("::/0", 587), ("198.51.100.77/32", 443), ("2001:db8::5/128", 8443)}
    warnings = receivers.warnings()
    assert [w for w in warnings if "alert receiver" in w] == [receiver_anywhere_warning([("smtp.example.no", 587)])]


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({}, ()),
        ({"alertWebhookUrls": ["https://hooks.example.no/a"]}, (("0.0.0.0/0", (443,)), ("::/0", (443,)))),
        # Two receivers on one address: one rule, both ports; the same port twice: once.
        ({**SMTP, "alertSmarthost": "198.51.100.25:587", "alertWebhookUrls": ["https://198.51.100.25/a", "https://198.51.100.25/b"]},
         (("198.51.100.25/32", (443, 587)),)),
        ({**SMTP, "alertSmarthost": "[2001:DB8::25]:465"}, (("2001:db8::25/128", (465,)),)),
        # A name that looks like an address is still a name.
        ({"alertWebhookUrls": ["https://198.51.100.25.example.no:9443/a"]}, (("0.0.0.0/0", (9443,)), ("::/0", (9443,)))),
    ],
)
def test_the_destinations_of_each_receiver_shape(config: dict[str, Any], expected: tuple[Any, ...]) -> None:
    settings = settings_for(stack(**config), secret_keys=ALERT_SECRET_KEYS)
    assert alertmanager.destinations(settings.alerting) == expected


def test_the_receiver_name_warning_only_where_it_is_true() -> None:
    def warned(**config: Any) -> list[str]:
        return [w for w in settings_for(stack(**config), secret_keys=ALERT_SECRET_KEYS).warnings if "alert receiver" in w]

    named = {"alertWebhookUrls": ["https://hooks.example.no/a"]}
    assert warned(**named) == [receiver_anywhere_warning([("hooks.example.no", 443)])]
    assert "hooks.example.no (port 443)" in warned(**named)[0]
    assert warned(**named, platformEgress="open") == []  # no policy to narrow
    assert warned(**named, monitoring=False) == []  # no Alertmanager
    assert warned(alertWebhookUrls=["https://198.51.100.77/a"]) == []  # an address is its own peer


def test_the_no_receiver_warning_only_with_monitoring_on() -> None:
    def warned(**config: Any) -> bool:
        return any("no alert receiver configured" in w for w in settings_for(stack(**config)).warnings)

    assert warned() is True
    assert warned(monitoring=False) is False
    assert warned(monitoring=False, alertWebhookUrls=["https://hooks.example.no/a"]) is False


def test_the_rules_platform_namespaces_follow_the_monitoring_namespace() -> None:
    moved = settings_for(stack(monitoringNamespace="observe"))
    assert "observe" in rules.platform_namespaces(moved) and "monitoring" not in rules.platform_namespaces(moved)
    (crash,) = rules.alerts(moved)["platform"]
    assert "observe" in crash.expr


# --- kube-state-metrics' custom resources ----------------------------------------------------


def test_kube_state_metrics_loads_the_snapshot_config_and_may_read_snapshots(oslo: StackRun) -> None:
    deployment = obj(oslo, "monitoring-kube-state-metrics-deployment")
    pod = pod_spec(deployment)
    (container,) = pod["containers"]
    (path,) = [a.removeprefix("--custom-resource-state-config-file=") for a in container["args"] if a.startswith("--custom-resource-state-config-file=")]
    (mount,) = [m for m in container["volumeMounts"] if path.startswith(m["mountPath"] + "/")]
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    config_map = obj(oslo, f"monitoring-{volume['configMap']['name']}")
    assert config_map["data"] == {path.removeprefix(mount["mountPath"] + "/"): rules.ksm_custom_resource_config()}  # exactly the text
    assert "monitoring-kube-state-metrics-config" in oslo.get("monitoring-kube-state-metrics-deployment").options["dependsOn"]
    role = obj(oslo, "monitoring-kube-state-metrics-clusterrole")
    granted = {(g, r) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"] if set(rule["verbs"]) == {"list", "watch"}}
    assert {("k3s.cattle.io", "etcdsnapshotfiles"), ("apiextensions.k8s.io", "customresourcedefinitions")} <= granted
    # Upstream enables a discovered custom resource itself; --resources names built-in stores only.
    (resources,) = [a for a in container["args"] if a.startswith("--resources=")]
    assert "etcdsnapshotfiles" not in resources


def ksm_metric_names(config_text: str) -> set[str]:
    """The metric names kube-state-metrics makes of a custom-resource-state config
    (pkg/customresourcestate/registry_factory.go fullName: metricNamePrefix, `_`, name)."""
    doc = yaml.safe_load(config_text)
    return {
        "_".join(p for p in (resource.get("metricNamePrefix", "kube_customresource"), metric["name"]) if p)
        for resource in doc["spec"]["resources"]
        for metric in resource["metrics"]
    }


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects: identifiers followed by `{` (our rules always
    select with labels), not functions or keywords."""
    return set(re.findall(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\{", expr))


def snapshot_problems(expr: str, config_text: str) -> list[str]:
    wanted = {m for m in metric_names(expr) if m.startswith("k3s_")}
    made = ksm_metric_names(config_text)
    return sorted(wanted - made) or ([] if wanted else ["the rule selects no k3s_ metric"])


def test_etcd_snapshot_rule_selects_what_kube_state_metrics_makes() -> None:
    settings = settings_for(stack())
    (alert,) = [a for a in rules.alerts(settings)["backups"] if a.name == "EtcdSnapshotTooOld"]
    config = rules.ksm_custom_resource_config()
    assert snapshot_problems(alert.expr, config) == []
    assert len({m for m in metric_names(alert.expr) if m.startswith("k3s_")}) == 2
    # Either side renamed: the check says which name is missing.
    renamed = config.replace(f"metricNamePrefix: {rules.SNAPSHOT_PREFIX}", "metricNamePrefix: k3s_etcd_snapshot")
    assert snapshot_problems(alert.expr, renamed) == sorted({rules.SNAPSHOT_CREATED, rules.SNAPSHOT_READY})
    assert snapshot_problems(alert.expr.replace("_ready", "_is_ready"), config) == [f"{rules.SNAPSHOT_PREFIX}_is_ready"]
    assert snapshot_problems("time() - 1 > 0", config) == ["the rule selects no k3s_ metric"]


# --- what the rules and dashboards select is what is scraped ---------------------------------

JOB_SELECTOR = re.compile(r'\bjob\s*(=~|=)\s*"([^"]*)"')


def selected_jobs(expr: str) -> set[str]:
    """The `job` values an expression selects: `job="x"`, and each alternative of `job=~"x|y"`."""
    return {name for op, value in JOB_SELECTOR.findall(expr) for name in (value.split("|") if op == "=~" else [value])}


def strings_of(doc: Any) -> list[str]:
    if isinstance(doc, dict):
        return [s for v in doc.values() for s in strings_of(v)]
    if isinstance(doc, list):
        return [s for v in doc for s in strings_of(v)]
    return [doc] if isinstance(doc, str) else []


def rule_exprs(settings: Any) -> dict[str, str]:
    return {a.name: a.expr for group in rules.alerts(settings).values() for a in group}


def dashboard_exprs(settings: Any) -> list[str]:
    return [s for text in dashboards.dashboards(settings).values() for s in strings_of(json.loads(text)) if "job" in s]


def scraped_jobs(run: StackRun) -> set[str]:
    return {job["job_name"] for job in prometheus_yml(run)["scrape_configs"]}


def job_problems(exprs: Mapping[str, str], scraped: set[str]) -> list[str]:
    """What a stack without some jobs gets wrong: a rule that selects an unscraped job and
    would fire because of its absence (absent(), or `unless` a series that never comes)."""
    problems = []
    for name, expr in exprs.items():
        missing = selected_jobs(expr) - scraped
        if missing and re.search(r"\babsent(_over_time)?\s*\(|\bunless\b", expr):
            problems.append(f"{name} selects {sorted(missing)}, which this stack does not scrape, and fires on absence")
    return problems


def test_every_job_the_rules_and_dashboards_select_is_scraped_where_it_should_be(oslo: StackRun, bergen: StackRun) -> None:
    settings = {"oslo": oslo.settings, "bergen": bergen.settings}
    selected = {
        stack_name: set().union(*map(selected_jobs, rule_exprs(s).values()), *map(selected_jobs, dashboard_exprs(s)))
        for stack_name, s in settings.items()
    }
    assert {"node", "kube-state-metrics", "nats", "valkey", "openfaas-gateway", "traefik", "cert-manager", "apiserver"} <= selected["bergen"]
    # bergen has it all: the edge, three etcd members.
    assert selected["bergen"] - scraped_jobs(bergen) == set()
    assert set(scrape.EDGE_JOBS) <= scraped_jobs(bergen)
    # oslo has no edge: what it selects and does not scrape is the edge's, and never fires on absence.
    assert selected["oslo"] - scraped_jobs(oslo) == set(scrape.EDGE_JOBS)
    assert job_problems(rule_exprs(oslo.settings), scraped_jobs(oslo)) == []
    assert job_problems(rule_exprs(bergen.settings), scraped_jobs(bergen)) == []


def test_the_job_check_catches_a_rule_that_fires_on_a_missing_job() -> None:
    assert selected_jobs('up{job=~"traefik|cert-manager"} or x{job = "node"}') == {"traefik", "cert-manager", "node"}
    assert selected_jobs('up{instance="job=\\"x\\""}') == set()
    scraped = {"node", "valkey"}
    assert job_problems({"A": 'absent(up{job="traefik"})'}, scraped) == ["A selects ['traefik'], which this stack does not scrape, and fires on absence"]
    assert job_problems({"B": 'x{job="node"} unless on () y{job="cert-manager"}'}, scraped) != []
    assert job_problems({"C": 'min(z{job="traefik"}) < 3'}, scraped) == []  # empty: quiet
    assert job_problems({"D": 'absent(redis_instance_info{job="valkey"})'}, scraped) == []  # scraped: absence is news


# The exporter flag each metric family needs (nats-io/prometheus-nats-exporter v0.20.1:
# exporter/exporter.go createCollector per flag, collector.CoreSystem "gnatsd" and
# JetStreamSystem "jetstream"; collector/jsz.go: consumer metrics only from /jsz?consumers=true,
# which -jsz=consumer(s) or all asks, stream metrics also from -jsz=stream(s)).
NATS_FAMILIES = {
    "jetstream_consumer_": {"-jsz=all", "-jsz=consumers", "-jsz=consumer"},
    "jetstream_stream_": {"-jsz=all", "-jsz=consumers", "-jsz=consumer", "-jsz=streams", "-jsz=stream"},
    "jetstream_server_": {"-jsz=all", "-jsz=consumers", "-jsz=consumer", "-jsz=streams", "-jsz=stream", "-jsz=accounts", "-jsz=account"},
    "gnatsd_varz_": {"-varz"},
    "gnatsd_connz_": {"-connz"},
    "gnatsd_routez_": {"-routez"},
    "gnatsd_subsz_": {"-subz"},
    "gnatsd_healthz_": {"-healthz"},
}
# redis_exporter's metrics the rules and dashboards may use without a flag: every INFO field it
# maps by default (oliver006/redis_exporter v1.88.0 exporter/exporter.go metricMapGauges,
# metricMapCounters: used_memory, maxmemory, connected_slaves, keyspace_hits/misses; `up`;
# exporter/info.go: instance_info, master_link_up on replicas).
REDIS_DEFAULT = {
    "redis_up", "redis_instance_info", "redis_master_link_up", "redis_connected_slaves", "redis_memory_used_bytes",
    "redis_memory_max_bytes", "redis_keyspace_hits_total", "redis_keyspace_misses_total",
}


def exporter_problems(exprs: list[str], nats_args: list[str]) -> list[str]:
    used = set().union(*map(metric_names, exprs)) if exprs else set()
    problems = []
    for metric in sorted(m for m in used if m.startswith(("jetstream_", "gnatsd_"))):
        needs = next((flags for prefix, flags in NATS_FAMILIES.items() if metric.startswith(prefix)), None)
        if needs is None or not needs & set(nats_args):
            problems.append(f"{metric}: no flag of nats-exporter's {sorted(needs or ['(unknown family)'])} is given")
    problems += [f"{m}: not a metric redis_exporter exports by default" for m in sorted(m for m in used if m.startswith("redis_")) if m not in REDIS_DEFAULT]
    return problems


def test_the_exporter_metrics_the_rules_and_dashboards_use_are_enabled(bergen: StackRun) -> None:
    exprs = [*rule_exprs(bergen.settings).values(), *dashboard_exprs(bergen.settings)]
    assert {m for e in exprs for m in metric_names(e) if m.startswith("jetstream_consumer_")}  # the check has something to check
    args = pod_spec(obj(bergen, "monitoring-nats-exporter"))["containers"][0]["args"]
    assert exporter_problems(exprs, args) == []
    without_consumers = [a.replace("-jsz=all", "-jsz=streams") for a in args]
    assert [p for p in exporter_problems(exprs, without_consumers) if p.startswith("jetstream_consumer_")]
    assert exporter_problems(['gnatsd_varz_mem{job="nats"}'], [a for a in args if a != "-varz"]) != []
    assert exporter_problems(['redis_latency_percentiles_usec{job="valkey"}'], args) != []


# --- every data replica is scraped -----------------------------------------------------------


def exporter_args(run: StackRun, name: str) -> list[str]:
    return pod_spec(obj(run, f"monitoring-{name}"))["containers"][0]["args"]


def valkey_job(run: StackRun) -> dict[str, Any]:
    (job,) = [j for j in prometheus_yml(run)["scrape_configs"] if j["job_name"] == "valkey"]
    return job


def test_one_replica_renders_as_before(oslo: StackRun) -> None:
    assert oslo.settings.data_replicas == 1
    assert exporter_args(oslo, "nats-exporter") == [
        "-port=7777", "-varz", "-jsz=all", "-connz", "-routez", "-subz", "-healthz", "-use_internal_server_name",
        "http://nats.faas-data.svc.cluster.local:8222",
    ]
    assert exporter_args(oslo, "redis-exporter")[0] == "--redis.addr=redis://redis.faas-data.svc.cluster.local:6379"
    assert valkey_job(oslo) == scrape.pod_job("valkey", "faas-data", {"app.kubernetes.io/name": "redis-exporter"}, "metrics")
    assert not [r for r in oslo.resources if r.name == "monitoring-redis-exporter-service"]


def test_replicated_the_nats_exporter_reads_every_server_by_its_pod(bergen: StackRun) -> None:
    replicas = bergen.settings.data_replicas
    assert replicas == 3
    args = exporter_args(bergen, "nats-exporter")
    servers = [a for a in args if not a.startswith("-")]
    assert "-use_internal_server_name" not in args  # main.go ignores it with several URLs
    # Each `id,url`: the id is the pod's name, the host its name under the StatefulSet's headless Service.
    statefulset = obj(bergen, "nats-statefulset")
    headless = obj(bergen, "nats-headless")
    assert statefulset["spec"]["serviceName"] == headless["metadata"]["name"] and headless["spec"]["clusterIP"] == "None"
    pods = [f"{statefulset['metadata']['name']}-{i}" for i in range(statefulset["spec"]["replicas"])]
    assert servers == [f"{pod},http://{pod}.{headless['metadata']['name']}.faas-data.svc.cluster.local:{ports.NATS_MONITOR}" for pod in pods]
    monitor = {p["name"]: p["containerPort"] for p in pod_spec(statefulset)["containers"][0]["ports"]}
    assert ports.NATS_MONITOR in monitor.values()


def test_replicated_redis_exporter_scrapes_every_pod_with_its_password(bergen: StackRun) -> None:
    args = exporter_args(bergen, "redis-exporter")
    assert args[0] == "--redis.addr="  # multi-target: no instance of its own at /metrics
    job = valkey_job(bergen)
    assert job["metrics_path"] == "/scrape"
    (targets,) = [c["targets"] for c in job["static_configs"]]
    assert targets == [f"redis://redis-{i}.redis-headless.faas-data.svc.cluster.local:6379" for i in range(3)]
    password_file = json.loads(unwrap(bergen.get("monitoring-redis-exporter-secret").inputs["stringData"])[REDIS_PASSWORD_FILE])
    assert sorted(password_file) == targets  # exporter/http.go looks the target's URI up in it
    # The address Prometheus asks is the exporter's Service, which selects the exporter's pod on its port.
    service = obj(bergen, "monitoring-redis-exporter-service")
    deployment = obj(bergen, "monitoring-redis-exporter")
    (address,) = [r["replacement"] for r in job["relabel_configs"] if r.get("target_label") == "__address__"]
    assert address == f"{service['metadata']['name']}.{service['metadata']['namespace']}.svc.cluster.local:{service['spec']['ports'][0]['port']}"
    assert service["spec"]["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    assert service["spec"]["ports"][0]["targetPort"] in {p["name"] for p in pod_spec(deployment)["containers"][0]["ports"]}
    assert "monitoring-redis-exporter-secret" in bergen.get("monitoring-redis-exporter").options["dependsOn"]


@contextlib.contextmanager
def fake_redis_exporter(port: int, asked: list[str]) -> Iterator[None]:
    """redis_exporter's /scrape endpoint as exporter/http.go answers it: the `target` parameter,
    one instance's metrics. Records what it was asked."""
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            (target,) = urllib.parse.parse_qs(url.query).get("target", [""])
            asked.append(target)
            body = b"redis_up 1\n" if url.path == "/scrape" and target else b""
            self.send_response(200 if body else 400)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer((LOOPBACK, port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def test_a_real_prometheus_asks_the_exporter_for_each_valkey_pod(bergen: StackRun, tmp_path: Path) -> None:
    """The rendered valkey job's relabelling, run by Debian's prometheus: one target per pod,
    asked of the exporter's address, each series labelled with its pod's URI as `instance`."""
    settings = plan.stack_settings("oslo")
    port, exporter = free_port(), free_port()
    job = valkey_job(bergen)
    job["relabel_configs"] = [
        {**r, "replacement": f"{LOOPBACK}:{exporter}"} if r.get("target_label") == "__address__" else r for r in job["relabel_configs"]
    ]
    config = {"global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"}, "scrape_configs": [job]}
    (tmp_path / objects.PROMETHEUS_FILE).write_text(yaml.safe_dump(config))
    asked: list[str] = []
    log = tmp_path / "prometheus.log"
    with fake_redis_exporter(exporter, asked), prometheus(tmp_path, loopback_args(settings, tmp_path, port)) as process:
        query = "/api/v1/query?" + urllib.parse.urlencode({"query": 'redis_up{job="valkey"}'})

        def series() -> list[dict[str, Any]]:
            status, body = http_get(port, query, timeout=2)
            result = json.loads(body)["data"]["result"] if status == 200 else []
            return result if len(result) == 3 else []

        found = wait_for(series, 60, process, log)
    targets = valkey_job(bergen)["static_configs"][0]["targets"]
    assert sorted(s["metric"]["instance"] for s in found) == targets
    assert sorted(s["metric"]["pod"] for s in found) == ["redis-0", "redis-1", "redis-2"]
    assert {s["metric"]["namespace"] for s in found} == {"faas-data"}
    assert set(asked) == set(targets)


def test_receiver_endpoints_read_urls_as_the_render_layer_does() -> None:
    from render.addresses import url_host_port

    urls = ["https://hooks.example.no/a", "https://hooks.example.no:8443/b", "https://[2001:db8::5]/c", "https://198.51.100.7:9/d"]
    alerting = settings_for(stack(alertWebhookUrls=urls)).alerting
    assert list(alerting.receiver_endpoints) == [url_host_port(u) for u in urls]
    two = receiver_anywhere_warning([("a.example.no", 587), ("b.example.no", 443)])
    assert two.startswith("alert receivers a.example.no (port 587), b.example.no (port 443) are names:")

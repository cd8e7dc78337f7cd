"""Checks of the cluster itself: nodes, platform pods, etcd snapshots, data backups, and the
nodes' egress drop counters."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from render.node.firewall import DROP_COUNTER, DROP_LOG_PREFIX, TABLE
from settings import outputs as out
from settings.backups import BackupsSettings
from settings.host import HostSettings
from tools.checking.clients import Clients, NotFound, reason
from tools.checking.rows import FAIL, OK, SKIP, UTC, Row
from tools.checking.schedules import schedule_interval
from tools.checking.stack import Stack

BACKUP_CRONJOBS = ("valkey-backup", "nats-backup")  # issue 19's CronJobs in the data namespace


def nodes(stack: Stack, c: Clients) -> list[Row]:
    version = str(stack.outputs.get(out.K3S_VERSION, ""))
    found = {n["metadata"]["name"]: n for n in c.kube.get("/api/v1/nodes").get("items", [])}
    rows = []
    for name in sorted(set(found) | set(stack.outputs.get(out.NODES) or {})):
        node = found.get(name)
        if node is None:
            rows.append(Row("node", name, FAIL, "in the stack's outputs, not in the cluster"))
            continue
        ready = next((x for x in node.get("status", {}).get("conditions", []) if x.get("type") == "Ready"), {})
        kubelet = node.get("status", {}).get("nodeInfo", {}).get("kubeletVersion", "?")
        problems = []
        if ready.get("status") != "True":
            problems.append(f"not Ready ({ready.get('reason') or ready.get('status', 'no Ready condition')})")
        if version and kubelet != version:
            problems.append(f"runs {kubelet}, the stack pins {version}")
        rows.append(Row("node", name, FAIL if problems else OK, "; ".join(problems) or f"Ready, {kubelet}"))
    return rows or [Row("node", "-", FAIL, "the cluster lists no nodes")]


def _pod_ready(pod: Mapping[str, Any]) -> bool:
    status = pod.get("status", {})
    if status.get("phase") == "Succeeded":  # a finished Job's pod (a backup run)
        return True
    conditions = {x.get("type"): x.get("status") for x in status.get("conditions", [])}
    return status.get("phase") == "Running" and conditions.get("Ready") == "True"


def _failed_job(pod: Mapping[str, Any]) -> bool:
    """A failed run of a Job (a backup CronJob keeps a few): its CronJob's row tells, not pods'."""
    owners = pod.get("metadata", {}).get("ownerReferences", [])
    return pod.get("status", {}).get("phase") == "Failed" and any(o.get("kind") == "Job" for o in owners)


def _pod_problem(pod: Mapping[str, Any]) -> str:
    status = pod.get("status", {})
    for cs in status.get("containerStatuses", []):
        waiting = cs.get("state", {}).get("waiting")
        if waiting:
            return f"{pod['metadata']['name']} {waiting.get('reason', 'waiting')}"
        if not cs.get("ready"):
            return f"{pod['metadata']['name']} container {cs.get('name')} not ready (restarts {cs.get('restartCount', 0)})"
    return f"{pod['metadata']['name']} {status.get('phase', 'unknown')}"


def pods(stack: Stack, c: Clients) -> list[Row]:
    rows = []
    for ns in stack.platform_namespaces:
        try:
            c.kube.get(f"/api/v1/namespaces/{ns}")
        except NotFound:
            rows.append(Row("pods", ns, SKIP, "namespace not deployed"))
            continue
        items = [p for p in c.kube.get(f"/api/v1/namespaces/{ns}/pods").get("items", []) if not _failed_job(p)]
        bad = [p for p in items if not _pod_ready(p)]
        if not items:
            rows.append(Row("pods", ns, SKIP if ns == stack.function_namespace else FAIL, "no pods"))
        elif bad:
            rows.append(
                Row(
                    "pods",
                    ns,
                    FAIL,
                    f"{len(items) - len(bad)}/{len(items)} ready: " + ", ".join(_pod_problem(p) for p in bad[:3]),
                )
            )
        else:
            rows.append(Row("pods", ns, OK, f"{len(items)}/{len(items)} ready"))
    return rows


def parse_time(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def span(delta: dt.timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} days"


def etcd_snapshots(stack: Stack, c: Clients) -> list[Row]:
    """The newest ETCDSnapshotFile (k3s.cattle.io/v1, cluster-scoped; k3s
    pkg/apis/k3s.cattle.io/v1/types.go: status.creationTime, status.readyToUse) younger than
    twice the schedule's longest gap (the alert's rule)."""
    schedule = str(stack.setting(BackupsSettings, "schedule"))
    limit = 2 * schedule_interval(schedule)
    try:
        items = c.kube.get("/apis/k3s.cattle.io/v1/etcdsnapshotfiles").get("items", [])
    except NotFound:
        return [Row("etcd snapshot", "-", FAIL, "no ETCDSnapshotFile kind: is the cluster on embedded etcd?")]
    ready = [s for s in items if s.get("status", {}).get("readyToUse") and s.get("status", {}).get("creationTime")]
    if not ready:
        return [Row("etcd snapshot", "-", FAIL, f"no usable snapshot yet ({len(items)} listed; schedule {schedule})")]
    newest = max(ready, key=lambda s: s["status"]["creationTime"])
    age = c.now() - parse_time(newest["status"]["creationTime"])
    where = newest.get("spec", {}).get("nodeName", "?")
    detail = f"newest {span(age)} old on {where} ({newest.get('spec', {}).get('location', '').split('://')[0] or '?'}), limit {span(limit)} (2 x {schedule})"
    return [Row("etcd snapshot", newest["metadata"]["name"], OK if age <= limit else FAIL, detail)]


def data_backups(stack: Stack, c: Clients) -> list[Row]:
    rows = []
    for name in BACKUP_CRONJOBS:
        try:
            job = c.kube.get(f"/apis/batch/v1/namespaces/{stack.data_namespace}/cronjobs/{name}")
        except NotFound:
            rows.append(Row("backup", name, SKIP, "not deployed"))
            continue
        schedule = job.get("spec", {}).get("schedule", "")
        last = job.get("status", {}).get("lastSuccessfulTime")
        limit = 2 * schedule_interval(schedule)
        if not last:
            rows.append(Row("backup", name, FAIL, f"never succeeded (schedule {schedule})"))
            continue
        age = c.now() - parse_time(last)
        rows.append(
            Row(
                "backup",
                name,
                OK if age <= limit else FAIL,
                f"last success {span(age)} ago, limit {span(limit)} (2 x {schedule})",
            )
        )
    return rows


def egress_drops(stack: Stack, c: Clients) -> list[Row]:
    """The nft counter the nodes' output policy counts refused packets in (render/node/firewall.py),
    read with `nft -j list counter` over SSH: nothing in the cluster can read the host's nftables
    without a privileged pod, which a read-only check should not start."""
    if str(stack.setting(HostSettings, "node_egress")) != "restricted":
        return [Row("egress drops", "nodes", SKIP, "nodeEgress is open: no output policy, no counter")]
    if c.shell is None:
        return [
            Row(
                "egress drops",
                "nodes",
                SKIP,
                "needs SSH to the nodes: run with --ssh (reads sshPrivateKey from the stack's config)",
            )
        ]
    rows = []
    for node in sorted(stack.outputs.get(out.NODES) or {}):
        try:
            text = c.shell.run(node, f"nft -j list counter inet {TABLE} {DROP_COUNTER}")
            counter = next(x["counter"] for x in json.loads(text)["nftables"] if "counter" in x)
        except Exception as err:  # noqa: BLE001 - one node's failure is its row
            rows.append(Row("egress drops", node, FAIL, reason(err)))
            continue
        packets = int(counter.get("packets", 0))
        detail = f"{packets} packets refused since the table was applied" + (
            f" (journal: '{DROP_LOG_PREFIX.strip()}')" if packets else ""
        )
        rows.append(Row("egress drops", node, OK if packets == 0 else FAIL, detail))
    return rows

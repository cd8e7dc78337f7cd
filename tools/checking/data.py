"""Valkey and NATS seen from the function namespace, and a topic event delivered: a throw-away
probe pod running probe.sh."""

from __future__ import annotations

import datetime as dt
import re
import time
from pathlib import Path
from typing import Any

from tools.checking.clients import Clients, NoProbe, wait_for_log
from tools.checking.rows import FAIL, OK, SKIP, Row
from tools.checking.stack import Stack

PROBE_SCRIPT = Path(__file__).with_name("probe.sh")


def _topics(stack: Stack, c: Clients) -> dict[str, list[str]]:
    """topic -> functions, from the function Deployments' pod-template `topic` annotations (what
    the nats-connector reads)."""
    found: dict[str, list[str]] = {}
    for d in c.kube.get(f"/apis/apps/v1/namespaces/{stack.function_namespace}/deployments").get("items", []):
        topic = d["spec"]["template"].get("metadata", {}).get("annotations", {}).get("topic")
        if topic and topic != "cron-function":
            for t in topic.split(","):
                found.setdefault(t.strip(), []).append(d["metadata"]["name"])
    return dict(sorted(found.items()))


def probe_pod(stack: Stack, c: Clients, topic: str | None) -> dict[str, Any]:
    """A pod in the function namespace like a function's: the live Valkey StatefulSet's image
    (mirrored as deployed, and already on a node) and security contexts, the functions' Secrets
    mounted, no service account token."""
    sts = c.kube.get(f"/apis/apps/v1/namespaces/{stack.data_namespace}/statefulsets/redis")["spec"]["template"]["spec"]
    server = sts["containers"][0]
    data = stack.data_namespace
    env = {
        "REDIS_HOST": f"redis.{data}.svc.cluster.local",
        "REDIS_PORT": "6379",
        "NATS_HOST": f"nats.{data}.svc.cluster.local",
        "NATS_PORT": "4222",
    }
    if topic:
        env["TOPIC"] = topic
    name = f"sovereign-faas-check-{int(time.time())}"
    secrets = [{"secret": {"name": s}} for s in ("redis-password", "nats-credentials")]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/name": "sovereign-faas-check"}},
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "securityContext": sts.get("securityContext", {}),
            "containers": [{
                "name": name,
                "image": server["image"],
                "env": [{"name": k, "value": v} for k, v in env.items()],
                "securityContext": server.get("securityContext", {}),
                "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "100m", "memory": "32Mi"}},
                "volumeMounts": [{"name": "secrets", "mountPath": "/var/openfaas/secrets", "readOnly": True}],
            }],
            "volumes": [{"name": "secrets", "projected": {"sources": secrets, "defaultMode": 0o440}}],
        },
    }  # fmt: skip


def data_services(stack: Stack, c: Clients) -> list[Row]:
    """Valkey PING and NATS CONNECT/PING from a pod in the function namespace (probe.sh),
    and, when a function subscribes to a topic, an empty message published there; delivered when
    the nats-connector logs a result for it (connector-sdk ResponsePrinter: `connector-sdk got
    result: [<status>] <topic> => <function>`)."""
    topics = _topics(stack, c)
    topic = next(iter(topics), None)
    since = c.now() - dt.timedelta(seconds=5)
    try:
        output = c.kube.probe(stack.function_namespace, probe_pod(stack, c, topic), PROBE_SCRIPT.read_text())
    except NoProbe as err:
        return [Row(check, "-", SKIP, f"no probe pod: {err}") for check in ("valkey", "nats", "topic")]
    replies = dict(line.split(": ", 1) for line in output.splitlines() if ": " in line)
    valkey, nats_reply = replies.get("valkey", "no answer from the probe"), replies.get("nats", "no answer from the probe")
    data = stack.data_namespace
    # A PONG at the end: connected and authenticated (a refused login is closed before any PONG).
    rows = [
        Row("valkey", f"redis.{data}:6379", OK if valkey == "PONG" else FAIL, f"from {stack.function_namespace}: {valkey}"),
        Row(
            "nats",
            f"nats.{data}:4222",
            OK if nats_reply.endswith("PONG") else FAIL,
            f"from {stack.function_namespace}: {nats_reply}",
        ),
    ]
    if topic is None:
        rows.append(Row("topic", "-", SKIP, "no function subscribes to a topic"))
    elif rows[-1].status != OK or "Violation" in nats_reply:
        rows.append(Row("topic", topic, FAIL, f"not published: {nats_reply}"))
    else:
        pattern = re.compile(rf"got result: \[\d+\] {re.escape(topic)} => ")
        line = wait_for_log(c, stack.openfaas_namespace, "app=nats-connector", since, pattern)
        detail = (
            f"published (empty), connector: {line.split('got result: ', 1)[1]}"
            if line
            else f"published, but the nats-connector logged no result within {c.poll:.0f} s"
        )
        rows.append(Row("topic", topic, OK if line else FAIL, detail))
    return rows

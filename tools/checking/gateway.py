"""Checks through the OpenFaaS gateway: health, each function ready and answering, an async call."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re

from settings import outputs as out
from tools.checking.clients import Clients, first_line, wait_for_log
from tools.checking.rows import FAIL, OK, SKIP, Row
from tools.checking.stack import Stack


def health(stack: Stack, c: Clients) -> list[Row]:
    url = f"{stack.outputs[out.GATEWAY_URL]}/healthz"
    resp = c.http.request("GET", url)
    return [
        Row(
            "gateway",
            url,
            OK if resp.status == 200 else FAIL,
            f"HTTP {resp.status}" + ("" if resp.status == 200 else f": {first_line(resp.body)}"),
        )
    ]


def _basic_auth(stack: Stack) -> dict[str, str]:
    token = base64.b64encode(f"admin:{stack.outputs.get(out.ADMIN_PASSWORD, '')}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def functions(stack: Stack, c: Clients) -> list[Row]:
    """Ready: the gateway's GET /system/functions (faas-provider types.FunctionStatus:
    `replicas` wanted, `availableReplicas` ready). Answering: GET <url>/_/health, which the
    watchdog (classic and of-watchdog) answers itself: the handler never runs."""
    if not stack.functions:
        return [Row("function", "-", SKIP, "the stack deploys no functions")]
    resp = c.http.request("GET", f"{stack.outputs[out.GATEWAY_URL]}/system/functions", headers=_basic_auth(stack))
    if resp.status != 200:
        return [Row("function", "/system/functions", FAIL, f"HTTP {resp.status}: {first_line(resp.body)}")]
    listed = {f["name"]: f for f in json.loads(resp.body)}
    rows = []
    for name, url in stack.functions.items():
        status = listed.get(name)
        if status is None:
            rows.append(Row("function", name, FAIL, "not listed by the gateway (/system/functions)"))
            continue
        available, wanted = int(status.get("availableReplicas", 0)), int(status.get("replicas", 0))
        answer = c.http.request("GET", f"{url}/_/health")
        problems = [f"{available}/{wanted} replicas available"] if available < 1 else []
        if answer.status != 200:
            problems.append(f"GET /_/health: HTTP {answer.status}")
        rows.append(
            Row(
                "function", name, FAIL if problems else OK, "; ".join(problems) or f"{available}/{wanted} replicas, /_/health 200"
            )
        )
    return rows


def async_call(stack: Stack, c: Clients) -> list[Row]:
    """POST /async-function/<fn>/_/health, empty body: the gateway queues it (202, X-Call-Id) with
    the path after the name (gateway/handlers FunctionPrefixTrimmingURLPathTransformer: `/_/health`)
    and the queue-worker POSTs it to the function's /_/health, which the watchdog answers itself
    (of-watchdog: 405 to a POST) without running the handler. Delivered: the queue-worker logs the call (nats-queue-worker
    main.go logs each message received, its X-Call-Id header included)."""
    if not stack.functions:
        return [Row("async", "-", SKIP, "the stack deploys no functions")]
    name = next(iter(stack.functions))
    since = c.now() - dt.timedelta(seconds=5)
    resp = c.http.request("POST", f"{stack.outputs[out.GATEWAY_URL]}/async-function/{name}/_/health", body=b"")
    call_id = resp.headers.get("x-call-id", "")
    if resp.status != 202 or not call_id:
        return [Row("async", name, FAIL, f"HTTP {resp.status}, X-Call-Id {call_id or 'missing'}: {first_line(resp.body)}")]
    line = wait_for_log(c, stack.openfaas_namespace, "app=queue-worker", since, re.compile(re.escape(call_id)))
    if line is None:
        return [Row("async", name, FAIL, f"queued ({call_id}) but no queue-worker log names it within {c.poll:.0f} s")]
    return [Row("async", name, OK, f"queued and taken by the queue-worker ({call_id})")]

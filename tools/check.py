"""`make check STACK=<name>`: an operator's read-only check of a live deployment.

Reads the stack's outputs (`pulumi stack output --json --show-secrets`, names in
settings/outputs.py) and its stack file (namespaces, schedules), then asks the cluster through
small clients (docs/operations/check.md lists every check and what it sends):

- `Kube`: the Kubernetes API, read-only (GET of API paths, pod logs) plus one throw-away probe
  pod in the function namespace. `Kubectl` runs kubectl with the stack's kubeconfig (a 0600
  temporary file, deleted afterwards); `ApiServer` speaks HTTP to an API address such as
  `kubectl proxy`'s (the tests' fake API server too).
- `Http`: the gateway (GET /healthz, GET /system/functions with basic auth, GET
  <function>/_/health, one POST to /async-function/<fn>/_/health).
- `NodeShell`: SSH to the nodes, only with --ssh (the nft drop counter needs the host).

Every check is a function from these clients to rows (check, target, status, detail); an
exception in one becomes a FAIL row, never a traceback. Every call has a timeout, and the whole
run a deadline. Exit codes: 0 all OK or SKIP, 1 something failed (the last line names it),
2 no cluster to check (one line: no outputs, no pulumi CLI, API unreachable).
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from settings import outputs as out
from tools.checking import certificates, cluster, data, gateway
from tools.checking.clients import ApiServer, Clients, Deadline, Http, Kube, Kubectl, NodeShell, NoShell, Ssh, Unreachable, reason
from tools.checking.rows import FAIL, Row, table, verdict
from tools.checking.stack import Stack, parse_outputs, read_stack_file, ssh_key, stack_outputs

CHECKS: tuple[tuple[str, Callable[[Stack, Clients], list[Row]]], ...] = (
    ("node", cluster.nodes),
    ("pods", cluster.pods),
    ("gateway", gateway.health),
    ("function", gateway.functions),
    ("async", gateway.async_call),
    ("valkey/nats/topic", data.data_services),
    ("certificate", certificates.edge_certificate),
    ("client cert", certificates.kubeconfig_certificate),
    ("etcd snapshot", cluster.etcd_snapshots),
    ("backup", cluster.data_backups),
    ("egress drops", cluster.egress_drops),
)


def run_checks(stack: Stack, clients: Clients) -> list[Row]:
    """Every check; an exception becomes a FAIL row naming it. Unreachable (the API went away)
    propagates: the run then has nothing to say but that."""
    rows: list[Row] = []
    for name, check in CHECKS:
        try:
            rows += check(stack, clients)
        except (Unreachable, KeyboardInterrupt):
            raise
        except Exception as err:  # noqa: BLE001 - the bar: a FAIL row, never a traceback
            rows.append(Row(name, "-", FAIL, reason(err)))
    return rows


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m tools.check", description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--stack", required=True, help="the Pulumi stack (its Pulumi.<stack>.yaml names the namespaces and schedules)")
    p.add_argument("--outputs", help="a file with `pulumi stack output --json --show-secrets` instead of running pulumi")
    p.add_argument(
        "--api-url", help="the Kubernetes API over HTTP (e.g. `kubectl proxy`'s http://127.0.0.1:8001) instead of kubectl"
    )
    p.add_argument(
        "--ssh", action="store_true", help="read the nodes' nft drop counter over SSH (key: pulumi config get sshPrivateKey)"
    )
    p.add_argument("--ca-file", help="an extra CA bundle that signed the gateway's certificate (e.g. an internal ACME CA)")
    p.add_argument("--timeout", type=float, default=180, help="seconds the whole run may take (default 180)")
    return p.parse_args(argv)


@contextlib.contextmanager
def _clients(args: argparse.Namespace, stack: Stack, deadline: Deadline) -> Iterator[Clients]:
    http = Http(deadline, cafile=args.ca_file)
    kube: Kube
    closing: list[Any] = []
    try:
        if args.api_url:
            kube = ApiServer(args.api_url, http)
        else:
            kube = Kubectl(str(stack.outputs[out.KUBECONFIG]), deadline)
            closing.append(kube)
        shell: NodeShell | None = None
        if args.ssh:
            try:
                key = ssh_key(args.stack, deadline)
            except (OSError, RuntimeError, subprocess.TimeoutExpired) as err:
                shell = NoShell(f"--ssh: no key: {reason(err)}")  # each node's row says so; the rest runs
            else:
                shell = Ssh(key, {n["name"]: n for n in stack.config.get("nodes") or []}, deadline)
                closing.append(shell)
        kube.get("/version")  # reachable at all? Unreachable otherwise
        yield Clients(kube, http, shell, cafile=args.ca_file)
    finally:
        for c in closing:
            c.close()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    deadline = Deadline(args.timeout)
    try:
        if args.outputs:
            path = Path(args.outputs)
            text = path.read_text() if path.exists() else ""
            outputs = parse_outputs(text, str(path))
        else:
            outputs = stack_outputs(args.stack, deadline)
        stack = Stack(outputs, read_stack_file(args.stack))
        with _clients(args, stack, deadline) as clients:
            rows = run_checks(stack, clients)
    except Unreachable as err:
        print(str(err))
        return 2
    except Exception as err:  # noqa: BLE001 - the bar: one line, never a traceback
        print(f"no cluster to check: {reason(err)}")
        return 2
    print(table(rows))
    line, code = verdict(rows)
    print(line)
    return code


if __name__ == "__main__":
    sys.exit(main())

"""checkov (offline) over every Kubernetes object of three shapes of stack: the example, a
three-server Pro stack with many functions, and the one with most options turned on. Any
finding that is not in tests/checkov-suppressions.yaml fails, and so does a stale entry."""

from __future__ import annotations

import fnmatch
import json
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import project_scratch, stack
from tools.harness import PROJECT_DIR, run_stack
from tools.plan import write_plan

CHECKOV = PROJECT_DIR / ".venv-scan" / "bin" / "checkov"
SUPPRESSIONS = PROJECT_DIR / "tests" / "checkov-suppressions.yaml"
DIGEST = "@sha256:" + "0" * 64


def many_functions(folder: Path, count: int = 20) -> str:
    """Functions declared the way docs/functions.md recommends (pinned, limited, read-only)."""
    lines = ["version: 1.0", "provider: {name: openfaas}", "functions:"]
    for i in range(count):
        lines += [
            f"  fn-{i}:",
            f"    image: ghcr.io/acme/fn-{i}{DIGEST}",
            "    limits: {memory: 256Mi, cpu: 500m}",
            "    requests: {memory: 64Mi, cpu: 50m}",
            "    readonly_root_filesystem: true",
            f"    secrets: [{'api-key' if i % 2 else 'redis-password'}]",
            f"    annotations: {{topic: topic-{i % 3}}}",
            "    labels: {com.openfaas.scale.min: 0, com.openfaas.scale.max: 20}",
        ]
    path = folder / "stack.yml"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def stacks(folder: Path) -> dict[str, object]:
    bergen = yaml.safe_load((PROJECT_DIR / "Pulumi.bergen.yaml").read_text())["config"]
    pro = {k.split(":", 1)[1]: v for k, v in bergen.items()}
    return {
        "oslo": None,
        "oslo-tls": stack(domain="faas.example.no", acmeEmail="ops@example.no"),
        # Three servers, Pro, HTTPS at the edge (Pulumi.bergen.yaml), with 20 functions.
        "bergen-many": stack(
            **pro,
            openfaasLicense={"secure": "licence"},
            etcdS3Credentials={"accessKey": {"secure": "a"}, "secretKey": {"secure": "b"}},  # its bucket's: the data backups
            functionsFile=many_functions(folder),
            functionSecrets={"api-key": {"secure": "k"}},
        ),
    }


@pytest.fixture(scope="module")
def findings() -> list[tuple[str, str, str]]:
    """(stack, check id, resource) for every failed check."""
    if not CHECKOV.exists():
        pytest.fail(f"{CHECKOV} is missing: `make test` installs it (make .venv-scan/.installed)")
    root = project_scratch()  # the stack file must be inside the project
    found = []
    for name, config in stacks(root).items():
        out = root / name
        write_plan(run_stack(name, config), out)
        assert list((out / "manifests").glob("*.yaml")), f"{name}: nothing to scan"
        result = subprocess.run(
            [str(CHECKOV), "-d", str(out / "manifests"), "--framework", "kubernetes", "--skip-download", "-o", "json", "--quiet"],
            capture_output=True, text=True, timeout=600,
        )
        report = json.loads(result.stdout or "{}")
        reports = report if isinstance(report, list) else [report]
        for part in reports:
            for check in part.get("results", {}).get("failed_checks", []):
                found.append((name, check["check_id"], check["resource"]))
    return found


def suppressions() -> list[dict[str, str]]:
    return yaml.safe_load(SUPPRESSIONS.read_text())


def suppressed(check: str, resource: str) -> bool:
    return any(s["check"] == check and fnmatch.fnmatch(resource, s["resources"]) for s in suppressions())


def test_every_suppression_has_a_reason() -> None:
    for entry in suppressions():
        assert set(entry) == {"check", "resources", "reason"} and len(entry["reason"]) > 40, entry


def test_no_finding_outside_the_reviewed_suppressions(findings: list[tuple[str, str, str]]) -> None:
    open_findings = sorted({(c, r, s) for s, c, r in findings if not suppressed(c, r)})
    assert open_findings == [], "\n".join(f"{c} {r} ({s})" for c, r, s in open_findings)


def test_every_suppression_still_matches_a_finding(findings: list[tuple[str, str, str]]) -> None:
    for entry in suppressions():
        assert any(c == entry["check"] and fnmatch.fnmatch(r, entry["resources"]) for _, c, r in findings), entry


def test_the_scan_sees_findings_when_there_are_some(tmp_path: Path) -> None:
    # A Deployment with none of our defaults must fail some checks: the scanner really ran.
    manifests = tmp_path / "m"
    manifests.mkdir()
    (manifests / "bad.yaml").write_text(yaml.safe_dump({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "bad", "namespace": "default"},
        "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}},
                 "spec": {"containers": [{"name": "c", "image": "nginx"}]}}},
    }))
    result = subprocess.run([str(CHECKOV), "-d", str(manifests), "--framework", "kubernetes", "--skip-download", "-o", "json", "--quiet"],
                            capture_output=True, text=True, timeout=600)
    assert json.loads(result.stdout)["summary"]["failed"] > 10

"""Gates on the code itself: type checks, lint, and the CI workflow users copy."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

from tools.harness import PROJECT_DIR

BIN = Path(sys.executable).parent


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=PROJECT_DIR, capture_output=True, text=True, timeout=600)


def test_pyright_finds_no_error() -> None:
    # Checks __main__.py, components/, functions/ and tools/ against the Pulumi SDKs' typed Args
    # (pyproject.toml [tool.pyright]).
    result = run(str(BIN / "pyright"), "--outputjson")
    assert '"errorCount": 0' in result.stdout, result.stdout[-4000:] + result.stderr[-2000:]


def test_ruff_finds_nothing() -> None:
    result = run(str(BIN / "ruff"), "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_workflow_files_match_github_actions_schema() -> None:
    workflows = sorted((PROJECT_DIR / ".github" / "workflows").glob("*.yml"))
    assert workflows
    result = run(str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *map(str, workflows))
    assert result.returncode == 0, result.stdout + result.stderr


def test_preview_workflow_uses_the_pinned_cli_and_documents_its_secrets() -> None:
    text = (PROJECT_DIR / ".github" / "workflows" / "preview.yml").read_text()
    steps = yaml.safe_load(text)["jobs"]["preview"]["steps"]
    (pulumi,) = [s for s in steps if str(s.get("uses", "")).startswith("pulumi/actions@")]
    sdk = re.search(r"^pulumi==(\S+)$", (PROJECT_DIR / "requirements.txt").read_text(), re.M)
    assert sdk and pulumi["with"]["pulumi-version"] == sdk.group(1)
    assert pulumi["with"]["command"] == "preview" and pulumi["with"]["comment-on-pr"] is True
    for secret in ("PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE"):
        assert f"secrets.{secret}" in text and f"#   {secret}" in text  # used and documented
    assert any(s.get("run") == "make test" for s in steps)  # the tests run before the preview


def test_the_versions_page_matches_the_pins() -> None:
    from settings import versions

    page = (PROJECT_DIR / "docs" / "versions.md").read_text()
    for name in ("K3S", "OPENFAAS_CHART", "NATS_IMAGE", "NATS_CONNECTOR_IMAGE", "REDIS_IMAGE", "TRAEFIK_CHART", "CERT_MANAGER_CHART"):
        assert f"`{getattr(versions, name)}`" in page, name

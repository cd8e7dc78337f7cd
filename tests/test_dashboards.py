"""The Grafana dashboards (render/monitoring/dashboards.py): every panel's query and every
template variable's selector parses with the real PromQL parser (promtool, as recording rules),
the JSON is deterministic, uids are unique and every panel has the Prometheus datasource."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from render.monitoring import dashboards
from tests.conftest import settings_for, stack
from tests.servers import require
from tools import screenshot
from tools.harness import PROJECT_DIR

# What Grafana substitutes before the query reaches Prometheus: its interval variables, and
# each template variable's value (the "All" value, a regex).
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "6h"}
DOCS = PROJECT_DIR / "docs" / "operations" / "dashboards.md"


def rendered() -> dict[str, dict[str, Any]]:
    return {name: json.loads(text) for name, text in dashboards.dashboards(settings_for(stack())).items()}


def concrete(expr: str, variables: list[dict[str, Any]]) -> str:
    for name, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(name, value)
    for var in variables:
        expr = expr.replace(f"${{{var['name']}}}", ".*").replace(f"${var['name']}", ".*")
    assert "$" not in expr, f"an unknown Grafana variable is left in {expr!r}"
    return expr


def expressions(boards: dict[str, dict[str, Any]]) -> dict[str, str]:
    """A recording rule name -> a PromQL expression, for every panel target and variable."""
    found = {}
    for board in boards.values():
        variables = board["templating"]["list"]
        uid = board["uid"].replace("-", "_")
        for panel in board["panels"]:
            for target in panel["targets"]:
                found[f"dashboard:{uid}:panel{panel['id']}:{target['refId']}"] = concrete(target["expr"], variables)
        for var in variables:
            match = re.fullmatch(r"label_values\((.+), (\w+)\)", var["query"]["query"])
            assert match, var
            found[f"dashboard:{uid}:variable_{var['name']}"] = match.group(1)
    return found


def check_rules(tmp_path: Path, exprs: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """promtool parses each expression as a recording rule: the PromQL parser Prometheus runs."""
    doc = {"groups": [{"name": "dashboards", "rules": [{"record": name, "expr": expr} for name, expr in exprs.items()]}]}
    path = tmp_path / "dashboards.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return subprocess.run([require("promtool"), "check", "rules", str(path)], capture_output=True, text=True, timeout=120, check=False)


def test_every_panel_expression_parses(tmp_path: Path) -> None:
    exprs = expressions(rendered())
    assert len(exprs) >= 30
    result = check_rules(tmp_path, exprs)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(exprs)} rules found" in result.stdout


@pytest.mark.parametrize(
    "broken",
    [
        "sum by (function_name (rate(gateway_function_invocation_total[5m]))",  # a missing parenthesis
        "histogram_quantile(0.95, rate(gateway_functions_seconds_bucket[5 m]))",  # a bad duration
        'rate(node_cpu_seconds_total{mode="idle"})',  # rate of an instant vector
        "sum(rate(redis_keyspace_hits_total[$__rate_interval]))",  # a Grafana variable left in
    ],
)
def test_a_broken_expression_fails_the_check(tmp_path: Path, broken: str) -> None:
    result = check_rules(tmp_path, {"dashboard:broken": broken})
    assert result.returncode != 0, result.stdout


def test_the_json_is_the_same_bytes_each_time() -> None:
    assert dashboards.dashboards(settings_for(stack())) == dashboards.dashboards(settings_for(stack()))


def test_four_dashboards_with_unique_uids_and_file_names() -> None:
    boards = rendered()
    uids = [b["uid"] for b in boards.values()]
    assert sorted(uids) == ["sf-data", "sf-edge", "sf-functions", "sf-nodes"]
    assert set(boards) == {f"{uid}.json" for uid in uids}


def test_every_panel_and_variable_has_the_prometheus_datasource_and_unique_ids() -> None:
    for board in rendered().values():
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids)), board["uid"]
        for panel in board["panels"]:
            assert panel["datasource"] == {"type": "prometheus", "uid": "prometheus"}, panel["title"]
            assert panel["targets"] and all(t["datasource"] == panel["datasource"] for t in panel["targets"]), panel["title"]
            refs = [t["refId"] for t in panel["targets"]]
            assert len(refs) == len(set(refs)), panel["title"]
        for var in board["templating"]["list"]:
            assert var["datasource"] == {"type": "prometheus", "uid": "prometheus"}


def test_panels_fit_the_grid_without_overlap() -> None:
    for board in rendered().values():
        cells: set[tuple[int, int]] = set()
        for panel in board["panels"]:
            pos = panel["gridPos"]
            assert pos["x"] + pos["w"] <= 24, panel["title"]
            mine = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"]) for y in range(pos["y"], pos["y"] + pos["h"])}
            assert not mine & cells, panel["title"]
            cells |= mine


def test_the_issue_s_panels_are_there() -> None:
    exprs = " ".join(expressions(rendered()).values())
    for metric in ("gateway_function_invocation_total", "gateway_functions_seconds_bucket", "gateway_service_count", "kube_pod_status_ready_time",
                   "node_cpu_seconds_total", "node_memory_MemAvailable_bytes", "node_filesystem_avail_bytes", "node_network_receive_bytes_total",
                   "kubelet_image_pull_duration_seconds_bucket", "jetstream_stream_total_messages", "jetstream_consumer_num_redelivered",
                   "redis_memory_used_bytes", "redis_keyspace_hits_total", "redis_connected_slaves", "traefik_entrypoint_requests_total",
                   "traefik_tls_certs_not_after", "certmanager_certificate_expiration_timestamp_seconds"):
        assert metric in exprs, metric


def test_the_docs_list_every_dashboard_and_panel() -> None:
    text = DOCS.read_text()
    for board in rendered().values():
        assert f"`{board['uid']}`" in text, board["uid"]
        for panel in board["panels"]:
            assert panel["title"] in text, panel["title"]


def test_the_screenshot_s_synthetic_series_are_openmetrics_promtool_imports(tmp_path: Path) -> None:
    """tools/screenshot.py's input (the pictures in docs/img/): the same text each time, and
    what promtool turns into TSDB blocks."""
    text = screenshot.openmetrics()
    assert text == screenshot.openmetrics() and text.endswith("# EOF\n")
    (tmp_path / "series.om").write_text(text)
    result = subprocess.run([require("promtool"), "tsdb", "create-blocks-from", "openmetrics", str(tmp_path / "series.om"), str(tmp_path / "data")],
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert any((tmp_path / "data").iterdir())

"""A picture of dashboard queries, where Grafana cannot run: Debian's Prometheus on 127.0.0.1
over synthetic series, its graph page photographed by headless Chromium.

    .venv/bin/python -m tools.screenshot            # writes docs/img/*.png

What it shows is real PromQL evaluated by the real Prometheus (2.42) on made-up traffic: two
functions, one slow and failing now and then, for three hours. It is not Grafana's rendering
(Grafana is not a Debian package). The series are written as OpenMetrics and turned into TSDB
blocks by `promtool tsdb create-blocks-from openmetrics`; nothing is scraped, the server
listens on loopback only and is stopped at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from render.monitoring.dashboards import all_dashboards
from settings.stack import Settings
from tools.harness import PROJECT_DIR
from tools.plan import stack_settings

START = 1767225600  # 2026-01-01 00:00 UTC: fixed, so the picture does not depend on today
HOURS = 3
STEP = 15  # seconds, a usual scrape interval
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)  # client_golang's default buckets
FUNCTIONS = {"img-resize.openfaas-fn": (0.35, 0.03), "hello.openfaas-fn": (0.012, 0.002)}  # median seconds, error share
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--hide-scrollbars")
# File -> (dashboard uid, panel title, which of its queries): one graph per picture.
PICTURES = {"prometheus-function-latency-p95.png": ("sf-functions", "Latency percentiles", 1),
            "prometheus-function-errors.png": ("sf-functions", "Errors (5xx) per second", 0)}


def openmetrics() -> str:
    """Three hours of the gateway's counters and latency histogram, deterministic."""
    rng = random.Random(20)
    counts: dict[str, list[str]] = {"invocation": [], "bucket": [], "sum": [], "count": []}
    for name, (median, error_share) in FUNCTIONS.items():
        ok = failed = total = 0
        seconds = 0.0
        buckets = [0] * len(BUCKETS)
        for i in range(HOURS * 3600 // STEP):
            t = START + i * STEP
            busy = 1 + 0.6 * (1 if 3600 <= i * STEP < 5400 else 0)  # a busier half hour
            for _ in range(int(rng.uniform(20, 40) * busy)):
                took = rng.lognormvariate(0, 0.5) * median * busy
                total, seconds = total + 1, seconds + took
                buckets = [b + (took <= le) for b, le in zip(buckets, BUCKETS, strict=True)]
                if rng.random() < error_share * busy:
                    failed += 1
                else:
                    ok += 1
            base = f'job="openfaas-gateway",function_name="{name}"'
            counts["invocation"] += [f'gateway_function_invocation_total{{{base},code="200"}} {ok} {t}',
                                     f'gateway_function_invocation_total{{{base},code="500"}} {failed} {t}']
            counts["bucket"] += [f'gateway_functions_seconds_bucket{{{base},le="{le}"}} {b} {t}' for le, b in zip(BUCKETS, buckets, strict=True)]
            counts["bucket"].append(f'gateway_functions_seconds_bucket{{{base},le="+Inf"}} {total} {t}')
            counts["sum"].append(f"gateway_functions_seconds_sum{{{base}}} {seconds:.3f} {t}")
            counts["count"].append(f"gateway_functions_seconds_count{{{base}}} {total} {t}")
    lines = ["# TYPE gateway_function_invocation counter", *sorted(counts["invocation"], key=_series_then_time),
             "# TYPE gateway_functions_seconds histogram", *sorted(counts["bucket"] + counts["sum"] + counts["count"], key=_series_then_time), "# EOF"]
    return "\n".join(lines) + "\n"


def _series_then_time(line: str) -> tuple[str, int]:
    series, _, rest = line.rpartition("} ")
    return series, int(rest.split()[-1])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def prometheus(data: Path) -> Iterator[int]:
    """Prometheus over `data`, on loopback, no scraping; stopped on exit."""
    config = data.parent / "prometheus.yml"
    config.write_text("global: {}\n")
    port = free_port()
    argv = [shutil.which("prometheus") or "/usr/bin/prometheus", f"--config.file={config}", f"--storage.tsdb.path={data}",
            "--storage.tsdb.retention.time=100y", f"--web.listen-address=127.0.0.1:{port}"]
    with (data.parent / "prometheus.log").open("wb") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=1) as answer:
                if answer.status == 200:
                    break
            time.sleep(0.2)
        else:
            raise RuntimeError(f"prometheus was not ready after 30 s: {(data.parent / 'prometheus.log').read_text()[-2000:]}")
        yield port
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def graph_url(port: int, expressions: list[str]) -> str:
    params: dict[str, str] = {}
    end = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(START + HOURS * 3600))
    for i, expr in enumerate(expressions):
        params |= {f"g{i}.expr": expr, f"g{i}.tab": "0", f"g{i}.range_input": f"{HOURS}h", f"g{i}.end_input": end, f"g{i}.moment_input": end}
    return f"http://127.0.0.1:{port}/graph?{urllib.parse.urlencode(params)}"


def panel_expressions(settings: Settings, uid: str, title: str) -> list[str]:
    (dash,) = [d for d in all_dashboards(settings) if d.uid == uid]
    (panel,) = [p for p in dash.panels if p.title == title]
    return [q.expr.replace("$__rate_interval", "5m").replace("$function", ".*") for q in panel.queries]


def main(argv: list[str] | None = None) -> int:
    args = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    args.add_argument("--out", type=Path, default=PROJECT_DIR / "docs" / "img")
    out = args.parse_args(argv).out
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        print("screenshot: chromium is not installed (apt-get install chromium)", file=sys.stderr)
        return 2
    settings = stack_settings("oslo")
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "series.om").write_text(openmetrics())
        subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics", str(work / "series.om"), str(work / "data")],
                       check=True, capture_output=True, timeout=300)
        with prometheus(work / "data") as port:
            for name, (uid, title, index) in PICTURES.items():
                url = graph_url(port, [panel_expressions(settings, uid, title)[index]])
                subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={work / 'chromium'}", "--window-size=1400,900",
                                "--virtual-time-budget=30000", f"--screenshot={out / name}", url], check=True, capture_output=True, timeout=120)
                print(f"wrote {(out / name).relative_to(PROJECT_DIR) if out.is_relative_to(PROJECT_DIR) else out / name}: {title} ({uid})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

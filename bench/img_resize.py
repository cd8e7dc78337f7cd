"""Resizes per second of the img-resize handler: a 1920x1080 JPEG to 320 px wide.

Three rows, each timing `handle()` in this process (no HTTP, no Flask: what the function's own
code costs per request):
- uncached: no `redis_host`, every call decodes, resizes and encodes;
- miss + store: Redis on (a real redis-server on 127.0.0.1, with a password), every call a
  new image (same pixels, different trailing bytes, so a different hash): resize plus HSET/EXPIRE;
- cached: Redis on, the same image every call, after one warm-up call: hash plus HMGET.
Run: `.venv/bin/python -m bench.img_resize [--uncached 50] [--cached 500]`.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import PIL
from PIL import Image

from tests.servers import LOOPBACK, redis_server

HANDLER = Path(__file__).resolve().parent.parent / "functions" / "img-resize" / "handler.py"
PASSWORD = "bench-only-redis-password"
WIDTH = "320"


class Event:
    def __init__(self, body: bytes) -> None:
        self.body = body
        self.query = {"w": WIDTH}
        self.headers: dict[str, str] = {}
        self.method = "POST"
        self.path = "/"


def load_handler() -> ModuleType:
    spec = importlib.util.spec_from_file_location("img_resize_handler", HANDLER)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def source_jpeg(size: tuple[int, int] = (1920, 1080), seed: int = 1080) -> bytes:
    """A photo-like, deterministic image: a diagonal colour gradient plus seeded noise (noise
    keeps JPEG from compressing it to nothing, as a real photo would not)."""
    gradient = Image.linear_gradient("L").resize(size)
    red = gradient
    green = gradient.rotate(90).resize(size)
    blue = gradient.transpose(Image.Transpose.FLIP_TOP_BOTTOM)
    noise = Image.frombytes("RGB", size, random.Random(seed).randbytes(size[0] * size[1] * 3))
    image = Image.blend(Image.merge("RGB", (red, green, blue)), noise, 0.2)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def timed(handler: ModuleType, bodies: Callable[[int], bytes], iterations: int, expect: str) -> list[float]:
    took = []
    for i in range(iterations):
        event = Event(bodies(i))
        started = time.perf_counter()
        data, status, headers = handler.handle(event, None)
        took.append(time.perf_counter() - started)
        if status != 200 or headers.get("X-Cache") != expect:
            raise SystemExit(f"unexpected answer {status} X-Cache={headers.get('X-Cache')} (wanted {expect}): {data[:200]!r}")
    return took


def row(name: str, took: list[float]) -> str:
    total = sum(took)
    p95 = statistics.quantiles(took, n=20)[-1] if len(took) >= 20 else max(took)
    return f"{name:<14} {len(took):>10} {total:>9.3f} {len(took) / total:>12.1f} {1000 * total / len(took):>9.2f} {1000 * p95:>9.2f}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Resizes per second of the img-resize handler.")
    parser.add_argument("--uncached", type=int, default=50, help="iterations without Redis (and of miss + store)")
    parser.add_argument("--cached", type=int, default=500, help="iterations answered from Redis")
    args = parser.parse_args(argv)

    body = source_jpeg()
    for name in ("redis_host", "redis_port", "secret_mount_path", "max_input_bytes", "max_input_pixels", "max_dimension", "cache_ttl_seconds"):
        os.environ.pop(name, None)
    handler = load_handler()
    sample: Any = handler.handle(Event(body), None)  # warm-up: first-call imports and allocations
    out = Image.open(io.BytesIO(sample[0]))
    print(f"img-resize bench: {len(body)} byte 1920x1080 JPEG -> {out.size[0]}x{out.size[1]} {out.format}, {len(sample[0])} bytes")
    print(f"Python {platform.python_version()}, Pillow {PIL.__version__}, {os.cpu_count()} CPUs, {platform.machine()}")
    rows = [row("uncached", timed(handler, lambda i: body, args.uncached, "off"))]

    with tempfile.TemporaryDirectory(prefix="img-resize-bench-") as tmp:
        secrets = Path(tmp) / "secrets"
        secrets.mkdir()
        (secrets / "redis-password").write_text(PASSWORD)
        with redis_server(Path(tmp) / "redis", f'requirepass {PASSWORD}\nsave ""\nappendonly no\n') as server:
            os.environ.update(redis_host=LOOPBACK, redis_port=str(server.port), secret_mount_path=str(secrets))
            # JPEG readers stop at the end-of-image marker: trailing bytes change the hash only.
            rows.append(row("miss + store", timed(handler, lambda i: body + b"bench-%d" % i, args.uncached, "miss")))
            timed(handler, lambda i: body, 1, "miss")  # warm-up: store the one cached result
            rows.append(row("cached", timed(handler, lambda i: body, args.cached, "hit")))

    print(f"{'':<14} {'iterations':>10} {'total s':>9} {'per second':>12} {'mean ms':>9} {'p95 ms':>9}")
    print("\n".join(rows))


if __name__ == "__main__":
    main()

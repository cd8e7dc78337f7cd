"""The img-resize function's handler, on real images made here, and its cache on a real Redis.

The handler is called the way the python3-http template calls it (an Event with body, headers,
query, method, path; a Context), and its answer is read the way the template passes it on: a
dict would have its body stringified (`str(bytes)`, a corrupt image), anything else goes to
Flask as is, so every answer must be a (bytes, status, headers) tuple.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import itertools
import os
import socket
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import redis
from PIL import ExifTags, Image

from tests.servers import LOOPBACK, ValkeyGroup, free_port, redis_server, sentinel_master, valkey_sentinel_group

HANDLER = Path(__file__).resolve().parent.parent / "functions" / "img-resize" / "handler.py"
ENV = (
    "max_input_bytes", "max_input_pixels", "max_dimension", "default_width", "cache_ttl_seconds",
    "redis_host", "redis_port", "redis_sentinels", "redis_master_name", "secret_mount_path",
)
PASSWORD = "test-only-redis-password"
_loads = itertools.count()


def load_handler() -> ModuleType:
    """A fresh copy of the handler module (its Redis client and back-off state are per module).
    The directory name has a dash, so it is loaded by path, as the template's `function` package."""
    name = f"img_resize_handler_{next(_loads)}"
    spec = importlib.util.spec_from_file_location(name, HANDLER)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def handler(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    for name in ENV:  # defaults unless a test sets one; nothing leaks in from this machine
        monkeypatch.delenv(name, raising=False)
    module = load_handler()
    yield module
    sys.modules.pop(module.__name__, None)


# ---- the template's side: Event, Context and how the answer reaches the client -------------


@dataclass
class Event:
    body: bytes
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    method: str = "POST"
    path: str = "/"


@dataclass
class Context:
    hostname: str = "img-resize-7d9f8-abcde"


@dataclass
class Reply:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes

    @property
    def text(self) -> str:
        assert self.headers["content-type"] == "text/plain; charset=utf-8"
        return self.body.decode()

    def image(self) -> Image.Image:
        return Image.open(io.BytesIO(self.body))


def invoke(handler: ModuleType, body: bytes, query: dict[str, str] | None = None, headers: dict[str, str] | None = None) -> Reply:
    answer: Any = handler.handle(Event(body, query or {}, headers or {}), Context())
    # A dict would reach the client as str(body): the template only passes non-dicts through.
    assert isinstance(answer, tuple), f"handler returned {type(answer).__name__}, not a (body, status, headers) tuple"
    data, status, answer_headers = answer
    assert isinstance(data, bytes) and isinstance(status, int)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in answer_headers.items())
    return Reply(status, {k.lower(): v for k, v in answer_headers.items()}, data)


# ---- images made here --------------------------------------------------------------------


def encode(image: Image.Image, fmt: str, **options: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def halves(size: tuple[int, int], left: str = "red", right: str = "blue", mode: str = "RGB") -> Image.Image:
    """Left half one colour, right half another: shows where the image's left went."""
    image = Image.new(mode, size, left)
    image.paste(Image.new(mode, (size[0] // 2, size[1]), right), (size[0] // 2, 0))
    return image


def photo(size: tuple[int, int] = (400, 300), orientation: int | None = None) -> bytes:
    exif = Image.Exif()
    if orientation:
        exif[ExifTags.Base.Orientation] = orientation
    return encode(halves(size), "JPEG", quality=90, exif=exif.tobytes())


def alpha(image: Image.Image, xy: tuple[int, int]) -> int:
    pixel: Any = image.getpixel(xy)
    return int(pixel[3])


def near(pixel: Any, colour: tuple[int, ...], tolerance: int = 40) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, colour, strict=False))


# ---- resizing ------------------------------------------------------------------------------


def test_width_only_keeps_aspect_ratio_and_jpeg(handler: ModuleType) -> None:
    reply = invoke(handler, photo((400, 300)), {"w": "100"})
    assert reply.status == 200
    assert reply.headers["content-type"] == "image/jpeg"
    assert reply.headers["x-cache"] == "off"  # no redis_host: no cache
    out = reply.image()
    assert (out.format, out.size) == ("JPEG", (100, 75))


def test_height_only_from_headers_any_case(handler: ModuleType) -> None:
    reply = invoke(handler, photo((400, 300)), headers={"x-height": "150"})
    assert reply.status == 200 and reply.image().size == (200, 150)


def test_both_fit_inside_the_box(handler: ModuleType) -> None:
    """Thumbnail semantics: the whole image inside w x h, aspect kept, no crop, no padding."""
    assert invoke(handler, photo((400, 300)), {"w": "100", "h": "100"}).image().size == (100, 75)
    assert invoke(handler, photo((300, 400)), headers={"X-Width": "100", "X-Height": "100"}).image().size == (75, 100)
    assert invoke(handler, photo((1000, 333)), {"w": "300", "h": "100"}).image().size == (300, 100)


def test_query_wins_over_headers(handler: ModuleType) -> None:
    reply = invoke(handler, photo((400, 300)), {"w": "40"}, {"X-Width": "200", "X-Height": "10"})
    assert reply.image().size == (40, 30)


def test_never_upscales(handler: ModuleType) -> None:
    assert invoke(handler, photo((400, 300)), {"w": "4000"}).image().size == (400, 300)
    assert invoke(handler, photo((400, 300)), {"w": "800", "h": "150"}).image().size == (200, 150)


def test_tiny_results_keep_at_least_one_pixel(handler: ModuleType) -> None:
    assert invoke(handler, photo((4000, 10)), {"w": "100"}).image().size == (100, 1)


def test_exif_orientation_is_applied_before_resizing_and_dropped(handler: ModuleType) -> None:
    # Stored 400x200 (left red, right blue); orientation 6 says "rotate 90° clockwise to view":
    # upright it is 200x400 with red on top.
    reply = invoke(handler, photo((400, 200), orientation=6), {"w": "100"})
    out = reply.image().convert("RGB")
    assert out.size == (100, 200)
    assert near(out.getpixel((50, 20)), (255, 0, 0)) and near(out.getpixel((50, 180)), (0, 0, 255))
    # Not rotated again by a viewer: the orientation tag is gone (EXIF is not copied at all).
    assert ExifTags.Base.Orientation not in reply.image().getexif()


def test_png_keeps_alpha(handler: ModuleType) -> None:
    image = halves((200, 100), mode="RGBA", left="red")
    image.paste(Image.new("RGBA", (100, 100), (0, 0, 0, 0)), (100, 0))  # right half transparent
    reply = invoke(handler, encode(image, "PNG"), {"w": "50"})
    out = reply.image()
    assert reply.headers["content-type"] == "image/png"
    assert (out.format, out.mode, out.size) == ("PNG", "RGBA", (50, 25))
    assert alpha(out, (5, 12)) == 255 and alpha(out, (45, 12)) == 0


@pytest.mark.parametrize(
    ("fmt", "mime"),
    [("WEBP", "image/webp"), ("GIF", "image/gif")],
)
def test_webp_and_gif_stay_what_they_are(handler: ModuleType, fmt: str, mime: str) -> None:
    reply = invoke(handler, encode(halves((300, 200)), fmt), {"h": "50"})
    assert reply.status == 200 and reply.headers["content-type"] == mime
    out = reply.image()
    assert (out.format, out.size) == (fmt, (75, 50))
    assert near(out.convert("RGB").getpixel((5, 25)), (255, 0, 0))


def test_palette_png_with_transparency(handler: ModuleType) -> None:
    image = Image.new("P", (64, 32), 1)
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    image.paste(0, (32, 0, 64, 32))
    reply = invoke(handler, encode(image, "PNG", transparency=0), {"w": "16"})
    out = reply.image().convert("RGBA")
    assert out.size == (16, 8) and alpha(out, (2, 4)) == 255 and alpha(out, (14, 4)) == 0


def test_animated_gif_gives_its_first_frame(handler: ModuleType) -> None:
    frames = [Image.new("RGB", (60, 40), colour) for colour in ("red", "blue", "green")]
    body = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    out = invoke(handler, body, {"w": "30"}).image()
    assert out.size == (30, 20) and getattr(out, "n_frames", 1) == 1
    assert near(out.convert("RGB").getpixel((15, 10)), (255, 0, 0))


def test_large_jpeg_uses_reduced_decoding_and_stays_sharp_enough(handler: ModuleType) -> None:
    """3000x2000 to 300 px: libjpeg's 1/8 scaling path; the result is still the picture."""
    reply = invoke(handler, photo((3000, 2000)), {"w": "300"})
    out = reply.image().convert("RGB")
    assert out.size == (300, 200)
    assert near(out.getpixel((10, 100)), (255, 0, 0)) and near(out.getpixel((290, 100)), (0, 0, 255))


# ---- 400 and 413 ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "headers", "message"),
    [
        ({}, {}, "missing size"),
        ({"w": "0"}, {}, "w=0 is out of range: 1..4096"),
        ({"w": "abc"}, {}, "w='abc' is not a whole number"),
        ({"w": "99999"}, {}, "w=99999 is out of range: 1..4096"),
        ({"w": "-5"}, {}, "w='-5' is not a whole number"),
        ({"w": "1.5"}, {}, "w='1.5' is not a whole number"),
        ({"w": "1e3"}, {}, "w='1e3' is not a whole number"),
        ({"w": ""}, {}, "w='' is not a whole number"),
        ({"w": "100", "h": "4097"}, {}, "h=4097 is out of range"),
        ({}, {"X-Width": "wide"}, "X-Width='wide' is not a whole number"),
        ({}, {"X-Height": "0"}, "X-Height=0 is out of range"),
    ],
)
def test_bad_sizes_are_400(handler: ModuleType, query: dict[str, str], headers: dict[str, str], message: str) -> None:
    reply = invoke(handler, photo(), query, headers)
    assert reply.status == 400
    assert message in reply.text and reply.text.endswith("\n")


def test_default_width_serves_a_request_without_a_size(handler: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    # A topic message reaches the function through the nats-connector: body only, no query.
    assert invoke(handler, photo((400, 300))).status == 400
    monkeypatch.setenv("default_width", "200")
    reply = invoke(handler, photo((400, 300)))
    assert reply.status == 200 and reply.image().size == (200, 150)
    assert invoke(handler, photo((400, 300)), {"w": "100"}).image().size == (100, 75)  # asked wins


def test_max_dimension_comes_from_the_environment(handler: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("max_dimension", "100")
    assert invoke(handler, photo(), {"w": "100"}).status == 200
    assert "w=101 is out of range: 1..100" in invoke(handler, photo(), {"w": "101"}).text


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"definitely not an image", id="text"),
        pytest.param(b"", id="empty"),
        pytest.param(encode(halves((40, 30)), "BMP"), id="bmp-not-accepted"),
        pytest.param(encode(halves((40, 30)), "TIFF"), id="tiff-not-accepted"),
        pytest.param(b"<svg xmlns='http://www.w3.org/2000/svg'/>", id="svg"),
    ],
)
def test_bodies_that_are_not_accepted_images_are_400(handler: ModuleType, body: bytes) -> None:
    reply = invoke(handler, body, {"w": "10"})
    assert reply.status == 400
    assert "JPEG, PNG, WebP or GIF" in reply.text


def test_truncated_jpeg_is_400(handler: ModuleType) -> None:
    noise = Image.frombytes("RGB", (300, 200), os.urandom(300 * 200 * 3))
    body = encode(noise, "JPEG")
    reply = invoke(handler, body[: len(body) // 2], {"w": "10"})
    assert reply.status == 400 and "could not be decoded" in reply.text


def test_body_over_the_byte_limit_is_413_before_decoding(handler: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    # Default 10 MiB: one byte more of garbage is 413, not 400, so nothing was decoded.
    reply = invoke(handler, b"\0" * (10 * 1024 * 1024 + 1), {"w": "10"})
    assert reply.status == 413 and "the limit is 10485760" in reply.text
    body = photo()
    monkeypatch.setenv("max_input_bytes", str(len(body) - 1))
    assert invoke(handler, body, {"w": "10"}).status == 413
    monkeypatch.setenv("max_input_bytes", str(len(body)))
    assert invoke(handler, body, {"w": "10"}).status == 200


def png_claiming(width: int, height: int) -> bytes:
    """A real, tiny PNG whose header claims width x height: a decompression bomb's shape."""
    body = bytearray(encode(Image.new("L", (8, 8)), "PNG"))
    ihdr = 8 + 8  # signature, then the IHDR chunk's length and type
    body[ihdr : ihdr + 8] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(body[ihdr - 4 : ihdr + 13]))
    body[ihdr + 13 : ihdr + 17] = struct.pack(">I", crc)
    return bytes(body)


@pytest.mark.parametrize(
    ("side", "message"),
    [
        (8000, "image is 8000x8000 pixels, more than 50000000"),  # our limit (max_input_pixels)
        (100_000, "image too large to decode"),  # Pillow's own DecompressionBombError
    ],
    ids=["64MP", "10GP"],
)
def test_decompression_bombs_are_413_without_decoding(handler: ModuleType, side: int, message: str) -> None:
    body = png_claiming(side, side)
    assert len(body) < 200
    started = time.monotonic()
    reply = invoke(handler, body, {"w": "10"})
    assert reply.status == 413 and message in reply.text
    assert time.monotonic() - started < 1  # refused from the header, not after decoding


def test_pixel_limit_comes_from_the_environment(handler: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("max_input_pixels", str(400 * 300 - 1))
    reply = invoke(handler, photo((400, 300)), {"w": "10"})
    assert reply.status == 413 and reply.text == "image is 400x300 pixels, more than 119999\n"


def test_bad_configuration_fails_loudly(handler: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("max_input_bytes", "10MB")
    with pytest.raises(ValueError, match="max_input_bytes='10MB' is not an integer"):
        invoke(handler, photo(), {"w": "10"})


def test_import_needs_no_redis_and_no_network() -> None:
    """Importing the handler opens no socket and does not even import redis (it is lazy)."""
    probe = f"""
import socket, sys, importlib.util
def refuse(*args, **kwargs):
    raise AssertionError("network used at import")
socket.socket.connect = refuse
socket.create_connection = refuse
spec = importlib.util.spec_from_file_location("handler", {str(HANDLER)!r})
module = importlib.util.module_from_spec(spec)
sys.modules["handler"] = module
spec.loader.exec_module(module)
assert "redis" not in sys.modules, "redis imported at import time"
print("ok")
"""
    env = {k: v for k, v in os.environ.items() if k not in ENV} | {"redis_host": "redis.invalid"}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=60, check=False)
    assert done.returncode == 0 and done.stdout == "ok\n", done.stderr


# ---- the Redis cache, on a real redis-server -------------------------------------------------


@pytest.fixture(scope="module")
def redis_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    conf = f'requirepass {PASSWORD}\nsave ""\nappendonly no\n'
    with redis_server(tmp_path_factory.mktemp("redis"), conf) as server:
        yield server.port


@pytest.fixture
def admin(redis_port: int) -> Iterator[redis.Redis]:
    client = redis.Redis(host=LOOPBACK, port=redis_port, password=PASSWORD)
    client.flushall()
    yield client
    client.close()


@pytest.fixture
def cached(handler: ModuleType, admin: redis.Redis, redis_port: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The handler pointed at the test Redis, with the password as a mounted secret."""
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "redis-password").write_text(PASSWORD + "\n")  # kubectl-made secrets often end so
    monkeypatch.setenv("redis_host", LOOPBACK)
    monkeypatch.setenv("redis_port", str(redis_port))
    monkeypatch.setenv("secret_mount_path", str(secrets))
    monkeypatch.setenv("cache_ttl_seconds", "120")
    return handler


def cache_key(body: bytes, size: str) -> str:
    return f"img-resize:v1:{hashlib.sha256(body).hexdigest()}:{size}"


@pytest.mark.servers
def test_miss_then_hit_with_identical_bytes_and_a_ttl(cached: ModuleType, admin: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    body = photo((640, 480))
    first = invoke(cached, body, {"w": "320"})
    assert (first.status, first.headers["x-cache"]) == (200, "miss")

    def no_decoding(*args: Any) -> None:
        raise AssertionError("a cache hit must not decode")

    monkeypatch.setattr(cached, "resize", no_decoding)
    second = invoke(cached, body, {"w": "320"})
    assert (second.status, second.headers["x-cache"]) == (200, "hit")
    assert second.body == first.body and second.headers["content-type"] == "image/jpeg"

    key = cache_key(body, "320xauto")
    assert admin.hget(key, "type") == b"image/jpeg" and admin.hget(key, "body") == first.body
    assert 0 < admin.ttl(key) <= 120


@pytest.mark.servers
def test_size_and_content_are_part_of_the_key(cached: ModuleType, admin: redis.Redis) -> None:
    body = photo()
    assert invoke(cached, body, {"w": "100"}).headers["x-cache"] == "miss"
    assert invoke(cached, body, {"w": "100", "h": "50"}).headers["x-cache"] == "miss"
    assert invoke(cached, body, headers={"X-Width": "100"}).headers["x-cache"] == "hit"  # same request
    assert invoke(cached, photo((401, 300)), {"w": "100"}).headers["x-cache"] == "miss"
    keys = [k.decode() if isinstance(k, bytes) else k for k in admin.keys("img-resize:v1:*")]
    assert sorted(k.rsplit(":", 1)[1] for k in keys) == ["100x50", "100xauto", "100xauto"]


@pytest.mark.servers
def test_large_results_are_served_but_not_stored(cached: ModuleType, admin: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cached, "CACHE_MAX_BYTES", 100)
    for _ in range(2):
        reply = invoke(cached, photo(), {"w": "200"})
        assert (reply.status, reply.headers["x-cache"]) == (200, "miss")
    assert admin.dbsize() == 0


@pytest.mark.servers
@pytest.mark.parametrize("password", ["wrong-password", None], ids=["wrong-password", "no-secret-mounted"])
def test_auth_failure_serves_uncached_and_logs_once(cached: ModuleType, admin: redis.Redis, capsys: pytest.CaptureFixture[str], password: str | None) -> None:
    secret = Path(os.environ["secret_mount_path"]) / "redis-password"
    if password:
        secret.write_text(password)
    else:
        secret.unlink()
    for _ in range(3):
        reply = invoke(cached, photo(), {"w": "100"})
        assert (reply.status, reply.headers["x-cache"]) == (200, "off")
        assert reply.image().size == (100, 75)
    log = capsys.readouterr().err.splitlines()
    assert len(log) == 1 and "serving uncached" in log[0] and PASSWORD not in log[0]
    assert admin.dbsize() == 0


@pytest.mark.servers
def test_cache_comes_back_when_the_secret_is_fixed(cached: ModuleType, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cached, "REDIS_RETRY_AFTER_S", 0.0)  # retry at once instead of after 10 s
    secret = Path(os.environ["secret_mount_path"]) / "redis-password"
    secret.write_text("rotated-too-early")
    assert invoke(cached, photo(), {"w": "100"}).headers["x-cache"] == "off"
    secret.write_text(PASSWORD)  # a rotated Secret is re-read: a new client, no restart
    assert invoke(cached, photo(), {"w": "100"}).headers["x-cache"] == "miss"
    assert invoke(cached, photo(), {"w": "100"}).headers["x-cache"] == "hit"
    assert "cache back on" in capsys.readouterr().err


@pytest.mark.servers
def test_redis_refusing_connections_costs_nothing(cached: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("redis_port", str(free_port()))  # nothing listens there
    started = time.monotonic()
    replies = [invoke(cached, photo(), {"w": "100"}) for _ in range(3)]
    assert time.monotonic() - started < 2  # a functional bound, not a benchmark
    assert [(r.status, r.headers["x-cache"]) for r in replies] == [(200, "off")] * 3


@pytest.mark.servers
def test_redis_that_never_answers_stalls_a_request_briefly_then_is_skipped(cached: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    """A listening socket nobody accepts on: TCP connects, no reply ever comes (a hung Redis).
    One request waits out the 0.2 s read timeout, with no retries; the next ones skip Redis."""
    with socket.socket() as hung:
        hung.bind((LOOPBACK, 0))
        hung.listen(8)
        monkeypatch.setenv("redis_port", str(hung.getsockname()[1]))
        started = time.monotonic()
        first = invoke(cached, photo(), {"w": "100"})
        first_took = time.monotonic() - started
        started = time.monotonic()
        later = [invoke(cached, photo(), {"w": "100"}) for _ in range(3)]
        later_took = time.monotonic() - started
    assert (first.status, first.headers["x-cache"]) == (200, "off") and first.image().size == (100, 75)
    assert all((r.status, r.headers["x-cache"]) == (200, "off") for r in later)
    assert 0.2 <= first_took < 2 and later_took < 1


# ---- the cache on replicated Valkey: asking the sentinels, through a failover --------------------


@pytest.mark.parametrize(
    ("value", "says"),
    [("redis-0:26379,redis-1", "'redis-1' is not host:port"), (":26379", "':26379' is not host:port"), ("h:0", "'h:0' is not host:port"), ("h:port", "is not host:port")],
)
def test_a_malformed_sentinel_list_names_itself(handler: ModuleType, monkeypatch: pytest.MonkeyPatch, value: str, says: str) -> None:
    monkeypatch.setenv("redis_sentinels", value)
    with pytest.raises(ValueError, match=f"redis_sentinels=.*{says}"):
        invoke(handler, photo(), {"w": "10"})


def test_the_sentinel_list_is_read_as_the_stack_gives_it(handler: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("redis_sentinels", " redis-0.redis-headless.faas-data.svc.cluster.local:26379, redis-1.x:26379 ,")
    settings = handler.Settings.from_env()
    assert settings.redis_sentinels == (("redis-0.redis-headless.faas-data.svc.cluster.local", 26379), ("redis-1.x", 26379))
    assert settings.redis_master_name == "redis"  # the default, as the stack names the group


@pytest.fixture
def replicated(tmp_path: Path) -> Iterator[ValkeyGroup]:
    with valkey_sentinel_group(tmp_path / "valkey", PASSWORD) as group:
        yield group


@pytest.fixture
def sentinel_cached(handler: ModuleType, replicated: ValkeyGroup, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The handler as a replicated stack configures it: the sentinels, no redis_host."""
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "redis-password").write_text(PASSWORD + "\n")
    monkeypatch.setenv("redis_sentinels", ",".join(f"{LOOPBACK}:{n.sentinel_port}" for n in replicated.nodes))
    monkeypatch.setenv("redis_master_name", "redis")
    monkeypatch.setenv("secret_mount_path", str(secrets))
    monkeypatch.setattr(handler, "REDIS_RETRY_AFTER_S", 0.5)  # try again soon after a failure
    return handler


@pytest.mark.servers
def test_the_cache_asks_the_sentinels_and_survives_a_failover(sentinel_cached: ModuleType, replicated: ValkeyGroup) -> None:
    body = photo((640, 480))
    assert invoke(sentinel_cached, body, {"w": "320"}).headers["x-cache"] == "miss"
    assert invoke(sentinel_cached, body, {"w": "320"}).headers["x-cache"] == "hit"
    primary = replicated.nodes[0]
    primary_client = redis.Redis(host=LOOPBACK, port=primary.port, password=PASSWORD)
    assert primary_client.exists(cache_key(body, "320xauto")) == 1  # it wrote to the primary
    primary_client.close()
    replicated.kill(primary)
    # Every request is answered while the primary is gone (uncached), and the cache comes back
    # on the promoted replica within the failover bound; the entry replicated before the kill.
    deadline = time.monotonic() + 45  # the failover's bound with room for a loaded CI machine
    states = []
    while time.monotonic() < deadline:
        reply = invoke(sentinel_cached, body, {"w": "320"})
        assert reply.status == 200
        states.append(reply.headers["x-cache"])
        if states[-1] == "hit" and len(states) > 1 and "off" in states:
            break
        time.sleep(0.2)
    assert "off" in states and states[-1] == "hit", states
    # It was the promoted replica that answered: the sentinels agree on it (the leader of the
    # failover knows first; the other learns it from the leader's hello within seconds).
    live = [n for n in replicated.nodes if n.sentinel is not None]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(int(sentinel_master(n.sentinel_port, PASSWORD)["port"]) == primary.port for n in live):
        time.sleep(0.1)
    assert all(int(sentinel_master(n.sentinel_port, PASSWORD)["port"]) != primary.port for n in live)

"""img-resize: an OpenFaaS python3-http function that resizes the posted image.

    curl --data-binary @photo.jpg "$OPENFAAS_URL/function/img-resize?w=320"
    curl --data-binary @logo.png -H 'X-Width: 64' -H 'X-Height: 64' "$OPENFAAS_URL/function/img-resize"

Request: the image is the raw body (JPEG, PNG, WebP or GIF). The size comes from the query
(`w`, `h`) or, when the query has neither, from the headers `X-Width` / `X-Height`.
- One dimension: the other follows the aspect ratio.
- Both: the image is fitted inside the w x h box, aspect ratio kept (thumbnail semantics, no
  cropping, no padding), so one side may come out smaller than asked.
- Never upscaled: a box larger than the image returns it at its own size (re-encoded, EXIF
  orientation applied). Enlarging adds no information and only costs bytes and CPU.

Response: the image in its own format and Content-Type (JPEG quality 85, EXIF orientation
applied and EXIF dropped, so a viewer will not rotate it twice and no GPS data leaks; the ICC
colour profile is kept). Animated GIF/WebP give a still of their first frame.
`X-Cache: hit|miss|off` says whether Redis answered (off: no Redis configured or reachable).
Errors are `text/plain` with one line: 400 for a body that is not a supported image, for a
missing, non-integer or out-of-range size; 413 for a body over `max_input_bytes` (checked
before decoding) or an image over `max_input_pixels` (a decompression bomb: a small file that
would decode to gigabytes; checked from the header, before any pixel is decoded).
A malformed setting (e.g. max_input_bytes=10MB) raises, naming it: the template answers 500.

Environment (all optional; stack.yml sets them):
  max_input_bytes    10485760   larger bodies get 413, before any decoding
  max_input_pixels   50000000   larger images (width x height, from the header) get 413
  max_dimension      4096       largest w / h a request may ask for (400 above)
  default_width      (unset)    width for a request that names no size: what a topic message
                                gets (the nats-connector forwards the body only)
  cache_ttl_seconds  86400      how long a result stays in Redis
  redis_host         (unset)    Redis host; unset (and no redis_sentinels) means no cache at all
  redis_port         6379
  redis_sentinels    (unset)    replicated Valkey: the sentinels, "host:port,host:port,..."; when
                                set, the cache asks them for the primary (redis-py's Sentinel
                                client) and redis_host/redis_port are not used
  redis_master_name  redis      the group the sentinels monitor
  secret_mount_path  /var/openfaas/secrets   the password is the file `redis-password` there;
                                no file means Redis without a password

How the python3-http template returns what `handle` gives it (openfaas/python-flask-template,
template/python3-http/index.py, latest version read, and tried under Flask 3.1):
a dict goes through `format_body`, which turns any body that is not a dict into `str(body)`;
for bytes that is the text "b'\\xff\\xd8...'", whatever the Content-Type, so an image in a dict
arrives corrupted. Anything that is not a dict is handed to Flask unchanged (upstream PR #70), and
Flask sends the bytes of a `(body, status, headers)` tuple untouched. So every answer here is
such a tuple, errors included, to have one shape and an explicit Content-Type.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import ExifTags, Image, ImageOps

# What the python3-http template hands to Flask: (body, status, headers).
Response = tuple[bytes, int, dict[str, str]]

# Formats read and written. Opening only these keeps Pillow's rarer decoders (and their bugs)
# away from untrusted uploads.
FORMATS = ("JPEG", "PNG", "WEBP", "GIF")
SAVE_OPTIONS: dict[str, dict[str, Any]] = {
    "JPEG": {"quality": 85},
    "WEBP": {"quality": 85},
    "PNG": {},  # lossless; `optimize` would cost several times the CPU for a few percent
    "GIF": {},
}

CACHE_PREFIX = "img-resize:v1"  # bump when the output for the same input changes
CACHE_MAX_BYTES = 4 * 1024 * 1024  # larger results are served but not stored: Redis is shared
REDIS_TIMEOUT_S = 0.2  # connect and read timeouts: a dead or hung Redis costs one request 0.2-0.4 s
REDIS_RETRY_AFTER_S = 10.0  # after a Redis failure, skip the cache for this long

DIMENSION = re.compile(r"[0-9]{1,9}")  # digits only: no sign, spaces, decimals or 1e3


class Reject(Exception):
    """A request answered with an error status and a one-line text message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Settings:
    max_input_bytes: int
    max_input_pixels: int
    max_dimension: int
    default_width: int | None
    cache_ttl_seconds: int
    redis_host: str
    redis_port: int
    redis_sentinels: tuple[tuple[str, int], ...]
    redis_master_name: str
    secret_mount_path: Path

    @classmethod
    def from_env(cls) -> Settings:
        """Read per request (a few dict look-ups) so that a bad value names itself in the log."""
        env = os.environ
        return cls(
            max_input_bytes=_env_int("max_input_bytes", 10 * 1024 * 1024),
            # 50 MP: 200 MB decoded as RGBA, inside the function's 512Mi limit.
            max_input_pixels=_env_int("max_input_pixels", 50_000_000),
            max_dimension=_env_int("max_dimension", 4096),
            default_width=_env_int("default_width", 0) or None,
            cache_ttl_seconds=_env_int("cache_ttl_seconds", 86400),
            redis_host=env.get("redis_host", "").strip(),
            redis_port=_env_int("redis_port", 6379),
            redis_sentinels=_env_addresses("redis_sentinels"),
            redis_master_name=env.get("redis_master_name", "").strip() or "redis",
            secret_mount_path=Path(env.get("secret_mount_path", "/var/openfaas/secrets")),
        )


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"environment variable {name}={raw!r} is not an integer") from None
    if value < 1:
        raise ValueError(f"environment variable {name}={raw!r} must be at least 1")
    return value


def _env_addresses(name: str) -> tuple[tuple[str, int], ...]:
    """"host:port,host:port" -> ((host, port), ...); empty or unset -> ()."""
    raw = os.environ.get(name, "").strip()
    addresses = []
    for item in filter(None, (part.strip() for part in raw.split(","))):
        host, _, port = item.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"environment variable {name}={raw!r}: {item!r} is not host:port")
        addresses.append((host, int(port)))
    return tuple(addresses)


def handle(event: Any, context: Any) -> Response:
    settings = Settings.from_env()
    try:
        body = bytes(event.body or b"")
        # The body is already in memory (Flask read it); what this bound saves is the decoding.
        # The gateway's and watchdog's own limits are what stop a huge upload on the wire.
        if len(body) > settings.max_input_bytes:
            raise Reject(413, f"body is {len(body)} bytes, the limit is {settings.max_input_bytes}")
        if not body:
            raise Reject(400, "POST an image (JPEG, PNG, WebP or GIF) as the request body")
        width, height = _requested_size(event, settings.max_dimension, settings.default_width)
        return _resize_cached(body, width, height, settings)
    except Reject as reject:
        return (f"{reject.message}\n".encode(), reject.status, {"Content-Type": "text/plain; charset=utf-8"})


def _requested_size(event: Any, limit: int, default_width: int | None) -> tuple[int | None, int | None]:
    """(width, height) from the query, else from the headers, else `default_width`; at least
    one, each 1..limit."""
    query = event.query or {}
    if query.get("w") is not None or query.get("h") is not None:
        named = {"w": query.get("w"), "h": query.get("h")}
    else:
        named = {"X-Width": _header(event.headers, "X-Width"), "X-Height": _header(event.headers, "X-Height")}
    if all(value is None for value in named.values()):
        if default_width:
            return min(default_width, limit), None
        raise Reject(400, "missing size: give ?w= and/or ?h= (or X-Width / X-Height), in pixels")
    width, height = (_dimension(name, value, limit) for name, value in named.items())
    return width, height


def _header(headers: Any, name: str) -> str | None:
    """Case-insensitive, whether `headers` is Werkzeug's Headers or a plain dict."""
    for key, value in (headers or {}).items():
        if key.lower() == name.lower():
            return value
    return None


def _dimension(name: str, raw: str | None, limit: int) -> int | None:
    if raw is None:
        return None
    if not DIMENSION.fullmatch(raw.strip()):
        raise Reject(400, f"{name}={raw!r} is not a whole number of pixels")
    value = int(raw)
    if not 1 <= value <= limit:
        raise Reject(400, f"{name}={value} is out of range: 1..{limit} pixels")
    return value


def _resize_cached(body: bytes, width: int | None, height: int | None, settings: Settings) -> Response:
    # The output format is the input's, so the content hash already fixes it: hash + size is the
    # whole key. A hit skips decoding altogether.
    key = f"{CACHE_PREFIX}:{hashlib.sha256(body).hexdigest()}:{width or 'auto'}x{height or 'auto'}"
    cache = _cache(settings)
    found = cache.get(key) if cache is not None else OFF
    if isinstance(found, tuple):
        return (found[1], 200, {"Content-Type": found[0], "X-Cache": "hit"})
    content_type, data = resize(body, width, height, settings.max_input_pixels)
    if cache is not None and found is not OFF and len(data) <= CACHE_MAX_BYTES:
        cache.put(key, content_type, data, settings.cache_ttl_seconds)
    # "miss": Redis answered and had nothing; "off": no Redis configured, or it just failed.
    return (data, 200, {"Content-Type": content_type, "X-Cache": "off" if found is OFF else "miss"})


def resize(body: bytes, width: int | None, height: int | None, max_pixels: int) -> tuple[str, bytes]:
    """(Content-Type, encoded image) of `body` fitted to width and/or height; raises Reject."""
    try:
        image = Image.open(io.BytesIO(body), formats=FORMATS)  # reads the header only
    except Image.DecompressionBombError as error:
        raise Reject(413, f"image too large to decode: {error}") from None
    except (OSError, SyntaxError, ValueError):  # what Pillow raises for a body it cannot identify
        raise Reject(400, "body is not a JPEG, PNG, WebP or GIF image") from None
    with image:
        fmt = image.format or ""
        if image.width * image.height > max_pixels:
            raise Reject(413, f"image is {image.width}x{image.height} pixels, more than {max_pixels}")
        # EXIF orientations 5-8 swap width and height: the size is asked in the upright image.
        swapped = image.getexif().get(ExifTags.Base.Orientation, 1) in (5, 6, 7, 8)
        upright = (image.height, image.width) if swapped else image.size
        target = fit(upright, width, height)
        try:
            if fmt == "JPEG":
                # Let libjpeg decode at 1/2, 1/4 or 1/8 scale (never below the target): the
                # biggest saving for large photos. Must precede the first load.
                image.draft(image.mode, (target[1], target[0]) if swapped else target)
            upright_image = ImageOps.exif_transpose(image)  # loads the pixels
            frame = _resizable(upright_image).resize(target, Image.Resampling.LANCZOS, reducing_gap=3.0)
            out = io.BytesIO()
            frame.save(out, fmt, icc_profile=image.info.get("icc_profile"), **SAVE_OPTIONS[fmt])
        except Image.DecompressionBombError as error:  # GIF frames are checked while decoding
            raise Reject(413, f"image too large to decode: {error}") from None
        except (OSError, SyntaxError, ValueError, EOFError):  # truncated or corrupt pixel data
            raise Reject(400, f"{fmt} image could not be decoded (truncated or corrupt)") from None
    return Image.MIME[fmt], out.getvalue()


def fit(size: tuple[int, int], width: int | None, height: int | None) -> tuple[int, int]:
    """The largest size inside the requested width/height box, same aspect, never above `size`."""
    src_w, src_h = size
    scale = min(width / src_w if width else 1.0, height / src_h if height else 1.0, 1.0)
    # round() cannot exceed the box: src * scale <= the requested integer.
    return max(1, round(src_w * scale)), max(1, round(src_h * scale))


def _resizable(image: Image.Image) -> Image.Image:
    """Palette and 1-bit images resize with nearest-neighbour only: convert them first, so the
    result is smooth. GIF saving quantizes back to a palette; a palette PNG comes out RGB(A)."""
    if image.mode in ("P", "PA"):
        return image.convert("RGBA" if image.mode == "PA" or "transparency" in image.info else "RGB")
    if image.mode == "1":
        return image.convert("L")
    return image


# ---- Redis cache: optional, never allowed to fail or stall a request -------------------------


class _Cache:
    """One Redis client per process (a connection pool), created lazily on first use. With
    sentinels, the pool asks them for the primary on every new connection and reconnects after
    a failover (redis-py's SentinelConnectionPool): what a function needs on a replicated stack."""

    def __init__(self, host: str, port: int, sentinels: tuple[tuple[str, int], ...], master_name: str, password: str | None) -> None:
        import redis  # here, not at module top: importing the handler needs no Redis at all
        from redis.backoff import NoBackoff
        from redis.retry import Retry
        from redis.sentinel import Sentinel

        self.identity = (host, port, sentinels, master_name, password)
        self.where = f"the sentinels {','.join(f'{h}:{p}' for h, p in sentinels)} ({master_name})" if sentinels else f"{host}:{port}"
        self.error: type[Exception] = redis.RedisError
        # redis-py retries 10 times by default: 10 x the timeout on a dead host. Don't.
        options: dict[str, Any] = {"socket_connect_timeout": REDIS_TIMEOUT_S, "socket_timeout": REDIS_TIMEOUT_S, "retry": Retry(NoBackoff(), 0)}
        if sentinels:
            # The sentinels take the same password (the stack sets one for servers and sentinels).
            sentinel = Sentinel(list(sentinels), sentinel_kwargs={"password": password, **options})
            self.client = sentinel.master_for(master_name, password=password, **options)
        else:
            self.client = redis.Redis(host=host, port=port, password=password, **options)

    def get(self, key: str) -> tuple[str, bytes] | None | object:
        """(Content-Type, body) on a hit, None on a miss, OFF when Redis failed."""
        found = self._call(lambda: self.client.hmget(key, ["type", "body"]))
        if found is OFF or found[0] is None or found[1] is None:
            return found if found is OFF else None
        return found[0].decode(), found[1]

    def put(self, key: str, content_type: str, data: bytes, ttl: int) -> None:
        def store() -> object:
            with self.client.pipeline(transaction=True) as pipe:  # HSET + EXPIRE or neither
                pipe.hset(key, mapping={"type": content_type, "body": data})
                pipe.expire(key, ttl)
                return pipe.execute()

        self._call(store)

    def _call(self, command: Any) -> Any:
        global _down_until
        try:
            result = command()
        except self.error as error:
            # Log the first failure only, then stay quiet while the cache is skipped.
            if not _down_until:
                print(f"img-resize: Redis at {self.where} failed, serving uncached: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
            _down_until = time.monotonic() + REDIS_RETRY_AFTER_S
            return OFF
        if _down_until:
            print("img-resize: Redis answers again, cache back on", file=sys.stderr, flush=True)
            _down_until = 0.0
        return result


OFF = object()  # what a cache call gives when Redis failed (None is a plain miss)
_cache_client: _Cache | None = None
_down_until = 0.0  # monotonic time before which Redis is not tried again; 0.0 while healthy


def _cache(settings: Settings) -> _Cache | None:
    """The process's cache, or None when no Redis is configured or it failed a moment ago."""
    global _cache_client
    if not (settings.redis_host or settings.redis_sentinels) or not _redis_up():
        return None
    # The secret file is read per request (microseconds) so a rotated password is picked up;
    # a new host, port or password builds a new client.
    identity = (settings.redis_host, settings.redis_port, settings.redis_sentinels, settings.redis_master_name, _redis_password(settings.secret_mount_path))
    if _cache_client is None or _cache_client.identity != identity:
        _cache_client = _Cache(*identity)
    return _cache_client


def _redis_up() -> bool:
    return not _down_until or time.monotonic() >= _down_until


def _redis_password(secrets: Path) -> str | None:
    """The `redis-password` secret, or None (Redis without auth) when it is not mounted."""
    try:
        return (secrets / "redis-password").read_text().strip() or None
    except OSError:
        return None

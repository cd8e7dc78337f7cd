"""Redis-compatible state: the functions' shared state and cache, with a password and an
append-only file. The server is Valkey (BSD-3, the open fork of Redis 7.2; why: the pin's
comment in settings/versions.py): same protocol, commands and redis.conf directives, so
clients, the config below and the names (`redis`, `redis-password`) stay as they were.

`redis.conf` is data (`server_config`), rendered by `render_config` into a ConfigMap. The
password is not in it: it comes from pulumi-random, stays a Pulumi secret, and reaches Redis
as a second file, `auth.conf` (`requirepass ...`), in a Secret that `redis.conf` includes. So
the password is never in a ConfigMap, a command line, an environment variable or plain state,
and the probes read the same Secret's `password` file to authenticate.

Functions get the password as Secret `redis-password` in the function namespace (mounted by
faas-netes' convention at /var/openfaas/secrets/redis-password) and reach Redis at `address`.
Only the function namespace is admitted by the NetworkPolicy.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import Any

from render import stateful as data
from render.stateful import quantity_value
from settings import versions
from settings.data_services import REDIS_PORT, RedisSettings, redis_host

APP = "redis"
PORT = REDIS_PORT
CONFIG_DIR = "/etc/redis"
AUTH_DIR = "/etc/redis-auth"
DATA_DIR = "/data"
FUNCTION_SECRET = "redis-password"  # also the key: /var/openfaas/secrets/redis-password
# The pod sysctls Redis sets, with the node's values; the node's kubelet must allow exactly
# these (components/cluster.py, settings.POD_SYSCTLS_ALLOWED). A larger accept queue than the
# pod network namespace's default lets bursts of new connections wait instead of failing.
POD_SYSCTLS = ("net.core.somaxconn",)

# --- the configuration -----------------------------------------------------------------------


def server_config(settings: RedisSettings, somaxconn: str | None = None) -> dict[str, Any]:
    """redis.conf as data, in file order. The `include` comes last, so nothing above it can
    override the password it sets."""
    config: dict[str, Any] = {
        "bind": ("*", "-::*"),  # every IPv4 address, and IPv6 where the pod has it
        "protected-mode": True,  # moot with a password; kept in case one is ever missing
        "port": PORT,
    }
    if somaxconn and somaxconn.isdigit():
        config["tcp-backlog"] = int(somaxconn)  # as long as the accept queue the pod allows
    config.update(
        {
            "timeout": 0,
            "tcp-keepalive": 300,
            "daemonize": False,
            "loglevel": "notice",
            "logfile": "",  # stdout: kubectl logs
            "maxmemory": int(quantity_value(settings.maxmemory)),  # bytes: what the setting meant
            "maxmemory-policy": settings.maxmemory_policy,
            "appendonly": True,
            "appendfsync": "everysec",  # at most a second of writes lost, at disk speed
            # No RDB snapshots on top: the append-only file is the persistence, and one fork
            # for its rewrites is enough memory pressure.
            "save": "",
            "dir": DATA_DIR,
            # Redis 7 / Valkey defaults, stated: functions share one password, so the commands
            # that reconfigure the server's files or load code stay off.
            "enable-protected-configs": False,
            "enable-debug-command": False,
            "enable-module-command": False,
            "include": f"{AUTH_DIR}/auth.conf",
        }
    )
    return config


def _arg(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    text = str(value)
    if text and not any(c.isspace() or c in "\"'\\" for c in text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_config(config: Mapping[str, Any]) -> str:
    """Data -> redis.conf text: one `directive args` line per key, in the mapping's order;
    a tuple is several arguments, yes/no for booleans, quotes where needed."""
    lines = []
    for key, value in config.items():
        args = value if isinstance(value, tuple) else (value,)
        lines.append(f"{key} {' '.join(_arg(a) for a in args)}")
    return "\n".join(lines) + "\n"


def auth_config(password: str) -> str:
    """The included file that sets the password (the password is alphanumeric)."""
    return f"requirepass {password}\n"


def pod_sysctls(node_sysctl: tuple[tuple[str, str], ...]) -> list[dict[str, str]]:
    node = dict(node_sysctl)
    return [{"name": key, "value": node[key]} for key in POD_SYSCTLS if key in node]


# --- probes: valkey-cli, authenticated with the mounted password -------------------------------

# The image's server and client (valkey-container installs valkey-server and valkey-cli), and
# the variable the client reads the password from (src/valkey-cli.c CLI_AUTH_ENV; it falls back
# to REDISCLI_AUTH). The real-server tests run Debian's redis-server and redis-cli instead
# (Debian bookworm has no Valkey package): REDIS_TOOLS.
SERVER = "valkey-server"
CLI = ("valkey-cli", "VALKEYCLI_AUTH")
REDIS_TOOLS = ("redis-cli", "REDISCLI_AUTH")


def probe_script(password_file: str, port: int, accept: tuple[str, ...], cli: tuple[str, str] = CLI) -> str:
    """A POSIX sh script: PING with the password, succeed on an accepted reply. A wrong or
    missing password answers NOAUTH/WRONGPASS, never PONG, so the probe proves auth works.
    The password travels in the client's environment variable, not on its command line."""
    patterns = "|".join(accept)
    binary, auth_env = cli
    return (
        f'reply=$({auth_env}="$(cat {shlex.quote(password_file)})" {binary} -h 127.0.0.1 -p {port} ping 2>&1) || exit 1\n'
        f'case "$reply" in {patterns}) exit 0 ;; esac\n'
        'echo "$reply" >&2\n'
        "exit 1\n"
    )


READY = ("PONG",)
ALIVE = ("PONG", "LOADING*")  # loading a large append-only file is not a reason to restart


def _exec_probe(accept: tuple[str, ...], period: int) -> dict[str, Any]:
    return {
        "exec": {"command": ["sh", "-c", probe_script(f"{AUTH_DIR}/password", PORT, accept)]},
        "periodSeconds": period,
        "timeoutSeconds": 5,
        "failureThreshold": 3,
    }


def container(settings: RedisSettings) -> dict[str, Any]:
    return {
        "name": "redis",
        "image": versions.REDIS_IMAGE,
        "imagePullPolicy": "IfNotPresent",  # a pinned tag: restarts need no registry
        # valkey-server itself, not the image's entrypoint (which would chown as root).
        "command": [SERVER, f"{CONFIG_DIR}/redis.conf"],
        "ports": [{"name": "redis", "containerPort": PORT, "protocol": "TCP"}],
        "resources": data.resources(settings.cpu_limit, settings.memory_limit),
        "livenessProbe": {**_exec_probe(ALIVE, period=10), "initialDelaySeconds": 10},
        "readinessProbe": _exec_probe(READY, period=5),
        "securityContext": dict(data.CONTAINER_SECURITY),
        "volumeMounts": [
            {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
            {"name": "auth", "mountPath": AUTH_DIR, "readOnly": True},
            {"name": data.DATA_VOLUME, "mountPath": DATA_DIR},
        ],
    }


def manifests(settings: RedisSettings, namespace: str, function_namespace: str, node_sysctl: tuple[tuple[str, str], ...]) -> dict[str, dict[str, Any]]:
    """Every object of the Redis server but the Secrets (they carry the password), by role."""
    sysctls = pod_sysctls(node_sysctl)
    text = render_config(server_config(settings, dict(node_sysctl).get("net.core.somaxconn")))
    volumes = [
        {"name": "config", "configMap": {"name": "redis-config"}},
        {"name": "auth", "secret": {"secretName": "redis-auth", "defaultMode": 0o440}},
    ]
    pod_security = {**data.POD_SECURITY, **({"sysctls": sysctls} if sysctls else {})}
    return {
        "config": data.config_map("redis-config", namespace, APP, {"redis.conf": text}),
        "service": data.service("redis", namespace, APP, {"redis": PORT}),
        "statefulset": data.stateful_set(
            "redis", namespace, APP, container(settings), volumes, settings.storage, {"checksum/config": data.checksum(text)}, pod_security
        ),
        "policy": data.ingress_policy("redis", namespace, data.selector(APP), {PORT: (function_namespace,)}),
    }


host = redis_host


def address(namespace: str) -> str:
    return f"{host(namespace)}:{PORT}"



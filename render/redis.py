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

Replicated (`replicas` > 1, dataReplicas): Valkey's own primary/replica replication with
Sentinel for automatic failover (valkey.io/topics/sentinel, /topics/replication), the design
Valkey documents for high availability without Valkey Cluster (no sharding needed here). Each
pod of StatefulSet `redis` runs valkey-server and a Sentinel sidecar (`valkey-server <conf>
--sentinel`, the same image's binary). Pod 0 is the initial primary; an init container
(scripts/redis/redis-init.sh) asks the running sentinels who the primary is now, so a pod that
comes back after a failover rejoins as a replica. Every address is a pod's DNS name on the
headless Service, never an IP: pods get a new IP when they restart, and Sentinel follows
hostnames when told to (`resolve-hostnames`, `announce-hostnames`; Redis 7.0 re-resolves a
disconnected instance's name, redis/redis#10146 and #11590, which Valkey inherits). The
primary refuses writes when no replica is in sync (`min-replicas-to-write`): durability over
availability, docs/data.md. Clients ask the sentinels (`sentinels`, `MASTER_NAME`); there is no
`redis` Service on a replicated stack, since a Service over all pods would send writes to
replicas, which refuse them (READONLY).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from render import policies
from render import stateful as data
from render.stateful import quantity_value
from settings import versions
from settings.data_services import REDIS_MASTER_NAME, REDIS_PORT, REDIS_SENTINEL_PORT, RedisSettings, redis_host

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

# --- replication and Sentinel (replicas > 1) ---------------------------------------------------
SENTINEL_PORT = REDIS_SENTINEL_PORT
MASTER_NAME = REDIS_MASTER_NAME  # the name the sentinels monitor the group under; clients ask for it
RUN_DIR = "/run/valkey"  # emptyDir (memory): replication.conf and the writable sentinel.conf
INIT_SCRIPT = Path(__file__).parent / "scripts" / "redis" / "redis-init.sh"
# The primary accepts a write only while at least one replica acknowledged the replication
# stream within the last 10 s (valkey.io/topics/replication, "Allow writes only with N attached
# replicas"). What it buys: a write the primary accepted is on a replica within ~10 s, so a
# failover loses at most that window, never everything since the last lost contact. What it
# costs: with no replica in sync (two of three pods down) the primary refuses writes (NOREPLICAS)
# instead of accepting ones a failover would lose. Clients that need a write on a replica before
# they answer use WAIT 1 <ms> on top (the fault test does).
MIN_REPLICAS_TO_WRITE = 1
MIN_REPLICAS_MAX_LAG = 10
# How long a primary may be silent before a sentinel calls it down (subjectively; a quorum of
# them makes it objective and starts a failover). Valkey's example uses 60000 and its default
# is 30000; 5 s keeps the failover under 10 s (measured: tests/test_valkey_failover.py, docs/data.md)
# while a pod's restart or a short network blip on one node is still shorter than that: a
# PING every second, and a replica or sentinel reconnecting in milliseconds, does not trip it.
DOWN_AFTER_MS = 5000
# Sentinel's bound on one failover: the same primary is not failed over again within twice this,
# and replicas not yet pointed at the new primary are forced after it. 3 minutes is Valkey's
# default; 30 s suits a three-replica set whose replicas resync in seconds.
FAILOVER_TIMEOUT_MS = 30000
# How long an init container whose pod lost its volume waits for the sentinels to promote a
# replica (redis-init.sh): two down-after periods and the failover's election, with margin.
EMPTY_PRIMARY_WAIT_S = 30
# How long the init container waits for the primary's pod name to appear in DNS (first start:
# the pods start together, and a name is published once its pod has an address).
RESOLVE_WAIT_S = 60
SENTINEL_RESOURCES = {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"cpu": "200m", "memory": "32Mi"}}


def quorum(replicas: int) -> int:
    """Sentinels that must agree the primary is down: a majority, so a partitioned minority can
    never fail over on its own (3 -> 2, 5 -> 3). A failover also needs a majority of all known
    sentinels to elect a leader, which this matches."""
    return replicas // 2 + 1

# --- the configuration -----------------------------------------------------------------------


def server_config(settings: RedisSettings, somaxconn: str | None = None, replicated: bool = False) -> dict[str, Any]:
    """redis.conf as data, in file order. The `include` comes last, so nothing above it can
    override the password it sets. Replicated: the write guard, and first the per-pod file the
    init container writes (this pod's announced name, and `replicaof` on a replica)."""
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
        }
    )
    if replicated:
        config.update(
            {
                "min-replicas-to-write": MIN_REPLICAS_TO_WRITE,
                "min-replicas-max-lag": MIN_REPLICAS_MAX_LAG,
                "include": [f"{RUN_DIR}/replication.conf", f"{AUTH_DIR}/auth.conf"],
            }
        )
    else:
        config["include"] = f"{AUTH_DIR}/auth.conf"
    return config


def sentinel_config() -> dict[str, Any]:
    """The global part of sentinel.conf; redis-init.sh appends this pod's `announce-ip`, the
    `monitor` line, `sentinel_master_config` and the passwords. Hostnames must be switched on
    before the `monitor` line names one (valkey.io/topics/sentinel, "IP addresses and DNS names")."""
    return {
        "port": SENTINEL_PORT,
        "bind": ("*", "-::*"),
        "daemonize": False,
        "loglevel": "notice",
        "logfile": "",
        "dir": RUN_DIR,  # where Sentinel rewrites its config: the emptyDir
        "sentinel resolve-hostnames": True,
        "sentinel announce-hostnames": True,
    }


def sentinel_master_config() -> dict[str, Any]:
    """The monitored group's timings; after the `monitor` line, which they refer to."""
    return {
        f"sentinel down-after-milliseconds {MASTER_NAME}": DOWN_AFTER_MS,
        f"sentinel failover-timeout {MASTER_NAME}": FAILOVER_TIMEOUT_MS,
        # One replica resyncs from the new primary at a time: the other keeps serving reads.
        f"sentinel parallel-syncs {MASTER_NAME}": 1,
    }


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
    a tuple is several arguments, a list the same directive repeated, yes/no for booleans,
    quotes where needed."""
    lines = []
    for key, value in config.items():
        for each in value if isinstance(value, list) else [value]:
            args = each if isinstance(each, tuple) else (each,)
            lines.append(f"{key} {' '.join(_arg(a) for a in args)}")
    return "\n".join(lines) + "\n"


def auth_config(password: str, replicated: bool = False) -> str:
    """The included file that sets the password (the password is alphanumeric). Replicated:
    also what a replica presents to its primary (`masterauth`): every pod may become either."""
    return f"requirepass {password}\n" + (f"masterauth {password}\n" if replicated else "")


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


def _exec_probe(accept: tuple[str, ...], period: int, port: int = PORT) -> dict[str, Any]:
    return {
        "exec": {"command": ["sh", "-c", probe_script(f"{AUTH_DIR}/password", port, accept)]},
        "periodSeconds": period,
        "timeoutSeconds": 5,
        "failureThreshold": 3,
    }


RUN_MOUNT = {"name": "run", "mountPath": RUN_DIR}


def container(settings: RedisSettings, replicated: bool = False) -> dict[str, Any]:
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
            # replication.conf, read only: a failover's CONFIG REWRITE (Sentinel sends one with
            # every REPLICAOF) fails on the read-only redis.conf, harmlessly: the REPLICAOF has
            # taken effect, and the init container decides the role again at the next start.
            *([{**RUN_MOUNT, "readOnly": True}] if replicated else []),
        ],
    }


def sentinel_container() -> dict[str, Any]:
    """The Sentinel sidecar: the same image's server in Sentinel mode, on the config the init
    container built in the emptyDir (which Sentinel rewrites as it learns the group)."""
    return {
        "name": "sentinel",
        "image": versions.REDIS_IMAGE,
        "imagePullPolicy": "IfNotPresent",
        # `valkey-server <config> --sentinel`, the documented second form (valkey.io/topics/sentinel);
        # the image links valkey-sentinel to valkey-server (valkey-container's Dockerfile).
        "command": [SERVER, f"{RUN_DIR}/sentinel.conf", "--sentinel"],
        "ports": [{"name": "sentinel", "containerPort": SENTINEL_PORT, "protocol": "TCP"}],
        "resources": SENTINEL_RESOURCES,
        "livenessProbe": {**_exec_probe(READY, period=10, port=SENTINEL_PORT), "initialDelaySeconds": 10},
        "readinessProbe": _exec_probe(READY, period=5, port=SENTINEL_PORT),
        "securityContext": dict(data.CONTAINER_SECURITY),
        "volumeMounts": [{"name": "auth", "mountPath": AUTH_DIR, "readOnly": True}, RUN_MOUNT],
    }


def sentinels(namespace: str, replicas: int) -> tuple[str, ...]:
    """Every pod's Sentinel, host:port: what clients ask for the primary (each in turn)."""
    return tuple(f"{data.pod_host(APP, namespace, i)}:{SENTINEL_PORT}" for i in range(replicas))


def init_env(namespace: str, replicas: int) -> dict[str, str]:
    """redis-init.sh's settings but SELF_HOST (the pod's own name, from the downward API)."""
    return {
        "SELF_PORT": str(PORT),
        "SENTINEL_PORT": str(SENTINEL_PORT),
        "PRIMARY_HOST": data.pod_host(APP, namespace, 0),
        "PRIMARY_PORT": str(PORT),
        "SENTINELS": " ".join(sentinels(namespace, replicas)),
        "MASTER_NAME": MASTER_NAME,
        "QUORUM": str(quorum(replicas)),
        "PASSWORD_FILE": f"{AUTH_DIR}/password",
        "CONFIG_DIR": CONFIG_DIR,
        "RUN_DIR": RUN_DIR,
        "DATA_DIR": DATA_DIR,
        "WAIT_SECONDS": str(EMPTY_PRIMARY_WAIT_S),
        "RESOLVE_SECONDS": str(RESOLVE_WAIT_S),
        "CLI": CLI[0],
    }


def init_container(namespace: str, replicas: int) -> dict[str, Any]:
    domain = f"{data.headless_name(APP)}.{namespace}.svc.cluster.local"
    env = [
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        # Kubernetes expands $(POD_NAME): the pod's DNS name on the headless Service (pod_host).
        {"name": "SELF_HOST", "value": f"$(POD_NAME).{domain}"},
        *({"name": k, "value": v} for k, v in init_env(namespace, replicas).items()),
    ]
    return {
        "name": "replication",
        "image": versions.REDIS_IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "command": ["sh", f"{CONFIG_DIR}/{INIT_SCRIPT.name}"],
        "env": env,
        "resources": SENTINEL_RESOURCES,
        "securityContext": dict(data.CONTAINER_SECURITY),
        "volumeMounts": [
            {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
            {"name": "auth", "mountPath": AUTH_DIR, "readOnly": True},
            {"name": data.DATA_VOLUME, "mountPath": DATA_DIR, "readOnly": True},
            RUN_MOUNT,
        ],
    }


def config_files(settings: RedisSettings, somaxconn: str | None, replicas: int = 1) -> dict[str, str]:
    """The ConfigMap's files: redis.conf; replicated, also Sentinel's parts and the init script."""
    files = {"redis.conf": render_config(server_config(settings, somaxconn, replicated=replicas > 1))}
    if replicas > 1:
        files |= {
            "sentinel.conf": render_config(sentinel_config()),
            "sentinel-master.conf": render_config(sentinel_master_config()),
            INIT_SCRIPT.name: INIT_SCRIPT.read_text(encoding="utf-8"),
        }
    return files


def replicated_policy(namespace: str, function_namespace: str) -> dict[str, Any]:
    """Functions may reach Valkey and the sentinels; the redis pods reach each other on both
    ports (replication, sentinels checking servers and each other). Nothing else."""
    ports = [PORT, SENTINEL_PORT]
    own = {"podSelector": {"matchLabels": data.selector(APP)}}  # this namespace's redis pods only
    rules = [policies.rule([policies.peer(function_namespace)], ports), policies.rule([own], ports)]
    return policies.ingress_policy("redis", namespace, {"matchLabels": data.selector(APP)}, rules)


def manifests(
    settings: RedisSettings, namespace: str, function_namespace: str, node_sysctl: tuple[tuple[str, str], ...], replicas: int = 1
) -> dict[str, dict[str, Any]]:
    """Every object of the Redis server but the Secrets (they carry the password), by role.
    Replicated: `service` is the sentinels' Service (what clients ask), plus `headless` and
    `budget`."""
    sysctls = pod_sysctls(node_sysctl)
    files = config_files(settings, dict(node_sysctl).get("net.core.somaxconn"), replicas)
    volumes: list[dict[str, Any]] = [
        {"name": "config", "configMap": {"name": "redis-config"}},
        {"name": "auth", "secret": {"secretName": "redis-auth", "defaultMode": 0o440}},
    ]
    pod_security = {**data.POD_SECURITY, **({"sysctls": sysctls} if sysctls else {})}
    checksum = data.checksum(files["redis.conf"] if replicas == 1 else "".join(files[k] for k in sorted(files)))
    if replicas == 1:
        return {
            "config": data.config_map("redis-config", namespace, APP, files),
            "service": data.service("redis", namespace, APP, {"redis": PORT}),
            "statefulset": data.stateful_set("redis", namespace, APP, container(settings), volumes, settings.storage, {"checksum/config": checksum}, pod_security),
            "policy": data.ingress_policy("redis", namespace, data.selector(APP), {PORT: (function_namespace,)}),
        }
    # The password file lives in memory only; Sentinel's file is a few kilobytes.
    volumes.append({"name": "run", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}})
    statefulset = data.stateful_set(
        "redis", namespace, APP, container(settings, replicated=True), volumes, settings.storage, {"checksum/config": checksum}, pod_security,
        replicas=replicas, init_containers=[init_container(namespace, replicas)], sidecars=[sentinel_container()],
    )
    return {
        "config": data.config_map("redis-config", namespace, APP, files),
        "service": data.service(SENTINEL_SERVICE, namespace, APP, {"sentinel": SENTINEL_PORT}),
        "headless": data.headless_service(data.headless_name(APP), namespace, APP, {"redis": PORT, "sentinel": SENTINEL_PORT}),
        "statefulset": statefulset,
        "budget": data.disruption_budget("redis", namespace, APP),
        "policy": replicated_policy(namespace, function_namespace),
    }


SENTINEL_SERVICE = "redis-sentinel"


host = redis_host


def address(namespace: str, replicas: int = 1) -> str:
    """Where clients go: the server, or, replicated, the sentinels' Service (which answers
    `SENTINEL get-master-addr-by-name redis`); `sentinels` lists each pod's for clients that
    try them in turn."""
    if replicas > 1:
        return f"{SENTINEL_SERVICE}.{namespace}.svc.cluster.local:{SENTINEL_PORT}"
    return f"{host(namespace)}:{PORT}"



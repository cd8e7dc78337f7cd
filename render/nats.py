"""NATS with JetStream: the stack's event bus, and in Pro the queue OpenFaaS uses.

Functions publish events to it; the nats-connector (deployed only when some function has a
`topic`) subscribes to those topics and calls the functions through the gateway. In the `pro`
edition OpenFaaS also uses it as its external NATS: the gateway queues `/async-function`
requests in JetStream and the Pro queue-worker consumes them. In `ce` the chart keeps its own
bundled NATS Streaming queue for `/async-function`, and this NATS carries events only.

Clients authenticate (`authorization`): each is a user in an account, and accounts share no
subjects. Account EVENTS holds `function` (every function: publish to the functions' topics
and under `events.`, subscribe under `events.` and to reply inboxes) and `nats-connector`
(subscribe to the topics, publish nothing). Account QUEUE (Pro only) holds `openfaas`, the
Pro gateway's and queue-worker's: chart 15.0.6 passes them no NATS credentials, so
`no_auth_user` maps every client that sends none to it (docs/limits.md says what that allows).
In CE there is no QUEUE account and a client without credentials is refused.

Its configuration is data (`server_config`), rendered to nats-server's format by
`render_config`; the tests start a real nats-server with the same text. The passwords are not
in it: the config names them as variables (`$function_password`) that `passwords.conf`
defines, a file in Secret `nats-auth` the config includes. So no password is in a ConfigMap,
a command line or an environment variable of the server; nats-server refuses to start if a
variable is missing (and if the file defines one the config does not use).
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from render import policies
from render import stateful as data
from render.stateful import quantity_value
from settings import versions
from settings.data_services import NATS_CLIENT_PORT, NatsSettings, nats_host, nats_url

APP = "nats"
CLIENT_PORT = NATS_CLIENT_PORT
MONITOR_PORT = 8222
CONFIG_DIR = "/etc/nats"
CONFIG_FILE = "nats-server.conf"
AUTH_DIR = "/etc/nats-auth"  # Secret nats-auth
PASSWORDS_FILE = "passwords.conf"
STORE_DIR = "/data"  # the volume claim; JetStream writes <store_dir>/jetstream
CLUSTER_PORT = 6222  # routes between the servers of a replicated NATS
ROUTES_FILE = "routes.conf"  # Secret nats-auth, replicated only: the route URLs and password

# --- the configuration -----------------------------------------------------------------------


@dataclass(frozen=True)
class Var:
    """A reference to a config variable, rendered `$name` (unquoted, as nats-server wants)."""

    name: str


@dataclass(frozen=True)
class Include:
    """An `include` directive. nats-server joins the path to the including file's directory
    even when it is absolute (conf/parse.go, itemInclude: filepath.Join), so it is relative."""

    path: str


# Who connects, and what each may do. Subjects under FUNCTION_SUBJECTS are the functions' own
# (events among themselves); the topics are where a function starts another one through the
# nats-connector. Nothing else: not the JetStream API, not the Pro queue (another account).
EVENTS_ACCOUNT = "EVENTS"
QUEUE_ACCOUNT = "QUEUE"
FUNCTION_USER = "function"
CONNECTOR_USER = "nats-connector"
QUEUE_USER = "openfaas"
# The data backups' user (render/data_backups.py), in the account that holds the streams: the
# JetStream API calls `nats stream ls` and `nats stream backup` make (jsm.go api/streams.go,
# snapshots.go; nats-server jetstream_api.go), and the snapshot's flow-control acks
# ($JS.SNAPSHOT.ACK.<stream>.<id>.<size>.<index>); the chunks and replies come to its inbox.
# Not STREAM.RESTORE, nor any create, update or delete: a restore is the operator's (the runbook).
BACKUP_USER = "nats-backup"
BACKUP_PUBLISH = (
    "$JS.API.INFO", "$JS.API.STREAM.NAMES", "$JS.API.STREAM.LIST", "$JS.API.STREAM.INFO.*", "$JS.API.STREAM.SNAPSHOT.*", "$JS.SNAPSHOT.ACK.>",
)
FUNCTION_SUBJECTS = "events.>"
REPLY_INBOXES = "_INBOX.>"  # where a request's reply comes back (nats.go's default prefix)


@dataclass(frozen=True)
class NatsClients:
    """What the stack connects to NATS, which decides its users."""

    topics: tuple[str, ...] = ()  # the functions' topics (render/function_objects.topics)
    pro_queue: bool = False  # OpenFaaS Pro queues /async-function here (openfaasEdition pro)
    backup: bool = False  # the data backups run (a backup user where streams are: Pro's QUEUE)

    @property
    def password_users(self) -> tuple[str, ...]:
        """The users that have a password, in config order (the queue user cannot send one)."""
        users = (FUNCTION_USER, CONNECTOR_USER) if self.topics else (FUNCTION_USER,)
        return (*users, BACKUP_USER) if self.pro_queue and self.backup else users


def password_variable(user: str) -> str:
    return f"{user.replace('-', '_')}_password"


def _user(name: str, publish: Mapping[str, list[str]], subscribe: Mapping[str, list[str]], **more: bool) -> dict[str, Any]:
    permissions = {"publish": dict(publish), "subscribe": dict(subscribe), **more}
    return {"user": name, "password": Var(password_variable(name)), "permissions": permissions}


def authorization(clients: NatsClients) -> dict[str, Any]:
    """The accounts, their users and permissions, as config keys (nats-server docs,
    configuration/securing_nats/accounts and authorization; server/opts.go parseAccounts)."""
    topics = list(clients.topics)
    # allow_responses: a function may answer a request it received, on its reply subject only.
    users = [
        _user(FUNCTION_USER, {"allow": [*topics, FUNCTION_SUBJECTS]}, {"allow": [FUNCTION_SUBJECTS, REPLY_INBOXES]}, allow_responses=True),
    ]
    if topics:
        users.append(_user(CONNECTOR_USER, {"deny": [">"]}, {"allow": topics}))
    accounts: dict[str, Any] = {EVENTS_ACCOUNT: {"users": users}}
    if not clients.pro_queue:
        return {"accounts": accounts}
    # The Pro gateway and queue-worker: JetStream in an account of their own, entered without
    # credentials because the chart gives them none to send.
    queue_users: list[dict[str, Any]] = [{"user": QUEUE_USER}]
    if clients.backup:
        queue_users.append(_user(BACKUP_USER, {"allow": list(BACKUP_PUBLISH)}, {"allow": [REPLY_INBOXES]}))
    accounts[QUEUE_ACCOUNT] = {"jetstream": "enabled", "users": queue_users}
    return {"accounts": accounts, "no_auth_user": QUEUE_USER}


def passwords_config(passwords: Mapping[str, str]) -> str:
    """Secret nats-auth's passwords.conf: a variable per user (the passwords are alphanumeric)."""
    return "".join(f"{password_variable(user)}: {json.dumps(pw)}\n" for user, pw in passwords.items())


# --- the cluster (dataReplicas > 1) -----------------------------------------------------------

CLUSTER_NAME = "nats"
ROUTE_USER = "route"  # the one user of cluster.authorization (nats-server allows only one)
ROUTE_PASSWORD = "route_password"  # variables of routes.conf
ROUTES = "cluster_routes"
# The pod's own names, from the environment: nats-server looks a variable up in the
# environment when the config does not define it (conf/parse.go lookupVariable, 2.9.10 and
# 2.14). POD_NAME comes from the downward API, the advertised addresses are built from it by
# Kubernetes' $(VAR) expansion (container env).
POD_NAME = "POD_NAME"
CLIENT_ADVERTISE = "CLIENT_ADVERTISE"
CLUSTER_ADVERTISE = "CLUSTER_ADVERTISE"


def route_urls(namespace: str, replicas: int) -> tuple[str, ...]:
    """Every replica's route address, its own included: nats-server recognises the route to
    itself and drops it, so every pod gets the same list."""
    return tuple(f"nats://{data.pod_host(APP, namespace, i)}:{CLUSTER_PORT}" for i in range(replicas))


def routes_config(password: str, urls: tuple[str, ...]) -> str:
    """Secret nats-auth's routes.conf: the route password, and the route URLs with it (the
    password is alphanumeric: it needs no escaping in a URL)."""
    with_password = [url.replace("nats://", f"nats://{ROUTE_USER}:{password}@", 1) for url in urls]
    return f"{ROUTE_PASSWORD}: {json.dumps(password)}\n{ROUTES}: {_value(with_password)}\n"


def cluster_config() -> dict[str, Any]:
    """The `cluster` block. Gossip stays on (no `no_advertise`): clients learn every server's
    client URL from INFO `connect_urls`, advertised as the pod's DNS name (a pod IP changes
    when the pod restarts), so one that reached a server through the Service can reconnect to
    another by itself."""
    return {
        "name": CLUSTER_NAME,
        "listen": f"0.0.0.0:{CLUSTER_PORT}",
        "advertise": Var(CLUSTER_ADVERTISE),
        "routes": Var(ROUTES),
        # Routes from anything but the other servers are refused (and the NetworkPolicy admits
        # only the NATS pods to the route port).
        "authorization": {"user": ROUTE_USER, "password": Var(ROUTE_PASSWORD)},
    }


def server_config(settings: NatsSettings, clients: NatsClients | None = None, replicas: int = 1) -> dict[str, Any]:
    """nats-server's configuration as data. Sizes are bytes: unambiguous in every version.
    The includes come before the accounts and the cluster: a variable is defined before it
    is used. `replicas` > 1: one server of a JetStream cluster (`cluster_config`)."""
    named = {"server_name": Var(POD_NAME)} if replicas > 1 else {}  # JetStream clustering needs a unique one
    clustered = (
        {"include_routes": Include(posixpath.relpath(f"{AUTH_DIR}/{ROUTES_FILE}", CONFIG_DIR)), "cluster": cluster_config()}
        if replicas > 1
        else {}
    )
    return {
        **named,
        "listen": f"0.0.0.0:{CLIENT_PORT}",
        **({"client_advertise": Var(CLIENT_ADVERTISE)} if replicas > 1 else {}),
        "http": f"0.0.0.0:{MONITOR_PORT}",  # /healthz for the probes, /varz, /jsz
        "max_payload": int(quantity_value(settings.max_payload)),
        "jetstream": {
            "store_dir": STORE_DIR,
            # local-path does not enforce the claim's size: this is the real bound. 10% is
            # left for JetStream's own indexes and metadata.
            "max_file_store": int(quantity_value(settings.storage) * 0.9),
            # Memory-backed streams (Pro's queue uses file storage) get a quarter of the limit.
            "max_memory_store": int(quantity_value(settings.memory_limit) // 4),
        },
        "include": Include(posixpath.relpath(f"{AUTH_DIR}/{PASSWORDS_FILE}", CONFIG_DIR)),
        **clustered,
        **authorization(clients or NatsClients()),
    }


def _value(value: Any) -> str:
    if isinstance(value, Var):
        return f"${value.name}"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)  # a double-quoted string with escapes, as NATS reads it
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot render {value!r} in a NATS config")


def render_config(config: Mapping[str, Any], indent: int = 0) -> str:
    """Data -> nats-server.conf text, in the mapping's own order; maps become blocks (maps in
    lists stay inline), an Include its directive (`include "path"`, no colon: with one it
    would be a key named include)."""
    pad = "  " * indent
    lines: list[str] = []
    for key, value in config.items():
        if isinstance(value, Include):
            lines.append(f"{pad}include {json.dumps(value.path)}")
        elif isinstance(value, Mapping):
            lines += [f"{pad}{key} {{", render_config(value, indent + 1).rstrip("\n"), f"{pad}}}"]
        elif isinstance(value, (list, tuple)) and any(isinstance(v, Mapping) for v in value):
            lines += [f"{pad}{key}: [", *(f"{pad}  {_value(v)}" for v in value), f"{pad}]"]  # one per line
        else:
            lines.append(f"{pad}{key}: {_value(value)}")
    return "\n".join(lines) + "\n"


# --- the Kubernetes objects ------------------------------------------------------------------


def _probe(path: str, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": "monitor", "scheme": "HTTP"},
        "periodSeconds": period,
        "timeoutSeconds": 5,
        "failureThreshold": failures,
    }


PROBES = {
    # JetStream recovers its streams at start: up to 3 minutes before liveness counts.
    "startupProbe": _probe("/healthz", period=2, failures=90),
    # Alive as long as the server runs with JetStream on; a stream problem makes it unready,
    # never restarts it.
    "livenessProbe": _probe("/healthz?js-enabled-only=true", period=10, failures=3),
    "readinessProbe": _probe("/healthz", period=5, failures=3),
}
# A server of a cluster (nats-server server/monitor.go healthz, 2.14): plain /healthz is ok
# only once it is current with the JetStream meta leader and with every stream and consumer
# it holds a replica of. As the NATS Helm chart does (nats-io/k8s, stateful-set
# nats-container.yaml): that gates the start, so a restarted server counts as available (for
# the rollout and the PodDisruptionBudget) only once it has caught up, with 15 minutes for a
# full store to come over from its peers; after that it stays in the Service while it serves
# clients (`js-server-only`), so a cluster that lost its majority still carries the events
# (core NATS) while JetStream answers with errors. A fresh cluster becomes ready: the pods start
# together (Parallel) and find each other through the headless Service, which publishes them
# before they are ready.
CLUSTER_PROBES = {
    "startupProbe": _probe("/healthz", period=5, failures=180),
    "livenessProbe": _probe("/healthz?js-enabled-only=true", period=10, failures=3),
    "readinessProbe": _probe("/healthz?js-server-only=true", period=5, failures=3),
}


def cluster_env(namespace: str) -> list[dict[str, Any]]:
    """The pod's name (server_name) and its DNS names (advertised), for the config's variables."""
    host = f"$({POD_NAME}).{data.headless_name(APP)}.{namespace}.svc.cluster.local"
    return [
        {"name": POD_NAME, "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        # Quoted: nats-server parses an environment value as config text.
        {"name": CLIENT_ADVERTISE, "value": json.dumps(f"{host}:{CLIENT_PORT}")},
        {"name": CLUSTER_ADVERTISE, "value": json.dumps(f"{host}:{CLUSTER_PORT}")},
    ]


def container(settings: NatsSettings, namespace: str = "", replicas: int = 1) -> dict[str, Any]:
    clustered = replicas > 1
    return {
        "name": "nats",
        "image": versions.NATS_IMAGE,
        "imagePullPolicy": "IfNotPresent",  # a pinned tag: restarts need no registry
        "command": ["nats-server", "--config", f"{CONFIG_DIR}/{CONFIG_FILE}"],
        "env": [{"name": "GOMEMLIMIT", "value": data.gomemlimit(settings.memory_limit)}, *(cluster_env(namespace) if clustered else [])],
        "ports": [
            {"name": "client", "containerPort": CLIENT_PORT, "protocol": "TCP"},
            *([{"name": "cluster", "containerPort": CLUSTER_PORT, "protocol": "TCP"}] if clustered else []),
            {"name": "monitor", "containerPort": MONITOR_PORT, "protocol": "TCP"},
        ],
        "resources": data.resources(settings.cpu_limit, settings.memory_limit),
        **(CLUSTER_PROBES if clustered else PROBES),
        "securityContext": dict(data.CONTAINER_SECURITY),
        "volumeMounts": [
            {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
            {"name": "auth", "mountPath": AUTH_DIR, "readOnly": True},
            {"name": data.DATA_VOLUME, "mountPath": STORE_DIR},
        ],
    }


def manifests(
    settings: NatsSettings,
    namespace: str,
    openfaas_namespace: str,
    function_namespace: str,
    clients: NatsClients | None = None,
    replicas: int = 1,
) -> dict[str, dict[str, Any]]:
    """Every object of the NATS server but Secret nats-auth (it carries the passwords), by
    role; replicated, also the headless Service (`headless`) and the budget (`budget`)."""
    text = render_config(server_config(settings, clients, replicas))
    volumes = [
        {"name": "config", "configMap": {"name": "nats-config"}},
        {"name": "auth", "secret": {"secretName": SERVER_SECRET, "defaultMode": 0o440}},
    ]
    statefulset = data.stateful_set(
        "nats", namespace, APP, container(settings, namespace, replicas), volumes, settings.storage, {"checksum/config": data.checksum(text)}, replicas=replicas
    )
    objs = {
        "config": data.config_map("nats-config", namespace, APP, {CONFIG_FILE: text}),
        "service": data.service("nats", namespace, APP, {"client": CLIENT_PORT, "monitor": MONITOR_PORT}),
        "statefulset": statefulset,
        "policy": policy(namespace, openfaas_namespace, function_namespace, replicas),
    }
    if replicas > 1:
        ports = {"client": CLIENT_PORT, "cluster": CLUSTER_PORT, "monitor": MONITOR_PORT}
        objs["headless"] = data.headless_service(data.headless_name(APP), namespace, APP, ports)
        objs["budget"] = data.disruption_budget(APP, namespace, APP)
    return objs


def policy(namespace: str, openfaas_namespace: str, function_namespace: str, replicas: int = 1) -> dict[str, Any]:
    """Clients from OpenFaaS (connector, Pro gateway and queue-worker) and functions;
    monitoring only from OpenFaaS' namespace, where its Prometheus runs; routes (replicated)
    only from the NATS pods themselves: a pod selector alone selects in the policy's namespace."""
    obj = data.ingress_policy(
        "nats",
        namespace,
        data.selector(APP),
        {CLIENT_PORT: (openfaas_namespace, function_namespace), MONITOR_PORT: (openfaas_namespace,)},
    )
    if replicas > 1:
        obj["spec"]["ingress"].append(policies.rule([{"podSelector": {"matchLabels": data.selector(APP)}}], [CLUSTER_PORT]))
    return obj


host = nats_host
url = nats_url

# --- the clients' credentials ----------------------------------------------------------------

SERVER_SECRET = "nats-auth"  # in the data namespace: passwords.conf
# In the function namespace, for functions that list it in `secrets`: faas-netes mounts each key
# as /var/openfaas/secrets/<key>.
FUNCTION_SECRET = "nats-credentials"
FUNCTION_SECRET_KEYS = ("nats-user", "nats-password")
CONNECTOR_SECRET = "nats-connector-credentials"  # in the OpenFaaS namespace, key `password`


def function_credentials(password: str) -> dict[str, str]:
    return dict(zip(FUNCTION_SECRET_KEYS, (FUNCTION_USER, password), strict=True))


# --- the nats-connector ----------------------------------------------------------------------

CONNECTOR = "nats-connector"
AUTH_MOUNT = "/var/secrets/gateway"  # where Secret basic-auth is mounted in the connector
CONNECTOR_RESOURCES = {"requests": {"cpu": "20m", "memory": "32Mi"}, "limits": {"cpu": "250m", "memory": "64Mi"}}


PASSWORD_ENV = "NATS_PASSWORD"


def connector_env(topics: tuple[str, ...], broker_host: str, openfaas_namespace: str, upstream_timeout: str) -> dict[str, str]:
    return {
        "topics": ",".join(topics),
        # The connector has no credentials setting, but it dials nats://<broker_host>:4222
        # (nats/broker.go, 0.3.0) and nats.go takes user:password from a URL (nats.go v1.16.0
        # connectProto). Kubernetes expands $(NATS_PASSWORD) from the Secret-backed variable
        # before it, so the password is in no object but the Secret. It is in the connector's
        # start-up banner, though (docs/limits.md).
        "broker_host": f"{CONNECTOR_USER}:$({PASSWORD_ENV})@{broker_host}",
        "gateway_url": f"http://gateway.{openfaas_namespace}:8080",
        "basic_auth": "true",  # it lists functions through the authenticated /system/functions
        "secret_mount_path": AUTH_MOUNT,
        "upstream_timeout": upstream_timeout,  # the gateway's: no call may outlive it anyway
        "rebuild_interval": "10s",  # a newly deployed function hears its topic within 10 s
        # Synchronous: the CE async queue refuses bodies over 256,000 bytes, and topic
        # messages may be whole images; a failed call is logged by the connector.
        "asynchronous_invocation": "false",
        "print_response": "true",  # status codes in the log...
        "print_response_body": "false",  # ...but never the functions' answers
    }


def connector_probe_script(port: int = CLIENT_PORT) -> str:
    """A POSIX sh script: succeed while the pod holds an established TCP connection to NATS.

    The connector serves no health endpoint, and when NATS stays away longer than its client
    retries (about two minutes) it gives up and idles forever, subscribed to nothing. Its pod's
    own network namespace has no other connection to that port, so /proc/net/tcp{,6} tells.
    """
    return (
        # local address:port, then remote address:<port in hex>, then state 01 = ESTABLISHED
        f"grep -qsE ': [0-9A-F]+:[0-9A-F]{{4}} [0-9A-F]+:{port:04X} 01 ' /proc/net/tcp /proc/net/tcp6\n"
    )


def _connector_probe(period: int, failures: int) -> dict[str, Any]:
    return {
        "exec": {"command": ["sh", "-c", connector_probe_script()]},
        "periodSeconds": period,
        "timeoutSeconds": 5,
        "failureThreshold": failures,
    }


CONNECTOR_PROBES = {
    # It retries NATS every second until the first connection: give that 5 minutes.
    "startupProbe": _connector_probe(period=5, failures=60),
    # Two minutes without NATS, past its client's own reconnect window: restart it.
    "livenessProbe": _connector_probe(period=30, failures=4),
    "readinessProbe": _connector_probe(period=10, failures=1),
}


def connector_manifests(topics: tuple[str, ...], broker_host: str, openfaas_namespace: str, upstream_timeout: str) -> dict[str, dict[str, Any]]:
    env = connector_env(topics, broker_host, openfaas_namespace, upstream_timeout)
    container = {
        "image": versions.NATS_CONNECTOR_IMAGE,
        # The image's WORKDIR is /root (mode 0700): a non-root user could not start there.
        "workingDir": "/",
        "env": [
            {"name": PASSWORD_ENV, "valueFrom": {"secretKeyRef": {"name": CONNECTOR_SECRET, "key": "password"}}},
            *({"name": k, "value": v} for k, v in env.items()),
        ],
        "resources": CONNECTOR_RESOURCES,
        **CONNECTOR_PROBES,
    }
    # One subscriber in its queue group: each message invokes once.
    return data.gateway_client(CONNECTOR, openfaas_namespace, container, AUTH_MOUNT, {"replicas": 1})



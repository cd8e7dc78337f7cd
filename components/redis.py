"""Redis-compatible state (Valkey) on the cluster: the server render/redis.py builds, its
password from pulumi-random (a secret end to end), and the password's copy for functions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.registration import password, secret, stateful_service
from render import redis
from render.stateful import labels
from settings.data_services import RedisSettings
from settings.function_spec import SECRET_LABELS


@dataclass(frozen=True)
class RedisArgs:
    settings: RedisSettings
    namespace: str  # the data namespace
    function_namespace: str
    node_sysctl: tuple[tuple[str, str], ...]  # the nodes' kernel settings (KernelSettings.sysctl)
    provider: k8s.Provider
    replicas: int = 1  # Settings.data_replicas: more than one is a primary, replicas and sentinels
    after: tuple[pulumi.Resource, ...] = ()  # the data namespace and the function namespace


class Redis(pulumi.ComponentResource):
    """The Redis server (replicated: a primary, replicas and their sentinels), its password,
    and the password's copy for functions."""

    address: str
    sentinels: tuple[str, ...]  # replicated: every pod's Sentinel, host:port; else empty
    secret_names: tuple[str, ...] = (redis.FUNCTION_SECRET,)
    password: pulumi.Output[str]
    function_secret: k8s.core.v1.Secret
    objects: dict[str, pulumi.CustomResource]

    def __init__(self, name: str, args: RedisArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("sovereign-faas:index:Redis", name, None, opts)
        on_cluster = pulumi.ResourceOptions(parent=self, provider=args.provider, depends_on=list(args.after))
        replicated = args.replicas > 1
        self.password = password(f"{name}-password", self)
        auth = _secret(
            f"{name}-auth", "redis-auth", args.namespace, {}, self.password.apply(lambda p: {"password": p, "auth.conf": redis.auth_config(p, replicated)}),
            on_cluster,
        )
        self.function_secret = _secret(
            f"{name}-function-secret",
            redis.FUNCTION_SECRET,
            args.function_namespace,
            SECRET_LABELS,
            self.password.apply(lambda p: {redis.FUNCTION_SECRET: p}),
            on_cluster,
        )
        objs = redis.manifests(args.settings, args.namespace, args.function_namespace, args.node_sysctl, args.replicas)
        self.objects = {"auth": auth, **stateful_service(name, objs, on_cluster, mounts=(auth,))}
        self.address = redis.address(args.namespace, args.replicas)
        self.sentinels = redis.sentinels(args.namespace, args.replicas) if replicated else ()
        self.register_outputs({"address": self.address, **({"sentinels": list(self.sentinels)} if replicated else {})})


def _secret(
    resource: str, name: str, namespace: str, labels_: Mapping[str, str], string_data: pulumi.Output[dict[str, str]], opts: pulumi.ResourceOptions
) -> k8s.core.v1.Secret:
    """A Secret of the Redis server's (labelled as its objects are), data a Pulumi secret."""
    return secret(resource, name, namespace, string_data, opts, labels={**labels(redis.APP), **labels_})

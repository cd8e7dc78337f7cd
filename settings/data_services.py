"""The data services in their own namespace: NATS (events, Pro's queue) and Redis (state)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, model_validator
from pydantic_core import PydanticCustomError

from settings.base import Section, key
from settings.errors import expected, rules
from settings.types import Cpu, Namespace, at_least, integer, one_of
from upstream.kubernetes import parse_quantity

NATS_CLIENT_PORT = 4222  # the nats-connector hard-codes it
REDIS_PORT = 6379
REDIS_SENTINEL_PORT = 26379  # Sentinel's registered port (valkey.io/topics/sentinel)
REDIS_MASTER_NAME = "redis"  # the group the sentinels monitor; Sentinel-aware clients ask for it
NATS_MAX_PAYLOAD = "64Mi"  # nats-server refuses more
EVICTION_POLICIES = (
    "noeviction",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
)


def redis_host(namespace: str) -> str:
    return f"redis.{namespace}.svc.cluster.local"


def redis_sentinels(namespace: str, replicas: int) -> tuple[str, ...]:
    """Each Valkey pod's Sentinel (host:port) on a replicated stack: the pod names of StatefulSet
    `redis` on its headless Service (render/stateful.pod_host; a test holds them equal)."""
    return tuple(f"redis-{i}.redis-headless.{namespace}.svc.cluster.local:{REDIS_SENTINEL_PORT}" for i in range(replicas))


def nats_host(namespace: str) -> str:
    return f"nats.{namespace}.svc.cluster.local"


def nats_url(namespace: str, replicas: int = 1) -> str:
    """Where clients connect: the Service; replicated, every server by its pod's DNS name
    (`nats-<i>.nats-headless`, render/stateful.pod_host), comma-separated, which nats.go's
    Connect splits (nats.go processUrlString); nats.py wants them as a list (split at ',')."""
    if replicas == 1:
        return f"nats://{nats_host(namespace)}:{NATS_CLIENT_PORT}"
    return ",".join(f"nats://nats-{i}.nats-headless.{namespace}.svc.cluster.local:{NATS_CLIENT_PORT}" for i in range(replicas))


# Replicas of each data service: one, or an odd number that keeps a majority (NATS' JetStream
# meta group and Raft streams, Valkey's Sentinel quorum) when one node is lost.
DATA_REPLICAS = (1, 3, 5)
# The node count from which the default replicates: three nodes give each replica a node of
# its own. Two nodes stay at one: two replicas have no majority after a loss (docs/data.md).
REPLICATE_FROM_NODES = 3


_REPLICAS_HINT = "expected 1, 3 or 5: one replica, or an odd number that keeps a majority when a node is lost"


def _replicas(value: Any) -> Any:
    if value is None:
        return None
    try:
        number: int | None = integer(value, min(DATA_REPLICAS), max(DATA_REPLICAS))
    except PydanticCustomError:  # not a number in range: the one message below says what is
        number = None
    if number not in DATA_REPLICAS:
        raise expected(_REPLICAS_HINT)
    return number


class DataSettings(Section):
    namespace: Namespace = key("dataNamespace", "faas-data", "Namespace of the stack's NATS and Redis")
    replicas: Annotated[int | None, BeforeValidator(_replicas)] = key(
        "dataReplicas", None, "replicas of NATS and of Valkey, one per node (1, 3 or 5); default 3 with three or more nodes, else 1"
    )

    def replicas_for(self, nodes: int) -> int:
        """The replica count on a stack of `nodes` nodes: the setting, or the default it implies."""
        if self.replicas is not None:
            return self.replicas
        return 3 if nodes >= REPLICATE_FROM_NODES else 1

    def platform_env(self, replicas: int = 1) -> dict[str, str]:
        """What the stack file may substitute about the platform itself (`${REDIS_HOST:-...}`),
        so it follows `dataNamespace` and `replicas` (NATS_URL lists every NATS server); these win
        over the shell's variables of the same name. Replicated Valkey: REDIS_SENTINELS (comma-separated host:port) and REDIS_MASTER_NAME, for
        a Sentinel-aware client; empty on one replica, so the shell's cannot leak in either."""
        sentinels = ",".join(redis_sentinels(self.namespace, replicas)) if replicas > 1 else ""
        return {
            "REDIS_HOST": redis_host(self.namespace),
            "REDIS_PORT": str(REDIS_PORT),
            "REDIS_SENTINELS": sentinels,
            "REDIS_MASTER_NAME": REDIS_MASTER_NAME if replicas > 1 else "",
            "NATS_URL": nats_url(self.namespace, replicas),
        }


class NatsSettings(Section):
    storage: Annotated[str, at_least("64Mi")] = key("natsStorage", "5Gi", "NATS' JetStream volume (local-path); JetStream may fill 90% of it")
    memory_limit: Annotated[str, at_least("32Mi")] = key("natsMemoryLimit", "256Mi", "NATS' memory (request and limit); memory-backed streams get a quarter")
    cpu_limit: Cpu = key("natsCpuLimit", "1", "NATS' CPU limit (10m-64)")
    # 8Mi, not NATS' 1 MB default: the example function's topic messages are whole images.
    # NATS advises against more than 8 MB.
    max_payload: Annotated[str, at_least("1Ki")] = key("natsMaxPayload", "8Mi", "Largest NATS message (at most 64Mi and a quarter of natsMemoryLimit)")

    @model_validator(mode="after")
    def _payload_fits(self) -> NatsSettings:
        payload = parse_quantity(self.max_payload)
        rules([
            ("natsMaxPayload", f"expected at most {NATS_MAX_PAYLOAD} (nats-server's own limit), got {self.max_payload!r}")
            if payload > parse_quantity(NATS_MAX_PAYLOAD)
            else ("natsMaxPayload", f"{self.max_payload} is more than a quarter of natsMemoryLimit ({self.memory_limit}): a few messages in flight would exhaust the server")
            if payload * 4 > parse_quantity(self.memory_limit)
            else None
        ])
        return self


class RedisSettings(Section):
    storage: Annotated[str, at_least("64Mi")] = key("redisStorage", "5Gi", "Redis' append-only file volume (local-path)")
    memory_limit: Annotated[str, at_least("32Mi")] = key("redisMemoryLimit", "512Mi", "Redis' container memory (request and limit)")
    cpu_limit: Cpu = key("redisCpuLimit", "1", "Redis' CPU limit (10m-64)")
    # The dataset's bound, below the container's: the rest is for client buffers and the
    # copy-on-write of the fork that rewrites the append-only file.
    maxmemory: Annotated[str, at_least("1Mi")] = key("redisMaxmemory", "384Mi", "Redis' maxmemory as a Kubernetes quantity; must be below redisMemoryLimit")
    # Only keys with a TTL (caches, like img-resize's) are evicted; keys without one are
    # state, and a full Redis refuses writes rather than silently dropping them.
    maxmemory_policy: Annotated[str, one_of(EVICTION_POLICIES, "a Redis eviction policy")] = key(
        "redisMaxmemoryPolicy", "volatile-lru", "Redis' eviction policy (noeviction, allkeys-lru/lfu/random, volatile-lru/lfu/random/ttl)"
    )

    @model_validator(mode="after")
    def _dataset_below_limit(self) -> RedisSettings:
        rules([
            (
                "redisMaxmemory",
                f"{self.maxmemory} must be smaller than redisMemoryLimit ({self.memory_limit}): Redis needs memory beyond its data "
                "(client buffers, the append-only file's rewrite), or the kernel kills it; e.g. 75% of the limit",
            )
            if parse_quantity(self.maxmemory) >= parse_quantity(self.memory_limit)
            else None
        ])
        return self

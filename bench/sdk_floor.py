"""The bare-SDK floor: N Deployments under Pulumi's standard mocks, and no code of ours.

    python bench/sdk_floor.py N

A whole process on its own (run as a script, so not even bench/__init__.py is imported): the
interpreter starting, the Pulumi SDK and pulumi_kubernetes imported, `pulumi.runtime.set_mocks`
with a plain Mocks class that echoes the inputs, and N `apps/v1` Deployments, each shaped like
the one our program registers for a function (probes, limits, security context), registered
the way Pulumi's own unit tests do (`@pulumi.runtime.test`). bench/plan_speed.py times it
against `make plan` for a stack of N functions.
"""

from __future__ import annotations

import sys
from typing import Any

import pulumi
from pulumi_kubernetes.apps.v1 import Deployment


class Mocks(pulumi.runtime.Mocks):
    """Pulumi's documented test double: every resource's state is its inputs."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        return f"{args.name}-id", args.inputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list]:
        return {}, []


def probe(period: int, delay: int) -> dict:
    return {
        "httpGet": {"path": "/_/health", "port": 8080, "scheme": "HTTP"},
        "initialDelaySeconds": delay,
        "periodSeconds": period,
        "timeoutSeconds": 1,
        "failureThreshold": 3,
    }


def deployment(i: int) -> Deployment:
    name = f"fn-{i}"
    labels = {"faas_function": name}
    annotations = {"prometheus.io.scrape": "false"}
    container = {
        "name": name,
        "image": f"ghcr.io/acme/{name}:1.0.{i}",
        "imagePullPolicy": "IfNotPresent",
        "env": [{"name": "mode", "value": "bench"}, {"name": "retries", "value": "3"}],
        "ports": [{"containerPort": 8080, "name": "http", "protocol": "TCP"}],
        "livenessProbe": probe(5, 2),
        "readinessProbe": probe(1, 0),
        "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "runAsUser": 12000,
        },
        "volumeMounts": [{"mountPath": "/tmp", "name": "temp", "readOnly": False}],  # noqa: S108 - a container path
    }
    spec: Any = {  # plain dicts, as a program writes them (the SDK's TypedDicts are for checkers)
        "replicas": 1,
        "selector": {"matchLabels": labels},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
        "template": {
            "metadata": {"labels": {**labels, "com.openfaas.scale.min": "1", "com.openfaas.scale.max": "10"}, "annotations": annotations},
            "spec": {
                "containers": [container],
                "automountServiceAccountToken": False,
                "enableServiceLinks": False,
                "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
                "volumes": [{"name": "temp", "emptyDir": {}}],
            },
        },
    }
    return Deployment(name, metadata={"name": name, "namespace": "openfaas-fn", "labels": labels, "annotations": annotations}, spec=spec)


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    pulumi.runtime.set_mocks(Mocks(), project="floor", stack="floor", preview=False)

    @pulumi.runtime.test
    def register() -> pulumi.Output:
        return pulumi.Output.all(*[deployment(i).urn for i in range(count)])

    register()


if __name__ == "__main__":
    main()

"""OpenFaaS: the edition, its namespaces, how the gateway is exposed, and its timeouts."""

from __future__ import annotations

from typing import Annotated

from pydantic import SecretStr, ValidationInfo, field_validator, model_validator

from settings.base import Section, key, require_secret, secret_key
from settings.errors import rules
from settings.types import GoDuration, Namespace, NodePort, one_of
from upstream.kubernetes import parse_go_duration

GATEWAY_PORT = 8080  # the gateway's Service port (chart: gateway.port)
EDITIONS = ("ce", "pro")
SERVICE_TYPES = ("LoadBalancer", "NodePort")


class OpenFaaSSettings(Section):
    edition: Annotated[str, one_of(EDITIONS, "'ce' (Community Edition) or 'pro' (Standard/Enterprise, needs a licence)")] = key(
        "openfaasEdition", "ce", "ce: Community Edition (15 functions, 5 replicas, commercial use 60 days); pro: Standard/Enterprise, needs openfaasLicense"
    )
    license: SecretStr | None = secret_key(
        "openfaasLicense",
        "OpenFaaS Standard/Enterprise licence, required for openfaasEdition pro (cat license.txt | pulumi config set --secret openfaasLicense)",
    )
    namespace: Namespace = key("openfaasNamespace", "openfaas", "Namespace of the OpenFaaS control plane (the Helm release)")
    function_namespace: Namespace = key("openfaasFunctionNamespace", "openfaas-fn", "Namespace faas-netes watches for functions")
    service_type: Annotated[str, one_of(SERVICE_TYPES)] = key(
        "gatewayServiceType", "LoadBalancer", "How the gateway is exposed: LoadBalancer (K3s servicelb, port 8080 on every node) or NodePort"
    )
    node_port: NodePort = key("gatewayNodePort", 31112, "The gateway's node port when gatewayServiceType is NodePort (30000-32767)")
    read_timeout: GoDuration = key("gatewayReadTimeout", "65s", "Gateway HTTP read timeout (Go duration); must exceed gatewayUpstreamTimeout")
    write_timeout: GoDuration = key("gatewayWriteTimeout", "65s", "Gateway HTTP write timeout (Go duration); must exceed gatewayUpstreamTimeout")
    upstream_timeout: GoDuration = key("gatewayUpstreamTimeout", "60s", "Longest a function call may take through the gateway (Go duration)")
    ack_wait: GoDuration = key(
        "queueAckWait", "60s", "How long the async queue waits for a function before redelivering; at least gatewayUpstreamTimeout"
    )

    @field_validator("license", mode="after")
    @classmethod
    def _secret(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        return require_secret(value, info, "openfaasLicense", "pulumi config set --secret openfaasLicense")

    @model_validator(mode="after")
    def _licence_and_timeouts(self) -> OpenFaaSSettings:
        upstream = parse_go_duration(self.upstream_timeout)
        found: list[tuple[str, str] | None] = [
            ("openfaasLicense", "required for openfaasEdition 'pro': cat license.txt | pulumi config set --secret openfaasLicense")
            if self.pro and not (self.license and self.license.get_secret_value())
            else None
        ]
        for alias, value in (("gatewayReadTimeout", self.read_timeout), ("gatewayWriteTimeout", self.write_timeout)):
            if upstream >= parse_go_duration(value):
                found.append(("gatewayUpstreamTimeout", f"{self.upstream_timeout} must be smaller than {alias} ({value}): the gateway must outlive the call it proxies"))
        if parse_go_duration(self.ack_wait) < upstream:
            found.append(("queueAckWait", f"{self.ack_wait} must be at least gatewayUpstreamTimeout ({self.upstream_timeout}): NATS would redeliver an async call that is still running"))
        rules(found)
        return self

    @property
    def pro(self) -> bool:
        return self.edition == "pro"

    @property
    def public_port(self) -> int:
        """Where the nodes serve the gateway when there is no edge in front of it."""
        return self.node_port if self.service_type == "NodePort" else GATEWAY_PORT

"""The domain types every section uses, as reusable annotated types.

Each type accepts what a user writes in `Pulumi.<stack>.yaml` or with `pulumi config set`
(top-level scalars reach the program as text: `"300"`, `"true"`), checks it fully, and gives
back one normal form. A refusal says what was expected; the message layer adds what was given
and the key (settings/errors.py).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable
from fractions import Fraction
from typing import Annotated, Any

from pydantic import BeforeValidator

from settings.errors import close_match, expected, refused, suggest
from upstream import kubernetes

# --- building blocks --------------------------------------------------------------------------


def cli_scalar(value: Any) -> Any:
    """A scalar as the text the user typed. Inside an object, `pulumi config set --path`
    stores "true"/"false" as booleans and digits as numbers (`--path registryAuth.r.username
    12345` stores 12345); a key that holds text takes them as that text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if isinstance(value, int) else value


def _text(value: Any, what: str) -> str:
    value = cli_scalar(value)
    if not isinstance(value, str):
        raise expected(f"expected {what}")
    return value


# Free text in an object (a user name at a registry), numbers and booleans as typed.
Text = Annotated[str, BeforeValidator(lambda v: _text(v, "text"))]


def integer(value: Any, low: int, high: int, what: str = "an integer") -> int:
    """An integer from `low` to `high`: a number, or digits as `pulumi config set` stores them."""
    number = value
    if isinstance(value, str) and re.fullmatch(r"[+-]?[0-9]{1,18}", value.strip()):
        number = int(value)
    if isinstance(number, bool) or not isinstance(number, int) or not low <= number <= high:
        raise expected(f"expected {what} from {low} to {high}")
    return number


def between(low: int, high: int, what: str = "an integer") -> BeforeValidator:
    """`Annotated[int, between(1, 10)]`: an integer in a range."""
    return BeforeValidator(lambda v: integer(v, low, high, what))


def one_of(choices: Iterable[str], what: str | None = None) -> BeforeValidator:
    """`Annotated[str, one_of(...)]`: one of `choices`, with "did you mean" for a near miss."""
    allowed = tuple(choices)
    label = what or " or ".join(f"'{c}'" for c in allowed)

    def check(value: Any) -> str:
        if isinstance(value, str) and value in allowed:
            return value
        # A named category ("a Redis eviction policy") lists its members when nothing is close.
        hint = (suggest if what else close_match)(value, allowed) if isinstance(value, str) else ""
        raise expected(f"expected {label}", suggestion=hint)

    return BeforeValidator(check)


def matching(pattern: str, what: str) -> BeforeValidator:
    """`Annotated[str, matching(regex, what)]`."""
    compiled = re.compile(pattern)

    def check(value: Any) -> str:
        value = cli_scalar(value)
        if isinstance(value, str) and compiled.fullmatch(value):
            return value
        raise expected(f"expected {what}")

    return BeforeValidator(check)


def checked(problem: Callable[[str], str | None], what: str) -> Callable[[Any], str]:
    """A validator from a `problem(value) -> message | None` function of upstream.kubernetes."""

    def check(value: Any) -> str:
        text = _text(value, what)
        message = problem(text)
        if message:
            raise expected(message)
        return text

    return check


# --- numbers and switches ------------------------------------------------------------------


def _bool(value: Any) -> bool:
    """true/false as YAML or `pulumi config set` writes them."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise expected("expected true or false")


Bool = Annotated[bool, BeforeValidator(_bool)]
Port = Annotated[int, between(1, 65535)]
NodePort = Annotated[int, between(30000, 32767)]


# --- names ---------------------------------------------------------------------------------

DnsLabel = Annotated[str, BeforeValidator(checked(kubernetes.dns1123_label_problem, "a DNS-1123 label"))]

# Namespaces Kubernetes and K3s keep for themselves: the stack's objects and policies would
# mix with the system's.
SYSTEM_NAMESPACES = ("default", "kube-node-lease", "kube-public", "kube-system")


def _namespace(value: Any) -> str:
    name = checked(kubernetes.dns1123_label_problem, "a namespace name (DNS-1123 label)")(value)
    if name in SYSTEM_NAMESPACES:
        raise expected(f"expected a namespace of the stack's own, not one of the system's ({', '.join(SYSTEM_NAMESPACES)})")
    return name


Namespace = Annotated[str, BeforeValidator(_namespace)]

_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
_DNS_NAME = re.compile(rf"(?=.{{1,253}}$){_LABEL}(\.{_LABEL})+")


def _dns_name(value: Any) -> str:
    text = _text(value, "a DNS name such as 'faas.example.no'")
    if not _DNS_NAME.fullmatch(text) or is_ip(text) or text.rsplit(".", 1)[-1].isdigit():
        raise expected("expected a DNS name such as 'faas.example.no' (lower case, at least two labels, no wildcard, not an IP address)")
    return text


DnsName = Annotated[str, BeforeValidator(_dns_name)]

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
Email = Annotated[str, BeforeValidator(lambda v: _email(v))]


def _email(value: Any) -> str:
    text = _text(value, "an e-mail address such as 'ops@example.no'")
    if len(text) > 254 or not _EMAIL.fullmatch(text) or _dns_name_problem(text.rsplit("@", 1)[1].lower()):
        raise expected("expected an e-mail address such as 'ops@example.no'")
    return text


def _dns_name_problem(text: str) -> bool:
    try:
        _dns_name(text)
        return False
    except ValueError:
        return True


# --- addresses -----------------------------------------------------------------------------


def is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False


_HOSTNAME = re.compile(r"(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*")


def canonical_host(value: Any) -> str:
    """An IP address in its one canonical spelling (`2001:db8::1`), or a DNS name in lower
    case; so two spellings of one host compare equal."""
    text = _text(value, "an IP address or DNS name").strip()
    if is_ip(text):
        return str(ipaddress.ip_address(text))
    lower = text.lower().removesuffix(".")
    if not _HOSTNAME.fullmatch(lower) or lower.replace(".", "").isdigit():
        raise expected("expected an IP address or DNS name")
    return lower


def _ip(value: Any) -> str:
    text = _text(value, "an IP address")
    if not is_ip(text):
        raise expected("expected an IP address")
    return str(ipaddress.ip_address(text))


Host = Annotated[str, BeforeValidator(canonical_host)]
IpAddress = Annotated[str, BeforeValidator(_ip)]


def parse_cidr(value: Any) -> str:
    """A network in CIDR form with no host bits set, canonical (`198.51.100.0/24`)."""
    text = _text(value, "a CIDR such as '198.51.100.0/24' or '2001:db8::/32'")
    try:
        return str(ipaddress.ip_network(text, strict=True))
    except ValueError:
        pass
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise expected("expected a CIDR such as '198.51.100.0/24' or '2001:db8::/32'") from None
    raise expected("expected a CIDR with no host bits set", suggestion=f"; did you mean '{network}'?")


Cidr = Annotated[str, BeforeValidator(parse_cidr)]


# --- Kubernetes values ---------------------------------------------------------------------


def quantity(value: Any) -> str:
    """A Kubernetes quantity ('512Mi', '500m', '5e9'), as the text the user wrote."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise expected("expected a Kubernetes quantity like '512Mi' or '500m'")
    text = str(value)
    problem = kubernetes.quantity_problem(text)
    if problem:
        raise expected(problem)
    return text


def at_least(minimum: str) -> BeforeValidator:
    """A size in bytes as a quantity, at least `minimum`: a bare '512' is 512 bytes, which is
    never what anyone meant."""
    low = kubernetes.parse_quantity(minimum)

    def check(value: Any) -> str:
        text = quantity(value)
        if kubernetes.parse_quantity(text) >= kubernetes.MAX_INT64:
            # Byte counts are int64 in the kubelet and the servers' configs (apimachinery caps
            # a binary quantity there, so a capped value means the number was larger).
            raise expected("expected a size of at most 8Ei (2^63-1 bytes)")
        if kubernetes.parse_quantity(text) < low:
            hint = f"; did you mean '{text}Mi'?" if text.isdigit() else ""
            raise expected(f"expected a size of at least {minimum}", suggestion=hint)
        return text

    return BeforeValidator(check)


def _cpu(value: Any) -> str:
    text = quantity(value)
    if not Fraction(1, 100) <= kubernetes.parse_quantity(text) <= 64:
        raise expected("expected CPU cores from 10m to 64 (e.g. '500m' or '1')")
    return text


Cpu = Annotated[str, BeforeValidator(_cpu)]


def _duration(value: Any) -> str:
    text = _text(value, "a duration with a unit, like '65s' or '1m5s'")
    if kubernetes.go_duration_problem(text) or kubernetes.parse_go_duration(text) <= 0:
        raise expected("expected a duration with a unit, like '65s' or '1m5s'")
    return text


GoDuration = Annotated[str, BeforeValidator(_duration)]

K3S_VERSION = re.compile(r"v1\.(\d{1,3})\.(\d{1,3})\+k3s(\d{1,3})")


def _k3s_version(value: Any) -> str:
    if isinstance(value, str) and K3S_VERSION.fullmatch(value):
        return value
    raise expected("expected a K3s release like 'v1.36.4+k3s1' (v1.<minor>.<patch>+k3s<n>)")


K3sVersion = Annotated[str, BeforeValidator(_k3s_version)]


# --- paths on the operator's machine ------------------------------------------------------

PATH_MAX, NAME_MAX = 4096, 255  # Linux's limits (limits.h): longer fails in the kernel itself


def _local_path(value: Any) -> str:
    """A path the operator's machine can look up: no NUL, within the kernel's length limits
    (beyond them every file operation fails with ENAMETOOLONG)."""
    text = _text(value, "a file path")
    parts = text.split("/")
    if "\x00" in text or len(text.encode()) > PATH_MAX or any(len(p.encode()) > NAME_MAX for p in parts):
        raise expected(f"expected a file path (at most {PATH_MAX} bytes, each name at most {NAME_MAX}, no NUL)")
    return text


LocalPath = Annotated[str, BeforeValidator(_local_path)]


# --- URLs and registries -------------------------------------------------------------------

_URL = re.compile(r"(https?)://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?(/[^\s?#]*)?")
_PORT_HINT = "a port from 1 to 65535"


def _port_ok(port: str | None) -> bool:
    """`:443` as a URL or registry host writes it (None: no port given). Port 0 is no port a
    client can connect to; above 65535 no TCP port exists (urllib raises on it)."""
    return port is None or 1 <= int(port.lstrip(":")) <= 65535


def has_userinfo(text: str) -> bool:
    """`https://user:password@host/...` (or without a scheme): credentials in the authority."""
    authority = re.split(r"[/?#]", text.split("://", 1)[-1], maxsplit=1)[0]
    return "@" in authority


def _no_userinfo(text: str, credentials: str) -> str:
    if has_userinfo(text):
        # Refused without repeating the value: it holds a password.
        raise refused(f"holds credentials (the userinfo before the host), which would be written to the plan, the nodes and their logs: {credentials}")
    return text


def _url(value: Any, credentials: str = "give the URL without them") -> str:
    text = _no_userinfo(_text(value, "an http(s) URL such as 'https://mirror.example.no'"), credentials)
    match = _URL.fullmatch(text)
    if not match or len(text) > 2048:
        raise expected("expected an http(s) URL such as 'https://mirror.example.no/k3s'")
    host = match.group(2).strip("[]")
    if not is_ip(host) and not _HOSTNAME.fullmatch(host.lower()):
        raise expected("expected an http(s) URL whose host is an IP address or DNS name")
    if not _port_ok(match.group(3)):
        raise expected(f"expected an http(s) URL with {_PORT_HINT}")
    return text.rstrip("/")


def url(credentials: str) -> BeforeValidator:
    """`Annotated[str, url("...")]`: an http(s) URL; `credentials` says where a user and
    password go instead of the URL."""
    return BeforeValidator(lambda value: _url(value, credentials))


Url = Annotated[str, BeforeValidator(_url)]


def https_only(why: str, credentials: str = "give the URL without them") -> BeforeValidator:
    """`Annotated[str, https_only("...")]`: an http(s) URL that must be https, and why."""

    def check(value: Any) -> str:
        text = _url(value, credentials)
        if not text.startswith("https://"):
            raise expected(f"expected an https URL: {why}")
        return text

    return BeforeValidator(check)


_REGISTRY = re.compile(r"(?=.{1,253}(:|$))[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*(?P<port>:[0-9]{1,5})?")
_REGISTRY_HINT = "a registry host such as 'docker.io', 'ghcr.io' or 'registry.example.no:5000'"


def _no_registry_credentials(value: Any) -> None:
    if isinstance(value, str) and "@" in value:
        raise refused("a registry host holds no credentials: the user and password go in registryAuth.<host>, as a secret")


def _registry_name(value: Any) -> str:
    """A registry host as images name it (`docker.io`, `ghcr.io`, `registry.example.no:5000`)."""
    _no_registry_credentials(value)
    text = _text(value, _REGISTRY_HINT)
    match = _REGISTRY.fullmatch(text)
    if not match:
        raise expected(f"expected {_REGISTRY_HINT}")
    if not _port_ok(match.group("port")):
        raise expected(f"expected {_REGISTRY_HINT}, with {_PORT_HINT}")
    return text


def _registry(value: Any) -> str:
    """A registry host, or `*` for every registry (K3s' registries.yaml wildcard)."""
    if value == "*":
        return value
    _no_registry_credentials(value)
    try:
        return _registry_name(value)
    except ValueError:
        raise expected(f"expected {_REGISTRY_HINT}, or '*'") from None


# Where images come from (registryMirrors' keys; the hosts credentials and CAs are for).
RegistryHost = Annotated[str, BeforeValidator(_registry)]
# One registry, never the wildcard: the name K3s puts in front of its own images.
RegistryName = Annotated[str, BeforeValidator(_registry_name)]

_OCI = re.compile(r"oci://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?(?P<path>(/[A-Za-z0-9._-]+)*)")
# A repository path component as the OCI distribution spec defines it (lower case only).
_OCI_COMPONENT = re.compile(r"[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*")


def _chart_repository(value: Any) -> str:
    """Where Helm finds a chart: an https repository (its index.yaml) or an OCI registry path
    (`oci://registry.example.no/charts`, the chart's name is appended)."""
    what = "an https Helm repository URL ('https://charts.example.no') or an OCI path ('oci://registry.example.no/charts')"
    text = _no_userinfo(_text(value, what), "the Helm release keeps its repository URL in the stack's state: serve the charts without credentials")
    if text.startswith("oci://"):
        match = _OCI.fullmatch(text.rstrip("/"))
        host = match.group(1).strip("[]") if match else ""
        if not match or not (is_ip(host) or _HOSTNAME.fullmatch(host.lower())):
            raise expected(f"expected {what}")
        if not _port_ok(match.group(2)):
            raise expected(f"expected an OCI path with {_PORT_HINT}")
        if not all(_OCI_COMPONENT.fullmatch(part) for part in match.group("path").split("/")[1:]):
            raise expected("expected an OCI repository path in lower case (letters, digits, single . _ __ or - between them), as OCI names are")
        return text.rstrip("/")
    if not text.startswith("https://"):
        raise expected(f"expected {what}")
    return _url(text)


ChartRepository = Annotated[str, BeforeValidator(_chart_repository)]

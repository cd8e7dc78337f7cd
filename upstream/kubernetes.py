"""What the Kubernetes API server, the kubelet and Go itself would refuse, checked before anything is sent.

Each ``*_problem`` function returns ``None`` for a valid value, or one short sentence saying what was expected;
``parse_*`` functions return the value and raise ``ValueError`` (with such a sentence) on refusal. Pure Python:
no Pulumi, no pydantic, so the config models can call these from their validators.

The rules are ported (not copied) from, and tested with cases restated from:

* kubernetes/apimachinery v0.36.3 (40bf4b2b62f8838b9b37de7b407793f1f17ee225), the library of Kubernetes 1.36:
  ``pkg/api/validate/content/{dns,kube,identifier}.go``, ``pkg/util/validation/validation.go``,
  ``pkg/api/validation/objectmeta.go``, ``pkg/api/resource/{quantity,suffix}.go``;
  identical at its 1.37 development head for everything used here.
* kubernetes/kubernetes ``pkg/features/kube_features.go`` (1.36 cycle) for which feature gates are on.
* distribution/reference at 0965666a6ade2e06035fe352e38344be1e68951a (same behaviour as v0.6.0, which the
  kubelet vendors): ``regexp.go``, ``reference.go``, ``normalize.go``; plus opencontainers/go-digest for digests.
* golang/go ``src/time/format.go`` (``ParseDuration``).

Lengths are counted in UTF-8 bytes where Go counts bytes (``len`` of a Go string).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction

__all__ = [
    "DNS1035_LABEL_MAX_LENGTH",
    "DNS1123_LABEL_MAX_LENGTH",
    "DNS1123_SUBDOMAIN_MAX_LENGTH",
    "LABEL_KEY_MAX_LENGTH",
    "LABEL_VALUE_MAX_LENGTH",
    "REPOSITORY_NAME_TOTAL_LENGTH_MAX",
    "TAG_MAX_LENGTH",
    "TOTAL_ANNOTATION_SIZE_LIMIT_B",
    "annotation_key_problem",
    "annotations_problem",
    "c_identifier_problem",
    "dns1035_label_problem",
    "dns1123_label_problem",
    "dns1123_subdomain_problem",
    "env_var_name_problem",
    "go_duration_problem",
    "image_reference_problem",
    "image_registry",
    "label_value_problem",
    "normalized_image",
    "parse_go_duration",
    "parse_quantity",
    "qualified_name_problem",
    "quantity_problem",
    "service_name_problem",
]


def _byte_length(value: str) -> int:
    return len(value.encode("utf-8", "surrogatepass"))


def _not_a_string(value: object) -> str | None:
    if isinstance(value, str):
        return None
    return f"expected a string, got {type(value).__name__}"


# --------------------------------------------------------------------------------------------------------------------
# DNS names, label keys and values, identifiers: apimachinery pkg/api/validate/content/{dns,kube,identifier}.go
# --------------------------------------------------------------------------------------------------------------------

DNS1123_LABEL_MAX_LENGTH = 63  # DNS1123LabelMaxLength
DNS1123_SUBDOMAIN_MAX_LENGTH = 253  # DNS1123SubdomainMaxLength
DNS1035_LABEL_MAX_LENGTH = 63  # DNS1035LabelMaxLength
LABEL_KEY_MAX_LENGTH = 63  # labelKeyMaxLength: the name part of a label key / qualified name
LABEL_VALUE_MAX_LENGTH = 63  # LabelValueMaxLength

_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN_FMT = _DNS1123_LABEL_FMT + r"(\." + _DNS1123_LABEL_FMT + ")*"
_DNS1035_LABEL_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
_LABEL_KEY_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_C_IDENTIFIER_FMT = "[A-Za-z_][A-Za-z0-9_]*"

# Go's regexp has no "$ before a trailing newline" quirk; fullmatch gives the same anchoring.
_DNS1123_LABEL_RE = re.compile(_DNS1123_LABEL_FMT)
_DNS1123_SUBDOMAIN_RE = re.compile(_DNS1123_SUBDOMAIN_FMT)
_DNS1035_LABEL_RE = re.compile(_DNS1035_LABEL_FMT)
_LABEL_KEY_RE = re.compile(_LABEL_KEY_FMT)
_C_IDENTIFIER_RE = re.compile(_C_IDENTIFIER_FMT)

_DNS1123_LABEL_EXPECTED = (
    f"expected a DNS-1123 label: at most {DNS1123_LABEL_MAX_LENGTH} characters, lower-case letters, digits or '-', "
    "starting and ending with a letter or digit (e.g. 'my-name', '123-abc')"
)
_DNS1123_SUBDOMAIN_EXPECTED = (
    f"expected a DNS-1123 subdomain: at most {DNS1123_SUBDOMAIN_MAX_LENGTH} characters, dot-separated parts of "
    "lower-case letters, digits or '-', each starting and ending with a letter or digit (e.g. 'example.com')"
)
_DNS1035_LABEL_EXPECTED = (
    f"expected a DNS-1035 label: at most {DNS1035_LABEL_MAX_LENGTH} characters, lower-case letters, digits or '-', "
    "starting with a letter and ending with a letter or digit (e.g. 'my-name', 'abc-123')"
)
_LABEL_NAME_EXPECTED = (
    f"at most {LABEL_KEY_MAX_LENGTH} characters, alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric"
)


def dns1123_label_problem(value: str) -> str | None:
    """A DNS-1123 label (RFC 1123), e.g. a namespace name: ``IsDNS1123Label`` in
    apimachinery ``pkg/api/validate/content/dns.go``."""
    if (wrong := _not_a_string(value)) is not None:
        return wrong
    if _byte_length(value) <= DNS1123_LABEL_MAX_LENGTH and _DNS1123_LABEL_RE.fullmatch(value):
        return None
    if _byte_length(value) <= DNS1123_LABEL_MAX_LENGTH and _DNS1123_SUBDOMAIN_RE.fullmatch(value):
        return _DNS1123_LABEL_EXPECTED + "; it must not contain dots"
    return _DNS1123_LABEL_EXPECTED


def dns1123_subdomain_problem(value: str) -> str | None:
    """A DNS-1123 subdomain, the rule for most object names (ConfigMaps, Secrets, Deployments):
    ``IsDNS1123Subdomain`` in apimachinery ``pkg/api/validate/content/dns.go``."""
    if (wrong := _not_a_string(value)) is not None:
        return wrong
    if _byte_length(value) <= DNS1123_SUBDOMAIN_MAX_LENGTH and _DNS1123_SUBDOMAIN_RE.fullmatch(value):
        return None
    return _DNS1123_SUBDOMAIN_EXPECTED


def dns1035_label_problem(value: str) -> str | None:
    """A DNS-1035 label (RFC 1035): like a DNS-1123 label but starting with a letter. ``IsDNS1035Label`` in
    apimachinery ``pkg/util/validation/validation.go``."""
    if (wrong := _not_a_string(value)) is not None:
        return wrong
    if _byte_length(value) <= DNS1035_LABEL_MAX_LENGTH and _DNS1035_LABEL_RE.fullmatch(value):
        return None
    return _DNS1035_LABEL_EXPECTED


def service_name_problem(value: str) -> str | None:
    """A Service name. kubernetes ``pkg/apis/core/validation`` validates it with ``ValidateServiceName`` =
    ``NameIsDNS1035Label``: a DNS-1035 label, so ``1-fn`` is a fine Deployment name but not a Service name.
    The ``RelaxedServiceNameValidation`` gate (KEP-5311, DNS-1123 labels for Services) is alpha and off by default
    in ``pkg/features/kube_features.go`` of the 1.36 cycle, so a stock 1.36 API server applies DNS-1035."""
    problem = dns1035_label_problem(value)
    return None if problem is None else "a Service name: " + problem


def qualified_name_problem(value: str) -> str | None:
    """A qualified name, i.e. a label key (also finalizer names and, lower-cased, annotation keys): an optional
    DNS-1123 subdomain prefix and '/', then a name of at most 63 characters. ``IsLabelKey`` (``IsQualifiedName``) in
    apimachinery ``pkg/api/validate/content/kube.go``."""
    if (wrong := _not_a_string(value)) is not None:
        return wrong
    expected = f"expected a qualified name: an optional DNS subdomain prefix and '/', then a name of {_LABEL_NAME_EXPECTED}"
    parts = value.split("/")
    if len(parts) > 2:
        return expected + f" (e.g. 'example.com/MyName'); {value!r} has more than one '/'"
    name = parts[-1]
    if len(parts) == 2:
        prefix = parts[0]
        if prefix == "":
            return expected + "; the prefix before '/' is empty"
        if dns1123_subdomain_problem(prefix) is not None:
            return expected + f"; the prefix {prefix!r} is not a DNS-1123 subdomain (lower case, at most 253 characters)"
    if name == "":
        return expected + "; the name part is empty"
    if _byte_length(name) > LABEL_KEY_MAX_LENGTH:
        return expected + f"; the name part is longer than {LABEL_KEY_MAX_LENGTH}"
    if not _LABEL_KEY_RE.fullmatch(name):
        return expected
    return None


def label_value_problem(value: str) -> str | None:
    """A label value: empty, or at most 63 alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric.
    ``IsLabelValue`` in apimachinery ``pkg/api/validate/content/kube.go``."""
    if (wrong := _not_a_string(value)) is not None:
        return wrong
    if value == "" or (_byte_length(value) <= LABEL_VALUE_MAX_LENGTH and _LABEL_KEY_RE.fullmatch(value)):
        return None
    return (
        f"expected a label value: at most {LABEL_VALUE_MAX_LENGTH} characters, alphanumerics, '-', '_' or '.', "
        "starting and ending with an alphanumeric (or empty)"
    )


def c_identifier_problem(value: str) -> str | None:
    """A C identifier (letters, digits, '_', not starting with a digit; no length limit). ``IsCIdentifier`` in
    apimachinery ``pkg/api/validate/content/identifier.go``. No longer the rule for environment variable names:
    see ``env_var_name_problem``."""
    if (wrong := _not_a_string(value)) is not None:
        return wrong
    if _C_IDENTIFIER_RE.fullmatch(value):
        return None
    return "expected a C identifier: letters, digits or '_', not starting with a digit (e.g. 'MY_NAME')"


def env_var_name_problem(value: str) -> str | None:
    """An environment variable name as a 1.36 API server accepts it in ``env[].name``.

    ``IsRelaxedEnvVarName`` in apimachinery ``pkg/util/validation/validation.go``: non-empty, printable ASCII
    (space through '~') other than '='. The ``RelaxedEnvironmentVariableValidation`` gate went alpha in 1.30,
    beta (on) in 1.32 and GA, locked on, in 1.34 (kubernetes ``pkg/features/kube_features.go``), so since 1.34 the
    old C-identifier-like rule (``IsEnvVarName``) no longer applies: ``1VAR``, ``my.var`` and even ``a b`` pass.
    """
    if (wrong := _not_a_string(value)) is not None:
        return wrong
    if value == "":
        return "expected an environment variable name: it must be non-empty"
    if all(" " <= c <= "~" and c != "=" for c in value):
        return None
    return "expected an environment variable name: printable ASCII characters other than '='"


# --------------------------------------------------------------------------------------------------------------------
# Annotations: apimachinery pkg/api/validation/objectmeta.go
# --------------------------------------------------------------------------------------------------------------------

TOTAL_ANNOTATION_SIZE_LIMIT_B = 256 * (1 << 10)  # TotalAnnotationSizeLimitB: keys plus values, in bytes


def annotation_key_problem(key: str) -> str | None:
    """An annotation key. ``ValidateAnnotations`` in apimachinery ``pkg/api/validation/objectmeta.go`` checks the
    key *lower-cased* as a qualified name, so upper case is accepted even in the DNS prefix
    (``Example.COM/Key``), unlike in label keys."""
    if (wrong := _not_a_string(key)) is not None:
        return wrong
    problem = qualified_name_problem(key.lower())
    return None if problem is None else "an annotation key: " + problem


def annotations_problem(annotations: Mapping[str, str]) -> str | None:
    """A whole ``metadata.annotations`` map: every key an annotation key, and keys plus values together at most
    ``TOTAL_ANNOTATION_SIZE_LIMIT_B`` (256 KiB) bytes. ``ValidateAnnotations`` / ``ValidateAnnotationsSize`` in
    apimachinery ``pkg/api/validation/objectmeta.go``."""
    total = 0
    for key, value in annotations.items():
        if (problem := annotation_key_problem(key)) is not None:
            return f"annotation {key!r}: {problem}"
        if (wrong := _not_a_string(value)) is not None:
            return f"annotation {key!r}: {wrong}"
        total += _byte_length(key) + _byte_length(value)
    if total > TOTAL_ANNOTATION_SIZE_LIMIT_B:
        return f"expected annotations of at most {TOTAL_ANNOTATION_SIZE_LIMIT_B} bytes in total (keys plus values), got {total}"
    return None


# --------------------------------------------------------------------------------------------------------------------
# Container image references: distribution/reference regexp.go, reference.go, normalize.go
# --------------------------------------------------------------------------------------------------------------------

REPOSITORY_NAME_TOTAL_LENGTH_MAX = 255  # RepositoryNameTotalLengthMax: the path, without the registry domain
TAG_MAX_LENGTH = 128  # from the tag grammar [\w][\w.-]{0,127}

_DEFAULT_DOMAIN = "docker.io"  # defaultDomain
_LEGACY_DEFAULT_DOMAIN = "index.docker.io"  # legacyDefaultDomain
_OFFICIAL_REPO_PREFIX = "library/"  # officialRepoPrefix
_DEFAULT_TAG = "latest"  # defaultTag
_LOCALHOST = "localhost"

_ALPHANUMERIC = "[a-z0-9]+"
_SEPARATOR = "(?:[._]|__|[-]+)"
_DOMAIN_NAME_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_OPTIONAL_PORT = "(?::[0-9]+)?"
_TAG_PAT = r"[\w][\w.-]{0,127}"  # with re.ASCII, \w is Go's [0-9A-Za-z_]
_DIGEST_PAT = "[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9A-Fa-f]{32,}"
_IDENTIFIER = "[a-f0-9]{64}"
_IPV6_ADDRESS = r"\[(?:[a-fA-F0-9:]+)\]"
_DOMAIN_NAME = _DOMAIN_NAME_COMPONENT + r"(?:\." + _DOMAIN_NAME_COMPONENT + ")*"
_HOST = "(?:" + _DOMAIN_NAME + "|" + _IPV6_ADDRESS + ")"
_DOMAIN_AND_PORT = _HOST + _OPTIONAL_PORT
_PATH_COMPONENT = _ALPHANUMERIC + "(?:" + _SEPARATOR + _ALPHANUMERIC + ")*"
_REMOTE_NAME = _PATH_COMPONENT + "(?:/" + _PATH_COMPONENT + ")*"
_NAME_PAT = "(?:" + _DOMAIN_AND_PORT + "/)?" + _REMOTE_NAME

_REFERENCE_RE = re.compile("(" + _NAME_PAT + ")(?::(" + _TAG_PAT + "))?(?:@(" + _DIGEST_PAT + "))?", re.ASCII)
_ANCHORED_NAME_RE = re.compile("(?:(" + _DOMAIN_AND_PORT + ")/)?(" + _REMOTE_NAME + ")", re.ASCII)
_IDENTIFIER_RE = re.compile(_IDENTIFIER)

# opencontainers/go-digest: the algorithms a kubelet/containerd binary has linked (crypto/tls pulls in sha512,
# hence sha384 too), with the length of their lower-case hex encoding.
_DIGEST_HEX_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}
_DIGEST_ANY_RE = re.compile("[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+")  # go-digest DigestRegexp

_IMAGE_EXAMPLE = "a container image reference such as 'nginx:1.27', 'ghcr.io/org/app:1.0' or 'repo@sha256:<64 hex>'"


@dataclass(frozen=True)
class _ImageReference:
    domain: str
    path: str
    tag: str
    digest: str

    def name(self) -> str:
        return f"{self.domain}/{self.path}" if self.domain else self.path

    def __str__(self) -> str:
        return self.name() + (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")


class _ImageError(ValueError):
    pass


_INVALID_FORMAT = "invalid reference format"


def _digest_problem(digest: str) -> str | None:
    """``digest.Parse`` / ``Digest.Validate`` of opencontainers/go-digest."""
    algorithm, sep, encoded = digest.partition(":")
    if not sep or algorithm == "" or encoded == "":
        return "invalid digest format"
    if algorithm not in _DIGEST_HEX_LENGTHS:
        if not _DIGEST_ANY_RE.fullmatch(digest):
            return "invalid digest format"
        return f"unsupported digest algorithm {algorithm!r} (sha256, sha384 or sha512)"
    if len(encoded) != _DIGEST_HEX_LENGTHS[algorithm]:
        return f"invalid {algorithm} digest length: expected {_DIGEST_HEX_LENGTHS[algorithm]} hex characters"
    if not re.fullmatch("[a-f0-9]+", encoded):
        return f"invalid {algorithm} digest: expected lower-case hex"
    return None


def _why_not_a_reference(s: str) -> str:
    """A more useful sentence than "invalid reference format" for the usual mistakes."""
    if s.startswith("/"):
        return "it starts with '/', as if the registry part were an unset variable (${REGISTRY}?)"
    if any(c.isspace() for c in s):
        return "it contains whitespace"
    if "<" in s or ">" in s or "${" in s or "{{" in s:
        return "it still contains a placeholder"
    if "://" in s:
        return "it must not include a URL scheme"
    if "//" in s or s.endswith("/") or "/:" in s or "/@" in s:
        return "it has an empty path component"
    before_digest = s.split("@", 1)[0]
    last_colon, last_slash = before_digest.rfind(":"), before_digest.rfind("/")
    if last_colon > last_slash and len(before_digest) - last_colon - 1 > TAG_MAX_LENGTH:
        return f"its tag is longer than {TAG_MAX_LENGTH} characters"
    return _INVALID_FORMAT


def _parse_reference(s: str) -> _ImageReference:
    """``Parse`` in distribution/reference ``reference.go``."""
    if s == "":
        raise _ImageError("repository name must have at least one component")
    match = _REFERENCE_RE.fullmatch(s)
    if match is None:
        lowered = s.lower()
        if lowered != s and _REFERENCE_RE.fullmatch(lowered):
            raise _ImageError("repository name must be lowercase")
        raise _ImageError(_INVALID_FORMAT)
    name, tag, digest = match.group(1), match.group(2) or "", match.group(3) or ""
    name_match = _ANCHORED_NAME_RE.fullmatch(name)
    domain, path = (name_match.group(1) or "", name_match.group(2)) if name_match else ("", name)
    if len(path) > REPOSITORY_NAME_TOTAL_LENGTH_MAX:
        raise _ImageError(f"repository name must not be more than {REPOSITORY_NAME_TOTAL_LENGTH_MAX} characters")
    if digest and (problem := _digest_problem(digest)) is not None:
        raise _ImageError(problem)
    return _ImageReference(domain, path, tag, digest)


def _split_docker_domain(name: str) -> tuple[str, str]:
    """``splitDockerDomain`` in distribution/reference ``normalize.go``."""
    maybe_domain, slash, maybe_remote = name.partition("/")
    if not slash:
        return _DEFAULT_DOMAIN, _OFFICIAL_REPO_PREFIX + name
    if maybe_domain == _LOCALHOST:
        domain, remote = maybe_domain, maybe_remote
    elif maybe_domain == _LEGACY_DEFAULT_DOMAIN:
        domain, remote = _DEFAULT_DOMAIN, maybe_remote
    elif "." in maybe_domain or ":" in maybe_domain or maybe_domain.lower() != maybe_domain:
        domain, remote = maybe_domain, maybe_remote
    else:
        domain, remote = _DEFAULT_DOMAIN, name
    if domain == _DEFAULT_DOMAIN and "/" not in remote:
        remote = _OFFICIAL_REPO_PREFIX + remote
    return domain, remote


def _parse_normalized_named(s: str) -> _ImageReference:
    """``ParseNormalizedNamed`` in distribution/reference ``normalize.go``: what the kubelet does with
    ``spec.containers[].image`` (kubernetes ``pkg/util/parsers``) before asking the runtime to pull."""
    if _IDENTIFIER_RE.fullmatch(s):
        raise _ImageError("a 64-character hex string is an image ID, not a repository name (add a tag or a registry)")
    domain, remainder = _split_docker_domain(s)
    remote = remainder.split(":", 1)[0]
    if remote.lower() != remote:
        raise _ImageError(f"repository name ({remote}) must be lowercase")
    try:
        return _parse_reference(domain + "/" + remainder)
    except _ImageError as error:
        if str(error) == _INVALID_FORMAT:
            raise _ImageError(_why_not_a_reference(s)) from None
        raise


def image_reference_problem(image: str) -> str | None:
    """A container image as the kubelet resolves it: ``ParseNormalizedNamed`` of distribution/reference
    (``normalize.go`` on ``reference.go``'s grammar in ``regexp.go``). Short names (``nginx``), registries with
    ports (``localhost:5000/x``), IPv6 hosts in brackets, tags (at most 128 characters) and digests (sha256, sha384,
    sha512) are accepted; upper case in the path, whitespace, ``<placeholders>``, a leading '/', empty components, a
    path over 255 characters and a bare 64-hex-character name are refused. (The API server itself only refuses an
    empty image or surrounding whitespace; the rest fails later, at pull time.)"""
    if (wrong := _not_a_string(image)) is not None:
        return wrong
    try:
        _parse_normalized_named(image)
    except _ImageError as error:
        return f"expected {_IMAGE_EXAMPLE}: {error}"
    return None


def _checked_image(image: str) -> _ImageReference:
    if (wrong := _not_a_string(image)) is not None:
        raise ValueError(wrong)
    try:
        return _parse_normalized_named(image)
    except _ImageError as error:
        raise ValueError(f"expected {_IMAGE_EXAMPLE}: {error}") from None


def normalized_image(image: str, *, default_tag: bool = False) -> str:
    """The fully qualified form of ``image`` (``ParseNormalizedNamed(image).String()``): ``nginx`` becomes
    ``docker.io/library/nginx``, ``index.docker.io/x/y`` becomes ``docker.io/x/y``. With ``default_tag``, a
    reference without tag or digest gets ``:latest`` (``TagNameOnly``), which is what the kubelet pulls.
    Raises ``ValueError`` for a reference ``image_reference_problem`` refuses."""
    reference = _checked_image(image)
    if default_tag and not reference.tag and not reference.digest:
        reference = _ImageReference(reference.domain, reference.path, _DEFAULT_TAG, "")
    return str(reference)


def image_registry(image: str) -> str:
    """The registry host (with port, if any) a node pulls ``image`` from: ``docker.io`` for short names and Docker
    Hub names, otherwise the domain part (``ghcr.io``, ``localhost:5000``, ``[::1]:5000``). This is ``Domain()``
    of the normalized reference. Raises ``ValueError`` for an invalid reference."""
    return _checked_image(image).domain


# --------------------------------------------------------------------------------------------------------------------
# Quantities: apimachinery pkg/api/resource/quantity.go (ParseQuantity) and suffix.go
# --------------------------------------------------------------------------------------------------------------------

MAX_INT64 = (1 << 63) - 1  # maxAllowed: BinarySI quantities are capped here
_NANO = Fraction(1, 10**9)  # values are rounded up (away from zero) to a multiple of 1n
_MAX_INT64_FACTORS = 18  # maxInt64Factors: decimal digits that always fit in an int64

_DECIMAL_SI = {"": 0, "n": -9, "u": -6, "m": -3, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BINARY_SI = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_SUFFIX_CHARS = "eEinumkKMGTP"
_EXPONENT_RE = re.compile("[+-]?[0-9]+", re.ASCII)

# Our own bounds, beyond which apimachinery's exact arithmetic would build absurdly large numbers: it wraps a decimal
# exponent to int32 and would expand 1e999999999 to a billion-digit integer. No resource comes near these.
QUANTITY_MAX_LENGTH = 1000
QUANTITY_MAX_INTEGER_DIGITS = 1000

_QUANTITY_EXPECTED = (
    "expected a Kubernetes quantity such as '512Mi', '250m', '1.5' or '2e9' (suffixes Ki Mi Gi Ti Pi Ei are powers "
    "of 1024, n u m k M G T P E powers of 1000)"
)
_UNIT_HINT_RE = re.compile(r"\s*([+-]?[0-9]*\.?[0-9]*)\s*([kKmMgGtTpPeE])\s*([iI]?)\s*([bB]?)\s*(?:ytes?)?\s*", re.ASCII)


def _hint(text: str) -> str:
    """For '512MB', '512mb', '512M B', '1GiB', '2 Gi': the suffix probably meant."""
    match = _UNIT_HINT_RE.fullmatch(text)
    if match is None or not any(c.isdigit() for c in match.group(1)):
        return ""
    if match.group(2) == "e" and not (match.group(3) or match.group(4)):
        return ""  # '1e' is an unfinished exponent, not a unit
    number, letter = match.group(1), match.group(2).upper()
    power = "KMGTPE".index(letter) + 1
    binary, decimal = letter + "i", "k" if letter == "K" else letter
    suggestion = f"{number}{binary}"
    if suggestion == text:
        return ""
    return f"; did you mean '{suggestion}'? ('{binary}' is 1024^{power}, '{decimal}' 1000^{power}, and 'm' means milli)"


class _QuantityError(ValueError):
    pass


def _scan_quantity(text: str) -> tuple[bool, str, str, str, str]:
    """``parseQuantityString``: (positive, number part as written, integer digits, fraction digits, suffix)."""
    end = len(text)
    positive = True
    pos = 0
    if text[0] in "+-":
        positive = text[0] == "+"
        pos = 1
    while pos < end and text[pos] == "0":  # leading zeros are not significant
        pos += 1
    if pos >= end:
        return positive, "0", "0", "", ""
    start = pos
    while pos < end and "0" <= text[pos] <= "9":
        pos += 1
    whole = text[start:pos] or "0"
    if pos >= end:
        return positive, text, whole, "", ""
    fraction = ""
    if text[pos] == ".":
        pos += 1
        start = pos
        while pos < end and "0" <= text[pos] <= "9":
            pos += 1
        fraction = text[start:pos]
        if pos >= end:
            return positive, text, whole, fraction, ""
    number = text[:pos]
    suffix_start = pos
    while pos < end and text[pos] in _SUFFIX_CHARS:
        pos += 1
    if pos < end and text[pos] in "+-":
        pos += 1
    while pos < end and "0" <= text[pos] <= "9":
        pos += 1
    if pos < end:
        raise _QuantityError(_QUANTITY_EXPECTED)
    return positive, number, whole, fraction, text[suffix_start:]


def _parse_quantity(text: str) -> Fraction:
    if text == "":
        raise _QuantityError(_QUANTITY_EXPECTED + "; it is empty")
    if len(text) > QUANTITY_MAX_LENGTH:
        raise _QuantityError(f"expected a Kubernetes quantity of at most {QUANTITY_MAX_LENGTH} characters")
    if text == "0":
        return Fraction(0)
    positive, number, whole, fraction, suffix = _scan_quantity(text)
    if suffix in _DECIMAL_SI:
        base, exponent, binary = 10, _DECIMAL_SI[suffix], False
    elif suffix in _BINARY_SI:
        base, exponent, binary = 2, _BINARY_SI[suffix], True
    elif len(suffix) > 1 and suffix[0] in "eE" and _EXPONENT_RE.fullmatch(suffix[1:]):
        base, exponent, binary = 10, int(suffix[1:]), False
        if not -(1 << 31) <= exponent < (1 << 31):
            # apimachinery parses it as an int64 and then truncates it to int32, so 1e4294967296 would mean 1.
            raise _QuantityError(_QUANTITY_EXPECTED + f"; the exponent {suffix[1:]} is out of range")
    else:
        raise _QuantityError(_QUANTITY_EXPECTED + f"; unknown suffix {suffix!r}")

    # ParseQuantity's fast path (int64 arithmetic) also accepts a number part without any digit ('.', '-', 'Ki',
    # 'e5': zero); its general path (inf.Dec) refuses one. Which path is taken decides whether such input is valid.
    if binary:
        precision = 15 - len(whole) - (exponent * 3 // 10) - 1 if fraction == "" else -1
        fast = precision >= 0
    else:
        fast = _MAX_INT64_FACTORS - (len(whole) + len(fraction)) >= 0 and exponent - len(fraction) >= -9
    if not fast and not any("0" <= c <= "9" for c in number):
        raise _QuantityError(_QUANTITY_EXPECTED + "; the number part has no digits")

    digits = (whole + fraction).lstrip("0")
    if digits == "":
        return Fraction(0)
    if base == 10 and len(whole.lstrip("0")) + exponent > QUANTITY_MAX_INTEGER_DIGITS:
        raise _QuantityError(f"expected a Kubernetes quantity below 10^{QUANTITY_MAX_INTEGER_DIGITS}")
    mantissa = Fraction(int(digits), 10 ** len(fraction))
    if base == 2:
        magnitude = mantissa * (1 << exponent)
    elif len(whole.lstrip("0")) + exponent < -9:
        magnitude = _NANO  # so small that rounding up to 1n is all that is left (also keeps 1e-999999999 cheap)
    elif exponent >= 0:
        magnitude = mantissa * 10**exponent
    else:
        magnitude = mantissa / 10**-exponent
    magnitude = math.ceil(magnitude / _NANO) * _NANO  # inf.RoundUp to scale 9, on the absolute value
    if binary and magnitude > MAX_INT64:
        magnitude = Fraction(MAX_INT64)
    return magnitude if positive else -magnitude


def parse_quantity(text: str) -> Fraction:
    """The value of a Kubernetes quantity (``resources.limits.memory: 512Mi`` and the like), as apimachinery
    ``pkg/api/resource/quantity.go`` ``ParseQuantity`` accepts and stores it: an optional sign, digits with an
    optional '.', then a binary suffix (Ki..Ei), a decimal suffix (n u m "" k M G T P E) or a decimal exponent
    (``e3``, ``E-3``, ``e+6``). Like upstream, the value is rounded up (away from zero) to a multiple of 1n and a
    binary-suffixed value is capped at 2^63-1. Whitespace is refused (``ParseQuantity`` refuses it; only the JSON
    decoder trims it first). Beyond upstream: an exponent outside int32 (which upstream silently wraps), values of
    10^1000 or more and inputs over 1000 characters are refused. Raises ``ValueError`` with a message."""
    if (wrong := _not_a_string(text)) is not None:
        raise ValueError(wrong)
    try:
        return _parse_quantity(text)
    except _QuantityError as error:
        raise ValueError(str(error) + _hint(text)) from None


def quantity_problem(value: str | int) -> str | None:
    """``None`` for an int or a string ``parse_quantity`` accepts; otherwise what was expected, with a hint for
    '512MB'-style mistakes ("did you mean '512Mi'?")."""
    if isinstance(value, bool):
        return "expected a Kubernetes quantity, got a boolean"
    if isinstance(value, int):
        value = str(value)  # a JSON number reaches ParseQuantity as its decimal text
    if not isinstance(value, str):
        return f"expected a Kubernetes quantity, got {type(value).__name__}"
    try:
        _parse_quantity(value)
    except _QuantityError as error:
        return str(error) + _hint(value)
    return None


# --------------------------------------------------------------------------------------------------------------------
# Go durations: golang/go src/time/format.go (ParseDuration)
# --------------------------------------------------------------------------------------------------------------------

_DURATION_UNITS_NS = {
    b"ns": 1,
    b"us": 1_000,
    "\u00b5s".encode(): 1_000,  # micro sign
    "\u03bcs".encode(): 1_000,  # Greek small letter mu
    b"ms": 1_000_000,
    b"s": 1_000_000_000,
    b"m": 60 * 1_000_000_000,
    b"h": 3600 * 1_000_000_000,
}
_DURATION_EXPECTED = (
    "expected a Go duration: numbers with units ns, us, ms, s, m, h, optionally signed and combined "
    "(e.g. '30s', '1.5h', '2h45m'); a bare '0' is the only number allowed without a unit"
)


class _DurationError(ValueError):
    pass


def _go_duration_ns(text: str) -> int:
    """``time.ParseDuration``, on the UTF-8 bytes as Go sees them, returning nanoseconds."""
    s = text.encode("utf-8", "surrogatepass")
    negative = False
    if s[:1] in (b"-", b"+"):
        negative = s[:1] == b"-"
        s = s[1:]
    if s == b"0":
        return 0
    if s == b"":
        raise _DurationError(_DURATION_EXPECTED)
    total = 0
    limit = 1 << 63
    while s:
        if not (s[0] == ord(".") or ord("0") <= s[0] <= ord("9")):
            raise _DurationError(_DURATION_EXPECTED)
        i = 0
        whole = 0
        while i < len(s) and ord("0") <= s[i] <= ord("9"):  # leadingInt
            whole = whole * 10 + s[i] - ord("0")
            if whole > limit:
                raise _DurationError(_DURATION_EXPECTED + "; it overflows 64 bits")
            i += 1
        had_whole = i > 0
        s = s[i:]
        fraction, scale, had_fraction = 0, 1.0, False
        if s[:1] == b".":  # leadingFraction: stops adding precision before it overflows
            s = s[1:]
            i = 0
            overflow = False
            while i < len(s) and ord("0") <= s[i] <= ord("9"):
                if not overflow:
                    following = fraction * 10 + s[i] - ord("0")
                    if fraction > (limit - 1) // 10 or following > limit:
                        overflow = True
                    else:
                        fraction, scale = following, scale * 10
                i += 1
            had_fraction = i > 0
            s = s[i:]
        if not had_whole and not had_fraction:
            raise _DurationError(_DURATION_EXPECTED)
        i = 0
        while i < len(s) and not (s[i] == ord(".") or ord("0") <= s[i] <= ord("9")):
            i += 1
        if i == 0:
            raise _DurationError(_DURATION_EXPECTED + "; a unit is missing")
        unit_bytes, s = s[:i], s[i:]
        unit = _DURATION_UNITS_NS.get(unit_bytes)
        if unit is None:
            shown = unit_bytes.decode("utf-8", "backslashreplace")
            raise _DurationError(_DURATION_EXPECTED + f"; unknown unit {shown!r}")
        if whole > limit // unit:
            raise _DurationError(_DURATION_EXPECTED + "; it overflows 64 bits")
        value = whole * unit
        if fraction > 0:
            value += int(float(fraction) * (float(unit) / scale))  # Go does this in float64, truncating
            if value > limit:
                raise _DurationError(_DURATION_EXPECTED + "; it overflows 64 bits")
        total += value
        if total > limit:  # (Go's uint64 could wrap back to small values only past 2^64; refused here)
            raise _DurationError(_DURATION_EXPECTED + "; it overflows 64 bits")
    if negative:
        return -total
    if total > limit - 1:
        raise _DurationError(_DURATION_EXPECTED + "; it overflows 64 bits")
    return total


def parse_go_duration(text: str) -> float:
    """A Go duration (``time.ParseDuration`` in golang/go ``src/time/format.go``) in seconds: an optional sign, then
    one or more decimal numbers with an optional fraction, each followed by a unit: ns, us, µs (U+00B5),
    μs (U+03BC), ms, s, m, h. A lone ``0`` (signed or not) needs no unit; anything beyond ±2^63 ns is refused.
    Raises ``ValueError`` with a message."""
    if (wrong := _not_a_string(text)) is not None:
        raise ValueError(wrong)
    try:
        return _go_duration_ns(text) / 1e9
    except _DurationError as error:
        raise ValueError(str(error)) from None


def go_duration_problem(text: str) -> str | None:
    """``None`` for a duration ``parse_go_duration`` accepts; otherwise what was expected."""
    if (wrong := _not_a_string(text)) is not None:
        return wrong
    try:
        _go_duration_ns(text)
    except _DurationError as error:
        return str(error)
    return None

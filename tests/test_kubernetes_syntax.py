"""upstream.kubernetes against the cases upstream tests itself with, restated as data (no Go code copied)."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from upstream import kubernetes as k

FAST = settings(max_examples=300, deadline=500)
HEX64 = "f" * 64
SHA256 = "sha256:" + HEX64


def valid(problem: Callable[[str], str | None], value: str) -> None:
    assert problem(value) is None, problem(value)


def invalid(problem: Callable[[str], str | None], value: str) -> str:
    message = problem(value)
    assert isinstance(message, str) and message.startswith(("expected", "a Service", "an annotation")), message
    return message


# ---- DNS names: apimachinery pkg/api/validate/content/dns_test.go (TestIsDNS1123Label, TestIsDNS1123Subdomain)

LABEL_GOOD = ["a", "ab", "abc", "a1", "a-1", "a--1--2--b", "0", "01", "012", "1a", "1-a", "1--a--b--2", "a" * 63]
LABEL_BAD = ["", "A", "ABC", "aBc", "A1", "A-1", "1-A", "-", "a-", "-a", "1-", "-1", "_", "a_", "_a", "a_b", "1_", "_1",
             "1_2", ".", "a.", ".a", "a.b", "1.", ".1", "1.2", " ", "a ", " a", "a b", "1 ", " 1", "1 2", "a" * 64, "a\n"]


@pytest.mark.parametrize("value", LABEL_GOOD)
def test_dns1123_label_valid(value: str) -> None:
    valid(k.dns1123_label_problem, value)


@pytest.mark.parametrize("value", LABEL_BAD)
def test_dns1123_label_invalid(value: str) -> None:
    invalid(k.dns1123_label_problem, value)


def test_dns1123_label_says_dots_are_the_problem() -> None:
    assert "dots" in invalid(k.dns1123_label_problem, "a.b")


SUBDOMAIN_GOOD = LABEL_GOOD + ["a.a", "ab.a", "a--1--2--b.a", "a.1", "0.a", "1--a--b--2.1", "a.b.c.d.e", "1.2.3.4.5",
                               "a" * 253]
SUBDOMAIN_BAD = ["", "A", "aBc", "-", "a-", "-a", "_", "a_b", ".", "a.", ".a", "a..b", "1..2", " ", "a b", "A.a", "ab.A",
                 "0.A", "a.B.c.d.e", "a@b", "a,b", "a;b", "a:b", "a%b", "a?b", "a$b", "a" * 254]


@pytest.mark.parametrize("value", SUBDOMAIN_GOOD)
def test_dns1123_subdomain_valid(value: str) -> None:
    valid(k.dns1123_subdomain_problem, value)


@pytest.mark.parametrize("value", SUBDOMAIN_BAD)
def test_dns1123_subdomain_invalid(value: str) -> None:
    invalid(k.dns1123_subdomain_problem, value)


# ---- apimachinery pkg/util/validation/validation_test.go (TestIsDNS1035Label)

DNS1035_GOOD = ["a", "ab", "abc", "a1", "a-1", "a--1--2--b", "a" * 63]
DNS1035_BAD = ["0", "01", "012", "1a", "1-a", "1--a--b--2", "", "A", "ABC", "aBc", "A1", "A-1", "1-A", "-", "a-", "-a",
               "1-", "-1", "_", "a_", "_a", "a_b", ".", "a.", ".a", "a.b", " ", "a ", " a", "a b", "a" * 64]


@pytest.mark.parametrize("value", DNS1035_GOOD)
def test_dns1035_label_valid(value: str) -> None:
    valid(k.dns1035_label_problem, value)
    valid(k.service_name_problem, value)


@pytest.mark.parametrize("value", DNS1035_BAD)
def test_dns1035_label_invalid(value: str) -> None:
    invalid(k.dns1035_label_problem, value)
    assert invalid(k.service_name_problem, value).startswith("a Service name")


def test_a_deployment_name_may_start_with_a_digit_but_a_service_name_may_not() -> None:
    valid(k.dns1123_label_problem, "1-fn")
    invalid(k.service_name_problem, "1-fn")


# ---- apimachinery pkg/api/validate/content/kube_test.go (TestIsLabelKey, TestIsLabelValue)

QUALIFIED_GOOD = ["simple", "now-with-dashes", "1-starts-with-num", "1234", "simple/simple", "now-with-dashes/simple",
                  "now.with.dots/simple", "now-with.dashes-and.dots/simple", "1-num.2-num/3-num", "1234/5678",
                  "1.2.3.4/5678", "Uppercase_Is_OK_123", "example.com/Uppercase_Is_OK_123", "requests.storage-foo",
                  "a" * 63, "a" * 253 + "/" + "b" * 63]
QUALIFIED_BAD = ["nospecialchars%^=@", "cantendwithadash-", "-cantstartwithadash-", "only/one/slash", "Example.com/abc",
                 "example_com/abc", "example.com/", "/simple", "a" * 64, "a" * 254 + "/abc", ""]


@pytest.mark.parametrize("value", QUALIFIED_GOOD)
def test_qualified_name_valid(value: str) -> None:
    valid(k.qualified_name_problem, value)


@pytest.mark.parametrize("value", QUALIFIED_BAD)
def test_qualified_name_invalid(value: str) -> None:
    invalid(k.qualified_name_problem, value)


LABEL_VALUE_GOOD = ["simple", "now-with-dashes", "1-starts-with-num", "end-with-num-1", "1234", "a" * 63, ""]
LABEL_VALUE_BAD = ["nospecialchars%^=@", "Tama-nui-te-rā.is.Māori.sun", "\\backslashes\\are\\bad", "-starts-with-dash",
                   "ends-with-dash-", ".starts.with.dot", "ends.with.dot.", "a" * 64]


@pytest.mark.parametrize("value", LABEL_VALUE_GOOD)
def test_label_value_valid(value: str) -> None:
    valid(k.label_value_problem, value)


@pytest.mark.parametrize("value", LABEL_VALUE_BAD)
def test_label_value_invalid(value: str) -> None:
    assert "63" in invalid(k.label_value_problem, value)


# ---- apimachinery pkg/api/validate/content/identifier_test.go (TestIsCIdentifier)

C_IDENTIFIER_GOOD = ["a", "ab", "abc", "a1", "_a", "a_", "a_b", "a_1", "a__1__2__b", "__abc_123", "A", "AB", "AbC",
                     "A1", "_A", "A_", "A_B", "A_1", "A__1__2__B", "__123_ABC"]
C_IDENTIFIER_BAD = ["", "1", "123", "1a", "-", "a-", "-a", "1-", "-1", "1_", "1_2", ".", "a.", ".a", "a.b", "1.", ".1",
                    "1.2", " ", "a ", " a", "a b", "1 ", " 1", "1 2", "#a#"]


@pytest.mark.parametrize("value", C_IDENTIFIER_GOOD)
def test_c_identifier_valid(value: str) -> None:
    valid(k.c_identifier_problem, value)


@pytest.mark.parametrize("value", C_IDENTIFIER_BAD)
def test_c_identifier_invalid(value: str) -> None:
    invalid(k.c_identifier_problem, value)


# ---- apimachinery pkg/util/validation/validation_test.go (TestIsRelaxedEnvVarName): the 1.34+ (GA) rule

ENV_GOOD = ["-", ":", "_", "+a", ">a", "<a", "a.", "a..", "*a", "%a", "?a", "a:a", "a_a", "aAz", "~a", "|a", "a0a", "a9",
            "/a", "a ", "#a", "0a", "0 a", "'a", "(a", "@a", "MY_VAR", "1VAR", "my.var"]
ENV_BAD = ["", "=", "a=", "1=a", "a=b", "#%=&&", "\x01abc", "\x82abc", "Ç ç", "Ä ä", "Ñ ñ", "Ø ø", "a\tb", "a\x7f"]


@pytest.mark.parametrize("value", ENV_GOOD)
def test_env_var_name_valid(value: str) -> None:
    valid(k.env_var_name_problem, value)


@pytest.mark.parametrize("value", ENV_BAD)
def test_env_var_name_invalid(value: str) -> None:
    invalid(k.env_var_name_problem, value)


# ---- apimachinery pkg/api/validation/objectmeta.go (ValidateAnnotations): keys lower-cased, 256 KiB in total

@pytest.mark.parametrize("key", ["example.com/key", "Example.COM/Key", "KEY", "a" * 253 + "/" + "b" * 63])
def test_annotation_key_valid(key: str) -> None:
    valid(k.annotation_key_problem, key)


@pytest.mark.parametrize("key", ["", "/key", "a/b/c", "example.com/", "key-", "exa_mple.com/key", "a" * 64])
def test_annotation_key_invalid(key: str) -> None:
    invalid(k.annotation_key_problem, key)


def test_label_keys_are_case_sensitive_where_annotation_keys_are_not() -> None:
    invalid(k.qualified_name_problem, "Example.com/abc")
    valid(k.annotation_key_problem, "Example.com/abc")


def test_annotations_total_size() -> None:
    limit = k.TOTAL_ANNOTATION_SIZE_LIMIT_B
    assert limit == 262144
    assert k.annotations_problem({"k": "v" * (limit - 1)}) is None
    assert "262144" in (k.annotations_problem({"k": "v" * limit}) or "")
    assert k.annotations_problem({"ok": "x", "bad key": "y"}) is not None
    # bytes, not characters: 'ø' is two bytes in UTF-8
    assert k.annotations_problem({"k": "ø" * (limit // 2)}) is not None


# ---- distribution/reference reference_test.go (TestReferenceParse), passed through ParseNormalizedNamed as the
# kubelet does; (image, registry, normalized form). Inputs upstream expects Parse to refuse are in IMAGE_BAD.

IMAGE_GOOD = [
    ("test_com", "docker.io", "docker.io/library/test_com"),
    ("test.com:tag", "docker.io", "docker.io/library/test.com:tag"),
    ("test.com:5000", "docker.io", "docker.io/library/test.com:5000"),
    ("test.com/repo:tag", "test.com", "test.com/repo:tag"),
    ("test:5000/repo", "test:5000", "test:5000/repo"),
    ("test:5000/repo:tag", "test:5000", "test:5000/repo:tag"),
    ("test:5000/repo@" + SHA256, "test:5000", "test:5000/repo@" + SHA256),
    ("test:5000/repo:tag@" + SHA256, "test:5000", "test:5000/repo:tag@" + SHA256),
    ("lowercase:Uppercase", "docker.io", "docker.io/library/lowercase:Uppercase"),
    ("a/" * 127 + "a:tag-puts-this-over-max", "docker.io", "docker.io/" + "a/" * 127 + "a:tag-puts-this-over-max"),
    ("sub-dom1.foo.com/bar/baz/quux:some-long-tag", "sub-dom1.foo.com", "sub-dom1.foo.com/bar/baz/quux:some-long-tag"),
    ("b.gcr.io/test.example.com/my-app:test.example.com", "b.gcr.io", "b.gcr.io/test.example.com/my-app:test.example.com"),
    ("xn--n3h.com/myimage:xn--n3h.com", "xn--n3h.com", "xn--n3h.com/myimage:xn--n3h.com"),
    ("foo_bar.com:8080", "docker.io", "docker.io/library/foo_bar.com:8080"),
    ("foo/foo_bar.com:8080", "docker.io", "docker.io/foo/foo_bar.com:8080"),
    ("192.168.1.1", "docker.io", "docker.io/library/192.168.1.1"),
    ("192.168.1.1:5000/repo:5050", "192.168.1.1:5000", "192.168.1.1:5000/repo:5050"),
    ("[2001:db8::1]/repo", "[2001:db8::1]", "[2001:db8::1]/repo"),
    ("[2001:db8:1:2:3:4:5:6]/repo:tag", "[2001:db8:1:2:3:4:5:6]", "[2001:db8:1:2:3:4:5:6]/repo:tag"),
    ("[2001:db8::1]:5000/repo:tag@" + SHA256, "[2001:db8::1]:5000", "[2001:db8::1]:5000/repo:tag@" + SHA256),
    ("[::1]:5000/repo", "[::1]:5000", "[::1]:5000/repo"),
    ("example.com/" + "a" * 255 + ":tag", "example.com", "example.com/" + "a" * 255 + ":tag"),
    # normalize_test.go (TestValidateReferenceName, TestValidateRemoteName, TestParseRepositoryInfo)
    ("docker/docker", "docker.io", "docker.io/docker/docker"),
    ("debian", "docker.io", "docker.io/library/debian"),
    ("localhost/debian", "localhost", "localhost/debian"),
    ("LOCALDOMAIN/library/debian", "LOCALDOMAIN", "LOCALDOMAIN/library/debian"),
    ("docker.io/debian", "docker.io", "docker.io/library/debian"),
    ("index.docker.io/docker/docker", "docker.io", "docker.io/docker/docker"),
    ("index.docker.io/debian", "docker.io", "docker.io/library/debian"),
    ("127.0.0.1:5000/library/debian", "127.0.0.1:5000", "127.0.0.1:5000/library/debian"),
    ("192.168.0.1:80", "docker.io", "docker.io/library/192.168.0.1:80"),
    ("thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev", "docker.io",
     "docker.io/library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev"),
    ("[fc00:1:2:3:4:5:6:7]:5000/library/debian", "[fc00:1:2:3:4:5:6:7]:5000", "[fc00:1:2:3:4:5:6:7]:5000/library/debian"),
    ("docker.io/" + "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a", "docker.io",
     "docker.io/library/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a"),
    ("Docker/docker", "Docker", "Docker/docker"),
    ("docker---rules/docker", "docker.io", "docker.io/docker---rules/docker"),
    ("dock__er/docker", "docker.io", "docker.io/dock__er/docker"),
    ("jess/t", "docker.io", "docker.io/jess/t"),
    ("library/foo/bar", "docker.io", "docker.io/library/foo/bar"),
    ("example.com:8000/privatebasee", "example.com:8000", "example.com:8000/privatebasee"),
    # ours: what this platform writes
    ("nginx", "docker.io", "docker.io/library/nginx"),
    ("ghcr.io/a/b:1.0", "ghcr.io", "ghcr.io/a/b:1.0"),
    ("localhost:5000/x", "localhost:5000", "localhost:5000/x"),
    ("ghcr.io/openfaas/gateway@" + SHA256, "ghcr.io", "ghcr.io/openfaas/gateway@" + SHA256),
    (HEX64 + ":1.0", "docker.io", "docker.io/library/" + HEX64 + ":1.0"),  # a hex name is fine with a tag
    ("repo@sha512:" + "f" * 128, "docker.io", "docker.io/library/repo@sha512:" + "f" * 128),
]

IMAGE_BAD = [
    # reference_test.go
    "", ":justtag", "@" + SHA256, "repo@sha256:" + "f" * 34, "validname@invaliddigest:" + HEX64, "Uppercase:tag",
    "test:5000/Uppercase/lowercase:tag", "domain/" + "a" * 256 + ":tag", "aa/asdf$$^/aa", "[2001:db8::1]",
    "[2001:db8::1]:5000", "[2001:db8::1]:tag", "[fe80::1%eth0]:5000/repo", "[fe80::1%@invalidzone]:5000/repo",
    # normalize_test.go
    "https://github.com/docker/docker", "docker/Docker", "-docker", "-docker/docker", "-docker.io/docker/docker",
    "docker///docker", "docker.io/docker/Docker", "docker.io/docker///docker", "[fc00::1]", "[fc00::1]:5000",
    "fc00::1:5000/debian", "[2001:db8:3:4::192.0.2.33]:5000/debian",
    "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a", "docker-/docker", "-docker-/docker",
    "____/____", "_docker/_docker", "dock..er/docker", "dock_.er/docker", "dock-.er/docker", "docker/",
    "this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_" * 4 + "/docker",
    # ours: the mistakes a config makes
    "/fn:1.0", "nginx:" + "a" * 129, "Nginx", "ghcr.io/Org/app:1.0", "nginx :1.0", " nginx", "nginx\n",
    "<registry>/fn:1.0", "${REGISTRY}/fn:1.0", "ghcr.io//fn", "repo@sha256:" + "F" * 64, "a" * 250,
]


@pytest.mark.parametrize(("image", "registry", "normalized"), IMAGE_GOOD)
def test_image_reference_valid(image: str, registry: str, normalized: str) -> None:
    valid(k.image_reference_problem, image)
    assert k.image_registry(image) == registry
    assert k.normalized_image(image) == normalized


@pytest.mark.parametrize("image", IMAGE_BAD)
def test_image_reference_invalid(image: str) -> None:
    invalid(k.image_reference_problem, image)
    with pytest.raises(ValueError, match="expected a container image reference"):
        k.normalized_image(image)
    with pytest.raises(ValueError):
        k.image_registry(image)


@pytest.mark.parametrize(("image", "reason"), [
    ("/fn:1.0", "starts with '/'"),
    ("nginx:" + "a" * 129, "longer than 128"),
    ("ghcr.io/Org/app", "lowercase"),
    ("<registry>/fn", "placeholder"),
    ("nginx :1", "whitespace"),
    ("ghcr.io//fn", "empty path component"),
    (HEX64, "64-character hex"),
    ("x/" + "a" * 256, "255"),
])
def test_image_reference_says_why(image: str, reason: str) -> None:
    assert reason in invalid(k.image_reference_problem, image)


def test_normalized_image_default_tag() -> None:
    assert k.normalized_image("nginx", default_tag=True) == "docker.io/library/nginx:latest"
    assert k.normalized_image("nginx:1.27", default_tag=True) == "docker.io/library/nginx:1.27"
    assert k.normalized_image("nginx@" + SHA256, default_tag=True) == "docker.io/library/nginx@" + SHA256


# ---- apimachinery pkg/api/resource/quantity_test.go (TestQuantityParse, TestParseQuantityString): value as stored

Q = Fraction
QUANTITY_GOOD = [
    ("0", Q(0)), ("0n", Q(0)), ("0Ki", Q(0)), ("0Mi", Q(0)), ("0T", Q(0)), ("1", Q(1)),
    ("1Ki", Q(1024)), ("8Ki", Q(8 * 1024)), ("7Mi", Q(7 * 2**20)), ("6Gi", Q(6 * 2**30)), ("5Ti", Q(5 * 2**40)),
    ("4Pi", Q(4 * 2**50)), ("3Ei", Q(3 * 2**60)), ("100Ti", Q(100 * 2**40)),
    ("5n", Q(5, 10**9)), ("4u", Q(4, 10**6)), ("3m", Q(3, 1000)), ("8k", Q(8000)), ("50k", Q(50000)),
    ("7M", Q(7 * 10**6)), ("6G", Q(6 * 10**9)), ("40T", Q(40 * 10**12)), ("2P", Q(2 * 10**15)), ("1E", Q(10**18)),
    ("1E-3", Q(1, 1000)), ("1e3", Q(1000)), ("1E6", Q(10**6)), ("1e9", Q(10**9)), ("1E18", Q(10**18)),
    ("100.035k", Q(100035)), ("0.001", Q(1, 1000)), ("0.0005k", Q(1, 2)), ("0.00500", Q(5, 1000)), ("0.5e-2", Q(5, 1000)),
    ("10.035M", Q(10035000)), ("1.2e3", Q(1200)), ("1.3E+6", Q(1300000)), ("1.7E18", Q(17 * 10**17)),
    ("6.987654321G", Q(6987654321)), ("1.01E", Q(101 * 10**16)), ("12E", Q(12 * 10**18)),
    # saturating and rounding up to 1n
    ("3.001n", Q(4, 10**9)), ("1.1E-9", Q(2, 10**9)), ("0.0000000001", Q(1, 10**9)), ("0.5e-9", Q(1, 10**9)),
    ("0.00000012345", Q(124, 10**9)), ("9Ei", Q(2**63 - 1)), ("9223372036854775807Ki", Q(2**63 - 1)),
    ("100.035Ki", Q(10243584, 100)), ("0.5Mi", Q(2**19)), ("0.05Gi", Q(536870912, 10)),
    ("0.000000000001Ki", Q(2, 10**9)), (".001", Q(1, 1000)), ("1.", Q(1)), ("1.G", Q(10**9)),
    ("-3.001n", Q(-4, 10**9)), ("+1Ki", Q(1024)), ("-1.025Ti", -Q(1025 * 2**40, 1000)),
    # what ParseQuantity's fast path lets through without digits (0) and leading zeros
    (".", Q(0)), ("-.", Q(0)), ("-", Q(0)), ("Ki", Q(0)), ("e5", Q(0)), ("0e-10", Q(0)), ("000", Q(0)), ("007", Q(7)),
    ("9" * 500, Q(int("9" * 500))), ("1e-999999999", Q(1, 10**9)),
]
QUANTITY_BAD = [
    # quantity_test.go
    "", "1.1.M", "1+1.0M", "0.1mi", "0.1am", "aoeu", ".5i", "1i", "-3.01i", "-3.01e-", " 1", "1 ",
    # ours
    "1.5.5", "1Mb", "512MB", "512mb", "512M B", "1GiB", "1K", "1e", "e-10", "Pi", "1e4294967296", "1e999999999",
    "1 Gi", "1_000", "0x10", "1,5", "١", "9" * 1001,
]


@pytest.mark.parametrize(("text", "value"), QUANTITY_GOOD)
def test_quantity_valid(text: str, value: Fraction) -> None:
    assert k.parse_quantity(text) == value
    valid(k.quantity_problem, text)


@pytest.mark.parametrize("text", QUANTITY_BAD)
def test_quantity_invalid(text: str) -> None:
    with pytest.raises(ValueError, match="expected a Kubernetes quantity"):
        k.parse_quantity(text)
    invalid(k.quantity_problem, text)


@pytest.mark.parametrize(("text", "suggestion"), [
    ("512MB", "512Mi"), ("512mb", "512Mi"), ("512M B", "512Mi"), ("1GiB", "1Gi"), ("2 Gi", "2Gi"), ("1kb", "1Ki"),
    ("1K", "1Ki"), ("1.5GB", "1.5Gi"), ("100 Mi", "100Mi"),
])
def test_quantity_hint(text: str, suggestion: str) -> None:
    assert f"did you mean '{suggestion}'?" in invalid(k.quantity_problem, text)


def test_quantity_accepts_ints_as_json_numbers_do() -> None:
    assert k.quantity_problem(512) is None
    assert k.quantity_problem(-1) is None
    assert k.quantity_problem(True) is not None  # type: ignore[arg-type]


# ---- golang/go src/time/time_test.go (parseDurationTests, parseDurationErrorTests); nanoseconds expected

NS, US, MS, S, MIN, H = 1, 10**3, 10**6, 10**9, 60 * 10**9, 3600 * 10**9
DURATION_GOOD = [
    ("0", 0), ("5s", 5 * S), ("30s", 30 * S), ("1478s", 1478 * S), ("-5s", -5 * S), ("+5s", 5 * S), ("-0", 0), ("+0", 0),
    ("5.0s", 5 * S), ("5.6s", 5 * S + 600 * MS), ("5.s", 5 * S), (".5s", 500 * MS), ("1.0s", S), ("1.004s", S + 4 * MS),
    ("100.00100s", 100 * S + MS), ("10ns", 10 * NS), ("11us", 11 * US), ("12µs", 12 * US), ("12μs", 12 * US),
    ("13ms", 13 * MS), ("14s", 14 * S), ("15m", 15 * MIN), ("16h", 16 * H), ("3h30m", 3 * H + 30 * MIN),
    ("10.5s4m", 4 * MIN + 10 * S + 500 * MS), ("-2m3.4s", -(2 * MIN + 3 * S + 400 * MS)),
    ("1h2m3s4ms5us6ns", H + 2 * MIN + 3 * S + 4 * MS + 5 * US + 6 * NS), ("39h9m14.425s", 39 * H + 9 * MIN + 14425 * MS),
    ("52763797000ns", 52763797000), ("0.3333333333333333333h", 20 * MIN), ("9007199254740993ns", 9007199254740993),
    ("9223372036854775807ns", 2**63 - 1), ("9223372036854775.807us", 2**63 - 1), ("9223372036s854ms775us807ns", 2**63 - 1),
    ("-9223372036854775808ns", -(2**63)), ("-9223372036854775.808us", -(2**63)), ("-2562047h47m16.854775808s", -(2**63)),
    ("0.100000000000000000000h", 6 * MIN), ("0.830103483285477580700h", 49 * MIN + 48 * S + 372539827),
]
DURATION_BAD = [
    "", "3", "-", "s", ".", "-.", ".s", "+.s", "1d", "\x85\x85", "\xffff", "hello \xffff world", "\ufffd",
    "\ufffd hello \ufffd world", "9223372036854775810ns", "9223372036854775808ns", "-9223372036854775809ns",
    "9223372036854776us", "3000000h", "9223372036854775.808us", "9223372036854ms775us808ns",
    # ours
    "1 s", " 1s", "1s ", "1S", "1sec", "10", "1e3s", "-9223372036854775808ns9223372036854775808ns",
]


@pytest.mark.parametrize(("text", "nanoseconds"), DURATION_GOOD)
def test_go_duration_valid(text: str, nanoseconds: int) -> None:
    assert k._go_duration_ns(text) == nanoseconds
    assert k.parse_go_duration(text) == nanoseconds / 1e9
    valid(k.go_duration_problem, text)


@pytest.mark.parametrize("text", DURATION_BAD)
def test_go_duration_invalid(text: str) -> None:
    with pytest.raises(ValueError, match="expected a Go duration"):
        k.parse_go_duration(text)
    invalid(k.go_duration_problem, text)


# ---- properties: arbitrary text in, None or one sentence out, never an exception, quickly

PROBLEMS = [k.dns1123_label_problem, k.dns1123_subdomain_problem, k.dns1035_label_problem, k.service_name_problem,
            k.qualified_name_problem, k.label_value_problem, k.c_identifier_problem, k.env_var_name_problem,
            k.annotation_key_problem, k.image_reference_problem, k.quantity_problem, k.go_duration_problem]
SYNTAXY = st.text(alphabet="0123456789abcdefABCDEFKMGTPEikmnu.:/@+-_e ħµμ<>$", max_size=80)


@pytest.mark.parametrize("problem", PROBLEMS, ids=lambda f: f.__name__)
@FAST
@given(text=st.one_of(st.text(max_size=300), SYNTAXY))
def test_problem_functions_never_raise(problem: Callable[[str], str | None], text: str) -> None:
    result = problem(text)
    assert result is None or (isinstance(result, str) and result)


@FAST
@given(text=st.one_of(st.text(max_size=300), SYNTAXY, st.from_regex(r"[+-]?[0-9]{0,600}(\.[0-9]{0,50})?([eE][+-]?[0-9]{1,12})?", fullmatch=True)))
def test_parse_quantity_returns_a_fraction_or_a_clean_value_error(text: str) -> None:
    try:
        value = k.parse_quantity(text)
    except ValueError as error:
        assert str(error).startswith("expected")
        assert k.quantity_problem(text) is not None
    else:
        assert isinstance(value, Fraction)
        assert (value * 10**9).denominator == 1  # a whole number of nano units, as apimachinery stores it
        assert k.quantity_problem(text) is None


@FAST
@given(text=st.one_of(st.text(max_size=200), st.from_regex(r"[+-]?([0-9]{0,25}(\.[0-9]{0,25})?(ns|us|µs|ms|s|m|h|d)){1,4}", fullmatch=True)))
def test_parse_go_duration_is_a_float_or_a_clean_value_error(text: str) -> None:
    try:
        seconds = k.parse_go_duration(text)
    except ValueError as error:
        assert str(error).startswith("expected")
    else:
        assert abs(seconds) <= 2**63 / 1e9


@FAST
@given(image=st.one_of(st.text(max_size=300), st.from_regex(r"([a-z0-9.:-]{1,20}/)?[a-z0-9._-]{1,30}(/[a-z0-9_-]{1,10}){0,3}(:[\w.-]{1,20})?", fullmatch=True)))
def test_image_functions_agree(image: str) -> None:
    if k.image_reference_problem(image) is None:
        normalized = k.normalized_image(image)
        assert k.image_reference_problem(normalized) is None
        assert k.normalized_image(normalized) == normalized  # normalizing is idempotent
        assert normalized.startswith(k.image_registry(image) + "/") or k.image_registry(image) == ""
    else:
        with pytest.raises(ValueError):
            k.normalized_image(image)


@settings(max_examples=30, deadline=1000)
@given(n=st.integers(min_value=1, max_value=5000), piece=st.sampled_from(["a", "a-", "a.", "a/", "A", "0", "[:", "a@", "a:"]))
def test_long_adversarial_images_are_quick(n: int, piece: str) -> None:
    assert k.image_reference_problem(piece * n + "!") is not None

"""upstream.drone_envsubst: faas-cli's variable substitution (drone/envsubst v1.0.3), case by case.

The first two tables restate, as data, the cases of drone/envsubst's own tests at v1.0.3 (eval_test.go,
and parse/parse_test.go with values chosen here so that each parse shows in the output); the rest are
behaviours read in its source and checked against the Go library itself.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from upstream.drone_envsubst import SubstitutionError, substitute

# (text, env, expected output): drone/envsubst eval_test.go, v1.0.3.
UPSTREAM_EVAL = [
    ("abcdEFGH28ij", {}, "abcdEFGH28ij"),
    ("${#var01}", {"var01": "abcdEFGH28ij"}, "12"),
    ("${var01^}", {"var01": "abcdEFGH28ij"}, "AbcdEFGH28ij"),
    ("${var01^^}", {"var01": "abcdEFGH28ij"}, "ABCDEFGH28IJ"),
    ("${var01,}", {"var01": "ABCDEFGH28IJ"}, "aBCDEFGH28IJ"),
    ("${var01,,}", {"var01": "ABCDEFGH28IJ"}, "abcdefgh28ij"),
    ("${path_name:11}", {"path_name": "/home/bozo/ideas/thoughts.for.today"}, "ideas/thoughts.for.today"),
    ("${path_name:11:5}", {"path_name": "/home/bozo/ideas/thoughts.for.today"}, "ideas"),
    ("${var=xyz}", {"var": "abc"}, "abc"),
    ("${var=xyz}", {}, "xyz"),
    ("something ${var=${default_var}}", {"default_var": "foo"}, "something foo"),
    ("foo: ${var=${default_var}-suffix}", {"default_var": "foo1"}, "foo: foo1-suffix"),
    ("foo: ${var=prefix${default_var}-suffix}", {"default_var": "foo1"}, "foo: prefixfoo1-suffix"),
    ("${var:=xyz}", {}, "xyz"),
    ("${stringZ/%abc/XYZ}", {"stringZ": "abcABC123ABCabc"}, "abcABC123ABCXYZ"),
    ("${stringZ/#abc/XYZ}", {"stringZ": "abcABC123ABCabc"}, "XYZABC123ABCabc"),
    ("${stringZ//abc/xyz}", {"stringZ": "abcABC123ABCabc"}, "xyzABC123ABCxyz"),
    ("${stringZ/abc/xyz}", {"stringZ": "abcABC123ABCabc"}, "xyzABC123ABCabc"),
    ("${filename#*.}", {"filename": "bash.string.txt"}, "string.txt"),
    ("${filename#*/}", {"filename": "path/to/file"}, "to/file"),
    ("${filename#*/}", {"filename": "/path/to/file"}, "path/to/file"),
    ("${filename##*.}", {"filename": "bash.string.txt"}, "txt"),
    ("${filename##*/}", {"filename": "path/to/file"}, "file"),
    ("${filename##*/}", {"filename": "/path/to/file"}, "file"),
    ("${filename%.*}", {"filename": "bash.string.txt"}, "bash.string"),
    ("${filename%%.*}", {"filename": "bash.string.txt"}, "bash"),
    ("${var=${var01^^}}", {"var01": "abcdEFGH28ij"}, "ABCDEFGH28IJ"),
    ("$${var01}", {"var01": "abcdEFGH28ij"}, "${var01}"),
    (
        "some text ${var01}$${var$${var01}$var01${var01}",
        {"var01": "abcdEFGH28ij"},
        "some text abcdEFGH28ij${var${var01}$var01abcdEFGH28ij",
    ),
    ("something $${var=${default_var}}", {"default_var": "foo"}, "something ${var=foo}"),
    ("${stringZ/\\//-}", {"stringZ": "foo/bar"}, "foo-bar"),
    ("${stringZ//\\//-}", {"stringZ": "foo/bar/baz"}, "foo-bar-baz"),
    ("${stringZ/./}", {"stringZ": "foo.bar"}, "foobar"),
]

S = {"string": "Hello/World-string", "stringy": "0123456789", "stringz": "ABC", "position": "2", "var": "v"}

# drone/envsubst parse/parse_test.go, v1.0.3: each text parses; the output shows how.
UPSTREAM_PARSE = [
    ("text", S, "text"),
    ("}text", S, "}text"),
    ("http://github.com", S, "http://github.com"),
    ("$${string}", S, "${string}"),
    ("$$string", S, "$string"),
    ("${string}", S, "Hello/World-string"),
    ("${string,}", S, "hello/World-string"),
    ("${string,,}", S, "hello/world-string"),
    ("${string^}", S, "Hello/World-string"),
    ("${string^^}", S, "HELLO/WORLD-STRING"),
    ("${string:position}", S, "Hello/World-string"),  # "position" is not a number: the whole value
    ("${string:position:length}", S, "Hello/World-string"),
    ("${string#substring}", S, "Hello/World-string"),
    ("${string##substring}", S, "Hello/World-string"),
    ("${string%string}", S, "Hello/World-"),
    ("${string%%string}", S, "Hello/World-"),
    ("${string/World/Earth}", S, "Hello/Earth-string"),
    ("${string//o/0}", S, "Hell0/W0rld-string"),
    ("${string/#Hello/Bye}", S, "Bye/World-string"),
    ("${string/%string/text}", S, "Hello/World-text"),
    ("${unset=default}", S, "default"),
    ("${unset:=default}", S, "default"),
    ("${unset:-default}", S, "default"),
    ("${unset:?default}", S, "default"),
    ("${unset:+default}", S, "default"),
    ("${#string}", S, "18"),
    ("${string#$%:*{}", {"string": "$%:abc{x"}, "x"),
    ("hello ${#string} world", S, "hello 18 world"),
    ("${string/\\/World/length}", S, "Hellolength-string"),
    ("${string/\\/World\\\\/length}", {"string": "a/World\\b"}, "alengthb"),
    ("${string/World/\\/length}", S, "Hello//length-string"),
    ("${string/World/\\/length\\\\}", S, "Hello//length\\-string"),
    ("${string:${position}}", S, "llo/World-string"),
    ("${string:${stringy:2:1}:${stringz,,}}", S, "Hello/World-string"),  # "abc" is no length: the whole value
    ("${string:${stringy:2:1}:${stringy:3:1}}", S, "llo"),
    ("${string#${stringz}}", {"string": "ABCD", "stringz": "AB"}, "CD"),
    ("${unset=${stringz}}", S, "ABC"),
    ("${unset=prefix-${var}}", S, "prefix-v"),
    ("${unset=${var}-suffix}", S, "v-suffix"),
    ("${unset=prefix-${var}-suffix}", S, "prefix-v-suffix"),
    ("${unset=prefix${var} suffix}", S, "prefixv suffix"),
    ("${string//${stringy:1:1}/${stringz}}", {"string": "a1b1", "stringy": "01", "stringz": "-"}, "a-b-"),
]

V = {"v": "abcABC123ABCabc", "N": "-2", "OWNER": "acme", "e": "éa€b", "p": "/path/to/file", "empty": ""}

# Read in drone/envsubst v1.0.3's source, and checked against that Go code.
OURS = [
    # only ${...} is substituted; $$ is a dollar; in plain text \\ and \/ are unescaped too (v1.0.3)
    ("$v and $ and $}", V, "$v and $ and $}"),
    ("$$v $$$${v} $$${v}", V, "$v $${v} $abcABC123ABCabc"),
    ("a\\\\b a\\/b a\\nb \\", V, "a\\b a/b a\\nb \\"),
    ("${v}}", V, "abcABC123ABCabc}"),
    ("${1}${é}", {"1": "one", "é": "e"}, "onee"),
    # defaults: every spelling means "value, or the default when unset or empty"
    ("${empty:-d} ${empty=d} ${empty:=d} ${empty:?d} ${empty:+d}", V, "d d d d d"),
    ("${v:+d}", V, "abcABC123ABCabc"),
    ("${unset:-}", V, ""),
    ("${unset==d}", V, "=d"),
    ("${unset:-a}b}", V, "ab}"),  # the first } closes; no quoting
    ("${unset:-a\\}b}", V, "a\\b}"),  # backslashes stay in defaults
    ('${unset:-"x}"}', V, '"x"}'),
    ("${unset:-$$}", V, "$$"),  # no $$ escape in defaults
    ("${unset:-$${v}}", V, "$abcABC123ABCabc"),
    ("${unset:-a:b-c=d}", V, "a:b-c=d"),
    ("${unset:=${OWNER}} ${unset}", V, "acme "),  # := assigns nothing
    # the nested image default
    ("${IMAGE:-ghcr.io/${OWNER:-me}/fn:${TAG:-dev}}", {}, "ghcr.io/me/fn:dev"),
    ("${IMAGE:-ghcr.io/${OWNER:-me}/fn:${TAG:-dev}}", {"OWNER": "acme", "TAG": "1.2"}, "ghcr.io/acme/fn:1.2"),
    ("${IMAGE:-ghcr.io/${OWNER:-me}/fn:${TAG:-dev}}", {"IMAGE": "x/y:z", "OWNER": "acme"}, "x/y:z"),
    # case changes: per character, mixed operators change nothing
    ("${v,^} ${v^,}", V, "abcABC123ABCabc abcABC123ABCabc"),
    ("${x^^} ${x,,}", {"x": "ǆßÿ"}, "ǄßŸ ǆßÿ"),
    ("${x^}", {"x": "éa"}, "Éa"),
    ("${x,}", {"x": "İX"}, "iX"),
    # length in UTF-8 bytes
    ("${#e} ${#unset}", V, "7 0"),
    # substrings count bytes; a negative offset only through a nested expression
    ("${v:3} ${v:3:2} ${v:100} ${v:2:100} ${v:15}", V, "ABC123ABCabc AB  cABC123ABCabc "),
    ("${v:${N}} ${v:${N}:1}", V, "bc b"),
    ("${v:${M}}", {"v": "abc", "M": "-10"}, "abc"),
    ("${v: -2} ${v:(-2)} ${v:x} ${v:1:x} ${v:+1}", {"v": "abc"}, "abc abc abc abc abc"),
    ("${v:+1:1} ${v:1x}", {"v": "abc"}, "abc abc"),  # ":+" is a default, not a substring
    ("${v:${P}}", {"v": "abc", "P": "+1"}, "bc"),
    ("${v:0:0}", {"v": "abc"}, ""),
    ("${v:99999999999999999999}", {"v": "abc"}, "abc"),  # out of int64: not a number
    ("${e:0:1}${e:1:1}", V, "é"),
    # removal: globs where * and ? match / too; % and %% reverse the pattern
    ("${p#*/} ${p##*/} ${p%/*} ${p%%/*}", V, "path/to/file file /path/to "),
    ("${p#?} ${p#/[a-p]} ${p#/[^a]} ${p#\\/}", V, "path/to/file ath/to/file ath/to/file path/to/file"),
    ("${v#[a-c]} ${v%[a-c]} ${v%\\c} ${v#[}", V, "bcABC123ABCabc abcABC123ABCabc abcABC123ABCabc abcABC123ABCabc"),
    ("${v#*} ${v##*} ${v%*} ${v%%*}", V, "bcABC123ABCabc  abcABC123ABCab "),
    ("${v###a} ${v%%%c}", {"v": "#abc"}, "bc #abc"),
    ("${v#${unset}}", V, "abcABC123ABCabc"),
    # replacement: literal text; escapes \/ \\ $$ in its arguments
    ("${v/abc/} ${v//abc/} ${v/#abc/} ${v/%abc/}", V, "ABC123ABCabc ABC123ABC abcABC123ABCabc abcABC123ABCabc"),
    ("${v/#abc/-} ${v/%abc/-} ${v/#x/-} ${v/%x/-}", V, "-ABC123ABCabc abcABC123ABC- abcABC123ABCabc abcABC123ABCabc"),
    ("${p/\\/path/$$} ${v//b/\\\\} ${v/*/x}", V, "$/to/file a\\cABC123ABCa\\c abcABC123ABCabc"),
    ("${x/${unset}/-} ${x//${unset}/-} ${y//${unset}/-}", {"x": "aé"}, "-aé -a-é- -"),
    ("${x/a}b/c} ${x//a}b/c}", {"x": "xa}by"}, "xcy xcy"),  # the pattern runs over }
    ('path: "C:\\\\dir\\\\" # \\/', V, 'path: "C:\\dir\\" # /'),  # YAML's escaped backslash loses one
    # a NUL ends the text, as Go's scanner reads it as the end
    ("a\x00${v}b", V, "a"),
]

ERRORS = [
    ("${", "unable to parse variable name"),
    ("${}", "unable to parse variable name"),
    ("${ v}", "unable to parse variable name"),
    ("${${v}}", "unable to parse variable name"),
    ("${v", "missing closing brace"),
    ("${v-w}", "missing closing brace"),
    ("${v+w}", "missing closing brace"),
    ("${v?w}", "missing closing brace"),
    ("${v }", "missing closing brace"),
    ("${v:-abc", "unable to parse substitution within function"),
    ("${v:}", "unable to parse substitution within function"),
    ("${v::2}", "unable to parse substitution within function"),
    ("${v:1:}", "unable to parse substitution within function"),
    ("${v#}", "unable to parse substitution within function"),
    ("${v/#/x}", "unable to parse substitution within function"),
    ("${v//}x}", "bad substitution"),  # the pattern runs over the }: "}x}", and then no "/"
    ("${v:${N}${N}}", "bad substitution"),
    ("${v/a}", "bad substitution"),
    ("${v//}", "bad substitution"),
    ("${v^x}", "bad substitution"),
    ("${v,,,}", "bad substitution"),
    ("${#}", "bad substitution"),
    ("${##v}", "bad substitution"),
    ("${#v:1}", "bad substitution"),
    ("${v:é}", "bad substitution"),  # Go steps back by the width of the é, into the name
    # where Go panics (an end before the start), and a result that is not UTF-8
    ("${v:1:-1}", "substring end 0 is before its start 1 (faas-cli panics on this)"),
    ("${v:1:9223372036854775807}", "substring end -9223372036854775808 is before its start 1 (faas-cli panics on this)"),
    ("${e:0:1}", "the result is not valid UTF-8 (a byte offset cut a character)"),
    ("${e#?}", "the result is not valid UTF-8 (a byte offset cut a character)"),
]


@pytest.mark.parametrize(("text", "env", "expected"), UPSTREAM_EVAL + UPSTREAM_PARSE + OURS)
def test_substitute(text: str, env: dict[str, str], expected: str) -> None:
    assert substitute(text, env) == expected


@pytest.mark.parametrize(("text", "message"), ERRORS)
def test_refused(text: str, message: str) -> None:
    with pytest.raises(SubstitutionError) as caught:
        substitute(text, {**V, "v": "abc"})
    assert (caught.value.line, caught.value.message, str(caught.value)) == (1, message, f"line 1: {message}")


def test_error_lines_in_a_multi_line_text() -> None:
    head = "version: 1.0\nprovider:\n  name: openfaas\nfunctions:\n  fn:\n"
    cases = {
        head + "    image: ${IMAGE:-ghcr.io/${OWNER:-me}/fn:${TAG:-dev}\n": (6, "unable to parse substitution within function"),
        head + "    image: ${IMAGE:-ghcr.io/${OWNER:-me\n    }/fn:${TAG:-dev\n": (
            7,
            "unable to parse substitution within function",
        ),
        head + "    image: ${IMAGE-x}\n": (6, "missing closing brace"),
        head + "    image: x\n    lang: ${LANG:-\n\n  python}${V:1:-1}\n": (
            9,
            "substring end 0 is before its start 1 (faas-cli panics on this)",
        ),
        "${A}\n${V:1:-1} ${V:1:-1}\n": (2, "substring end 0 is before its start 1 (faas-cli panics on this)"),
        "${E}\n\n${E:0:1}\n": (3, "the result is not valid UTF-8 (a byte offset cut a character)"),
    }
    for text, (line, message) in cases.items():
        with pytest.raises(SubstitutionError) as caught:
            substitute(text, {"V": "abc", "E": "é"})
        assert (caught.value.line, caught.value.message) == (line, message), text


def test_a_stack_file() -> None:
    text = (
        "provider:\n  name: openfaas\n  gateway: ${GATEWAY:-http://127.0.0.1:8080}\n"
        "functions:\n  resize:\n    image: ${REGISTRY:-ghcr.io}/${OWNER,,}/resize:${TAG:-latest}\n"
        "    environment:\n      price: $$5 and $HOME\n"
    )
    assert substitute(text, {"OWNER": "Acme", "TAG": "0.3.1"}) == (
        "provider:\n  name: openfaas\n  gateway: http://127.0.0.1:8080\n"
        "functions:\n  resize:\n    image: ghcr.io/acme/resize:0.3.1\n"
        "    environment:\n      price: $5 and $HOME\n"
    )


@given(st.text(), st.dictionaries(st.text(), st.text()))
def test_any_text_gives_text_or_a_substitution_error(text: str, env: dict[str, str]) -> None:
    try:
        assert isinstance(substitute(text, env), str)
    except SubstitutionError as err:
        assert err.line >= 1 and str(err).startswith(f"line {err.line}: ")


@given(st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="$")), st.dictionaries(st.text(), st.text()))
def test_text_without_a_dollar_comes_back_unchanged_but_for_backslashes_and_nul(text: str, env: dict[str, str]) -> None:
    # drone/envsubst v1.0.3 unescapes \\ and \/ in plain text and stops at a NUL; nothing else changes.
    expected = re.sub(r"\\([\\/])", r"\1", text.split("\x00")[0])
    assert substitute(text, env) == expected
    if "\\" not in text and "\x00" not in text:
        assert expected == text


@given(st.text(st.sampled_from("${}:-=#%/\\^,?+*[]ab \n")), st.dictionaries(st.sampled_from("ab"), st.text("ab/é")))
def test_expression_soup_gives_text_or_a_substitution_error(text: str, env: dict[str, str]) -> None:
    try:
        assert isinstance(substitute(text, env), str)
    except SubstitutionError as err:
        assert 1 <= err.line <= text.count("\n") + 1

"""Variable substitution in faas-cli stack files, as faas-cli does it.

faas-cli (go-sdk ``stack.ParseYAMLData``, on unless ``--envsubst=false``) runs github.com/drone/envsubst
over the whole stack.yml text before the YAML parser sees it, looking names up in the process environment
(unset is empty), and does nothing else to the text. This module re-implements that library's scanner,
parser and string functions in Python, byte for byte: lengths and offsets count UTF-8 bytes, as in Go.

Checked against drone/envsubst v1.0.3 (commit 0351a447dc0531882e15ce0a2367c9f797927a10), the version
openfaas/faas-cli vendors (go.mod; vendor/github.com/drone/envsubst: parse/scan.go, parse/parse.go,
parse/node.go, template.go, funcs.go, path/match.go, eval.go, identical to the tag) and its tables in
eval_test.go and parse/parse_test.go; the call site is vendor/github.com/openfaas/go-sdk/stack/stack.go
(go-sdk v0.2.22) in faas-cli commit c8191b71e7edf10be3b660ddcaee52c11de79238. drone/envsubst's HEAD
(v2, commit 179042472c46cbed86d44ecbb11a03236efbb73a) differs from v1.0.3 in one place: there, plain text
only unescapes ``$$``; in v1.0.3, which we match, plain text also unescapes ``\\\\`` and ``\\/``.

Supported forms (v is a name of letters, digits and underscores; w, p, a, b are text that may itself
hold ``${...}`` expressions):

- ``${v}``: the value of v, empty when unset.
- ``${v:-w}``, ``${v:=w}``, ``${v=w}``, ``${v:?w}``, ``${v:+w}``: all five mean the same thing: v's value,
  or w when v is unset or empty. ``=`` and ``:=`` assign nothing, ``:?`` raises nothing and ``:+`` is not
  bash's "alternative value".
- ``${v^}`` / ``${v^^}``: first character / every character upper-cased; ``${v,}`` / ``${v,,}``: lower-cased;
  character by character with Unicode's simple mappings (so ``ß`` stays), from Python's Unicode database,
  which may lag Go's by a version for newly added letters. Mixed ``${v^,}`` / ``${v,^}`` give v unchanged.
- ``${#v}``: the length of v's value in UTF-8 bytes.
- ``${v:pos}`` and ``${v:pos:len}``: a substring, counted in bytes. A negative pos (only reachable through a
  nested expression such as ``${v:${N}}``, since ``${v:-1}`` is a default) counts from the end; a pos or len
  that is not a plain decimal integer gives v's whole value; past the end gives what is left, or nothing.
- ``${v#p}`` / ``${v##p}``: remove the shortest / longest prefix matching the glob p; ``${v%p}`` /
  ``${v%%p}``: the same for a suffix. The glob has ``*``, ``?``, ``[...]``/``[^...]`` and backslash escapes,
  where ``*`` and ``?`` also match ``/``. For ``%`` and ``%%`` the pattern is matched reversed against the
  reversed value, so character classes and escapes only work there when symmetric.
- ``${v/a/b}``, ``${v//a/b}``: replace the first / every occurrence of the literal text a by b;
  ``${v/#a/b}``, ``${v/%a/b}``: replace a only as a prefix / suffix. With an empty b (``${v/a/}``) the first
  two delete a, the last two change nothing.
- Escapes: ``$$`` gives ``$`` (so ``$${v}`` stays literal), in plain text and in replacement arguments;
  ``\\\\`` gives ``\\`` and ``\\/`` gives ``/`` in plain text and in replacement arguments (nowhere else).

Not substituted, left as written: a bare ``$v`` and any ``$`` not followed by ``{``. A NUL character ends
the text: it and everything after it are dropped, as in Go, whose scanner takes NUL for end of input.

Refused with SubstitutionError (Go returns an error): ``${}``, ``${ v}`` and other names that do not start
right after ``${``; ``${v-w}``, ``${v+w}``, ``${v?w}`` and anything else after a name that is not one of
the forms above ("missing closing brace"); an unclosed ``${``; ``${v:}``, ``${v::2}``, ``${v:1:}``,
``${v#}``, ``${v/a}``, ``${v//}`` and other malformed arguments; ``${v^x}``, ``${#v:1}``. Also refused, where
Go does not return an error: ``${v:pos:len}`` whose end pos+len (wrapping around in 64 bits, as in Go)
is inside the value but before pos, as with ``${v:1:-1}``, on which faas-cli panics; and a result that is
not valid UTF-8 (a byte offset that cut a character), which faas-cli's YAML parser refuses.

A SubstitutionError's line is that of the innermost ``${`` still open where the error is found.

Quoting: there is none. A default runs until the first ``}`` that is not part of a nested ``${...}``, with
backslashes kept as written; a substring's pos stops at ``:`` or ``}``; but a replacement's pattern runs to the
next unescaped ``/``, over any ``}`` (``${v/a}b/c}`` replaces ``a}b``). Note for stack files: YAML's ``"\\"``
reaches the YAML parser as ``"\"``.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

__all__ = ["SubstitutionError", "substitute"]


class SubstitutionError(Exception):
    """A text that faas-cli's variable substitution refuses, with the line where the expression starts."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.message = message


class _GoError(Exception):
    """One of drone/envsubst's errors, raised where Go returns it; `at` is a byte offset in the text."""

    def __init__(self, message: str, at: int) -> None:
        super().__init__(message)
        self.at = at


BAD_SUBSTITUTION = "bad substitution"
MISSING_BRACE = "missing closing brace"
BAD_NAME = "unable to parse variable name"
BAD_ARGUMENT = "unable to parse substitution within function"
BAD_DEFAULT = "unable to parse default function"

EOF = "\x00"  # Go's scanner returns rune 0 at the end, so a NUL in the text reads as the end too
ERROR_RUNE = "\ufffd"
ILLEGAL, END, IDENT, LBRACK, RBRACK = range(5)
SCAN_IDENT, SCAN_LBRACK, SCAN_RBRACK, SCAN_ESCAPE = 1, 2, 4, 8

Accept = Callable[[str, int], bool]


def _decode(buf: bytes, pos: int) -> tuple[str, int]:
    """Go's utf8.DecodeRune: the rune at pos and its width; an invalid byte is U+FFFD of width 1."""
    lead = buf[pos]
    if lead < 0x80:
        return chr(lead), 1
    width = 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4
    try:
        return buf[pos : pos + width].decode(), width
    except UnicodeDecodeError:
        return ERROR_RUNE, 1


def _runes(s: bytes) -> list[bytes]:
    out: list[bytes] = []
    i = 0
    while i < len(s):
        width = _decode(s, i)[1]
        out.append(s[i : i + width])
        i += width
    return out


# The scanner's accept functions: (rune, bytes scanned so far in this token including it) -> accepted.
def _any(r: str, i: int) -> bool:
    return True


def _ident(r: str, i: int) -> bool:
    return r == "_" or r.isalpha() or r.isdecimal()  # Go's unicode.IsLetter / unicode.IsDigit


def _not_closing(r: str, i: int) -> bool:
    return r != "}"


def _not_slash(r: str, i: int) -> bool:
    return r != "/"


def _not_colon_closing(r: str, i: int) -> bool:
    return r not in ":}"


def _is(chars: str, before: int = sys.maxsize) -> Accept:
    """Accept one of chars while fewer than `before` bytes of the token are read (the first is at 1)."""
    return lambda r, i: r != EOF and r in chars and i < before


def _pair(first: str, second: str) -> Accept:
    return lambda r, i: (i == 1 and r in first) or (i == 2 and r in second)


class _Scanner:
    """drone/envsubst's scanner, over UTF-8 bytes. Escapes drop the escaping byte from the token."""

    def __init__(self, buf: bytes) -> None:
        self.buf = buf
        self.pos = self.start = self.width = self.mode = 0
        self.accept: Accept = _any
        self.dropped: list[int] = []

    def read(self) -> str:
        if self.pos >= len(self.buf):
            self.width = 0
            return EOF
        r, self.width = _decode(self.buf, self.pos)
        self.pos += self.width
        return r

    def unread(self) -> None:
        self.pos -= self.width

    def peek(self) -> str:
        r = self.read()
        self.unread()
        return r

    def skip(self) -> None:
        # Go cuts the escaping byte out of its buffer and keeps its position, which steps over the escaped byte.
        self.dropped.append(self.pos - 1)
        self.pos += 1

    def text(self) -> bytes:
        return bytes(b for i, b in enumerate(self.buf[self.start : self.pos], self.start) if i not in self.dropped)

    def scan(self) -> int:
        self.start = self.pos
        self.dropped = []
        r = self.read()
        if r == EOF:
            return END
        if self.lbrack(r):
            return LBRACK
        if self.mode & SCAN_RBRACK and r == "}":
            return RBRACK
        if self.ident(r):
            return IDENT
        return ILLEGAL

    def accepts(self, r: str) -> bool:
        return self.accept(r, self.pos - self.start - len(self.dropped))

    def ident(self, r: str) -> bool:
        if not self.mode & SCAN_IDENT:
            return False
        if self.escaped(r):
            self.skip()
        elif not self.accepts(r):
            return False
        while True:
            r = self.read()
            if r == EOF:
                self.unread()
                return True
            if self.lbrack(r):
                self.unread()
                self.unread()
                return True
            if self.escaped(r):
                self.skip()
            elif not self.accepts(r):
                self.unread()
                return True

    def lbrack(self, r: str) -> bool:
        if self.mode & SCAN_LBRACK and r == "$":
            if self.read() == "{":
                return True
            self.unread()
        return False

    def escaped(self, r: str) -> bool:
        if not self.mode & SCAN_ESCAPE:
            return False
        if r == "$" and self.peek() == "$":
            return True
        return r == "\\" and self.peek() in "/\\"


@dataclass
class _Func:
    param: bytes
    at: int  # byte offset of its "${"
    name: str = ""
    args: list[_Node] = field(default_factory=lambda: [])


_Node = bytes | _Func


class _Parser:
    """drone/envsubst's recursive-descent parser; the same scanner modes, in the same order."""

    def __init__(self, buf: bytes) -> None:
        self.s = _Scanner(buf)
        self.opened: list[int] = []  # offsets of the "${" being parsed, innermost last

    def fail(self, message: str) -> _GoError:
        return _GoError(message, self.opened[-1] if self.opened else self.s.pos)

    def setup(self, accept: Accept, mode: int) -> None:
        self.s.accept, self.s.mode = accept, mode

    def parse(self) -> list[_Node]:
        nodes: list[_Node] = []
        while True:
            self.setup(_any, SCAN_IDENT | SCAN_LBRACK | SCAN_ESCAPE)
            token = self.s.scan()
            if token == IDENT:
                nodes.append(self.s.text())
            elif token == END:
                return nodes
            elif token == LBRACK:
                nodes.append(self.func())
            else:
                raise self.fail(BAD_SUBSTITUTION)

    def func(self) -> _Func:
        self.opened.append(self.s.start)
        node = self.len_func() if self.s.peek() == "#" else self.named_func()
        self.opened.pop()
        return node

    def named_func(self) -> _Func:
        self.setup(_ident, SCAN_IDENT)
        if self.s.scan() != IDENT:
            raise self.fail(BAD_NAME)
        node = _Func(self.s.text(), self.opened[-1])
        following = self.s.peek()
        if following == ":":
            self.s.read()
            r = self.s.peek()
            self.s.unread()  # Go steps back by the width of the rune peeked at, not of the ":"
            return self.default_func(node) if r in "=-?+" else self.substr_func(node)
        if following == "=":
            return self.default_func(node)
        if following in ",^":
            self.operator(node, _is(",^", before=3), BAD_SUBSTITUTION)
            return self.close(node)
        if following == "/":
            return self.replace_func(node)
        if following in "#%":
            self.operator(node, _is(following, before=3), BAD_SUBSTITUTION)
            node.args.append(self.param(_not_closing, SCAN_IDENT))
            return self.close(node)
        self.setup(_ident, SCAN_RBRACK)
        if self.s.scan() != RBRACK:
            raise self.fail(MISSING_BRACE)
        return node

    def operator(self, node: _Func, accept: Accept, error: str) -> None:
        self.setup(accept, SCAN_IDENT)
        if self.s.scan() != IDENT:
            raise self.fail(error)
        node.name = self.s.text().decode()

    def param(self, accept: Accept, mode: int) -> _Node:
        self.setup(accept, mode | SCAN_LBRACK)
        token = self.s.scan()
        if token == LBRACK:
            return self.func()
        if token in (IDENT, RBRACK):
            return self.s.text()
        raise self.fail(BAD_ARGUMENT)

    def substr_func(self, node: _Func) -> _Func:
        self.operator(node, _is(":", before=2), BAD_SUBSTITUTION)
        node.args.append(self.param(_not_colon_closing, SCAN_IDENT))
        self.setup(_is(":"), SCAN_IDENT | SCAN_RBRACK)
        token = self.s.scan()
        if token == RBRACK:
            return node
        if token != IDENT:
            raise self.fail(BAD_SUBSTITUTION)
        node.args.append(self.param(_not_closing, SCAN_IDENT))
        return self.close(node)

    def replace_func(self, node: _Func) -> _Func:
        self.operator(node, _pair("/", "/#%"), BAD_SUBSTITUTION)
        node.args.append(self.param(_not_slash, SCAN_IDENT | SCAN_ESCAPE))
        self.setup(_is("/"), SCAN_IDENT)
        if self.s.scan() != IDENT:
            raise self.fail(BAD_SUBSTITUTION)
        if self.s.peek() != "}":
            node.args.append(self.param(_not_closing, SCAN_IDENT | SCAN_ESCAPE))
        return self.close(node)

    def default_func(self, node: _Func) -> _Func:
        accept = _is("=", before=2) if self.s.peek() == "=" else _pair(":", "=-?+")
        self.operator(node, accept, BAD_DEFAULT)
        while self.s.peek() != "}":
            node.args.append(self.param(_not_closing, SCAN_IDENT))
        return self.close(node)

    def len_func(self) -> _Func:
        node = _Func(b"", self.opened[-1])
        self.operator(node, _is("#", before=2), BAD_SUBSTITUTION)
        self.setup(_ident, SCAN_IDENT)
        if self.s.scan() != IDENT:
            raise self.fail(BAD_SUBSTITUTION)
        node.param = self.s.text()
        return self.close(node)

    def close(self, node: _Func) -> _Func:
        self.s.mode = SCAN_RBRACK
        if self.s.scan() != RBRACK:
            raise self.fail(BAD_SUBSTITUTION)
        return node


# --- glob matching: Go's path.Match as drone/envsubst patches it ("*" and "?" also match "/") ---


class _BadPattern(Exception):
    pass


def _match(pattern: bytes, name: bytes) -> bool:
    while pattern:
        star, chunk, pattern = _scan_chunk(pattern)
        if star and not chunk:
            return True
        rest = _match_chunk(chunk, name)
        if rest is not None and (not rest or pattern):
            name = rest
            continue
        if star:
            for i in range(len(name)):
                rest = _match_chunk(chunk, name[i + 1 :])
                if rest is not None and not (not pattern and rest):
                    name = rest
                    break
            else:
                return False
            continue
        return False
    return not name


def _scan_chunk(pattern: bytes) -> tuple[bool, bytes, bytes]:
    stripped = pattern.lstrip(b"*")
    star, pattern = len(stripped) < len(pattern), stripped
    in_range, i = False, 0
    while i < len(pattern):
        c = pattern[i : i + 1]
        if c == b"\\" and i + 1 < len(pattern):
            i += 1
        elif c == b"[":
            in_range = True
        elif c == b"]":
            in_range = False
        elif c == b"*" and not in_range:
            break
        i += 1
    return star, pattern[:i], pattern[i:]


def _match_chunk(chunk: bytes, s: bytes) -> bytes | None:
    """The rest of s after chunk matched its start, or None; raises _BadPattern as Go returns ErrBadPattern."""
    while chunk:
        if not s:
            return None
        head = chunk[:1]
        if head == b"[":
            r, width = _decode(s, 0)
            s, chunk = s[width:], chunk[1:]
            negated = chunk[:1] == b"^"
            if negated:
                chunk = chunk[1:]
            matched, ranges = False, 0
            while not (chunk[:1] == b"]" and ranges > 0):
                lo, chunk = _class_char(chunk)
                hi = lo
                if chunk[:1] == b"-":
                    hi, chunk = _class_char(chunk[1:])
                matched = matched or lo <= r <= hi
                ranges += 1
            chunk = chunk[1:]
            if matched == negated:
                return None
        elif head == b"?":
            s, chunk = s[_decode(s, 0)[1] :], chunk[1:]
        else:
            if head == b"\\":
                chunk = chunk[1:]
                if not chunk:
                    raise _BadPattern
            if chunk[0] != s[0]:
                return None
            s, chunk = s[1:], chunk[1:]
    return s


def _class_char(chunk: bytes) -> tuple[str, bytes]:
    if not chunk or chunk[:1] in (b"-", b"]"):
        raise _BadPattern
    if chunk[:1] == b"\\":
        chunk = chunk[1:]
        if not chunk:
            raise _BadPattern
    r, width = _decode(chunk, 0)
    if (r == ERROR_RUNE and width == 1) or len(chunk) == width:
        raise _BadPattern
    return r, chunk[width:]


# --- the string functions of funcs.go; s is the variable's value, args the evaluated arguments ---

INT64 = 1 << 63


def _atoi(text: bytes) -> int | None:
    """Go's strconv.Atoi on a 64-bit machine: optional sign, ASCII digits, in range, or None."""
    if not re.fullmatch(rb"[+-]?[0-9]+", text):
        return None
    value = int(text)
    return value if -INT64 <= value < INT64 else None


def _substr(s: bytes, args: list[bytes], at: int) -> bytes:
    pos = _atoi(args[0])
    if pos is None:
        return s
    if pos < 0:
        pos = max(len(s) + pos, 0)
    if len(args) == 1:
        return s[pos:]
    length = _atoi(args[1])
    if length is None:
        return s
    end = (pos + length + INT64) % (2 * INT64) - INT64  # Go's int addition wraps around
    if end >= len(s):
        return s[pos:]
    if end < pos:
        raise _GoError(f"substring end {end} is before its start {pos} (faas-cli panics on this)", at)
    return s[pos:end]


def _replace(s: bytes, old: bytes, new: bytes, count: int) -> bytes:
    if old:
        return s.replace(old, new, count)
    # Go's strings.Replace with an empty old text inserts at the start and after each UTF-8 sequence.
    return new.join([b"", *_runes(s), b""]) if count < 0 else new + s


def _valid(rune: bytes) -> bytes:
    """A rune from _runes, or U+FFFD for an invalid byte, as Go's string([]rune(s)) and strings.Map write it."""
    return rune if len(rune) > 1 or rune < b"\x80" else ERROR_RUNE.encode()


def _reverse(s: bytes) -> bytes:
    return b"".join(_valid(rune) for rune in reversed(_runes(s)))


def _trim(s: bytes, pattern: bytes, longest: bool) -> bytes:
    """Remove the shortest or longest non-empty prefix of s matching the glob; s when none or a bad pattern."""
    found = b""
    for cut in range(len(s), 0, -1):
        try:
            matched = _match(pattern, s[:cut])
        except _BadPattern:
            return s
        if matched:
            if longest:
                return s[cut:]
            found = s[:cut]
    return s[len(found) :]


def _case(s: bytes, upper: bool, first_only: bool) -> bytes:
    runes = _runes(s)
    head, tail = (runes[:1], runes[1:]) if first_only else (runes, [])
    mapped = (_valid(rune).decode() for rune in head)
    return "".join(_upper(c) if upper else _lower(c) for c in mapped).encode() + b"".join(tail)


def _upper(c: str) -> str:
    # Go maps each rune by itself (Unicode's simple mapping); where Python's full mapping gives more than one
    # character, the title-case mapping is the simple upper-case one if it is a single character, else none.
    for mapped in (c.upper(), c.title()):
        if len(mapped) == 1:
            return mapped
    return c


def _lower(c: str) -> str:
    return "i" if c == "\u0130" else c.lower()  # U+0130 is the one rune whose full lower-case mapping is longer


def _apply(node: _Func, value: bytes, args: list[bytes]) -> bytes:
    name = node.name
    if name in (",", ",,", "^", "^^"):
        return _case(value, upper=name[0] == "^", first_only=len(name) == 1)
    if name == "#" and not args:
        return str(len(value)).encode()
    if name in ("#", "##", "%", "%%"):
        if name[0] == "#":
            return _trim(value, args[0], longest=name == "##")
        return _reverse(_trim(_reverse(value), _reverse(args[0]), longest=name == "%%"))
    if name == ":":
        return _substr(value, args, node.at)
    if name in ("/", "//"):
        return _replace(value, args[0], args[1] if len(args) > 1 else b"", 1 if name == "/" else -1)
    if name == "/#":
        return _replace(value, args[0], args[1], 1) if len(args) == 2 and value.startswith(args[0]) else value
    if name == "/%":
        if len(args) == 2 and value.endswith(args[0]):
            return value[: len(value) - len(args[0])] + args[1]
        return value
    # "", "=", ":=", ":-", ":?", ":+" and any other operator: the value, or the joined arguments when it is empty
    return value or b"".join(args)


def _evaluate(node: _Node, env: Mapping[bytes, bytes]) -> bytes:
    if isinstance(node, bytes):
        return node
    args = [_evaluate(arg, env) for arg in node.args]
    return _apply(node, env.get(node.param, b""), args)


def _line(buf: bytes, at: int) -> int:
    return buf.count(b"\n", 0, at) + 1


def substitute(text: str, env: Mapping[str, str]) -> str:
    """The text with its ${...} expressions replaced as faas-cli replaces them; unset variables are empty.

    Raises SubstitutionError where drone/envsubst returns an error (or panics, or yields invalid UTF-8).
    """
    try:
        buf = text.encode(errors="surrogateescape")
    except UnicodeEncodeError as err:
        raise SubstitutionError(text.count("\n", 0, err.start) + 1, "the text holds a lone surrogate, not UTF-8") from None
    values = {name.encode(errors="surrogateescape"): value.encode(errors="surrogateescape") for name, value in env.items()}
    try:
        pieces = [(_evaluate(node, values), node.at if isinstance(node, _Func) else -1) for node in _Parser(buf).parse()]
    except _GoError as err:
        raise SubstitutionError(_line(buf, err.at), str(err)) from None
    except RecursionError:
        raise SubstitutionError(1, "expressions nested too deeply") from None
    try:
        return b"".join(piece for piece, _ in pieces).decode()
    except UnicodeDecodeError as err:
        done, at = 0, 0
        for piece, at in pieces:  # noqa: B007 - the piece the bad byte is in
            done += len(piece)
            if done > err.start:
                break
        raise SubstitutionError(_line(buf, max(at, 0)), "the result is not valid UTF-8 (a byte offset cut a character)") from None

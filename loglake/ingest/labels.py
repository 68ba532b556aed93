"""Stream label sets and tenant ids, as Loki's push path reads them.

Main interface:

- `parse_labels(text)` reads a label-set string such as `{job="x", env="prod"}` with the rules of
  the Prometheus metric parser that Loki's `syntax.ParseLabels` uses (identifier or quoted names,
  Go-escaped `"..."`/`'...'`/`` `...` `` values, optional trailing comma, empty values dropped)
  and returns the pairs sorted by name; bad text raises `LabelParseError` whose message has the
  parser's `1:5: parse error: ...` form. Results are cached (bounded LRU): shippers repeat the
  same stream strings on every push.
- `resolve_stream(text, discover_service_name)` adds Loki 3's `service_name` label and returns
  the canonical text (`{a="1", b="2"}`) and the 64-bit stream fingerprint; cached as well.
- `tenant_from_org_id(org_id)` / `validate_tenant_id(tenant)`: dskit's tenant rules and messages.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from loglake.ingest.errors import PushError
from logql2sql.lexical import go_escape, quote

LabelPairs = tuple[tuple[str, str], ...]
"""A label set: (name, value) pairs sorted by name."""

SERVICE_NAME_LABEL = "service_name"
UNKNOWN_SERVICE = "unknown_service"
INTERNAL_STREAM_LABELS = ("__aggregated_metric__", "__pattern__")
"""Loki's internal streams: no `service_name` is derived for them."""

LABEL_CACHE_SIZE = 16_384
MAX_TENANT_ID_LENGTH = 150

_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_SIMPLE_VALUE = re.compile(r"[ !#-\[\]-~]*")  # printable ASCII without `"` and `\`


class LabelParseError(ValueError):
    """A label-set string the Prometheus metric parser rejects; `str()` is its message."""


def is_valid_label_name(name: str) -> bool:
    """Whether `name` matches `[a-zA-Z_][a-zA-Z0-9_]*`.

    >>> is_valid_label_name("app_kubernetes_io_name"), is_valid_label_name("k8s.pod")
    (True, False)
    """
    return _LABEL_NAME.fullmatch(name) is not None


# --- Go string quoting ------------------------------------------------------------------------


def go_quote(value: str) -> str:
    """Quote `value` as Go's `strconv.Quote` does (Prometheus prints label values this way).

    >>> print(go_quote('say "hi"\\n'))
    "say \\"hi\\"\\n"
    >>> print(go_quote("caf\\u00e9 \\x01"))
    "café \\x01"
    """
    if _SIMPLE_VALUE.fullmatch(value):
        return '"' + value + '"'
    return quote(value)


def _go_quote_rune(ch: str) -> str:
    """Go's `%q` of a rune: `'.'`, `'\\''`, `'\\x01'`."""
    return "'" + go_escape(ch, "'") + "'"


def _go_rune_u(ch: str) -> str:
    """Go's `%#U` of a rune: `U+0071 'q'`."""
    text = f"U+{ord(ch):04X}"
    return f"{text} '{ch}'" if ch.isprintable() else text


def format_labels(pairs: Sequence[tuple[str, str]]) -> str:
    """The canonical text of a label set, as Loki prints it (pairs already sorted).

    >>> format_labels((("a", "1"), ("b", 'x"y')))
    '{a="1", b="x\\\\"y"}'
    >>> format_labels(())
    '{}'
    """
    return "{" + ", ".join(f"{name}={go_quote(value)}" for name, value in pairs) + "}"


def labels_text(labels: Mapping[str, str]) -> str:
    """The canonical text of a label mapping: names sorted, values quoted as Loki does.

    >>> labels_text({"env": "prod", "app": "cart"})
    '{app="cart", env="prod"}'
    """
    return format_labels(sorted(labels.items()))


# --- the Prometheus metric parser (the subset `ParseMetric` accepts) ------------------------


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # IDENT, METRIC_IDENT, STRING, LBRACE, RBRACE, COMMA, EQL, OP, EOF
    text: str
    pos: int


def _position(text: str, pos: int) -> str:
    """`line:col` as Prometheus's `PositionRange.StartPosInput` prints it (byte offsets)."""
    if not text:
        return "unknown position"
    head = text.encode("utf-8", "surrogateescape")[:pos]
    line = head.count(b"\n") + 1
    col = pos - head.rfind(b"\n")
    return f"{line}:{col}"


def _parse_error(text: str, pos: int, detail: str) -> LabelParseError:
    return LabelParseError(f"{_position(text, pos)}: parse error: {detail}")


def _describe(tok: _Token) -> str:
    """Prometheus's `Item.desc()` for the tokens a label set can hold."""
    if tok.kind == "EOF":
        return "end of input"
    if tok.kind == "IDENT":
        return "identifier " + go_quote(tok.text)
    if tok.kind == "METRIC_IDENT":
        return "metric identifier " + go_quote(tok.text)
    if tok.kind == "STRING":
        if len(tok.text) > 10:
            return "string " + go_quote(tok.text[:10]) + "..."
        return "string " + go_quote(tok.text)
    if tok.kind == "OP":
        return f"<op:{tok.text}>"
    return go_quote(tok.text)


class _Lexer:
    """Tokens of a label-set string; lexer errors carry Prometheus's messages."""

    def __init__(self, text: str) -> None:
        self.text = text
        # Prometheus reports byte positions; keep a byte offset per character when needed.
        self.ascii = text.isascii()
        self.offsets: list[int] | None = None

    def byte_pos(self, i: int) -> int:
        if self.ascii:
            return i
        if self.offsets is None:
            offsets, total = [], 0
            for ch in self.text:
                offsets.append(total)
                total += len(ch.encode("utf-8", "surrogateescape"))
            offsets.append(total)
            self.offsets = offsets
        return self.offsets[i]

    def error(self, i: int, detail: str) -> LabelParseError:
        return _parse_error(self.text, self.byte_pos(i), detail)

    def tokens(self) -> Iterator[_Token]:  # noqa: C901 - one state machine
        text, n, i = self.text, len(self.text), 0
        in_braces = False
        while True:
            if i >= n:
                if in_braces:
                    raise self.error(i, "unexpected end of input inside braces")
                yield _Token("EOF", "", self.byte_pos(i))
                return
            ch = text[i]
            start = i
            if ch in " \t\n\r":
                i += 1
                continue
            if ch == "#":
                while i < n and text[i] not in "\r\n":
                    i += 1
                continue
            if ch == "_" or ch.isascii() and ch.isalpha():
                i += 1
                while i < n and (text[i] == "_" or text[i].isascii() and text[i].isalnum()):
                    i += 1
                if not in_braces:
                    while i < n and (text[i] in "_:" or text[i].isascii() and text[i].isalnum()):
                        i += 1
                word = text[start:i]
                yield _Token("METRIC_IDENT" if ":" in word else "IDENT", word, self.byte_pos(start))
                continue
            if ch in "\"'`":
                i = self._string_end(i)
                yield _Token("STRING", text[start:i], self.byte_pos(start))
                continue
            if ch == ",":
                i += 1
                yield _Token("COMMA", ",", self.byte_pos(start))
                continue
            if ch == "{":
                if in_braces:
                    raise self.error(i, "unexpected left brace '{'")
                in_braces = True
                i += 1
                yield _Token("LBRACE", "{", self.byte_pos(start))
                continue
            if ch == "}":
                if not in_braces:
                    raise self.error(i, "unexpected right brace '}'")
                in_braces = False
                i += 1
                yield _Token("RBRACE", "}", self.byte_pos(start))
                continue
            if in_braces and ch == "=":
                if text.startswith("=~", i):
                    i += 2
                    yield _Token("OP", "=~", self.byte_pos(start))
                else:
                    i += 1
                    yield _Token("EQL", "=", self.byte_pos(start))
                continue
            if in_braces and ch == "!":
                nxt = text[i + 1] if i + 1 < n else ""
                if nxt in ("=", "~") and nxt:
                    i += 2
                    yield _Token("OP", "!" + nxt, self.byte_pos(start))
                    continue
                raise self.error(
                    i,
                    "unexpected character after '!' inside braces: "
                    + _go_quote_rune(nxt or "\ufffd"),
                )
            if in_braces:
                raise self.error(i, "unexpected character inside braces: " + _go_quote_rune(ch))
            raise self.error(i, "unexpected character: " + _go_quote_rune(ch))

    def _string_end(self, i: int) -> int:
        """Index after the string literal opening at `i`, checked as Prometheus's lexer does."""
        text, n, quote = self.text, len(self.text), self.text[i]
        j = i + 1
        if quote == "`":
            end = text.find("`", j)
            if end < 0:
                raise self.error(i, "unterminated raw string")
            return end + 1
        while True:
            if j >= n or text[j] == "\n":
                raise self.error(i, "unterminated quoted string")
            ch = text[j]
            if ch == quote:
                return j + 1
            if "\udc80" <= ch <= "\udcff":
                raise self.error(i, "invalid UTF-8 rune")
            if ch != "\\":
                j += 1
                continue
            j += 1
            if j >= n:
                raise self.error(i, "escape sequence not terminated")
            esc = text[j]
            j += 1
            if esc in "abfnrtv\\" or esc == quote:
                continue
            if esc in "01234567":
                digits, base, j = 3, 8, j - 1
            elif esc in "xuU":
                digits, base = {"x": 2, "u": 4, "U": 8}[esc], 16
            else:
                raise self.error(i, "unknown escape sequence " + _go_rune_u(esc))
            for _ in range(digits):
                if j >= n:
                    raise self.error(i, "escape sequence not terminated")
                if not _is_digit(text[j], base):
                    raise self.error(
                        i, f"illegal character {_go_rune_u(text[j])} in escape sequence"
                    )
                j += 1
            if esc in "uU":
                point = int(text[j - digits : j], 16)
                if point > 0x10FFFF or 0xD800 <= point < 0xE000:
                    raise self.error(i, "escape sequence is an invalid Unicode code point")


def _is_digit(ch: str, base: int) -> bool:
    return ch in ("01234567" if base == 8 else "0123456789abcdefABCDEF")


_UNQUOTE_SIMPLE = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


def _unquote(raw: str) -> str:
    """The value of a string literal the lexer has already checked (Go escape rules)."""
    body = raw[1:-1]
    if raw[0] == "`" or "\\" not in body:
        return body
    out = bytearray()
    i, n = 0, len(body)
    while i < n:
        ch = body[i]
        if ch != "\\":
            out += ch.encode("utf-8", "surrogateescape")
            i += 1
            continue
        esc = body[i + 1]
        if esc in _UNQUOTE_SIMPLE:
            out += _UNQUOTE_SIMPLE[esc].encode()
            i += 2
        elif esc in "01234567":
            out.append(int(body[i + 1 : i + 4], 8) & 0xFF)
            i += 4
        elif esc == "x":
            out.append(int(body[i + 2 : i + 4], 16))
            i += 4
        elif esc in "uU":
            width = 4 if esc == "u" else 8
            out += chr(int(body[i + 2 : i + 2 + width], 16)).encode("utf-8", "surrogatepass")
            i += 2 + width
        else:  # \\, \" or \'
            out += esc.encode()
            i += 2
    # Octal and hex escapes write bytes: those that are not UTF-8 read as U+FFFD, as Go
    # prints such a string in JSON (a label value is text everywhere loglake keeps it).
    return out.decode("utf-8", "replace")


def _parse(text: str) -> list[tuple[str, str]]:
    """Parse `[metric_name] {name="value", ...}`; raises `LabelParseError`."""
    lexer = _Lexer(text)
    tokens = lexer.tokens()

    def unexpected(tok: _Token, context: str = "", expected: str = "") -> LabelParseError:
        detail = "unexpected " + _describe(tok)
        if context:
            detail += " in " + context
        if expected:
            detail += ", expected " + expected
        return _parse_error(text, tok.pos, detail)

    pairs: list[tuple[str, str]] = []
    tok = next(tokens)
    if tok.kind in ("IDENT", "METRIC_IDENT"):
        pairs.append(("__name__", tok.text))
        tok = next(tokens)
    if tok.kind == "LBRACE":
        tok = next(tokens)
        while tok.kind != "RBRACE":
            if tok.kind == "IDENT":
                name = tok.text
                tok = next(tokens)
                if tok.kind != "EQL":
                    raise unexpected(tok, "label set", '"="')
                tok = next(tokens)
                if tok.kind != "STRING":
                    raise unexpected(tok, "label set", "string")
                pairs.append((name, _unquote(tok.text)))
                tok = next(tokens)
            elif tok.kind == "STRING":
                name = _unquote(tok.text)
                tok = next(tokens)
                if tok.kind == "EQL":
                    tok = next(tokens)
                    if tok.kind != "STRING":
                        raise unexpected(tok, "label set", "string")
                    pairs.append((name, _unquote(tok.text)))
                    tok = next(tokens)
                else:  # a bare quoted name is the metric name: `{"up"}`
                    pairs.append(("__name__", name))
            else:
                raise unexpected(tok, "label set", 'identifier or "}"')
            if tok.kind == "COMMA":
                tok = next(tokens)
            elif tok.kind != "RBRACE":
                raise unexpected(tok, "label set", '"," or "}"')
        tok = next(tokens)
    if tok.kind != "EOF":
        raise unexpected(tok)
    return pairs


@lru_cache(maxsize=LABEL_CACHE_SIZE)
def parse_labels(text: str) -> LabelPairs:
    """Parse a stream's label-set string into (name, value) pairs sorted by name.

    Empty values are dropped (Loki normalises them away, an empty value means "absent").
    Duplicate names are kept: rejecting them is validation's job, with Loki's message.

    >>> parse_labels('{job="api", env="prod",}')
    (('env', 'prod'), ('job', 'api'))
    >>> parse_labels('{ "foo"="bar",  empty="" }')
    (('foo', 'bar'),)
    >>> try:
    ...     parse_labels("{job=api}")
    ... except LabelParseError as err:
    ...     print(err)
    1:6: parse error: unexpected identifier "api" in label set, expected string
    """
    pairs = [pair for pair in _parse(text) if pair[1] != ""]
    pairs.sort(key=lambda pair: pair[0])
    return tuple(pairs)


def fingerprint(pairs: LabelPairs) -> int:
    """A stable 64-bit fingerprint of a sorted label set, as a signed int64.

    blake2b over `name 0xff value 0xff ...` (0xff never occurs in UTF-8): the same in every
    process and on every machine, unlike Python's `hash()`.

    >>> fingerprint((("job", "api"),)) == fingerprint((("job", "api"),))
    True
    >>> -(2**63) <= fingerprint((("job", "api"),)) < 2**63
    True
    """
    digest = hashlib.blake2b(digest_size=8)
    for name, value in pairs:
        digest.update(name.encode("utf-8", "surrogateescape"))
        digest.update(b"\xff")
        digest.update(value.encode("utf-8", "surrogateescape"))
        digest.update(b"\xff")
    return int.from_bytes(digest.digest(), "little", signed=True)


def discover_service_name(pairs: LabelPairs, discover: Sequence[str]) -> str | None:
    """Loki 3's `service_name` for a stream without one.

    None when the stream needs none: it has `service_name` already, discovery is disabled (an
    empty list) or it is one of Loki's internal streams. Otherwise the value of the first label
    of `discover` that the stream has with a non-empty value, else `unknown_service`.

    >>> discover_service_name((("container", "web"), ("job", "ns/web")), ("app", "container"))
    'web'
    >>> discover_service_name((("env", "prod"),), ("app",))
    'unknown_service'
    >>> discover_service_name((("service_name", "api"),), ("app",)) is None
    True
    """
    if not discover:
        return None
    names = dict(pairs)
    if SERVICE_NAME_LABEL in names or any(name in names for name in INTERNAL_STREAM_LABELS):
        return None
    for name in discover:
        value = names.get(name)
        if value:
            return value
    return UNKNOWN_SERVICE


@dataclass(frozen=True, slots=True)
class ResolvedStream:
    """A stream's label set as the lake stores it: parsed, with `service_name` derived."""

    labels: LabelPairs
    """Sorted (name, value) pairs, `service_name` included."""
    text: str
    """Canonical text, `{a="1", b="2"}`: what Loki prints in its messages."""
    fingerprint: int
    """Signed 64-bit fingerprint of `labels`."""


@lru_cache(maxsize=LABEL_CACHE_SIZE)
def resolve_stream(text: str, discover: tuple[str, ...]) -> ResolvedStream:
    """Parse `text`, add `service_name` as Loki 3 does, and fingerprint the result.

    >>> s = resolve_stream('{job="api", env="prod"}', ("service", "job"))
    >>> s.text
    '{env="prod", job="api", service_name="api"}'
    >>> s.fingerprint == resolve_stream('{env="prod",job="api"}', ("job",)).fingerprint
    True
    """
    pairs = parse_labels(text)
    service = discover_service_name(pairs, discover)
    if service is not None:
        pairs = tuple(sorted((*pairs, (SERVICE_NAME_LABEL, service)), key=lambda p: p[0]))
    return ResolvedStream(pairs, format_labels(pairs), fingerprint(pairs))


# --- tenants ---------------------------------------------------------------------------------

_TENANT_CHARS = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!-_.*'()")


def validate_tenant_id(tenant: str) -> None:
    """Raise `PushError(400, ...)` unless `tenant` is a valid tenant id (dskit's rules).

    At most 150 bytes of `[a-zA-Z0-9!_.*'()-]`, and not `.` or `..`; the checks and messages
    come in dskit's order (characters, then length, then `.`/`..`).

    >>> validate_tenant_id("team-a")
    >>> validate_tenant_id("a/b")
    Traceback (most recent call last):
    ...
    loglake.ingest.errors.PushError: tenant ID 'a/b' contains unsupported character '/'
    """
    raw = tenant.encode("utf-8", "surrogateescape")
    for byte in raw:
        if byte not in _TENANT_CHARS:
            # Go's %c of a byte prints the code point with that number.
            raise PushError(
                400, f"tenant ID '{tenant}' contains unsupported character '{chr(byte)}'"
            )
    if len(raw) > MAX_TENANT_ID_LENGTH:
        raise PushError(400, f"tenant ID is too long: max {MAX_TENANT_ID_LENGTH} characters")
    if tenant in (".", ".."):
        raise PushError(400, "tenant ID is '.' or '..'")


def tenant_from_org_id(org_id: str | None) -> str:
    """The single tenant of an `X-Scope-OrgID` header value, as Loki's push handler reads it.

    A missing or empty header is 401 `no org id`; `A|B` with two different tenants is 400
    `multiple org IDs present`; anything after `:` is tenant metadata and ignored (dskit).

    >>> tenant_from_org_id("acme:product=k6|acme")
    'acme'
    >>> tenant_from_org_id("")
    Traceback (most recent call last):
    ...
    loglake.ingest.errors.PushError: no org id
    """
    if not org_id:
        raise PushError(401, "no org id")
    first, *rest = org_id.split("|")
    tenant = first.split(":", 1)[0]
    validate_tenant_id(tenant)
    for other in rest:
        if other.split(":", 1)[0] != tenant:
            raise PushError(400, "multiple org IDs present")
    return tenant

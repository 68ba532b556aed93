"""Pass 0 — the tokens whose lexing Loki does by hand; every other token is lark's basic
lexer's (`grammar/logql.lark`), run by `LokiLexer`.

Numbers, durations and byte sizes. Loki scans a number with its copy of Go's
`text/scanner`, then tries to grow it into a duration and, failing that, into a byte size:
it appends the characters that follow up to a space or a character that cannot belong
(`tryScanDuration`: digits, `.` and the unit letters `nuµmshdwy`; `tryScanBytes`: digits,
`.` and `BikKMGTP`) and keeps the longer token only if it parses (Prometheus'
`model.ParseDuration`, then Go's `time.ParseDuration`; go-humanize's `ParseBytes`). So
`1h30m` is a DURATION, `1.MB` a BYTES, and `1.5d`, `1m1d`, `2562048h` (past int64
nanoseconds) are a NUMBER followed by an IDENTIFIER: a syntax error, as in Loki. A `-`
followed by what parses as a duration is a negative DURATION (`-1h`, even `-0`), else a
minus sign.

The number itself follows the scanner: `0x`/`0o`/`0b` prefixes, `_` separators, exponents
(`p` only after `0x`), and the scanner's errors (`exponent has no digits` for `1EB`,
`decimal literal has no digits`), which do not stop the parse: they are reported, at the
number, once it ends (`collecting_scan_errors`). Loki's scanner takes `0b` as a binary
prefix only when its one-character look-ahead, still holding the character right after the
previous token, is `0` or `1`: when the number touches the previous token or starts the
query. The quirk is reproduced.

Other characters. A character no terminal takes is an IDENTIFIER (`~`, `;`, `\\`, a Go
character literal `'x'`), `.` is DOT and `]` CLOSE_BRACKET, as Loki's lexer names them, so
the parser's error names them as Loki's does; only Go's four whitespace characters are
skipped. A range whose duration does not parse (`[5x]`) ends the input with that error.

Tokens Loki's lexer completes by reading characters past the scanned token (durations, byte
sizes, ranges, flags, two-character operators) carry no line in its error messages
(`parse error at line 0, col 26: syntax error: unexpected DURATION`): `NO_LINE_TOKENS`.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from lark.common import LexerConf
from lark.exceptions import UnexpectedCharacters
from lark.lexer import BasicLexer, Lexer, LexerState, LineCounter, Token

from logql2sql.errors import ParseError
from logql2sql.lexical import parse_bytes, parse_duration

NO_LINE_TOKENS = frozenset(
    {
        "DURATION",
        "BYTES",
        "RANGE",
        "PARSER_FLAG",
        "NEQ",
        "RE",
        "NRE",
        "NPA",
        "PIPE_EXACT",
        "PIPE_MATCH",
        "PIPE_PATTERN",
        "CMP_EQ",
        "GTE",
        "LTE",
    }
)
"""Token types whose syntax errors Loki reports at line 0 (its scanner's `Next` clears the
line of the token position)."""

_scan_errors: ContextVar[list[ParseError] | None] = ContextVar("scan_errors", default=None)


@contextmanager
def collecting_scan_errors() -> Iterator[list[ParseError]]:
    """The scanner errors of the numbers lexed inside the block, in order.

    Loki's scanner reports an error (`exponent has no digits`) without stopping: the parse
    goes on, and the first error of the parse, the scanner's or the grammar's, is returned
    once it ends (a failing grammar action returns its own error instead).
    """
    errors: list[ParseError] = []
    token = _scan_errors.set(errors)
    try:
        yield errors
    finally:
        _scan_errors.reset(token)


_DURATION_RUNES = frozenset("nuµmshdwy.")
_BYTES_RUNES = frozenset("BikKMGTP.")
_GO_SPACE = frozenset("\t\n\r ")


def loki_duration(text: str) -> int | None:
    """Nanoseconds of a duration token as Loki's lexer reads it (Prometheus' syntax first,
    then Go's), or None when neither parses.

    >>> loki_duration("1d"), loki_duration("1.5h"), loki_duration("1.5d"), loki_duration("-0")
    (86400000000000, 5400000000000, None, 0)
    """
    for syntax in ("prometheus", "go"):
        try:
            return parse_duration(text, syntax=syntax)
        except ParseError:
            continue
    return None


def _is_number(ch: str) -> bool:
    """Go's `unicode.IsNumber`: categories Nd, Nl and No."""
    return unicodedata.category(ch) in ("Nd", "Nl", "No")


class _NumberScan:
    """One number scanned as Loki's `scanNumber` does: its end and the first error."""

    def __init__(self, text: str, start: int, look_ahead: str) -> None:
        self.text = text
        self.error: str | None = None
        self.end = self._scan(start, look_ahead)

    def _at(self, i: int) -> str:
        return self.text[i] if i < len(self.text) else ""

    def _fail(self, message: str) -> None:
        if self.error is None:
            self.error = message

    def _digits(self, i: int, base: int) -> tuple[int, int, str]:
        """(end, separator bits: 1 digit seen, 2 `_` seen, first digit invalid in base)."""
        seen, invalid = 0, ""
        while True:
            ch = self._at(i)
            if ch == "_":
                seen |= 2
            elif "0" <= ch <= "9" or (base == 16 and ch.lower() in "abcdef" and ch != ""):
                seen |= 1
                if base < 10 and ch >= str(base) and not invalid:
                    invalid = ch
            else:
                return i, seen, invalid
            i += 1

    def _scan(self, start: int, look_ahead: str) -> int:
        i = start
        seen_dot = self._at(i) == "."
        base, prefix, seen, invalid = 10, "", 0, ""
        is_float = seen_dot
        if seen_dot:
            i += 1
        else:
            if self._at(i) == "0":
                i += 1
                mark = self._at(i).lower()
                if mark in ("x", "o"):
                    i += 1
                    base, prefix = (16, "x") if mark == "x" else (8, "o")
                elif mark == "b":
                    if look_ahead in ("0", "1"):
                        i += 1
                        base, prefix = 2, "b"
                else:
                    base, prefix, seen = 8, "0", 1
            i, bits, invalid = self._digits(i, base)
            seen |= bits
            if self._at(i) == ".":
                i += 1
                seen_dot = is_float = True
        if seen_dot:
            if prefix in ("o", "b"):
                self._fail("invalid radix point in " + _literal_name(prefix))
            i, bits, bad = self._digits(i, base)
            seen |= bits
            invalid = invalid or bad
        if not seen & 1:
            self._fail(_literal_name(prefix) + " has no digits")
        mark = self._at(i)
        # `p` is an exponent only after a hexadecimal mantissa, so `2PiB` stays a byte size
        if mark and (mark.lower() == "e" or (mark.lower() == "p" and prefix == "x")):
            if mark.lower() == "e" and prefix not in ("", "0"):
                self._fail(f"'{mark}' exponent requires decimal mantissa")
            i += 1
            is_float = True
            if self._at(i) in ("+", "-"):
                i += 1
            i, bits, _ = self._digits(i, 10)
            seen |= bits
            if not bits & 1:
                self._fail("exponent has no digits")
        elif prefix == "x" and is_float:
            self._fail("hexadecimal mantissa requires a 'p' exponent")
        if not is_float and invalid:
            self._fail(f"invalid digit '{invalid}' in {_literal_name(prefix)}")
        if seen & 2 and _misplaced_separator(self.text[start:i]):
            self._fail("'_' must separate successive digits")
        return i


def _literal_name(prefix: str) -> str:
    return {
        "x": "hexadecimal literal",
        "o": "octal literal",
        "0": "octal literal",
        "b": "binary literal",
    }.get(prefix, "decimal literal")


def _misplaced_separator(number: str) -> bool:
    """Whether a `_` in `number` does not sit between two digits (a base prefix counts as
    a digit), as the scanner's `invalidSep` decides."""
    hex_digits = False
    prev = "."  # "0": a digit, "_": a separator, ".": anything else
    i = 0
    if len(number) >= 2 and number[0] == "0" and number[1].lower() in "xob":
        hex_digits, prev, i = number[1].lower() == "x", "0", 2
    for ch in number[i:]:
        if ch == "_":
            if prev != "0":
                return True
            prev = "_"
        elif "0" <= ch <= "9" or (hex_digits and ch.lower() in "abcdef"):
            prev = "0"
        else:
            if prev == "_":
                return True
            prev = "."
    return prev == "_"


def _run(text: str, i: int, runes: frozenset[str]) -> int:
    """End of the characters from `i` that `tryScanDuration`/`tryScanBytes` would append."""
    while i < len(text) and text[i] not in _GO_SPACE and (text[i] in runes or _is_number(text[i])):
        i += 1
    return i


def _lone_character(text: str, pos: int, line_ctr: LineCounter) -> tuple[str, str] | None:
    """(value, type) of a character no terminal matches, as Loki's lexer names it: `.` is
    DOT and `]` CLOSE_BRACKET (tokens the grammar never takes), a Go character literal
    (`'foo'`, with the scanner's `invalid char literal` when it holds more than one
    character) and any other character (`~`, `;`, `@`, `\\`) are an IDENTIFIER. Strings
    that do not end and a `[` without `]` are left to the parser's error (None)."""
    ch = text[pos]
    if ch in '"`[':
        return None
    if ch in ".]":
        return ch, "DOT" if ch == "." else "CLOSE_BRACKET"
    if ch != "'":
        return ch, "IDENTIFIER"
    i, count = pos + 1, 0
    while i < len(text) and text[i] not in "'\n":
        i += 2 if text[i] == "\\" else 1
        count += 1
    errors = _scan_errors.get()
    if i >= len(text) or text[i] != "'":
        if errors is not None:
            errors.append(ParseError("literal not terminated", line_ctr.line, line_ctr.column))
        return text[pos:i], "IDENTIFIER"
    if count != 1 and errors is not None:
        errors.append(ParseError("invalid char literal", line_ctr.line, line_ctr.column))
    return text[pos : i + 1], "IDENTIFIER"


def _range_ok(value: str, column: int) -> bool:
    """Whether a range's duration parses; if not, its error (Loki's lexer reports it at
    line 0 and ends the input there) joins the scan errors (`collecting_scan_errors`)."""
    try:
        parse_duration(value[1:-1], syntax="prometheus")
    except ParseError as err:
        errors = _scan_errors.get()
        if errors is not None:
            errors.append(ParseError(err.msg, 0, column))
        return False
    return True


class LokiLexer(Lexer):
    """lark's basic lexer, with numbers, durations, byte sizes, negative durations, lone
    characters and unreadable ranges lexed as Loki's lexer does (see the module docstring)."""

    __future_interface__ = 2  # lark passes the lexer state (text slice and line counter)

    def __init__(self, conf: LexerConf) -> None:
        self.basic = BasicLexer(conf)

    def lex(self, lexer_state: LexerState, parser_state: object) -> Iterator[Token]:
        text_slice, basic = lexer_state.text, self.basic
        text = text_slice.text
        line_ctr = lexer_state.line_ctr
        previous_end = 0  # where the last token (not a `/* */` or `//` comment) ended
        while line_ctr.char_pos < len(text):
            pos = line_ctr.char_pos
            ch = text[pos]
            token = None
            if "0" <= ch <= "9" or (ch == "." and "0" <= text[pos + 1 : pos + 2] <= "9"):
                look_ahead = text[previous_end] if previous_end < len(text) else ""
                token = self._number(text, pos, look_ahead, line_ctr)
            elif ch == "-" and text[pos + 1 : pos + 2] != "-":
                end = _run(text, pos + 1, _DURATION_RUNES)
                if end > pos + 1 and loki_duration(text[pos:end]) is not None:
                    token = Token("DURATION", text[pos:end], pos, line_ctr.line, line_ctr.column)
                else:
                    token = Token("SUB", "-", pos, line_ctr.line, line_ctr.column)
            if token is None:
                match = basic.match(text_slice, pos) or _lone_character(text, pos, line_ctr)
                if not match:
                    allowed = basic.scanner.allowed_types - basic.ignore_types
                    raise UnexpectedCharacters(
                        text, pos, line_ctr.line, line_ctr.column, allowed=allowed
                    )
                value, type_ = match
                if type_ in basic.ignore_types:
                    line_ctr.feed(value, type_ in basic.newline_types)
                    if value.startswith("#"):  # Loki reads `#` comments with its look-ahead
                        previous_end = line_ctr.char_pos
                    continue
                token = Token(type_, value, pos, line_ctr.line, line_ctr.column)
                if type_ == "RANGE" and not _range_ok(value, line_ctr.column):
                    return  # Loki's lexer stops at a range it cannot read (`[5x]`)
            line_ctr.feed(token.value, token.type in basic.newline_types)
            previous_end = line_ctr.char_pos
            token.end_line, token.end_column = line_ctr.line, line_ctr.column
            token.end_pos = line_ctr.char_pos
            lexer_state.last_token = token
            yield token

    @staticmethod
    def _number(text: str, pos: int, look_ahead: str, line_ctr: LineCounter) -> Token:
        scan = _NumberScan(text, pos, look_ahead)
        errors = _scan_errors.get()
        if scan.error is not None and errors is not None:
            errors.append(ParseError(scan.error, line_ctr.line, line_ctr.column))
        end = _run(text, scan.end, _DURATION_RUNES)
        if end > scan.end and loki_duration(text[pos:end]) is not None:
            return Token("DURATION", text[pos:end], pos, line_ctr.line, line_ctr.column)
        end = _run(text, scan.end, _BYTES_RUNES)
        if end > scan.end and parse_bytes(text[pos:end]) is not None:
            return Token("BYTES", text[pos:end], pos, line_ctr.line, line_ctr.column)
        return Token("NUMBER", text[pos : scan.end], pos, line_ctr.line, line_ctr.column)

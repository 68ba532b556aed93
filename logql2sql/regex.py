"""RE2 patterns checked as Loki's Go checks them.

Loki compiles patterns with Go's `regexp` package and DuckDB runs them with RE2, whose
syntax Go's package copies; the patterns reach SQL unchanged. Validation compiles them with
RE2 itself (google-re2), so a pattern is accepted exactly when the engine can run it, and
RE2's error codes are reworded as Go's (`error parsing regexp: missing closing ): `(``),
which is what Loki's users see. The one spelling RE2 takes and Go refuses, `\\C` (any
byte), is refused here as Go refuses it.
"""

from __future__ import annotations

import functools
import re

import re2

from logql2sql.errors import ParseError

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False

_GO_CODES = {
    "missing )": "missing closing )",
    "missing ]": "missing closing ]",
    "unexpected )": "unexpected )",
    "invalid escape sequence": "invalid escape sequence",
    "invalid character class": "invalid character class",
    "invalid character class range": "invalid character class range",
    "no argument for repetition operator": "missing argument to repetition operator",
    "invalid repetition size": "invalid repeat count",
    "bad repetition operator": "invalid nested repetition operator",
    "invalid perl operator": "invalid or unsupported Perl syntax",
    "invalid UTF-8": "invalid UTF-8",
    "invalid named capture group": "invalid named capture",
}
"""RE2's error code texts and the `regexp/syntax.ErrorCode` texts Go prints for them."""
_AT_END = ("error parsing regexp: missing closing", "error parsing regexp: trailing backslash")
"""Errors found at the end of the input: not before a `\\C` that follows in the pattern."""
_ANY_BYTE_STAND_IN = "\\xFE"
"""An escape RE2 takes in place of `\\C`, to find the errors before it."""


class RegexError(ParseError):
    """A pattern Go's `regexp` refuses; `go_message` is Go's own error text, which Loki
    wraps differently where the pattern sits (a matcher, a stage, `label_replace`)."""

    def __init__(self, go_message: str) -> None:
        super().__init__(go_message)
        self.go_message = go_message


@functools.lru_cache(maxsize=1024)
def compile_re2(pattern: str) -> re2._Regexp:
    """The compiled pattern; `RegexError` worded as Go's when Go would refuse it.

    >>> compile_re2(r"(?P<n>\\pL+)").groupindex
    {'n': 1}
    >>> compile_re2("a(?=b)")
    Traceback (most recent call last):
    ...
    logql2sql.regex.RegexError: parse error : error parsing regexp: invalid or unsupported \
Perl syntax: `(?=`
    """
    at = _any_byte_escape(pattern)
    if at < 0:
        try:
            return re2.compile(pattern, _OPTIONS)
        except re2.error as err:
            raise _from_re2(err, pattern) from None
    # Go fails at the first error from the left: at `\C`, unless an error that RE2 finds
    # in the text before it (other than the end of input inside a group or class) came first.
    try:
        re2.compile(pattern[:at], _OPTIONS)
    except re2.error as err:
        earlier = _from_re2(err, pattern[:at])
        if not earlier.go_message.startswith(_AT_END):
            stand_in = pattern.replace("\\C", _ANY_BYTE_STAND_IN)
            try:
                re2.compile(stand_in, _OPTIONS)
            except re2.error as full:
                message = _from_re2(full, stand_in).go_message
                raise RegexError(message.replace(_ANY_BYTE_STAND_IN, "\\C")) from None
    raise _go_error("invalid escape sequence", "\\C")


def _from_re2(err: re2.error, pattern: str) -> RegexError:
    text = err.args[0].decode("utf-8", "replace") if err.args else ""
    if text.startswith("trailing \\"):
        # Go names no fragment: the whole message ends with an empty pair of backquotes
        return _go_error("trailing backslash at end of expression", "")
    if text.startswith("pattern too large"):
        return _go_error("expression too large", pattern)
    code, _, arg = text.partition(": ")
    if code == "invalid repetition size":
        arg = arg.removesuffix("?")  # Go names the count, not the non-greedy mark after it
    elif code == "bad repetition operator":
        # Go checks a count before it checks for a repetition of a repetition
        count = _LAST_COUNT.search(arg)
        if count and not _count_ok(count):
            return _go_error("invalid repeat count", count.group(1))
    elif code == "invalid escape sequence" and _bare_property_at_end(arg, pattern):
        return _go_error("invalid character class range", arg)
    if code in _GO_CODES:
        return _go_error(_GO_CODES[code], arg)
    return _go_error(text, pattern)


def _bare_property_at_end(arg: str, pattern: str) -> bool:
    """`\\p`/`\\P` without a name at the end of the input, inside `[…` too (but not as
    the end of a range): Go calls that a bad class range, RE2 a bad escape."""
    return arg in ("\\p", "\\P") and pattern.endswith(arg) and not pattern[:-2].endswith("-")


_LAST_COUNT = re.compile(r"(\{(\d+)(?:(,)(\d*))?\})\??$")


def _count_ok(count: re.Match[str]) -> bool:
    """Whether a `{n}`, `{n,}` or `{n,m}` count is one Go accepts (at most 1000, n ≤ m)."""
    low = int(count.group(2))
    high = int(count.group(4)) if count.group(4) else (low if not count.group(3) else -1)
    return low <= 1000 and high <= 1000 and (high < 0 or low <= high)


def _go_error(code: str, fragment: str) -> RegexError:
    return RegexError(f"error parsing regexp: {code}: `{fragment}`")


def _any_byte_escape(pattern: str) -> int:
    """Where the pattern first uses the escape `\\C` (outside `\\Q…\\E` literal text), or -1."""
    i = 0
    while i < len(pattern) - 1:
        if pattern[i] != "\\":
            i += 1
            continue
        escaped = pattern[i + 1]
        if escaped == "C":
            return i
        if escaped == "Q":
            end = pattern.find("\\E", i + 2)
            if end < 0:
                return -1
            i = end + 2
            continue
        i += 2
    return -1


def group_names(pattern: str) -> dict[str, int]:
    """Named capture groups of a valid pattern and their indices (first of a repeated name).

    >>> group_names("(?P<method>\\\\w+) (\\\\S+) (?<code>\\\\d+)")
    {'method': 1, 'code': 3}
    """
    return dict(sorted(compile_re2(pattern).groupindex.items(), key=lambda item: item[1]))


def matches_empty(op: str, value: str) -> bool:
    """Whether a matcher `op value` accepts the empty string (regexes fully anchored)."""
    if op == "=":
        return value == ""
    if op == "!=":
        return value != ""
    found = compile_re2(f"^(?:{value})$").search("") is not None
    return found if op == "=~" else not found

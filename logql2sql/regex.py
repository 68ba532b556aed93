"""RE2 patterns checked from Python.

Loki uses Go's RE2; DuckDB uses RE2 too, so patterns reach SQL unchanged. Validation still
needs to compile patterns and to ask whether a matcher accepts the empty string, which is
done with Python's `re` after rewriting the few RE2 spellings Python lacks.
"""

from __future__ import annotations

import functools
import re

from logql2sql.errors import ParseError

_POSIX_CLASSES = {
    "alnum": "0-9A-Za-z",
    "alpha": "A-Za-z",
    "ascii": "\\x00-\\x7F",
    "blank": "\\t ",
    "cntrl": "\\x00-\\x1F\\x7F",
    "digit": "0-9",
    "graph": "!-~",
    "lower": "a-z",
    "print": " -~",
    "punct": "!-/:-@[-`{-~",
    "space": "\\t\\n\\v\\f\\r ",
    "upper": "A-Z",
    "word": "0-9A-Za-z_",
    "xdigit": "0-9A-Fa-f",
}


def to_python(pattern: str) -> str:
    """Rewrite RE2-only syntax (`\\z`, `[[:alpha:]]`, `(?P<n>` kept) for Python's `re`.

    >>> to_python("a\\\\z[[:digit:]]")
    'a\\\\Z[0-9]'
    """
    out = pattern.replace("\\z", "\\Z")
    return re.sub(
        r"\[:(\^?)([a-z]+):\]",
        lambda m: _POSIX_CLASSES.get(m.group(2), m.group(0)) if not m.group(1) else m.group(0),
        out,
    )


@functools.lru_cache(maxsize=1024)
def compile_re2(pattern: str) -> re.Pattern[str]:
    """The compiled pattern; `ParseError` worded like Go's when it is invalid."""
    python = to_python(pattern)
    try:
        return re.compile(python)
    except re.error as err:
        if "global flags" not in err.msg:
            raise _go_error(err, pattern) from None
    # RE2 allows `(?i)` anywhere (it applies to the rest of the group); Python only at the
    # start. Hoisting the flags is exact for the patterns' use here (compile, empty match).
    flags = "".join(re.findall(r"\(\?([imsU]+)\)", python)).replace("U", "")
    stripped = re.sub(r"\(\?[imsU]+\)", "", python)
    try:
        return re.compile(f"(?{''.join(sorted(set(flags)))})" + stripped if flags else stripped)
    except re.error as err:
        raise _go_error(err, pattern) from None


def _go_error(err: re.error, pattern: str) -> ParseError:
    """A Python `re` error worded as Go's regexp/syntax words the common cases."""
    bad_escape = re.match(r"bad escape (\\\S+)", err.msg)
    if bad_escape:
        return ParseError(f"error parsing regexp: invalid escape sequence: `{bad_escape.group(1)}`")
    if err.msg.startswith("missing ), unterminated subpattern"):
        return ParseError(f"error parsing regexp: missing closing ): `{pattern}`")
    if err.msg.startswith("unbalanced parenthesis"):
        return ParseError(f"error parsing regexp: unexpected ): `{pattern}`")
    return ParseError(f"error parsing regexp: {err.msg}: `{pattern}`")


def matches_empty(op: str, value: str) -> bool:
    """Whether a matcher `op value` accepts the empty string (regexes fully anchored)."""
    if op == "=":
        return value == ""
    if op == "!=":
        return value != ""
    found = compile_re2(f"^(?:{value})$").match("") is not None
    return found if op == "=~" else not found

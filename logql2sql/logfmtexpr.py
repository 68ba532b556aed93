"""The expressions of `| logfmt name="expression"`, read as Loki reads them.

Loki's logfmt parser does not take the expression as a key verbatim: a small grammar reads
it first, either one bare identifier (`app`) or double-quoted strings (`"a.b"`, ended by
`"` or `]`), and the key looked up is the first item printed with Go's `%v` (more items add
Go's `%!(EXTRA …)` notes, as `fmt.Sprintf` does). Anything else fails when the stage is
built: `cannot parse expression [a b]: syntax error: unexpected KEY`.
"""

from __future__ import annotations

from logql2sql.errors import LogQLError

_KEY, _STRING = "KEY", "STRING"
_WHITESPACE = " \t\n"


def _is_start(c: str) -> bool:
    return "a" <= c <= "z" or "A" <= c <= "Z" or c == "_"


def _scan(text: str) -> tuple[list[tuple[str, str]], str | None]:
    """Tokens up to the end or the first character no token starts with (its error)."""
    tokens: list[tuple[str, str]] = []
    i = 0
    while i < len(text) and text[i] != "\0":
        c = text[i]
        if c in _WHITESPACE:
            i += 1
        elif _is_start(c):
            start = i
            while i < len(text) and (_is_start(text[i]) or "0" <= text[i] <= "9"):
                i += 1
            tokens.append((_KEY, text[start:i]))
        elif c == '"':
            start = i = i + 1
            while i < len(text) and text[i] not in '"]\0':
                i += 1
            tokens.append((_STRING, text[start:i]))
            i += 1
        else:
            return tokens, f"unexpected char {c}"
    return tokens, None


def logfmt_expression_key(text: str) -> str:
    """The logfmt key the expression `text` extracts; `LogQLError` as Loki words it.

    >>> logfmt_expression_key('"a.b"'), logfmt_expression_key("app")
    ('a.b', 'app')
    >>> logfmt_expression_key("a b")
    Traceback (most recent call last):
    ...
    logql2sql.errors.LogQLError: cannot parse expression [a b]: syntax error: unexpected KEY
    """
    tokens, error = _scan(text)
    # the grammar: one KEY or STRING, then STRINGs; its error replaces the scanner's
    if not tokens:
        error = "syntax error: unexpected $end, expecting STRING or KEY"
    elif any(kind == _KEY for kind, _ in tokens[1:]):
        error = "syntax error: unexpected KEY"
    if error is not None:
        raise LogQLError(f"cannot parse expression [{text}]: {error}")
    first, extra = tokens[0][1], [value for _, value in tokens[1:]]
    if not extra:
        return first
    return first + "%!(EXTRA " + ", ".join(f"string={v}" for v in extra) + ")"

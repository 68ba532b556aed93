"""The `json` parser's parameter expressions (`a.b`, `a["b"]`, `list[0]`), read as Loki reads them.

`parse_json_expression(text)` returns the path as a tuple of field names (str) and array
indexes (int), or raises `LogQLError` worded as Loki fails the query:
`cannot parse expression [user[]: syntax error: unexpected $end, expecting STRING or INDEX`.

The grammar and the scanner's rules follow Loki's `pkg/logql/log/jsonexpr`: a path starts with
a field or a bracket access, then continues with `[…]` or `.field`; fields are
`[A-Za-z_][A-Za-z0-9_]*`; a quoted key ends at `"` or `]`; an index is digits only. A
scanner error ends the input, and stands as the error unless the parser then fails too.
"""

from __future__ import annotations

from logql2sql.errors import LogQLError

_END = "$end"


def _is_start(c: str) -> bool:
    return c.isascii() and (c.isalpha() or c == "_")


def _scan(text: str) -> tuple[list[tuple[str, str | int]], str | None]:
    """Tokens `(kind, value)` and the scanner's error, if any (the tokens stop there)."""
    tokens: list[tuple[str, str | int]] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in " \t\r\n":
            i += 1
        elif c.isascii() and c.isdigit():
            j = i
            while j < n and text[j] not in " \t\r\n.]":
                if not (text[j].isascii() and text[j].isdigit()):
                    return tokens, f"non-integer value: {text[j]}"
                j += 1
            if j < n and text[j] == "." and j > i:
                return tokens, "cannot use float as array index"
            tokens.append(("INDEX", int(text[i:j])))
            i = j
        elif c in "[].":
            tokens.append(({"[": "LSB", "]": "RSB", ".": "DOT"}[c], c))
            i += 1
        elif _is_start(c):
            j = i
            while j < n and (_is_start(text[j]) or (text[j].isascii() and text[j].isdigit())):
                j += 1
            tokens.append(("FIELD", text[i:j]))
            i = j
        elif c == '"':
            j = i + 1
            while j < n and text[j] not in '"]':
                j += 1
            tokens.append(("STRING", text[i + 1 : j]))
            i = j + 1
        else:
            return tokens, f"unexpected char {c}"
    return tokens, None


def parse_json_expression(text: str) -> tuple[str | int, ...]:
    """The path of a `json` parameter expression (field names and array indexes)."""
    tokens, scan_error = _scan(text)
    tokens.append((_END, ""))
    path: list[str | int] = []
    pos = 0

    def fail(expecting: str | None) -> LogQLError:
        message = f"syntax error: unexpected {tokens[pos][0]}"
        if expecting:
            message += f", expecting {expecting}"
        return LogQLError(f"cannot parse expression [{text}]: {message}")

    def bracket() -> None:
        nonlocal pos
        pos += 1
        kind, value = tokens[pos]
        if kind not in ("STRING", "INDEX"):
            raise fail("STRING or INDEX")
        pos += 1
        if tokens[pos][0] != "RSB":
            raise fail("RSB")
        pos += 1
        path.append(value)

    kind, value = tokens[0]
    if kind == "FIELD":
        path.append(value)
        pos = 1
    elif kind == "LSB":
        bracket()
    else:
        raise fail("LSB or FIELD")
    while tokens[pos][0] != _END:
        kind = tokens[pos][0]
        if kind == "LSB":
            bracket()
        elif kind == "DOT":
            pos += 1
            if tokens[pos][0] != "FIELD":
                raise fail("FIELD")
            path.append(tokens[pos][1])
            pos += 1
        else:
            raise fail(None)
    if scan_error is not None:
        raise LogQLError(f"cannot parse expression [{text}]: {scan_error}")
    return tuple(path)

"""Loki's logfmt decoder (`pkg/logql/log/logfmt`) as regular expressions over a line.

The decoder reads the line as units, each after a run of separators (every byte up to
and including the space):

- a key: bytes that are not a separator, `=` or `"`, ended by a separator or the end
  (a bare key, value ""), or by `=` and a value;
- a value: `"…"` with backslash escapes, ended by its closing quote (the next unit may
  follow at once), or bytes up to a separator or the end, with no `=` or `"` among them.

Anything else is an error, and its unit yields no pair: a unit that starts with `=`, a
`"` in a key, a U+FFFD in a key ("invalid key"), an unquoted value running into `=` or
`"`, an escape that Go's JSON unquoting rejects ("invalid quoted value"); the decoder
then skips to the next separator, or past the closing quote of a bad quoted value. An
unterminated quoted value ends the line. `PAIR` matches any errors, then one good unit
(or the end): its groups are the errors (`""` when none), the key and the raw value (NULL
for a bare key), so the matches of a line are its pairs in order, with at most a last
one without a key. `--strict` stops at the first error; `strict_error_details` is the
decoder's message for it ("logfmt syntax error at pos N : …", N a byte position).
"""

from __future__ import annotations

from sqlglot import exp

from logql2sql.sqlbuild import case, cast, col, fn, item, lam, let, lit, negate, num, try_cast

SEP = r"\x00-\x20"
_INVALID = "\ufffd"  # U+FFFD itself (RE2's `\x{FFFD}` has no Java spelling)
KEY_CHAR = rf'[^{SEP}="{_INVALID}]'
"""A byte of a good key (U+FFFD makes the key invalid)."""
_END = rf"(?:[{SEP}]|$)"
_RUN = rf"[^{SEP}]*{_END}"
"""The rest of a run, and the separator after it: an error skips that far."""
_GOOD = r"""(?:[^"\\]|\\["\\/'bfnrt]|\\u[0-9a-fA-F]{4})"""
_ANY = r'(?:[^"\\]|\\[\s\S])'
_BAD = r"""(?:\\[^"\\/'bfnrtu]|\\u[0-9a-fA-F]{0,3}(?:[^0-9a-fA-F"\\]|\\[\s\S]))"""
_LOOSE_KEY = rf'[^{SEP}="]'
QUOTED = rf'"{_GOOD}*"'
"""A quoted value the decoder unquotes (its escapes are all valid)."""
FILLED = rf'"{_GOOD}+"'
"""A quoted value that is not empty."""
ERROR = (
    "(?:"
    + "|".join(
        [
            rf'{_LOOSE_KEY}*"{_RUN}',  # a quote in a key
            rf"{_LOOSE_KEY}*{_INVALID}{_LOOSE_KEY}*(?:={_RUN}|{_END})",  # invalid key
            rf"={_RUN}",  # no key
            rf'{_LOOSE_KEY}+=(?:{_LOOSE_KEY}+[="]|=){_RUN}',  # `=` or `"` in a value
            rf'{_LOOSE_KEY}+="{_ANY}*\\?$',  # unterminated quoted value
            rf'{_LOOSE_KEY}+="{_GOOD}*(?:{_BAD}{_ANY}*"|\\u[0-9a-fA-F]{{0,3}}")',  # bad escape
        ]
    )
    + ")"
)
"""One unit the decoder rejects, as far as it skips: each form ends where the decoder
resumes (so a regex cannot end it early and find a pair inside it)."""
PAIR = rf"((?:{ERROR}[{SEP}]*)*)(?:({KEY_CHAR}+)(?:=({QUOTED}|{_LOOSE_KEY}*))?|$)"
STEP = rf"(?:{KEY_CHAR}+(?:={QUOTED}|={_LOOSE_KEY}*[{SEP}]|[{SEP}])|[{SEP}]+|{ERROR})"
"""One step of a scan from the line's start that ends where a unit may start: a good
unit (an unquoted one with the separator after it), separators, or an error. The forms
exclude each other; the common ones come first, for a backtracking engine."""
_TOKEN = (
    r"\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}"
    r"|\\u[0-9a-fA-F]{4}|\\[\s\S]|[^\\]+"
)


def pair_lists(line: exp.Expression) -> tuple[exp.Expression, exp.Expression]:
    """(keys as written, raw values) of the line's good units; the values list may hold
    one more item, at the end."""
    keys = fn("regexp_extract_all", line, lit(PAIR), num(2))
    # the last match may have no key: NULL, or "" where an engine reads a group that took
    # no part in the match as "" (Spark); a key is never ""
    present = exp.NEQ(this=exp.Coalesce(this=col("k"), expressions=[lit("")]), expression=lit(""))
    keys = fn("list_filter", keys, lam(["k"], present))
    return keys, fn("regexp_extract_all", line.copy(), lit(PAIR), num(3))


def until_error(keys: exp.Expression, first: exp.Expression) -> exp.Expression:
    """The keys of `pair_lists` before match number `first` (`first_error`; NULL: all of
    them): `--strict` stops at the first error."""
    before = fn(
        "list_transform",
        fn("range", num(1), cast(first.copy(), "INT")),  # Spark indexes by INT
        lam(["i"], item(col("_sk"), col("i"))),
    )
    return case(
        (exp.Is(this=first, expression=exp.Null()), keys.copy()),
        default=let(keys, "_sk", before),
    )


def first_error(line: exp.Expression) -> exp.Expression:
    """The number of the first match with an error before its pair (NULL when none)."""
    errors = fn("regexp_extract_all", line.copy(), lit(PAIR), num(1))
    flags = fn("list_transform", errors, lam(["e"], exp.NEQ(this=col("e"), expression=lit(""))))
    return fn("nullif", fn("list_position", flags, exp.true()), num(0))


def value_text(raw: exp.Expression, invalid: str = " ") -> exp.Expression:
    """A raw value's text: a quoted one unquoted as Go unquotes JSON strings (plus `\\'`),
    NULL read as "". U+FFFD becomes `invalid` (the parser's " "), or the whole value ""
    when `invalid` is "" (the parser with expressions)."""
    raw = exp.Coalesce(this=raw, expressions=[lit("")])
    inner = fn(
        "substr", raw.copy(), num(2), exp.Sub(this=fn("length", raw.copy()), expression=num(2))
    )
    escaped = fn(
        "array_to_string",
        fn(
            "list_transform",
            fn("regexp_extract_all", inner.copy(), lit(_TOKEN)),
            lam(["t"], _token(col("t"))),
        ),
        lit(""),
    )
    unquoted = case((fn("contains", inner.copy(), lit("\\")), escaped), default=inner)
    text = case((fn("starts_with", raw.copy(), lit('"')), unquoted), default=raw.copy())
    if invalid:
        return fn("replace", text, lit("\ufffd"), lit(invalid))
    return case((fn("contains", text.copy(), lit("\ufffd")), lit("")), default=text)


def _token(token: exp.Expression) -> exp.Expression:
    """One piece of a quoted value: text, or an escape (a UTF-16 pair counts as one; a
    lone surrogate is U+FFFD, as Go decodes it)."""
    as_json = exp.JSONExtractScalar(
        this=try_cast(
            exp.DPipe(this=exp.DPipe(this=lit('"'), expression=token.copy()), expression=lit('"')),
            "JSON",
        ),
        expression=lit("$"),
    )
    lone = fn("regexp_matches", token.copy(), lit(r"^\\u[dD][89a-fA-F][0-9a-fA-F]{2}$"))
    return case(
        (negate(fn("starts_with", token.copy(), lit("\\"))), token.copy()),
        (exp.EQ(this=token.copy(), expression=lit("\\'")), lit("'")),
        (lone, lit("\ufffd")),
        default=as_json,
    )


def strict_error_details(line: exp.Expression) -> exp.Expression:
    """The decoder's message for the line's first error: "logfmt syntax error at pos N :
    …", N the byte after the one it stopped at (the line's end + 1 for an unterminated
    quoted value)."""
    good = rf"(?:[{SEP}]|{KEY_CHAR}+(?:={QUOTED}|={_LOOSE_KEY}*[{SEP}]|[{SEP}]))*"
    before = fn("regexp_extract", line.copy(), lit("^" + good))
    start = fn("strlen", before.copy())
    rest = fn("substr", line.copy(), exp.Add(this=fn("length", before), expression=num(1)))

    def at(prefix: str) -> exp.Expression:
        """The position after the bytes of `rest` that `prefix` matches."""
        length = fn("strlen", fn("regexp_extract", rest.copy(), lit("^" + prefix)))
        return exp.Add(this=exp.Add(this=start.copy(), expression=length), expression=num(1))

    def matches(pattern: str) -> exp.Expression:
        return fn("regexp_matches", rest.copy(), lit("^" + pattern))

    key = f"{_LOOSE_KEY}*"
    value_start = f"{_LOOSE_KEY}+={_LOOSE_KEY}*"
    return case(
        (matches(f'{key}"'), _message(at(key), "unexpected '\"'")),
        (matches(f"{key}{_INVALID}"), _message(at(key), "invalid key")),
        (matches("="), _message(at(""), "unexpected '='")),
        (matches(f"{value_start}="), _message(at(value_start), "unexpected '='")),
        (matches(f'{_LOOSE_KEY}+={_LOOSE_KEY}+"'), _message(at(value_start), "unexpected '\"'")),
        (
            matches(rf'{_LOOSE_KEY}+="{_ANY}*\\?$'),
            _message(
                exp.Add(this=fn("strlen", line.copy()), expression=num(1)),
                "unterminated quoted value",
            ),
        ),
        default=_message(at(rf'{_LOOSE_KEY}+="{_ANY}*"'), "invalid quoted value"),
    )


def _message(pos: exp.Expression, text: str) -> exp.Expression:
    return exp.DPipe(
        this=exp.DPipe(this=lit("logfmt syntax error at pos "), expression=cast(pos, "VARCHAR")),
        expression=lit(f" : {text}"),
    )

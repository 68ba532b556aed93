"""Spark SQL lowering: rewrites a lowered query so that Spark (4.x) computes what DuckDB does.

Lowering builds SQL with DuckDB's function names; sqlglot's Spark generator maps most of
them. `adapt(select)` rewrites the rest before the SQL is printed, keeping Loki's meaning:

- Regexes: Loki (Go) and DuckDB use RE2, Spark uses `java.util.regex`. Every regex literal
  is rewritten by `java_regex` so that Java matches what RE2 matches (`$` is the end of the
  text, `.` excludes only `\\n`, POSIX classes, `(?P<name>`, literal `[`/`&`/`{` in the places
  RE2 reads them literally); `regexp_full_match` becomes `RLIKE` with the pattern anchored
  at both ends of the text (`^(?:…)\\z`); RE2 replacement strings (`\\1`) become Java's (`$1`).
- 1-based list indexes (`x[i]` built by `sqlbuild.item`/`pipeline`) are `try_element_at`,
  NULL out of range as in DuckDB (Spark's `x[i]` is 0-based and fails out of range).
- `list_position` returns NULL when absent (Spark's `array_position` returns 0).
- `fmod` is Spark's `%` on doubles (Java's remainder, the sign of the dividend, like C).
- `map_concat` keeps the last value of a duplicate key, as DuckDB does (Spark's default
  `spark.sql.mapKeyDedupPolicy=EXCEPTION` would fail the query).
- `UNNEST(generate_series(a, b, s)) AS t` becomes `EXPLODE(...) AS t`, empty when `a > b`
  (Spark's `sequence` rejects such bounds).
- `quantile_cont` is `percentile` (the same interpolation between closest ranks),
  `strlen` (bytes) is `octet_length`, `list_sum` an `aggregate` over DECIMAL(38, 0) (the
  exact sum of a duration's parts, `durations`), and a quoted logfmt value is unquoted by
  reading it as the single element of a JSON array (`get_json_object`).

Constructs with no faithful Spark form raise `UnsupportedInDialect` (`ungreedy (?U)` and
`\\C` in a regex).
"""

from __future__ import annotations

import re

from sqlglot import exp

from logql2sql.errors import UnsupportedInDialect
from logql2sql.sqlbuild import cast, col, fn, lam, lit, negate, num, rewrite_bottom_up

DIALECT = "spark"

# RE2 POSIX classes (`[[:alpha:]]`) as Java classes (`\p{Alpha}`; `[:word:]` is `\w`).
_POSIX = {
    name: ("\\w", "\\W") if name == "word" else (f"\\p{{{java}}}", f"\\P{{{java}}}")
    for name, java in {
        "alnum": "Alnum",
        "alpha": "Alpha",
        "ascii": "ASCII",
        "blank": "Blank",
        "cntrl": "Cntrl",
        "digit": "Digit",
        "graph": "Graph",
        "lower": "Lower",
        "print": "Print",
        "punct": "Punct",
        "space": "Space",
        "upper": "Upper",
        "word": "",
        "xdigit": "XDigit",
    }.items()
}
_RE2_SPACE = "\\t\\n\\f\\r "
_REPEAT = re.compile(r"\{\d+(,\d*)?\}")


def java_regex(pattern: str) -> str:
    """An RE2 pattern as a `java.util.regex` pattern with the same matches.

    `(?d)` (only `\\n` ends a line) makes `.`, `^` and `$` under `(?m)` behave as in RE2,
    `(?u)` folds case beyond ASCII under `(?i)` as RE2 does;
    a `$` outside multi-line mode becomes `\\z`, since Java's `$` also matches before a final
    line break.

    >>> java_regex("^a.b$")
    '(?du)^a.b\\\\z'
    >>> java_regex("(?P<x>[[:digit:]]+)&&[a[]")
    '(?du)([\\\\p{Digit}]+)&&[a\\\\[]'
    """
    out = ["(?du)"]
    flags = [""]  # the inline flags in force, one entry per open group
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\":
            i = _escape(pattern, i, out, in_class=False)
            continue
        if c == "[":
            i = _char_class(pattern, i, out)
            continue
        if c == "(":
            i = _group(pattern, i, out, flags)
            continue
        if c == ")":
            if len(flags) > 1:
                flags.pop()
            out.append(c)
        elif c == "$":
            out.append("$" if "m" in flags[-1] else "\\z")
        elif c == "{" and not _REPEAT.match(pattern, i):
            out.append("\\{")
        else:
            out.append(c)
        i += 1
    return "".join(out)


def _escape(pattern: str, i: int, out: list[str], in_class: bool) -> int:
    """Copy the escape at `i`, translated; the index after it."""
    if i + 1 >= len(pattern):
        out.append("\\")
        return i + 1
    nxt = pattern[i + 1]
    if nxt == "C":
        raise UnsupportedInDialect("regex \\C", DIALECT)
    if nxt == "Q":
        end = pattern.find("\\E", i + 2)
        end = len(pattern) if end < 0 else end
        out.append("\\Q" + pattern[i + 2 : end] + "\\E")
        return end + 2
    if nxt == "v":
        out.append("\\x0B")
    elif nxt == "s":
        out.append(_RE2_SPACE if in_class else f"[{_RE2_SPACE}]")
    elif nxt == "S" and not in_class:
        out.append(f"[^{_RE2_SPACE}]")
    elif nxt == "z":
        out.append("\\z")
    elif nxt in "pP" and i + 2 < len(pattern) and pattern[i + 2] == "{":
        end = pattern.index("}", i + 2)
        out.append(pattern[i : end + 1])
        return end + 1
    else:
        out.append(pattern[i : i + 2])
    return i + 2


def _char_class(pattern: str, i: int, out: list[str]) -> int:
    """Copy the character class starting at `i`; the index after its `]`."""
    out.append("[")
    i += 1
    if i < len(pattern) and pattern[i] == "^":
        out.append("^")
        i += 1
    first = True
    while i < len(pattern):
        c = pattern[i]
        if c == "]" and not first:
            out.append("]")
            return i + 1
        if c == "]":  # RE2 reads a leading `]` as a literal, Java as the class's end
            out.append("\\]")
            i += 1
            first = False
            continue
        first = False
        posix = re.match(r"\[:(\^?)([a-z]+):\]", pattern[i:])
        if posix and posix.group(2) in _POSIX:
            out.append(_POSIX[posix.group(2)][1 if posix.group(1) else 0])
            i += posix.end()
            continue
        if c == "\\":
            i = _escape(pattern, i, out, in_class=True)
            continue
        # Java reads `[` as a nested class and `&&` as an intersection; RE2 as literals.
        out.append("\\" + c if c in "[&" else c)
        i += 1
    return i


def _group(pattern: str, i: int, out: list[str], flags: list[str]) -> int:
    """Copy a group opening at `i` (tracking inline flags); the index after it."""
    named = re.match(r"\(\?P?<[A-Za-z_][A-Za-z0-9_]*>", pattern[i:])
    if named:
        # Lowering reads groups by number; Java's names cannot hold `_`.
        out.append("(")
        flags.append(flags[-1])
        return i + named.end()
    opts = re.match(r"\(\?([a-zA-Z]*)(?:-([a-zA-Z]*))?([:)])", pattern[i:])
    if not opts:
        out.append("(")
        flags.append(flags[-1])
        return i + 1
    on, off, end = opts.group(1), opts.group(2) or "", opts.group(3)
    if "U" in on or "U" in off:
        raise UnsupportedInDialect("regex flag U (ungreedy)", DIALECT)
    current = "".join(f for f in flags[-1] + on if f not in off)
    if end == ")":
        flags[-1] = current
    else:
        flags.append(current)
    out.append(opts.group(0))
    return i + opts.end()


def java_replacement(template: str) -> str:
    """An RE2 replacement (`\\1`, `\\\\`) as a Java one (`$1`, `\\\\`, `\\$`)."""
    return re.sub(
        r"\\(\d)|\\\\|\$",
        lambda m: f"${m.group(1)}" if m.group(1) else ("\\\\" if m.group(0) != "$" else "\\$"),
        template,
    )


def _literal_regex(node: exp.Expression, wrap=lambda p: p) -> exp.Expression:
    if not isinstance(node, exp.Literal) or not node.is_string:
        raise UnsupportedInDialect("regex computed at query time", DIALECT)
    return lit(java_regex(wrap(node.this)))


def _series(node: exp.GenerateSeries) -> exp.Expression:
    """`generate_series(a, b, s)` (inclusive) as a Spark array, empty when `a > b`."""
    start, end = node.args["start"], node.args["end"]
    step = node.args.get("step") or num(1)
    upper = fn("greatest", start.copy(), end)
    seq = exp.GenerateSeries(start=start, end=upper, step=step)
    return fn("list_filter", seq, lam(["_t"], exp.LTE(this=col("_t"), expression=end.copy())))


def _map_get(node: exp.Bracket) -> bool:
    """Whether the subscript is a map lookup (`sqlbuild.get`: a string key), which Spark's
    `m['k']` computes as DuckDB's does (NULL when absent)."""
    key = node.expressions[0]
    return isinstance(key, exp.Literal) and key.is_string


def _rewrite(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.Unnest) and isinstance(node.expressions[0], exp.GenerateSeries):
        exploded = exp.Explode(this=_series(node.expressions[0]))
        alias = node.args.get("alias")
        return exploded if alias is None else exploded.as_(alias.name, copy=False)
    if isinstance(node, exp.Bracket) and node.args.get("offset") == 1 and not _map_get(node):
        # A 1-based list index (`sqlbuild.item`): NULL out of range, as in DuckDB.
        return exp.Anonymous(this="try_element_at", expressions=[node.this, *node.expressions])
    if isinstance(node, exp.RegexpFullMatch):
        pattern = _literal_regex(node.expression, lambda p: f"^(?:{p})$")
        return exp.RegexpLike(this=node.this, expression=pattern)
    if isinstance(node, exp.RegexpLike | exp.RegexpExtract | exp.RegexpExtractAll):
        node.set("expression", _literal_regex(node.expression))
        return node
    if isinstance(node, exp.RegexpReplace):
        node.set("expression", _literal_regex(node.expression))
        replacement = node.args.get("replacement")
        if isinstance(replacement, exp.Literal):
            node.set("replacement", lit(java_replacement(replacement.this)))
        return node
    if isinstance(node, exp.PercentileCont):
        # Spark's `percentile` interpolates between the closest ranks, as `quantile_cont`.
        return exp.Anonymous(this="percentile", expressions=[node.this, node.expression])
    if not isinstance(node, exp.Anonymous):
        return node
    name, args = node.name.lower(), node.expressions
    if name == "list_position":
        return exp.Nullif(this=fn("array_position", *args), expression=num(0))
    if name == "fmod":
        return exp.Paren(this=exp.Mod(this=args[0], expression=args[1]))
    if name == "strlen":
        return exp.Anonymous(this="octet_length", expressions=args)
    if name == "list_sum":
        add = exp.Add(this=col("_a"), expression=col("_x"))
        return exp.Anonymous(
            this="aggregate",
            expressions=[args[0], cast(num(0), "DECIMAL(38, 0)"), lam(["_a", "_x"], add)],
        )
    if name == "map_concat" and len(args) == 2:
        return _map_concat(args[0], args[1])
    return node


def _map_concat(earlier: exp.Expression, later: exp.Expression) -> exp.Expression:
    """`earlier` with the entries of `later` added or replacing, `later` evaluated once
    (bound as the lambda parameter of a one-element `transform`)."""
    keep = negate(fn("list_contains", fn("map_keys", col("_mm")), col("_mk")))
    kept = exp.Anonymous(this="map_filter", expressions=[earlier, lam(["_mk", "_mv"], keep)])
    merged = exp.Anonymous(this="map_concat", expressions=[kept, col("_mm")])
    bound = fn("list_transform", exp.Array(expressions=[later]), lam(["_mm"], merged))
    return exp.Anonymous(this="element_at", expressions=[bound, num(1)])


def _unquote(node: exp.Expression) -> exp.Expression:
    """`json_extract_scalar(try_cast(v AS JSON), '$')` (a JSON string's text) for Spark."""
    if (
        isinstance(node, exp.JSONExtractScalar)
        and isinstance(node.this, exp.TryCast)
        and node.this.to.is_type("json")
    ):
        text = node.this.this
        as_array = exp.DPipe(this=exp.DPipe(this=lit("["), expression=text), expression=lit("]"))
        return exp.Anonymous(this="get_json_object", expressions=[as_array, lit("$[0]")])
    return node


def adapt(select: exp.Expression) -> exp.Expression:
    """The lowered query rewritten for Spark (see the module docstring), in place.

    Nodes are rewritten children first (`sqlbuild.rewrite_bottom_up`).
    """
    return rewrite_bottom_up(select, lambda node: _rewrite(_unquote(node)))

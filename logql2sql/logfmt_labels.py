"""Single labels after `| logfmt`, computed per entry without building its label map.

`sum by (level) (count_over_time({…} | logfmt [1m]))` needs one label of each entry, yet
the general lowering parses every pair of every line into lists and merges them into a
label map (`pipeline._logfmt`). When a pipeline is only line filters, one plain `logfmt`
and label filters (string ones, or a numeric, duration or bytes comparison of one label
as a stage of its own, as in `| logfmt | status >= 500`), then optionally `unwrap` and
string label filters (as in
`quantile_over_time(0.99, {…} | logfmt | unwrap duration(took) [5m]) by (app)`), and the
query needs a known, small set of labels, each label (the unwrapped one too) is read from
the line by one anchored regular expression instead, with the same result:

- a name taken by a stream label or structured metadata keeps that value (the parsed one
  would be renamed `<name>_extracted`), else the first pair whose sanitised key is the
  name and whose value is not empty gives the value (without `--keep-empty` Loki skips an
  empty value before it records the name, so a later value of the key counts);
- the pairs are the units of Loki's logfmt decoder, left to right (`logfmt_scan`). The
  text before a line's first double quote is separator-delimited runs, each a whole unit,
  read by a simple regex; a key after a quote is read by a regex whose prefix spells out
  the decoder's scan (`logfmt_scan.STEP`: errors, quoted values, unquoted values, bare
  keys), and where that finds nothing the general pair lists are asked, so every line
  gets the exact value.

The pipeline error check stays exact as well: it reads Loki's error state (structured
metadata's `__error__`, the `LabelFilterErr` a comparison sets, the unwrap's
`SampleExtractionErr`; a line's own `__error__` key only where the grouping names it, see
`Lowerer.logfmt_samples`), and the failing entry's full label set, needed only for Loki's
error message, is built inline in the error branch, which runs for failing entries only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlglot import exp

from logql2sql import ast, logfmt_scan
from logql2sql.pipeline import (
    ERROR,
    ERROR_DETAILS,
    base_labels,
    extracted_labels,
    logfmt_pairs,
    string_leaf,
)
from logql2sql.sqlbuild import (
    array,
    canonical,
    case,
    cast,
    col,
    fn,
    get,
    item,
    lam,
    let,
    lit,
    negate,
    num,
)

_SEP = logfmt_scan.SEP
# A name this module can find: characters a sanitised key holds, no digit first, and not
# `_<digit>` (which may come from a key that started with a digit).
_NAME = re.compile(r"[a-zA-Z][a-zA-Z0-9_]*|_[a-zA-Z_][a-zA-Z0-9_]*")


@dataclass(frozen=True)
class Plan:
    """A pipeline this module handles: line stages, then logfmt, then label filters, then
    optionally `unwrap` and label filters on its result."""

    line_stages: tuple[ast.Stage, ...]
    filters: tuple[ast.LabelFilter, ...]
    unwrap: ast.Unwrap | None = None
    after_unwrap: tuple[ast.LabelFilter, ...] = ()


def plan(stages: tuple[ast.Stage, ...]) -> Plan | None:
    """The plan for a pipeline, or None when it needs the general lowering.

    Line filters and `decolorize` may come before `logfmt` (it parses their result); after
    it only line filters (they do not read labels, so they move before it) and label
    filters (string ones, or `converting` ones as stages of their own), then an `unwrap`
    of a readable label and more string label filters.
    """
    unwraps = [i for i, s in enumerate(stages) if isinstance(s, ast.Unwrap)]
    if unwraps:
        at = unwraps[0]
        unwrap, after = stages[at], stages[at + 1 :]
        assert isinstance(unwrap, ast.Unwrap)
        if unwrap.label in (ERROR, ERROR_DETAILS) or not _readable(unwrap.label):
            return None
        if not all(isinstance(s, ast.LabelFilterStage) for s in after):
            return None
        post = tuple(s.filter for s in after if isinstance(s, ast.LabelFilterStage))
        if not all(_plain_filter(f) for f in post):
            return None
        head = plan(stages[:at])
        return None if head is None else Plan(head.line_stages, head.filters, unwrap, post)
    parsers = [i for i, s in enumerate(stages) if isinstance(s, ast.LogfmtParser)]
    if len(parsers) != 1:
        return None
    at = parsers[0]
    parser = stages[at]
    assert isinstance(parser, ast.LogfmtParser)
    if parser.params or parser.strict or parser.keep_empty:
        return None
    before, after = stages[:at], stages[at + 1 :]
    if not all(isinstance(s, ast.LineFilter | ast.Decolorize) for s in before):
        return None
    line_after = tuple(s for s in after if isinstance(s, ast.LineFilter))
    filters = tuple(s.filter for s in after if isinstance(s, ast.LabelFilterStage))
    if len(line_after) + len(filters) != len(after):
        return None
    if not all(_plain_filter(f) or converting(f) for f in filters):
        return None
    return Plan(before + line_after, filters)


def _plain_filter(f: ast.LabelFilter) -> bool:
    if isinstance(f, ast.AndLabelFilter | ast.OrLabelFilter):
        return _plain_filter(f.left) and _plain_filter(f.right)
    return isinstance(f, ast.StringLabelFilter) and _readable(f.matcher.name)


def converting(f: ast.LabelFilter) -> bool:
    """A numeric, duration or bytes filter of one readable label (not an error label),
    a stage of its own: it may set `LabelFilterErr` (`pipeline.converting_leaf`)."""
    converts = isinstance(f, ast.NumericLabelFilter | ast.DurationLabelFilter)
    converts = converts or isinstance(f, ast.BytesLabelFilter)
    return converts and f.name not in (ERROR, ERROR_DETAILS) and _readable(f.name)


def _names(f: ast.LabelFilter) -> set[str]:
    if isinstance(f, ast.AndLabelFilter | ast.OrLabelFilter):
        return _names(f.left) | _names(f.right)
    return {f.matcher.name} if isinstance(f, ast.StringLabelFilter) else {f.name}


def _readable(name: str) -> bool:
    """A name read here: not `<name>_extracted` (whose value depends on clashes)."""
    if name in (ERROR, ERROR_DETAILS):
        return True
    return bool(_NAME.fullmatch(name)) and not name.endswith("_extracted")


def readable(names: tuple[str, ...]) -> bool:
    """Whether every name can be read by this module."""
    return all(_readable(n) for n in names)


_UNICODE_SPACE = "\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
"""The white space Go's `strings.TrimSpace` trims off a key that is no separator."""


def _key_pattern(name: str, whole: bool = True) -> str:
    """Good raw keys that sanitise to `name`: `_` stands for any character sanitised to
    `_` that a good key may hold (not white space at either end of a `whole` key, which
    is trimmed)."""
    inner = f'[^a-zA-Z0-9{_SEP}="\ufffd]'
    outer = f'[^a-zA-Z0-9{_SEP}="\ufffd{_UNICODE_SPACE}]' if whole else inner
    last = len(name) - 1
    return "".join(
        (outer if i in (0, last) else inner) if c == "_" else re.escape(c)
        for i, c in enumerate(name)
    )


def _trimmed_key(name: str) -> str:
    """`_key_pattern` with the white space around it that the sanitising trims."""
    return f"[{_UNICODE_SPACE}]*{_key_pattern(name)}[{_UNICODE_SPACE}]*"


def _after_key(found: exp.Expression) -> exp.Expression:
    """The value of a `key=value` match (a key holds no `=`)."""
    return fn(
        "substr", found, exp.Add(this=fn("strpos", found.copy(), lit("=")), expression=num(1))
    )


def _general(line: exp.Expression, name: str) -> exp.Expression:
    """The first non-empty parsed value for `name` from the full pair lists (NULL when
    absent or only empty)."""
    keys, values = logfmt_pairs(line)
    pairs = exp.Struct(
        expressions=[
            exp.PropertyEQ(this=exp.to_identifier("k"), expression=keys),
            exp.PropertyEQ(this=exp.to_identifier("v"), expression=values),
        ]
    )
    k, v = (exp.Dot(this=col("_g"), expression=exp.to_identifier(n)) for n in ("k", "v"))
    j = col("j")
    filled = case(
        (exp.EQ(this=item(v.copy(), j), expression=lit("")), cast(exp.Null(), "VARCHAR")),
        default=item(k.copy(), j.copy()),
    )
    named = fn(
        "list_transform",
        fn("range", num(1), exp.Add(this=exp.ArraySize(this=k.copy()), expression=num(1))),
        lam(["j"], filled),
    )
    return let(pairs, "_g", item(v, fn("list_position", named, lit(name))))


def _patterns(name: str) -> tuple[str, str, str]:
    """The regexes reading `name`: (before the first quote, a key somewhere, the scan)."""
    key = _trimmed_key(name)
    # Units before the first quote are separator-delimited runs, each a whole unit (the
    # run the quote is in ends in a quote here, see `_before_quote`, so it never reads
    # as good). Units with an empty value (a bare key, `key=`, `key=""`) and errors are
    # passed over by both regexes.
    early = rf'(?:^|[{_SEP}]){key}=([^{_SEP}="]+)(?:[{_SEP}]|$)'
    candidate = rf'(?:^|[{_SEP}="]){key}(?:[={_SEP}"]|$)'
    scanned = (
        rf"^{logfmt_scan.STEP}*?"
        rf'(?:{key}=({logfmt_scan.FILLED})|({key}=[^{_SEP}="]+)(?:[{_SEP}]|$))'
    )
    return early, candidate, scanned


def _scan(line: exp.Expression, scanned: str) -> exp.Expression:
    """The scan's struct `{q, u}`: the quoted value, or the key with its unquoted value."""
    return fn("regexp_extract", line.copy(), lit(scanned), array(lit("q"), lit("u")))


def _from_scan(parts: exp.Expression, line: exp.Expression, name: str) -> exp.Expression:
    """The value in the scan's struct `parts` (the general pair lists when it found none)."""
    quoted = exp.Dot(this=parts.copy(), expression=exp.to_identifier("q"))
    unquoted = exp.Dot(this=parts.copy(), expression=exp.to_identifier("u"))
    return case(
        (exp.NEQ(this=quoted, expression=lit("")), logfmt_scan.value_text(quoted.copy())),
        (
            exp.NEQ(this=unquoted, expression=lit("")),
            logfmt_scan.value_text(_after_key(unquoted.copy())),
        ),
        default=_general(line.copy(), name),
    )


def _before_quote(line: exp.Expression, skip: list[exp.Expression]) -> exp.Expression:
    """The text up to the line's first quote, that quote included; `""` where a `skip`
    test holds."""
    # `left` up to `strpos`: `split_part` builds the list of every part of the line.
    up_to_quote = fn("left", line.copy(), fn("strpos", line.copy(), lit('"')))
    return case(
        *[(a.copy(), lit("")) for a in skip],
        (fn("contains", line.copy(), lit('"')), up_to_quote),
        default=line.copy(),
    )


def _found(before_quote: exp.Expression, early: str) -> exp.Expression:
    """The value read before the first quote; NULL when empty (absent, bare or `key=`
    first, or a key after a quote: then the scan is asked)."""
    found = fn("regexp_extract", before_quote, lit(early), num(1))
    return fn("nullif", fn("replace", found, lit("\ufffd"), lit(" ")), lit(""))


def parsed(line: exp.Expression, name: str) -> exp.Expression:
    """The value logfmt extracts for `name` from `line`, NULL when absent or empty, in one
    expression: the form for Loki's own labels (`__error__`), which a key rarely spells.

    Cheap presence tests skip both regexes for almost every line; the scan's struct is
    bound by a one-element lambda (see `_let`). A user's label, usually present, is read
    in two layers instead (`staged`).
    """
    early, candidate, scanned = _patterns(name)
    null = cast(exp.Null(), "VARCHAR")
    after_quote = case(
        (negate(fn("contains", line.copy(), lit('"'))), null),
        (negate(fn("regexp_matches", line.copy(), lit(candidate))), null.copy()),
        default=fn(
            "nullif", let(_scan(line, scanned), "_p", _from_scan(col("_p"), line, name)), lit("")
        ),
    )
    # A line without quotes has nothing to ask the scan.
    value = exp.Coalesce(this=_found(_before_quote(line, []), early), expressions=[after_quote])
    tests = _presence_tests(line, name)
    if not tests:
        return value
    skips = [(negate(t), cast(exp.Null(), "VARCHAR")) for t in tests]
    return case(*skips, default=value)


def staged(name: str) -> bool:
    """Whether `name` is read in two layers (`first_layer`, then `second_layer`) rather
    than by `parsed` in one: a user's label, which is usually present."""
    return not name.startswith("__")


def first_layer(
    line: exp.Expression, name: str, known: exp.Expression
) -> tuple[exp.Expression, exp.Expression]:
    """(found, parts) of a staged name: the value read before the line's first quote (NULL
    when none), and for the lines that leave it to the scan, the scan's struct (NULL for
    the others). `known` is the value the label has before parsing (the stream's own or the
    metadata's, NULL when neither): where it is set, nothing is parsed.

    The scan sits in one CASE branch of its own layer: in `parsed` it hides in a nested
    branch behind a lambda binding, which the engine evaluates at several times the cost.
    """
    early, candidate, scanned = _patterns(name)
    tests = _presence_tests(line, name)
    taken = negate(exp.Is(this=known.copy(), expression=exp.Null()))
    skip = [taken, *([negate(tests[0])] if tests else [])]
    found = _found(_before_quote(line, skip), early)
    needs_scan = exp.and_(
        fn("contains", line.copy(), lit('"')),
        exp.Is(this=found.copy(), expression=exp.Null()),
        *[negate(a.copy()) for a in skip],
        fn("regexp_matches", line.copy(), lit(candidate)),
        copy=False,
    )
    return found, case((needs_scan, _scan(line, scanned)))


def second_layer(
    line: exp.Expression,
    name: str,
    known: exp.Expression,
    found: exp.Expression,
    parts: exp.Expression,
) -> exp.Expression:
    """The label `name` after the parser from the first layer's columns (see
    `first_layer`): the known value, else the one found before the first quote, else the
    scan's."""
    scanned = case(
        (exp.Is(this=parts.copy(), expression=exp.Null()), cast(exp.Null(), "VARCHAR")),
        default=fn("nullif", _from_scan(parts, line, name), lit("")),
    )
    return exp.Coalesce(this=known, expressions=[found, scanned])


def may_have(
    name: str, line: exp.Expression, own: exp.Expression, meta: exp.Expression
) -> exp.Expression | None:
    """A cheap test, true for every entry whose label `name` after the parser may be set
    (the stream's own value `own` or the metadata has it, or the line holds the name's
    longest literal run); None when the name has no literal run to look for."""
    tests = _presence_tests(line, name)
    if not tests:
        return None
    return exp.or_(
        negate(exp.Is(this=own.copy(), expression=exp.Null())),
        negate(exp.Is(this=get(meta.copy(), name), expression=exp.Null())),
        tests[0],
        copy=False,
    )


def _presence_tests(line: exp.Expression, name: str) -> list[exp.Expression]:
    """Cheap tests, cheapest first, that a key sanitising to `name` may be in `line`; the
    last is the most precise (none when the name has no literal run).

    The longest literal run of the name must be there (a substring search), followed by the
    key characters after it (a regex that starts with a literal, which RE2 finds by a fast
    scan).
    """
    runs = name.split("_")
    hint = max(runs, key=len)
    if not hint:
        return []
    at = sum(len(r) + 1 for r in runs[: runs.index(hint)]) + len(hint)
    after = name[at:]
    tests = [fn("contains", line.copy(), lit(hint))]
    if after:
        pattern = re.escape(hint) + _key_pattern(after, whole=False)
        tests.append(fn("regexp_matches", line.copy(), lit(pattern)))
    return tests


def value(
    name: str, line: exp.Expression, own: exp.Expression, meta: exp.Expression
) -> exp.Expression:
    """Label `name` after the parser: the stream's (`own`, its value of the label or NULL),
    else the metadata's, else parsed (or NULL)."""
    return exp.Coalesce(this=own, expressions=[get(meta, name), parsed(line, name)])


def labels(line: exp.Expression, stream: exp.Expression, meta: exp.Expression) -> exp.Expression:
    """The entry's whole label set after the parser, canonical (for error messages only)."""
    keys, values = logfmt_pairs(line)
    bound = [exp.Dot(this=col("_s"), expression=exp.to_identifier(n)) for n in ("k", "v")]
    extracted = extracted_labels(*bound, stream, meta, keep_empty=False)
    merged = fn("map_concat", base_labels(stream.copy(), meta.copy()), extracted)
    pairs = exp.Struct(
        expressions=[
            exp.PropertyEQ(this=exp.to_identifier("k"), expression=keys),
            exp.PropertyEQ(this=exp.to_identifier("v"), expression=values),
        ]
    )
    return canonical(let(pairs, "_s", merged))


def filter_condition(
    f: ast.LabelFilter, read: dict[str, exp.Expression], error: exp.Expression
) -> exp.Expression:
    """A string label filter over the values in `read` (Loki's `""` for an absent label)."""
    if isinstance(f, ast.AndLabelFilter):
        return exp.and_(
            filter_condition(f.left, read, error),
            filter_condition(f.right, read, error),
            copy=False,
        )
    if isinstance(f, ast.OrLabelFilter):
        return exp.or_(
            filter_condition(f.left, read, error),
            filter_condition(f.right, read, error),
            copy=False,
        )
    assert isinstance(f, ast.StringLabelFilter)
    return string_leaf(
        f,
        error.copy(),
        lambda name: exp.Coalesce(this=read[name].copy(), expressions=[lit("")]),
    )


def filter_names(filters: tuple[ast.LabelFilter, ...]) -> set[str]:
    """The label names the filters read (error labels aside)."""
    return {n for f in filters for n in _names(f)} - {ERROR, ERROR_DETAILS}

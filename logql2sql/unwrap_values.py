"""The sample value `| unwrap [conv(]label[)]` reads from a label's text.

`value(conversion, raw)` is the number Loki's sample extractor takes from the text `raw`
(NULL when the conversion fails, which is Loki's `SampleExtractionErr`): Go's
`strconv.ParseFloat` without a conversion, `time.ParseDuration` in seconds for `duration`
and `duration_seconds`, humanize's `ParseBytes` for `bytes`.

The general duration form (`pipeline`) sums every `<number><unit>` part of Go's syntax
with list lambdas and several regex scans. Nearly every duration a log line carries is one
unsigned number and one unit (`12.3ms`, `2s`), so that form is read here by one anchored
regex test and plain string functions, and any other text goes to the general form. A
sub-second unit divides by its power of ten (as Go's `Duration.Seconds` divides the
nanoseconds), so `12.3ms` gives the double nearest 0.0123.
"""

from __future__ import annotations

from sqlglot import exp

from logql2sql.pipeline import go_bytes, go_duration_seconds, go_float
from logql2sql.sqlbuild import case, cast, fn, lit, num

# One unsigned Go duration number (`1`, `1.`, `1.5`, `.5`) and one unit.
_ONE_UNIT = r"([0-9]+\.?[0-9]*|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h)"
# Unit suffixes, two-letter ones first (`ms` ends in `s`): (suffixes, how the number
# becomes seconds). The last one is the remaining case.
_UNITS: tuple[tuple[tuple[str, ...], str, float], ...] = (
    (("ms",), "/", 1e3),
    (("ns",), "/", 1e9),
    (("us", "µs", "μs"), "/", 1e6),
    (("s",), "*", 1.0),
    (("m",), "*", 60.0),
    (("h",), "*", 3600.0),
)


def value(conversion: str | None, raw: exp.Expression) -> exp.Expression:
    """The sample value of the label text `raw` under `conversion`; NULL when it fails."""
    if conversion in ("duration", "duration_seconds"):
        return duration_seconds(raw)
    if conversion == "bytes":
        return go_bytes(raw)
    return go_float(raw)


def duration_seconds(raw: exp.Expression) -> exp.Expression:
    """Go's `time.ParseDuration(raw).Seconds()`; NULL when `raw` does not parse.

    >>> from sqlglot import exp
    >>> "REGEXP_FULL_MATCH" in duration_seconds(exp.column("d")).sql("duckdb")
    True
    """
    invalid = exp.Not(this=fn("regexp_full_match", raw.copy(), lit(_ONE_UNIT)))
    whens = [(invalid, go_duration_seconds(raw.copy()))]
    for suffixes, how, factor in _UNITS[:-1]:
        ends = [fn("ends_with", raw.copy(), lit(s)) for s in suffixes]
        matched = exp.or_(*ends, copy=False) if len(ends) > 1 else ends[0]
        whens.append((matched, _scaled(raw, len(suffixes[0]), how, factor)))
    suffixes, how, factor = _UNITS[-1]
    return case(*whens, default=_scaled(raw, len(suffixes[0]), how, factor))


def _scaled(raw: exp.Expression, unit_length: int, how: str, factor: float) -> exp.Expression:
    """The number before a unit of `unit_length` characters, divided or multiplied by
    `factor` (the text is cut by length: cheaper than trimming the unit's letters)."""
    cut = exp.Sub(this=exp.Length(this=raw.copy()), expression=num(unit_length))
    number = cast(exp.Left(this=raw.copy(), expression=cut), "DOUBLE")
    if how == "/":
        return exp.Div(this=number, expression=num(factor))
    return exp.Mul(this=number, expression=num(factor))

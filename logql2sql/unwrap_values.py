"""The sample value `| unwrap [conv(]label[)]` reads from a label's text.

`value(conversion, raw)` is the number Loki's sample extractor takes from the text `raw`
(NULL when the conversion fails, which is Loki's `SampleExtractionErr`): Go's
`strconv.ParseFloat` without a conversion, humanize's `ParseBytes` for `bytes`, and for
`duration` and `duration_seconds` Go's `time.ParseDuration(...).Seconds()` in two steps,
`value` then `finish` in the next query layer (see `durations`).
"""

from __future__ import annotations

from sqlglot import exp

from logql2sql import durations
from logql2sql.pipeline import go_bytes, go_float

_DURATIONS = ("duration", "duration_seconds")


def value(conversion: str | None, raw: exp.Expression) -> exp.Expression:
    """The sample value of the label text `raw` under `conversion`, NULL when it fails;
    for a duration the first of two steps (`durations.unwrap_step`; see `finish`)."""
    if conversion in _DURATIONS:
        return durations.unwrap_step(raw, "duckdb")
    if conversion == "bytes":
        return go_bytes(raw)
    return go_float(raw)


def finish(
    conversion: str | None, converted: exp.Column, raw: exp.Expression
) -> exp.Expression | None:
    """The sample value from the column holding `value`'s result, when `value` leaves a
    step for the next layer (durations: `durations.unwrap_seconds`); None otherwise.

    >>> finish("bytes", exp.column("_v"), exp.column("took")) is None
    True
    """
    if conversion in _DURATIONS:
        return durations.unwrap_seconds(converted, raw, "duckdb")
    return None

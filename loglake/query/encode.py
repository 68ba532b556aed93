"""Loki's JSON for query results (`pkg/util/marshal`, Prometheus' model encoding).

Sample timestamps are JSON numbers of seconds with millisecond precision (`model.Time`),
sample values strings formatted as Go's `FormatFloat(v, 'f', -1, 64)` (`NaN`, `+Inf`,
`-Inf`), log timestamps strings of nanoseconds; label objects have sorted keys.

>>> format_value(3.0), format_value(1e21), format_value(float("nan")), format_value(0.1)
('3', '1000000000000000000000', 'NaN', '0.1')
>>> sample_time(1568404331324000000), sample_time(60 * 10**9)
(1568404331.324, 60)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from loglake.ingest.labels import go_quote


def format_value(value: float) -> str:
    """A sample value as Prometheus prints it."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    text = format(Decimal(repr(float(value))), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def sample_time(ts_ns: int) -> int | float:
    """`model.Time` of a nanosecond timestamp: seconds, with the milliseconds if any."""
    ms = ts_ns // 10**6
    return ms // 1000 if ms % 1000 == 0 else ms / 1000


def labels_object(labels: dict[str, str] | list[tuple[str, str]]) -> dict[str, str]:
    """A label set as Loki's JSON object (sorted keys)."""
    pairs = labels.items() if isinstance(labels, dict) else labels
    return dict(sorted(pairs))


def labels_string(labels: dict[str, str]) -> str:
    """Prometheus' `Labels.String()`: `{a="1", b="2"}`."""
    inner = ", ".join(f"{k}={go_quote(v)}" for k, v in sorted(labels.items()))
    return "{" + inner + "}"


def success(data: Any) -> dict[str, Any]:
    """`{"status": "success", "data": …}`."""
    return {"status": "success", "data": data}


def query_response(
    result_type: str, result: Any, stats: dict[str, Any], encoding_flags: Sequence[str] = ()
) -> dict[str, Any]:
    """The envelope of `/query` and `/query_range`; the request's encoding flags, when it
    sent any, are echoed as `encodingFlags` before `result` (where Grafana looks for them
    before it decodes the result), for every result type, as Loki does."""
    data: dict[str, Any] = {"resultType": result_type}
    if encoding_flags:
        data["encodingFlags"] = list(encoding_flags)
    data["result"] = result
    data["stats"] = stats
    return success(data)


def encoding_flags(header: str | None) -> tuple[str, ...]:
    """The flags of an `X-Loki-Response-Encoding-Flags` header: its comma-separated
    values as they are, each once (Loki keeps unknown ones too and echoes them).

    >>> encoding_flags("categorize-labels"), encoding_flags(""), encoding_flags("a,b,a")
    (('categorize-labels',), (), ('a', 'b'))
    """
    if not header:
        return ()
    return tuple(dict.fromkeys(header.split(",")))

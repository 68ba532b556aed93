"""Which stored entries a retention rule or a delete request selects.

Selections are plain data (parsing LogQL is `loglake.ops_config`'s job): label matchers are
evaluated over a column of label maps the way Loki matches them — `=`/`!=` on the value,
`=~`/`!~` fully anchored, a missing label as the empty string — and line filters (`|=`,
`!=`, `|~`, `!~`, each with `or` alternatives) over a column of lines. Both use Arrow's
kernels, whose regexes are RE2 as Loki's are.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

Column = pa.ChunkedArray | pa.Array


@dataclass(frozen=True)
class LabelMatcher:
    """`name op "value"`, op one of `=`, `!=`, `=~`, `!~`."""

    name: str
    op: str
    value: str


@dataclass(frozen=True)
class LineFilter:
    """`op "a" or "b"`: a line filter with its alternatives, op one of `|=`, `!=`, `|~`, `!~`."""

    op: str
    values: tuple[str, ...]


def labels_mask(labels: Column, matchers: tuple[LabelMatcher, ...]) -> Column:
    """True for each label map that satisfies every matcher.

    >>> from storage.schema import LABELS_TYPE
    >>> col = pa.array([[("app", "api")], [("app", "apix")], [("app", "web"), ("env", "dev")]],
    ...                LABELS_TYPE)
    >>> m = (LabelMatcher("app", "=~", "api|web"), LabelMatcher("env", "!=", "dev"))
    >>> labels_mask(col, m).to_pylist()
    [True, False, False]
    """
    mask = pc.is_valid(labels)
    for m in matchers:
        values = pc.fill_null(pc.map_lookup(labels, m.name, "first"), "")
        if m.op in ("=", "!="):
            hit = pc.equal(values, m.value)
        else:
            hit = pc.match_substring_regex(values, f"^(?:{m.value})$")
        mask = pc.and_(mask, hit if m.op in ("=", "=~") else pc.invert(hit))
    return mask


def lines_mask(lines: Column, filters: tuple[LineFilter, ...]) -> Column:
    """True for each line that passes every filter (all True without filters).

    >>> f = (LineFilter("|=", ("err", "warn")), LineFilter("!~", ("^debug",)))
    >>> lines_mask(pa.array(["err x", "debug err", "info", "warn"]), f).to_pylist()
    [True, False, False, True]
    """
    mask = pc.is_valid(lines)
    for f in filters:
        hits = None
        for value in f.values:
            if f.op in ("|~", "!~"):
                hit = pc.match_substring_regex(lines, value)
            else:
                hit = pc.match_substring(lines, value)
            hits = hit if hits is None else pc.or_(hits, hit)
        mask = pc.and_(mask, hits if f.op in ("|=", "|~") else pc.invert(hits))
    return mask

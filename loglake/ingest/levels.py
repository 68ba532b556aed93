"""`detected_level`: the log level Loki's distributor adds to each entry as structured metadata.

Loki 3 (`limits_config.discover_log_levels`, on by default there, off by default in loglake
for what it costs at ingestion) gives every pushed entry a `detected_level` structured-metadata
field, which Grafana's log-volume histogram and Logs Drilldown group by. Per entry, the first
of these that applies decides it:

1. the entry already has `detected_level` metadata: its value is normalised and nothing is added;
2. a stream label named in `log_level_fields` (in that order), normalised;
3. a structured-metadata field named there, normalised;
4. OTLP's `severity_number` metadata, mapped by its ranges (1–4 trace, 5–8 debug, …);
5. the line: a JSON object's first string field named there (keys matched exactly, nested
   objects searched to `log_level_from_json_max_depth`), else a logfmt line's field of the
   first name there (keys matched ignoring case); a value that is a known level (`WARN`, `wrn`,
   `Information`, …) decides, anything else falls through to a scan of the line for the
   leftmost level word standing alone (`error`, `warn`, …), and `unknown` when there is none.

"Normalised" maps the known spellings to Loki's names (`trace`, `debug`, `info`, `warn`,
`error`, `critical`, `fatal`) and keeps any other value as it is.

Pushes are large and most of their lines are alike, so the line step runs as Arrow regex
kernels over all lines at once: JSON objects that are flat and have no escapes, and logfmt lines
without backslashes, are matched by patterns that accept exactly the tokens Loki's logfmt
decoder accepts (a line whose tokens break stops the search where Loki's decoder stops). Lines
outside those shapes go through `json_level_value` and `logfmt_level_value`, per line. A JSON
line that looks like an object but does not parse counts as having no level field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from json.decoder import scanstring
from json.scanner import py_make_scanner

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from loglake.config import DEFAULT_JSON_MAX_DEPTH, DEFAULT_LEVEL_FIELDS

LEVEL_LABEL = "detected_level"
UNKNOWN = "unknown"
SEVERITY_NUMBER = "severity_number"


# Spellings Loki recognises, compared ignoring ASCII case (none of them holds a letter whose
# Unicode case folding reaches beyond ASCII), and the level each one means.
_SPELLINGS = {
    "trace": "trace",
    "trc": "trace",
    "debug": "debug",
    "dbg": "debug",
    "info": "info",
    "inf": "info",
    "information": "info",
    "warn": "warn",
    "wrn": "warn",
    "warning": "warn",
    "error": "error",
    "err": "error",
    "critical": "critical",
    "fatal": "fatal",
}
_SPELLING_KEYS = pa.array(list(_SPELLINGS))
_SPELLING_LEVELS = pa.array(list(_SPELLINGS.values()))

# The line scan: level words in Loki's order (an earlier word wins a tie), each standing between
# Loki's left and right word boundaries, in the lower-cased line. The leftmost match is the
# leftmost bounded word, as Loki's scan picks.
_WORDS = ("trace", "debug", "fatal", "critical", "error", "err", "warning", "warn", "info")
_LEFT = r"""[ \t\n\[({"'=|]"""
_RIGHT = r"""[ \t\n\[\](){}:,!"'=|]"""
_SCAN = rf"(?:^|{_LEFT})(?P<w>{'|'.join(_WORDS)})(?:{_RIGHT}|$)"
_SCAN_RE = re.compile(_SCAN)

# Loki's `isJSON`: the first character that is not white space (Go's unicode.IsSpace) is `{`,
# and the last byte that is not ASCII white space is `}` (Go reads the end byte by byte, so a
# multi-byte character there never counts as space).
_GO_SPACE = (
    r"\t\n\v\f\r \x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}"
)
_JSON_START = rf"^[{_GO_SPACE}]*\{{"
_JSON_END = r"\}[\t\n\v\f\r ]*$"
# Where jsonparser finds the object: after JSON's white space only.
_JSON_OPEN = r"^[\t\n\r ]*\{"

# Loki's logfmt decoder, as patterns: bytes up to space end a token; a key holds no `=`, `"` or
# U+FFFD; an unquoted value no `=` or `"`; a quoted value ends at its closing quote and needs no
# space after it. A token that breaks these rules stops the decoder, and the patterns cannot
# pass it either.
_SP = r"[\x00-\x20]"
_KEY = r'[^\x00-\x20="\x{FFFD}]+'
_UNQUOTED = r'[^\x00-\x20="]*'
_QUOTED = r'"[^"]*"'
_TOKENS = rf"^{_SP}*(?:{_KEY}(?:={_UNQUOTED})?{_SP}+|{_KEY}={_QUOTED}{_SP}*)*?"


def _logfmt_pattern(name: str) -> str:
    """The first token of a backslash-free logfmt line whose key is `name` (ignoring case):
    its value, quoted (`q`) or not (`u`); a key without a value matches with both empty."""
    key = "".join(re.escape(c) if not c.isalnum() else c for c in name)
    return (
        rf"{_TOKENS}(?i:{key})"
        rf'(?:=(?:"(?P<q>[^"]*)"|(?P<u>{_UNQUOTED})(?:{_SP}|$))|(?:{_SP}|$))'
    )


def _json_pattern(fields: Sequence[str]) -> str:
    """The first string-valued member named one of `fields` in a flat JSON object without
    escapes; there every `"` opens or closes a string, so a `"name":` is always a key."""
    names = "|".join(re.escape(f) for f in fields)
    return rf'"(?:{names})"[ \t\n\r]*:[ \t\n\r]*"(?P<v>[^"]*)"'


def normalize_level(value: str) -> str:
    """Loki's name for a level spelling; any other value unchanged.

    >>> normalize_level("WARNING"), normalize_level("Err"), normalize_level("notice")
    ('warn', 'error', 'notice')
    """
    return _SPELLINGS.get(value.lower(), value) if value.isascii() else value


def severity_level(text: str) -> str:
    """The level of an OTLP `severity_number` (Loki's ranges; text that is not a Go `int` is
    `info`, as Loki has it).

    >>> severity_level("9"), severity_level("0"), severity_level("21"), severity_level("x")
    ('info', 'unknown', 'fatal', 'info')
    """
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        return "info"
    number = int(text)
    if not -(2**63) <= number < 2**63:
        return "info"
    if number == 0:
        return UNKNOWN
    for bound, level in ((4, "trace"), (8, "debug"), (12, "info"), (16, "warn"), (20, "error")):
        if number <= bound:
            return level
    return "fatal" if number <= 24 else UNKNOWN


def scan_line(line: str) -> str:
    """The leftmost level word standing alone in `line`, ignoring case; `unknown` if none.

    >>> scan_line("GET /x 500 ERROR: boom"), scan_line("errors=0 misc:error"), scan_line("x")
    ('error', 'unknown', 'unknown')
    """
    # Go lower-cases with Unicode's simple mappings; Python's full ones differ only for U+0130.
    match = _SCAN_RE.search(line.replace("\u0130", "i").lower())
    return _SPELLINGS[match["w"]] if match else UNKNOWN


def _unquote_logfmt(inner: str) -> str | None:
    """A quoted logfmt value's text as Loki's decoder unquotes it; None where it fails."""
    if not re.fullmatch(r"""(?:[^\\]|\\(?:["\\/'bfnrt]|u[0-9a-fA-F]{4}))*""", inner, re.DOTALL):
        return None
    simple = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}

    def one(m: re.Match[str]) -> str:
        s = m.group(1)
        return chr(int(s[1:], 16)) if s[0] == "u" else simple.get(s, s)

    return re.sub(r"\\(u[0-9a-fA-F]{4}|.)", one, inner, flags=re.DOTALL)


_LOGFMT_TOKEN = re.compile(
    r'[\x00-\x20]*(?P<key>[^\x00-\x20="]*)(?:(?P<eq>=)(?:"(?P<q>(?:[^"\\]|\\.)*)(?P<close>")?'
    r'|(?P<u>[^\x00-\x20="]*)))?',
    re.DOTALL,
)


def logfmt_level_value(line: str, fields: Sequence[str]) -> str:
    """The value of the logfmt field whose name comes first in `fields` (ignoring case), read
    as Loki's decoder reads the line: up to its first malformed token; "" when none.

    >>> logfmt_level_value('ts=1 lvl=warn level="Info" x', DEFAULT_LEVEL_FIELDS)
    'Info'
    >>> logfmt_level_value('a=b=c level=info', DEFAULT_LEVEL_FIELDS)
    ''
    """
    names = [f.casefold() for f in fields]
    best, found = len(names), ""
    pos, end = 0, len(line)
    while pos < end:
        m = _LOGFMT_TOKEN.match(line, pos)
        assert m is not None  # every part is optional
        key = m["key"]
        if not key:
            if m.end() >= end and not m["eq"]:
                break  # only white space left
            return found  # `=` or `"` where a key should start
        nxt = m.end()
        if "\ufffd" in key:
            return found
        value = ""
        if m["eq"]:
            if m["q"] is not None:
                if m["close"] is None:
                    return found  # unterminated quoted value
                raw = m["q"]
                unquoted = _unquote_logfmt(raw) if "\\" in raw else raw
                if unquoted is None:
                    return found
                value = unquoted
            else:
                value = m["u"] or ""
                if nxt < end and line[nxt] in '="':
                    return found
        elif nxt < end and line[nxt] == '"':
            return found
        folded = key.casefold()
        for rank, name in enumerate(names[:best]):
            if folded == name:
                best, found = rank, value
                if rank == 0:
                    return found
                break
        pos = nxt
    return found


class _Obj(list):
    """A JSON object's members, in order and with repeats, as jsonparser walks them."""


class _Str(str):
    """A JSON string value that remembers its text as written (jsonparser hands out the raw
    bytes: escapes are not undone)."""

    raw: str


def _scan_string(s: str, end: int, strict: bool = True) -> tuple[str, int]:
    value, new_end = scanstring(s, end, strict)
    out = _Str(value)
    out.raw = s[end : new_end - 1]
    return out, new_end


class _RawDecoder(json.JSONDecoder):
    def __init__(self) -> None:
        super().__init__(object_pairs_hook=_Obj)
        self.parse_string = _scan_string
        self.scan_once = py_make_scanner(self)


_DECODER = _RawDecoder()


def json_level_value(line: str, fields: Sequence[str], max_depth: int) -> str:
    """The first string member named one of `fields`, depth first in document order, in
    objects nested less than `max_depth` deep (0 or less: any depth); "" when none.

    >>> json_level_value('{"a":{"level":"Warn"},"level":"info"}', DEFAULT_LEVEL_FIELDS, 2)
    'Warn'
    """
    # jsonparser skips JSON's own white space before the object and reads nothing after it.
    start = len(line) - len(line.lstrip(" \t\n\r"))
    try:
        doc, _ = _DECODER.raw_decode(line, start)
    except ValueError:
        return ""
    wanted = frozenset(fields)

    def walk(obj: _Obj, depth: int) -> str | None:
        if 0 < max_depth <= depth:
            return None
        for key, value in obj:
            if isinstance(value, _Str):
                if key in wanted:
                    return value.raw
            elif isinstance(value, _Obj):
                found = walk(value, depth + 1)
                if found is not None:
                    return found
        return None

    return (walk(doc, 0) or "") if isinstance(doc, _Obj) else ""


def _scatter(n: int, rows: np.ndarray, values: pa.Array) -> pa.Array:
    """A length-`n` array with `values` at `rows` and nulls elsewhere."""
    where = np.full(n, len(values), dtype=np.int64)
    where[rows] = np.arange(len(values), dtype=np.int64)
    return pc.take(pa.concat_arrays([values, pa.nulls(1, values.type)]), pa.array(where))


def _spelled_level(values: pa.Array) -> pa.Array:
    """Loki's level for each value that is a known spelling; null for the others."""
    return pc.take(_SPELLING_LEVELS, pc.index_in(pc.ascii_lower(values), _SPELLING_KEYS))


def _rows(mask: pa.Array) -> np.ndarray:
    return pc.indices_nonzero(mask).to_numpy()


def line_levels(
    lines: pa.Array,
    fields: Sequence[str] = DEFAULT_LEVEL_FIELDS,
    max_depth: int = DEFAULT_JSON_MAX_DEPTH,
) -> pa.Array:
    """The level Loki detects from each line (step 5 of the module docstring).

    >>> line_levels(pa.array(['level=WARN msg=x', '{"lvl":"dbg"}', 'boom: Error', 'ok'])
    ...             ).to_pylist()
    ['warn', 'debug', 'error', 'unknown']
    """
    lines = lines.cast(pa.string()) if lines.type != pa.string() else lines
    n = len(lines)
    fields = tuple(fields) or DEFAULT_LEVEL_FIELDS
    values = pa.nulls(n, pa.string())  # the field value read from a JSON or logfmt line
    has_backslash = pc.match_substring(lines, "\\")
    is_json = pc.and_(
        pc.match_substring_regex(lines, _JSON_START), pc.match_substring_regex(lines, _JSON_END)
    )
    if pc.any(is_json).as_py():
        named = "|".join(re.escape(f'"{f}"') for f in fields)
        candidate = pc.and_(is_json, pc.or_(pc.match_substring_regex(lines, named), has_backslash))
        flat = pc.and_(
            pc.and_(pc.invert(has_backslash), pc.equal(pc.count_substring(lines, "{"), 1)),
            pc.match_substring_regex(lines, _JSON_OPEN),
        )
        fast = _rows(pc.and_(candidate, flat))
        if len(fast):
            got = pc.struct_field(pc.extract_regex(lines.take(fast), _json_pattern(fields)), "v")
            values = pc.coalesce(values, _scatter(n, fast, got))
        slow = _rows(pc.and_(candidate, pc.invert(flat)))
        if len(slow):
            got = [json_level_value(s, fields, max_depth) for s in lines.take(slow).to_pylist()]
            values = pc.coalesce(values, _scatter(n, slow, pa.array(got, pa.string())))
    is_logfmt = pc.and_(pc.invert(is_json), pc.match_substring(lines, "="))
    if pc.any(is_logfmt).as_py():
        names = tuple(dict.fromkeys(f.casefold() for f in fields))
        # Lines with none of the names anywhere have no level field: one cheap pass.
        named = pc.match_substring_regex(
            lines, "(?i)" + "|".join(re.escape(name) for name in names)
        )
        rows = _rows(pc.and_(pc.and_(is_logfmt, named), pc.invert(has_backslash)))
        for name in names:
            # Only lines no earlier name has matched: a name matched with an empty value
            # still outranks the names after it, as in Loki's decoder loop. A match-only pass
            # (cheap) picks the lines to extract the value from (dear).
            if not len(rows):
                break
            subset = lines.take(rows)
            pattern = _logfmt_pattern(name)
            hit = pc.match_substring_regex(subset, pattern)
            found = rows[hit.to_numpy(zero_copy_only=False)]
            if len(found):
                got = pc.extract_regex(subset.filter(hit), pattern)
                value = pc.binary_join_element_wise(
                    pc.struct_field(got, "q"), pc.struct_field(got, "u"), ""
                )
                values = pc.coalesce(values, _scatter(n, found, value))
                rows = rows[~hit.to_numpy(zero_copy_only=False)]
        slow = _rows(pc.and_(is_logfmt, has_backslash))
        if len(slow):
            got = [logfmt_level_value(s, fields) for s in lines.take(slow).to_pylist()]
            values = pc.coalesce(values, _scatter(n, slow, pa.array(got, pa.string())))
    levels = _spelled_level(values)
    rest = _rows(pc.is_null(levels))
    if len(rest):
        words = pc.struct_field(pc.extract_regex(pc.utf8_lower(lines.take(rest)), _SCAN), "w")
        scanned = pc.fill_null(
            pc.take(_SPELLING_LEVELS, pc.index_in(words, _SPELLING_KEYS)), UNKNOWN
        )
        levels = pc.coalesce(levels, _scatter(n, rest, scanned))
    return levels


def _first(pairs: Sequence[tuple[str, str]], names: Sequence[str]) -> str | None:
    present = dict(pairs)
    return next((present[name] for name in names if name in present), None)


def discover_levels(
    lines: pa.Array,
    stream_of_row: pa.Array,
    stream_labels: Sequence[Sequence[tuple[str, str]]],
    metadata: list[tuple[tuple[str, str], ...]] | None,
    fields: Sequence[str] = DEFAULT_LEVEL_FIELDS,
    max_depth: int = DEFAULT_JSON_MAX_DEPTH,
) -> tuple[pa.Array, list[tuple[tuple[str, str], ...]] | None]:
    """Each entry's `detected_level` to add (null: none to add) and `metadata` with any
    `detected_level` already there normalised.

    `stream_of_row` gives each row's index into `stream_labels`.

    >>> levels, md = discover_levels(
    ...     pa.array(["x", "y", "level=debug"]), pa.array([0, 1, 1]),
    ...     [(("app", "a"), ("level", "WARNING")), (("app", "b"),)],
    ...     [(), (("detected_level", "ERR"),), ()])
    >>> levels.to_pylist(), md
    (['warn', None, 'debug'], [(), (('detected_level', 'error'),), ()])
    """
    fields = tuple(fields) or DEFAULT_LEVEL_FIELDS
    n = len(lines)
    from_stream = [_first(labels, fields) for labels in stream_labels]
    decided: list[str | None] = [None] * n
    skip = np.zeros(n, dtype=bool)
    if metadata is not None:
        per_stream = stream_of_row.to_pylist()
        out = list(metadata)
        for i, pairs in enumerate(metadata):
            if not pairs:
                continue
            names = [name for name, _ in pairs]
            if LEVEL_LABEL in names:
                out[i] = tuple((k, normalize_level(v) if k == LEVEL_LABEL else v) for k, v in pairs)
                skip[i] = True
            elif from_stream[per_stream[i]] is None:
                value = _first(pairs, fields)
                if value is not None:
                    decided[i] = normalize_level(value)
                elif (number := dict(pairs).get(SEVERITY_NUMBER, "")) != "":
                    decided[i] = severity_level(number)
        metadata = out
    stream_level = pa.array(
        [None if v is None else normalize_level(v) for v in from_stream], pa.string()
    )
    levels = pc.coalesce(pc.take(stream_level, stream_of_row), pa.array(decided, pa.string()))
    todo = pc.indices_nonzero(pc.and_(pc.is_null(levels), pa.array(~skip))).to_numpy()
    if len(todo):
        levels = pc.coalesce(
            levels, _scatter(n, todo, line_levels(lines.take(todo), fields, max_depth))
        )
    if skip.any():
        levels = pc.if_else(pa.array(skip), pa.nulls(n, pa.string()), levels)
    # An empty value (a label or field set to "") adds nothing, as in Loki.
    return pc.if_else(pc.equal(levels, ""), pa.nulls(n, pa.string()), levels), metadata


__all__ = [
    "DEFAULT_JSON_MAX_DEPTH",
    "DEFAULT_LEVEL_FIELDS",
    "LEVEL_LABEL",
    "discover_levels",
    "json_level_value",
    "line_levels",
    "logfmt_level_value",
    "normalize_level",
    "scan_line",
    "severity_level",
]

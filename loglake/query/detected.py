"""Loki's detected-fields API: `/detected_fields` and `/detected_field/<name>/values`.

Grafana's Logs Drilldown and the data source's `LanguageProvider` use these to list the
fields a query's lines carry and their values. Loki answers them (query frontend,
`pkg/querier/queryrange/detected_fields.go`) by running the log query backward for
`line_limit` entries (default 100) and looking at every returned entry:

- its structured metadata: each key is a field with `parsers: null`;
- the labels the query's own pipeline added (its parsers; here also `label_format`
  results, which Loki keeps apart), plus what an automatic parse of the line
  finds — JSON when the line is a JSON object (nested keys joined with `_`, with their
  `jsonPath`), else logfmt (values that are empty are skipped); a key that collides with a
  stream label or structured metadata gets `_extracted`, as Loki's parsers do. These are
  fields with `parsers: ["json"]` or `["logfmt"]`.

A field's `type` is Loki's `determineType` of a value (int, float, boolean, duration,
bytes, else string; the last entry seen decides), its `cardinality` the number of distinct
values (Loki estimates it with a HyperLogLog sketch, exact for small sets). At most `limit`
fields (or values) are collected. The body is Loki's `DetectedFieldsResponse` JSON with no
`data` wrapper: `{"fields": [...], "limit": N}` or `{"values": [...], "limit": N}`, and `{}`
when nothing was found. Fields and values are sorted (Loki returns map order).

>>> determine_type("12"), determine_type("1.5"), determine_type("true")
('int', 'float', 'boolean')
>>> determine_type("12.3ms"), determine_type("5 KiB"), determine_type("GET")
('duration', 'bytes', 'string')
>>> parse_logfmt('level=info msg="a b" empty= status=200')
{'level': 'info', 'msg': 'a b', 'status': '200'}
>>> parse_json('{"user": {"id": 7, "tags": [1]}, "ok": true, "n": null}')
{'user_id': ('7', ['user', 'id']), 'ok': ('true', ['ok'])}
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import logql2sql
from loglake.query import params
from loglake.query.errors import QueryError, parse_log_query
from loglake.query.executor import Executor
from loglake.query.params import Form
from logql2sql import ast
from logql2sql.errors import LogQLError
from logql2sql.gofmt import humanize_bytes
from logql2sql.lexical import BYTES_UNITS, parse_bytes, parse_duration

ERROR_LABELS = frozenset({"__error__", "__error_details__", "__preserve_error__"})
DUPLICATE_SUFFIX = "_extracted"

_INT = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(
    r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf|infinity|nan)", re.I
)
_BOOLS = frozenset(
    {"1", "t", "T", "TRUE", "true", "True", "0", "f", "F", "FALSE", "false", "False"}
)
_ALLOWED_BYTE_SUFFIXES = tuple(u for u in BYTES_UNITS if u)
_LOGFMT = re.compile(r'([^\s="]+)(?:=("(?:[^"\\]|\\.)*"|[^\s"]*))?')


def _is_go_duration(value: str) -> bool:
    try:
        parse_duration(value, syntax="go")
    except LogQLError:
        return False
    return True


def determine_type(value: str) -> str:
    """Loki's `determineType`: the first of int, float, boolean, duration, bytes that
    parses the value (Go's parsers), else string."""
    if _INT.fullmatch(value) and -(2**63) <= int(value) < 2**63:
        return "int"
    if _FLOAT.fullmatch(value):
        return "float"
    if value in _BOOLS:
        return "boolean"
    if _is_go_duration(value):
        return "duration"
    if parse_bytes(value) is not None:
        return "bytes"
    return "string"


_UUID = re.compile(
    r"(?:urn:uuid:|\{(?=.{36}\}$))?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\}?"
    r"|[0-9a-f]{32}",
    re.I,
)


def _is_id(value: str) -> bool:
    """A number Go's `strconv.ParseFloat` reads (in range) or a UUID `uuid.Parse` reads."""
    if _FLOAT.fullmatch(value):
        number = float(value)
        if math.isfinite(number) or "inf" in value.lower() or "nan" in value.lower():
            return True
    match = _UUID.fullmatch(value)
    return bool(match) and (value[0] == "{") == (value[-1] == "}")


def all_ids(values: Sequence[str]) -> bool:
    """Loki's `shouldRejectLabel` for detected labels: no values, or values that are all
    IDs, unless they are at most two values of `0` and `1` (a flag).

    >>> all_ids(["1", "2", "3"]), all_ids(["0", "1"]), all_ids(["a", "1"]), all_ids([])
    (True, False, False, True)
    >>> all_ids(["123e4567-e89b-12d3-a456-426614174000", "42"])
    True
    """
    if not values:
        return True
    if len(values) <= 2 and all(v in ("0", "1") for v in values):
        return False
    return all(_is_id(v) for v in values)


def sanitize_key(key: str) -> str:
    """Loki's `sanitizeLabelKey`: trimmed, `_` before a leading digit, any character
    outside `[a-zA-Z0-9_]` replaced by `_`."""
    key = key.strip()
    if key and key[0].isdigit():
        key = "_" + key
    return re.sub(r"[^a-zA-Z0-9_]", "_", key)


def parse_logfmt(line: str) -> dict[str, str]:
    """Loki's non-strict logfmt parser: key=value pairs, quoted values unescaped, keys
    sanitized, pairs with an empty value skipped (the first value of a key wins)."""
    out: dict[str, str] = {}
    for m in _LOGFMT.finditer(line):
        key, raw = sanitize_key(m.group(1)), m.group(2) or ""
        if raw.startswith('"'):
            try:
                raw = json.loads(raw)
            except ValueError:
                raw = raw[1:-1]
        if key and raw and key not in out:
            out[key] = raw
    return out


def parse_json(line: str) -> dict[str, tuple[str, list[str]]] | None:
    """Loki's JSON parser with JSON paths: `None` unless the line is a JSON object;
    strings, numbers (as written) and booleans become fields, nested objects are flattened
    with `_`, arrays and nulls are skipped."""
    if not line.lstrip().startswith("{"):
        return None
    try:
        value = json.loads(
            line, parse_float=str, parse_int=str, parse_constant=str, object_pairs_hook=list
        )
    except (ValueError, RecursionError):
        return None
    out: dict[str, tuple[str, list[str]]] = {}

    def walk(pairs: list[tuple[str, Any]], path: list[str]) -> None:
        for key, item in pairs:
            here = [*path, key]
            if isinstance(item, list) and (not item or isinstance(item[0], tuple)):
                walk(item, here)
            elif isinstance(item, bool):
                out.setdefault(_flat(here), ("true" if item else "false", here))
            elif isinstance(item, str):
                out.setdefault(_flat(here), (item, here))

    walk(value, [])
    out.pop("", None)
    return out


def _flat(path: list[str]) -> str:
    return "_".join(sanitize_key(p) for p in path if p.strip())


@dataclass
class Field:
    """What is known of one detected field."""

    parsers: list[str] | None
    values: set[str] = field(default_factory=set)
    type: str = "string"
    json_path: list[str] | None = None

    def to_json(self, label: str) -> dict[str, Any]:
        """Loki's `DetectedField` JSON (`jsonPath` only when known)."""
        out: dict[str, Any] = {
            "label": label,
            "type": self.type,
            "cardinality": len(self.values),
            "parsers": self.parsers or None,
        }
        if self.json_path:
            out["jsonPath"] = self.json_path
        return out


@dataclass(frozen=True)
class Entry:
    """A returned entry: its line, its stream labels, its structured metadata, and the
    labels the query's parser stages added."""

    line: str
    stream: dict[str, str]
    metadata: dict[str, str]
    parsed: dict[str, str]


def entry_fields(entry: Entry) -> tuple[dict[str, tuple[list[str], list[str] | None]], list[str]]:
    """Loki's `parseEntry`: the query's parsed labels plus an automatic JSON (else logfmt)
    parse of the line; `(name → (values, json path)), parsers`. The path comes from the
    automatic JSON parse."""
    taken = set(entry.stream) | set(entry.metadata)
    found: dict[str, tuple[list[str], list[str] | None]] = {
        k: ([v], None) for k, v in entry.parsed.items() if k not in ERROR_LABELS
    }
    by_json = parse_json(entry.line)
    if by_json is not None:
        parser = "json"
        extracted = by_json
    else:
        parser = "logfmt"
        extracted = {k: (v, None) for k, v in parse_logfmt(entry.line).items()}
    for key, (value, path) in extracted.items():
        name = key + DUPLICATE_SUFFIX if key in taken else key
        if name in ERROR_LABELS:
            continue
        values, _ = found.get(name, ([], None))
        found[name] = (values if value in values else [*values, value], path)
    return found, [parser]


def detect_fields(entries: Iterable[Entry], limit: int) -> dict[str, Field]:
    """Loki's `parseDetectedFields` over the entries, at most `limit` fields."""
    fields: dict[str, Field] = {}

    def add(name: str, value: str, parsers: list[str] | None) -> Field | None:
        found = fields.get(name)
        if found is None:
            if len(fields) >= limit:
                return None
            found = fields[name] = Field(parsers=list(parsers) if parsers else None)
        found.type = determine_type(value)
        found.values.add(value)
        return found

    for entry in entries:
        for name, value in entry.metadata.items():
            add(name, value, None)
        parsed, parsers = entry_fields(entry)
        for name, (values, path) in parsed.items():
            found = None
            for value in values:
                found = add(name, value, parsers)
            if found is None:
                continue
            for parser in parsers:
                if found.parsers is None:
                    found.parsers = []
                if parser not in found.parsers:
                    found.parsers.append(parser)
            if "json" in parsers:
                found.json_path = path
    return fields


def field_values(entries: Iterable[Entry], name: str, limit: int) -> list[str]:
    """Loki's `parseDetectedFieldValues`: the distinct values of one field (structured
    metadata or parsed; byte sizes rewritten as `5.1kB`), at most about `limit`."""
    values: set[str] = set()
    for entry in entries:
        if len(values) >= limit:
            break
        if name in entry.metadata:
            values.add(entry.metadata[name])
        parsed, _ = entry_fields(entry)
        for value in parsed.get(name, ([], None))[0]:
            size = parse_bytes(value)
            if size is not None and value.lower().endswith(_ALLOWED_BYTE_SUFFIXES):
                value = humanize_bytes(size)
            values.add(value)
    return sorted(values)


@dataclass(frozen=True)
class DetectedFieldsQuery:
    """`/detected_fields` parameters, as Loki's `ParseDetectedFieldsQuery` reads them."""

    query: str
    start: int
    end: int
    line_limit: int
    limit: int
    step: int


def parse_request(form: Form, now: int) -> DetectedFieldsQuery:
    """The parameters, checked in Loki's order with Loki's messages."""
    text = params.query(form)
    start, end = params.bounds(form, now)
    if end < start:
        raise QueryError(params.ERR_END_BEFORE_START)
    line_limit = params.line_limit(form)
    limit = params.detected_fields_limit(form)
    step = params.step(form, start, end)
    if step // 10**6 <= 0:
        raise QueryError(params.ERR_ZERO_STEP)
    if (end - start) // step > params.MAX_POINTS:
        raise QueryError(params.ERR_STEP_TOO_SMALL)
    return DetectedFieldsQuery(text, start, end, line_limit, limit, step)


def _log_selector(text: str) -> ast.LogExpr:
    return parse_log_query(text, "only log selector is supported")


def sample(executor: Executor, tenants: list[str], q: DetectedFieldsQuery) -> list[Entry]:
    """The newest `line_limit` entries of the query, with their labels split into stream
    labels, structured metadata and labels added by the query's parsers."""
    expr = _log_selector(q.query)
    limits = executor.limits(tenants)
    limits.check_entries(q.line_limit)
    limits.check_length(q.start, q.end)
    try:
        compiled = logql2sql.compile(
            expr, start=q.start, end=q.end, step=q.step, limit=q.line_limit, direction="backward"
        )
    except LogQLError as exc:
        raise QueryError(str(exc)) from None
    # The pipeline keeps each row's `stream` and `meta` maps up to the outer select.
    select = compiled.expression.copy().select("stream", "meta")
    compiled = dataclasses.replace(
        compiled, expression=select, sql=select.sql(dialect=compiled.dialect)
    )
    table, _ = executor.execute(tenants, compiled)
    out: list[Entry] = []
    columns = [table.column(c).to_pylist() for c in ("line", "labels", "stream", "meta")]
    for line, labels, stream, meta in zip(*columns, strict=True):
        stream, meta, labels = dict(stream or {}), dict(meta or {}), dict(labels or {})
        parsed = {
            k: v for k, v in labels.items() if k not in stream and not (k in meta and meta[k] == v)
        }
        out.append(Entry(line, stream, meta, parsed))
    return out


def detected_fields(form: Form, tenants: list[str], now: int, executor: Executor) -> Any:
    """`/detected_fields`: Loki's `DetectedFieldsResponse` JSON."""
    q = parse_request(form, now)
    found = detect_fields(sample(executor, tenants, q), q.limit)
    if not found:
        return {}
    return {"fields": [f.to_json(n) for n, f in sorted(found.items())], "limit": q.limit}


def detected_field_values(
    name: str, form: Form, tenants: list[str], now: int, executor: Executor
) -> Any:
    """`/detected_field/<name>/values`: `{"values": [...], "limit": N}` (`{}` if none)."""
    q = parse_request(form, now)
    values = field_values(sample(executor, tenants, q), name, q.limit)
    if not values:
        return {}
    return {"values": values, "limit": q.limit}

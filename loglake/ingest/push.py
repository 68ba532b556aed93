"""Loki push bodies in, validated Arrow entries out.

Main interface:

- `decode_push_batch(body, content_type, content_encoding)` → `DecodedBatch` (and
  `decode_push`, its list-of-streams form), re-exported from `loglake.ingest.decode`: the
  body of a `POST /loki/api/v1/push` as Loki's `parsePushRequestBody` reads it.
- `build_entries(batch_or_streams, limits, tenant, now_ns)` → `BuildResult`: Loki's distributor
  checks (label parsing and `service_name`, label limits, sample age, line size, structured
  metadata limits) plus UTF-8 validity of lines, and an Arrow table of
  `storage.schema.ENTRY_SCHEMA` with the entries that passed. As in Loki, valid entries are kept
  when others are rejected, and the answer is then 400 with the rejections grouped into one
  message.

A protobuf body goes from the wire format to Arrow arrays in Rust (`push_request_columns`), and
the per-entry checks run as Arrow compute kernels over the whole request: per-stream work is
plain Python, and per-entry Python only happens for entries that fail, are truncated or carry
structured metadata. That is what keeps a push's server CPU low (see `bench/push_decode.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache

import pyarrow as pa
import pyarrow.compute as pc

from loglake.config import Limits
from loglake.ingest.decode import (
    DecodedBatch,
    DecodedStream,
    Metadata,
    decode_push,
    decode_push_batch,
    spans,
)
from loglake.ingest.errors import PushError
from loglake.ingest.labels import (
    INTERNAL_STREAM_LABELS,
    LABEL_CACHE_SIZE,
    SERVICE_NAME_LABEL,
    LabelParseError,
    ResolvedStream,
    go_quote,
    is_valid_label_name,
    resolve_stream,
)
from loglake.ingest.levels import LEVEL_LABEL, discover_levels
from storage.landing import ROW_SCHEMA
from storage.schema import LABELS_TYPE, STREAMS_SCHEMA, with_labels

# Loki's messages (pkg/validation/validate.go, pkg/loghttp/push/push.go, pkg/util/http.go).
MISSING_STREAMS = "error at least one valid stream is required for ingestion"
MISSING_LABELS = "error at least one label pair is required per stream"
INVALID_LABELS = "error parsing labels '%s' with error: %s"
TOO_OLD = "entry for stream '%s' has timestamp too old: %s, oldest acceptable timestamp is: %s"
TOO_NEW = "entry for stream '%s' has timestamp too new: %s"
LINE_TOO_LONG = (
    "max entry size '%d' bytes exceeded for stream '%s' "
    "while adding an entry with length '%d' bytes"
)
TOO_MANY_LABEL_NAMES = "entry for stream '%s' has %d label names; limit %d"
LABEL_NAME_TOO_LONG = "stream '%s' has label name too long: '%s'"
LABEL_VALUE_TOO_LONG = "stream '%s' has label value too long: '%s'"
DUPLICATE_LABEL_NAME = "stream '%s' has duplicate label name: '%s'"
STRUCTURED_METADATA_DISALLOWED = (
    "stream '%s' includes structured metadata, but this feature is disallowed. Please see "
    "`limits_config.allow_structured_metadata` or contact your Loki administrator to enable it"
)
STRUCTURED_METADATA_TOO_LARGE = (
    "stream '%s' has structured metadata too large: '%d' bytes, limit: '%d' bytes. Please see "
    "`limits_config.max_structured_metadata_size` or contact your Loki administrator to "
    "increase it"
)
STRUCTURED_METADATA_TOO_MANY = (
    "stream '%s' has too many structured metadata labels: '%d', limit: '%d'. Please see "
    "`limits_config.max_structured_metadata_entries_count` or contact your Loki administrator "
    "to increase it"
)
# loglake's own checks, worded like Loki's.
INVALID_UTF8_LINE = "entry for stream '%s' has a line that is not valid UTF-8"
INVALID_LABEL_NAME = "invalid label name %s: must match [a-zA-Z_][a-zA-Z0-9_]*"
RESERVED_LABEL_NAME = "label name %s is reserved (names starting with __ are for Loki)"

# Discard reasons, with Loki's names (the `reason` label of loki_discarded_samples_total).
INVALID_LABELS_REASON = "invalid_labels"
MISSING_LABELS_REASON = "missing_labels"
TOO_MANY_LABELS_REASON = "max_label_names_per_series"
LABEL_NAME_TOO_LONG_REASON = "label_name_too_long"
LABEL_VALUE_TOO_LONG_REASON = "label_value_too_long"
DUPLICATE_LABEL_REASON = "duplicate_label_names"
TOO_OLD_REASON = "greater_than_max_sample_age"
TOO_NEW_REASON = "too_far_in_future"
LINE_TOO_LONG_REASON = "line_too_long"
SM_DISALLOWED_REASON = "disallowed_structured_metadata"
SM_TOO_LARGE_REASON = "structured_metadata_too_large"
SM_TOO_MANY_REASON = "structured_metadata_too_many"
INVALID_UTF8_REASON = "invalid_utf8"

# Structured metadata Loki leaves out of sizes (util.ExcludedStructuredMetadataLabels).
_EXCLUDED_METADATA = frozenset({LEVEL_LABEL})
# Loki lets a stream have these internal labels; everything else starting with __ is reserved.
_ALLOWED_RESERVED = frozenset({"__name__", *INTERNAL_STREAM_LABELS})


@dataclass(slots=True)
class Discarded:
    """Entries (and their bytes: line + structured metadata) rejected for one reason."""

    lines: int = 0
    bytes: int = 0


@dataclass(slots=True)
class BuildResult:
    """What `build_entries` made of a push.

    The accepted entries come as a landing object holds them: `rows` without labels and
    `stream_labels` once per stream (`storage.landing.encode_landing_parts`); `table` is the
    same with labels on every row.
    """

    rows: pa.Table = field(default_factory=ROW_SCHEMA.empty_table)
    """The accepted entries without labels: `storage.landing.ROW_SCHEMA`."""
    stream_labels: pa.Table = field(default_factory=STREAMS_SCHEMA.empty_table)
    """(fingerprint, labels) of each stream with accepted entries: `STREAMS_SCHEMA`."""
    lines: int = 0
    """Accepted entries."""
    bytes: int = 0
    """Accepted bytes as Loki counts them for rate limiting: line + structured metadata."""
    streams: int = 0
    """Streams with at least one accepted entry."""
    discarded: dict[str, Discarded] = field(default_factory=dict)
    """Rejected entries per Loki discard reason."""
    error: PushError | None = None
    """What to answer (after the rate limit passed) when not 204: Loki's status and message."""

    @property
    def table(self) -> pa.Table:
        """The accepted entries with exactly `storage.schema.ENTRY_SCHEMA`."""
        return with_labels(self.rows, self.stream_labels)


# --- validation and Arrow building -----------------------------------------------------------


def _rfc3339(ts_ns: int) -> str:
    """Go's `time.Format(time.RFC3339)` of a UTC time: seconds, `Z`."""
    try:
        moment = datetime.fromtimestamp(ts_ns // 1_000_000_000, UTC)
    except (OverflowError, OSError, ValueError):
        return str(ts_ns)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _group_errors(messages: Sequence[str]) -> str:
    """Loki's `GroupedErrors`: one entry per distinct message, `N errors like: ` when needed
    (Loki's order is a Go map's; here it is first-seen)."""
    counts: dict[str, int] = {}
    for message in messages:
        counts[message] = counts.get(message, 0) + 1
    if len(counts) == 1 and len(messages) == 1:
        return messages[0]
    return "; ".join(f"{n} errors like: {m}" for m, n in counts.items())


def _stream_problem(stream: ResolvedStream, limits: Limits) -> tuple[str, str] | None:
    """Loki's `ValidateLabels` for one stream, plus loglake's label-name rules: (reason,
    message) or None. Cached, as shippers push the same streams over and over."""
    return _label_set_problem(
        stream.labels,
        stream.text,
        limits.max_label_names_per_series,
        limits.max_label_name_length,
        limits.max_label_value_length,
    )


@lru_cache(maxsize=LABEL_CACHE_SIZE)
def _label_set_problem(
    labels: tuple[tuple[str, str], ...],
    text: str,
    max_names: int,
    max_name_length: int,
    max_value_length: int,
) -> tuple[str, str] | None:
    if not labels:
        return MISSING_LABELS_REASON, MISSING_LABELS
    names = [name for name, _ in labels]
    if any(name in INTERNAL_STREAM_LABELS for name in names):
        return None  # Loki skips validation of its internal streams
    count = len(names) - (SERVICE_NAME_LABEL in names)
    if count > max_names:
        return TOO_MANY_LABELS_REASON, TOO_MANY_LABEL_NAMES % (
            text,
            count,
            max_names,
        )
    last = ""
    for name, value in labels:
        if len(name.encode()) > max_name_length:
            return LABEL_NAME_TOO_LONG_REASON, LABEL_NAME_TOO_LONG % (text, name)
        if len(value.encode()) > max_value_length:
            return LABEL_VALUE_TOO_LONG_REASON, LABEL_VALUE_TOO_LONG % (text, value)
        if name == last:
            return DUPLICATE_LABEL_REASON, DUPLICATE_LABEL_NAME % (text, name)
        last = name
        if not is_valid_label_name(name):
            detail = INVALID_LABEL_NAME % go_quote(name)
            return INVALID_LABELS_REASON, INVALID_LABELS % (text, detail)
        if name.startswith("__") and name not in _ALLOWED_RESERVED:
            detail = RESERVED_LABEL_NAME % go_quote(name)
            return INVALID_LABELS_REASON, INVALID_LABELS % (text, detail)
    return None


def _metadata_size(pairs: Metadata) -> int:
    return sum(len(n.encode()) + len(v.encode()) for n, v in pairs if n not in _EXCLUDED_METADATA)


def _discard(result: BuildResult, reason: str, lines: int, size: int) -> None:
    slot = result.discarded.setdefault(reason, Discarded())
    slot.lines += lines
    slot.bytes += size


_ZERO_OFFSET = pa.scalar(0, pa.int32())
_NO_STRINGS = pa.array([], pa.string())


def _empty_maps(rows: int) -> pa.MapArray:
    """`rows` empty maps, without per-row Python work."""
    return pa.MapArray.from_arrays(
        pa.repeat(_ZERO_OFFSET, rows + 1), _NO_STRINGS, _NO_STRINGS, type=LABELS_TYPE
    )


def _level_maps(levels: pa.Array) -> pa.MapArray:
    """Maps holding one `detected_level` entry where `levels` has a value, else empty."""
    has = pc.is_valid(levels)
    counts = pc.cast(has, pa.int32())
    offsets = pa.concat_arrays([pa.array([0], pa.int32()), pc.cumulative_sum(counts)])
    values = levels.filter(has)
    keys = pa.repeat(pa.scalar(LEVEL_LABEL), len(values))
    return pa.MapArray.from_arrays(offsets, keys, values, type=LABELS_TYPE)


def _as_utf8(lines: pa.Array) -> tuple[pa.Array, pa.Array | None]:
    """Lines as a string array (invalid ones blanked) and a mask of the lines that are not
    UTF-8, or None when all are."""
    if not pa.types.is_binary(lines.type):
        return lines, None
    try:
        return lines.cast(pa.string()), None
    except pa.ArrowInvalid:
        pass
    flags, values = [], lines.to_pylist()
    for i, line in enumerate(values):
        try:
            line.decode("utf-8")
            flags.append(False)
        except UnicodeDecodeError:
            flags.append(True)
            values[i] = b""
    return pa.array(values, pa.binary()).cast(pa.string()), pa.array(flags, pa.bool_())


def _truncate(lines: pa.Array, lengths: pa.Array, limit: int) -> pa.Array:
    """Loki's `max_line_size_truncate`: lines over `limit` bytes cut, at a character boundary
    so the line stays UTF-8 (Loki cuts at the byte)."""
    too_long = pc.indices_nonzero(pc.greater(lengths, limit)).to_pylist()
    if not too_long:
        return lines
    values = lines.to_pylist()
    for i in too_long:
        line = values[i]
        raw = line if isinstance(line, bytes) else line.encode("utf-8", "surrogatepass")
        cut = raw[:limit].decode("utf-8", "ignore")
        values[i] = cut.encode() if isinstance(line, bytes) else cut
    return pa.array(values, lines.type)


def build_entries(
    streams: Sequence[DecodedStream] | DecodedBatch, limits: Limits, tenant: str, now_ns: int
) -> BuildResult:
    """Validate decoded streams as Loki's distributor does and build the accepted entries.

    A stream whose label text does not parse fails the whole push (400 `couldn't parse labels:
    ...`), as in Loki's push parser. Otherwise each stream and entry is checked with `limits`;
    the rejected ones are counted per reason and their messages grouped into a 400, while the
    rest is accepted. `tenant` is the tenant the entries are for (checked by the caller).

    >>> from loglake.ingest.push_proto import encode_push
    >>> now = 1_700_000_000_000_000_000
    >>> body = encode_push([('{app="api"}', [(now, "ok"), (now + 3_600_000_000_000, "later")])])
    >>> batch = decode_push_batch(body, "application/x-protobuf", None)
    >>> result = build_entries(batch, Limits(), "t", now)
    >>> (result.lines, result.bytes, result.table.column("line").to_pylist())
    (1, 2, ['ok'])
    >>> print(result.error.status, result.error.message)  # doctest: +NORMALIZE_WHITESPACE
    400 entry for stream '{app="api", service_name="api"}'
        has timestamp too new: 2023-11-14T23:13:20Z
    """
    batch = streams if isinstance(streams, DecodedBatch) else DecodedBatch.from_streams(streams)
    result = BuildResult()
    if not batch.labels:
        result.error = PushError(422, MISSING_STREAMS)
        return result
    discover = tuple(limits.discover_service_name)
    try:
        resolved = [resolve_stream(text, discover) for text in batch.labels]
    except LabelParseError as err:
        result.error = PushError(400, f"couldn't parse labels: {err}")
        return result

    messages: list[str] = []
    lengths = pc.binary_length(batch.lines)
    kept: list[bool] = []
    for labels, (start, end) in zip(resolved, spans(batch), strict=True):
        problem = None if start == end else _stream_problem(labels, limits)
        kept.append(start < end and problem is None)
        if problem is not None:
            reason, message = problem
            messages.append(message)
            size = pc.sum(lengths.slice(start, end - start)).as_py()
            if batch.metadata is not None:
                size += sum(map(_metadata_size, batch.metadata[start:end]))
            _discard(result, reason, end - start, size)

    if any(kept):
        _build_rows(result, limits, now_ns, batch, resolved, kept, lengths, messages)
    if messages:
        result.error = PushError(400, _group_errors(messages))
    return result


def _build_rows(
    result: BuildResult,
    limits: Limits,
    now_ns: int,
    batch: DecodedBatch,
    resolved: list[ResolvedStream],
    kept: list[bool],
    lengths: pa.Array,
    messages: list[str],
) -> None:
    """Per-entry checks as Arrow kernels over all rows, then the entry table.

    Most pushes are entirely valid, so the whole-request extremes (oldest and newest
    timestamp, longest line) are checked first; per-row masks are only built when one fails.
    """
    lines, ts, metadata_all = batch.lines, batch.ts, batch.metadata
    max_line = limits.max_line_size
    if limits.max_line_size_truncate and max_line > 0:
        lines = _truncate(lines, lengths, max_line)
        lengths = pc.binary_length(lines)
    lines, invalid_utf8 = _as_utf8(lines)
    oldest = now_ns - limits.reject_old_samples_max_age
    newest = now_ns + limits.creation_grace_period
    if all(kept) and metadata_all is None and invalid_utf8 is None:
        extremes = pc.min_max(ts)
        if (
            (not limits.reject_old_samples or extremes["min"].as_py() >= oldest)
            and extremes["max"].as_py() <= newest
            and (not max_line or pc.max(lengths).as_py() <= max_line)
        ):
            present = [i for i, (start, end) in enumerate(spans(batch)) if start < end]
            fingerprints = batch.per_row([labels.fingerprint for labels in resolved])
            levels = None
            if _discovers_levels(limits):
                per_row = batch.per_row(range(len(resolved)))
                levels, _ = _levels(limits, lines, per_row, resolved, None)
            _set_rows(
                result, resolved, present, fingerprints, ts, lines, lengths, None, None, levels
            )
            return

    row_streams = batch.per_row(range(len(resolved)))
    # Rows of streams rejected as a whole are neither checked nor kept.
    row_kept = None if all(kept) else pc.take(pa.array(kept, pa.bool_()), row_streams)
    checks: list[tuple[str, pa.Array]] = []
    if limits.reject_old_samples:
        checks.append((TOO_OLD_REASON, pc.less(ts, oldest)))
    checks.append((TOO_NEW_REASON, pc.greater(ts, newest)))
    if max_line:
        checks.append((LINE_TOO_LONG_REASON, pc.greater(lengths, max_line)))
    metadata_sizes: list[int] | None = None
    if metadata_all is not None:
        metadata_sizes = [_metadata_size(pairs) if pairs else 0 for pairs in metadata_all]
        counts = pa.array([len(pairs) for pairs in metadata_all], pa.int64())
        sizes = pa.array(metadata_sizes, pa.int64())
        if not limits.allow_structured_metadata:
            checks.append((SM_DISALLOWED_REASON, pc.greater(counts, 0)))
        if limits.max_structured_metadata_size:
            limit = limits.max_structured_metadata_size
            checks.append((SM_TOO_LARGE_REASON, pc.greater(sizes, limit)))
        if limits.max_structured_metadata_entries_count:
            limit = limits.max_structured_metadata_entries_count
            checks.append((SM_TOO_MANY_REASON, pc.greater(counts, limit)))
    if invalid_utf8 is not None:
        checks.append((INVALID_UTF8_REASON, invalid_utf8))

    bad = checks[0][1]
    for _, mask in checks[1:]:
        bad = pc.or_(bad, mask)
    if row_kept is not None:
        bad = pc.and_(bad, row_kept)
    if pc.any(bad).as_py():
        flags = {reason: mask.to_pylist() for reason, mask in checks}
        stream_of = row_streams.to_pylist()
        for i in pc.indices_nonzero(bad).to_pylist():
            reason = next(r for r, _ in checks if flags[r][i])
            text = resolved[stream_of[i]].text
            length = lengths[i].as_py()
            sm_size = metadata_sizes[i] if metadata_sizes is not None else 0
            if reason == TOO_OLD_REASON:
                message = TOO_OLD % (text, _rfc3339(ts[i].as_py()), _rfc3339(oldest))
            elif reason == TOO_NEW_REASON:
                message = TOO_NEW % (text, _rfc3339(ts[i].as_py()))
            elif reason == LINE_TOO_LONG_REASON:
                message = LINE_TOO_LONG % (max_line, text, length)
            elif reason == SM_DISALLOWED_REASON:
                message = STRUCTURED_METADATA_DISALLOWED % text
            elif reason == SM_TOO_LARGE_REASON:
                limit = limits.max_structured_metadata_size
                message = STRUCTURED_METADATA_TOO_LARGE % (text, sm_size, limit)
            elif reason == SM_TOO_MANY_REASON:
                count = len(metadata_all[i]) if metadata_all else 0
                limit = limits.max_structured_metadata_entries_count
                message = STRUCTURED_METADATA_TOO_MANY % (text, count, limit)
            else:
                message = INVALID_UTF8_LINE % text
            messages.append(message)
            _discard(result, reason, 1, length + sm_size)
    good = pc.invert(bad)
    if row_kept is not None:
        good = pc.and_(good, row_kept)
    if not pc.all(good).as_py():
        lines, lengths, ts = lines.filter(good), lengths.filter(good), ts.filter(good)
        row_streams = row_streams.filter(good)
        if metadata_all is not None:
            keep = good.to_pylist()
            metadata_all = [m for m, k in zip(metadata_all, keep, strict=True) if k]
            metadata_sizes = [s for s, k in zip(metadata_sizes or (), keep, strict=True) if k]
    if len(ts) == 0:
        return
    present = pc.unique(row_streams).to_pylist()
    fingerprints = pc.take(pa.array([r.fingerprint for r in resolved], pa.int64()), row_streams)
    levels, metadata_all = _levels(limits, lines, row_streams, resolved, metadata_all)
    _set_rows(
        result,
        resolved,
        present,
        fingerprints,
        ts,
        lines,
        lengths,
        metadata_all,
        metadata_sizes,
        levels,
    )


def _discovers_levels(limits: Limits) -> bool:
    """Whether the tenant's entries get `detected_level`: Loki adds it only where structured
    metadata is allowed."""
    return limits.discover_log_levels and limits.allow_structured_metadata


def _levels(
    limits: Limits,
    lines: pa.Array,
    row_streams: pa.Array,
    resolved: list[ResolvedStream],
    metadata_all: list[Metadata] | None,
) -> tuple[pa.Array | None, list[Metadata] | None]:
    """The `detected_level` of each accepted entry (null: none added) and its metadata with
    an existing `detected_level` normalised, when the tenant discovers levels."""
    if not _discovers_levels(limits):
        return None, metadata_all
    return discover_levels(
        lines,
        row_streams,
        [stream.labels for stream in resolved],
        metadata_all,
        limits.log_level_fields,
        limits.log_level_from_json_max_depth,
    )


def _set_rows(
    result: BuildResult,
    resolved: list[ResolvedStream],
    present: list[int],
    fingerprints: pa.Array,
    ts: pa.Array,
    lines: pa.Array,
    lengths: pa.Array,
    metadata_all: list[Metadata] | None,
    metadata_sizes: list[int] | None,
    levels: pa.Array | None,
) -> None:
    """Store the accepted rows (and the streams `present` among them) in `result`, with
    `levels` (when not None) appended to their structured metadata as `detected_level`."""
    count = len(ts)
    if metadata_all is None and levels is None:
        metadata = _empty_maps(count)
    elif metadata_all is None:
        metadata = _level_maps(levels)
    elif levels is None:
        metadata = pa.array([list(pairs) for pairs in metadata_all], LABELS_TYPE)
    else:
        metadata = pa.array(
            [
                [*pairs, (LEVEL_LABEL, level)] if level is not None else list(pairs)
                for pairs, level in zip(metadata_all, levels.to_pylist(), strict=True)
            ],
            LABELS_TYPE,
        )
    result.rows = pa.Table.from_arrays([fingerprints, ts, lines, metadata], schema=ROW_SCHEMA)
    result.stream_labels = pa.Table.from_arrays(
        [
            pa.array([resolved[i].fingerprint for i in present], pa.int64()),
            pa.array([list(resolved[i].labels) for i in present], LABELS_TYPE),
        ],
        schema=STREAMS_SCHEMA,
    )
    result.lines = count
    result.bytes = pc.sum(lengths).as_py() + sum(metadata_sizes or ())
    result.streams = len(present)


__all__ = [
    "BuildResult",
    "DecodedBatch",
    "DecodedStream",
    "Discarded",
    "build_entries",
    "decode_push",
    "decode_push_batch",
]

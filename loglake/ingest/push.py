"""Loki push bodies in, validated Arrow entries out.

Main interface:

- `decode_push_batch(body, content_type, content_encoding)` → `DecodedBatch`: the body of a
  `POST /loki/api/v1/push` as Loki's `parsePushRequestBody` reads it (JSON, or protobuf in snappy
  block format for any other media type; `Content-Encoding` none/snappy/gzip/deflate), as Arrow
  columns. Bad bodies raise `PushError` with Loki's status and message. `decode_push` is the
  same as a list of `DecodedStream` (Python lists), for callers that regroup entries.
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

import gzip
import json
import re
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from itertools import repeat

import cramjam
import pyarrow as pa
import pyarrow.compute as pc

from loglake.config import Limits
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
from loglake.ingest.push_proto import push_request_columns
from storage.landing import ROW_SCHEMA
from storage.schema import LABELS_TYPE, STREAMS_SCHEMA, with_labels

MAX_RECV_MSG_SIZE = 100 << 20
"""Loki's `distributor.max_recv_msg_size` default (100 MiB)."""

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
_EXCLUDED_METADATA = frozenset({"detected_level"})
# Loki lets a stream have these internal labels; everything else starting with __ is reserved.
_ALLOWED_RESERVED = frozenset({"__name__", *INTERNAL_STREAM_LABELS})

Metadata = tuple[tuple[str, str], ...]


@dataclass(slots=True)
class DecodedStream:
    """One stream of a push body, before validation.

    `lines` are `bytes` for protobuf bodies (not yet checked for UTF-8) and `str` for JSON.
    `metadata` is None when no entry of the stream has structured metadata, else one tuple of
    (name, value) pairs per entry.
    """

    labels: str
    ts: list[int]
    lines: list[bytes] | list[str]
    metadata: list[Metadata] | None = None


@dataclass(slots=True)
class DecodedBatch:
    """A push body's entries as Arrow columns, before validation: what `build_entries` checks.

    Rows are grouped by stream, in stream order: stream `i` (label text `labels[i]`) owns rows
    `offsets[i]:offsets[i + 1]`. `lines` is binary for protobuf bodies (not yet checked for
    UTF-8) and string for JSON. `metadata` is None when no entry has structured metadata, else
    one tuple of (name, value) pairs per row.
    """

    labels: list[str]
    offsets: list[int]
    ts: pa.Int64Array
    lines: pa.Array
    metadata: list[Metadata] | None = None

    @classmethod
    def from_streams(cls, streams: Sequence[DecodedStream]) -> DecodedBatch:
        """The streams' entries as one batch, in stream order."""
        ts: list[int] = []
        lines: list = []
        offsets = [0]
        metadata: list[Metadata] | None = None
        for stream in streams:
            if stream.metadata is not None and metadata is None:
                metadata = [()] * len(ts)
            ts.extend(stream.ts)
            lines.extend(stream.lines)
            if metadata is not None:
                metadata.extend(stream.metadata or repeat((), len(stream.ts)))
            offsets.append(len(ts))
        return cls(
            [stream.labels for stream in streams],
            offsets,
            pa.array(ts, pa.int64()),
            _lines_array(lines),
            metadata,
        )

    def streams(self) -> list[DecodedStream]:
        """The batch as one `DecodedStream` per stream (Python lists)."""
        ts, lines, out = self.ts.to_pylist(), self.lines.to_pylist(), []
        for text, start, end in zip(self.labels, self.offsets[:-1], self.offsets[1:], strict=True):
            metadata = self.metadata[start:end] if self.metadata is not None else None
            if metadata is not None and not any(metadata):
                metadata = None
            out.append(DecodedStream(text, ts[start:end], lines[start:end], metadata))
        return out

    def per_row(self, values: Sequence[int]) -> pa.Int64Array:
        """`values[i]` repeated for every row of stream `i` (say, stream indexes or
        fingerprints)."""
        spans = [
            (value, end - start)
            for value, start, end in zip(values, *_bounds(self), strict=True)
            if end > start
        ]
        if len(spans) > 3:  # one kernel for all streams costs less than one per stream
            parents = pa.ListArray.from_arrays(
                pa.array(self.offsets, pa.int32()), pa.nulls(len(self.ts))
            )
            return pc.take(pa.array(values, pa.int64()), pc.list_parent_indices(parents))
        parts = [pa.repeat(pa.scalar(value, pa.int64()), rows) for value, rows in spans]
        if len(parts) == 1:
            return parts[0]
        return pa.concat_arrays(parts) if parts else pa.array([], pa.int64())


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


# --- decoding --------------------------------------------------------------------------------

_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_MEDIA_PARAM = re.compile(rf"\s*;\s*({_TOKEN})\s*=\s*(\"(?:[^\"\\]|\\.)*\"|{_TOKEN})", re.S)
_MEDIA_TYPE = re.compile(rf"({_TOKEN})(?:(/)({_TOKEN})?)?")


def parse_media_type(value: str) -> str:
    """The lower-cased media type of a `Content-Type`, checked as Go's `mime.ParseMediaType`.

    >>> parse_media_type("Application/JSON; charset=utf-8")
    'application/json'
    >>> try:
    ...     parse_media_type("application/json; charsetutf-8")
    ... except PushError as err:
    ...     print(err.status, err)
    400 mime: invalid media parameter
    """
    base = value.split(";", 1)[0]
    media_type = base.strip().lower()
    match = _MEDIA_TYPE.match(media_type)
    if match is None:
        raise PushError(400, "mime: no media type")
    if match.end() != len(media_type):
        if match.group(2) is None:
            raise PushError(400, "mime: expected slash after first token")
        raise PushError(400, "mime: unexpected content after media subtype")
    if match.group(2) is not None and match.group(3) is None:
        raise PushError(400, "mime: expected token after slash")
    rest, seen = value[len(base) :], set()
    while rest.strip():
        param = _MEDIA_PARAM.match(rest)
        if param is None:
            if rest.strip() == ";":  # a trailing semicolon is allowed
                break
            raise PushError(400, "mime: invalid media parameter")
        key = param.group(1).lower()
        if key in seen:
            raise PushError(400, "mime: duplicate parameter name")
        seen.add(key)
        rest = rest[param.end() :]
    return media_type


def _too_large(kind: str, size: int, limit: int) -> PushError:
    return PushError(413, f"request body too large: {kind} than max ({size} vs {limit})")


def _content_decode(body: bytes, content_encoding: str, max_decompressed_size: int) -> bytes:
    if content_encoding == "gzip":
        try:
            data = gzip.decompress(body)
        except gzip.BadGzipFile:
            raise PushError(400, "gzip: invalid header") from None
        except (EOFError, zlib.error):
            raise PushError(400, "unexpected EOF") from None
    else:  # deflate: Go's compress/flate reads raw DEFLATE; accept zlib-wrapped bodies too
        data = b""
        for wbits in (-zlib.MAX_WBITS, zlib.MAX_WBITS):
            try:
                inflater = zlib.decompressobj(wbits)
                data = inflater.decompress(body) + inflater.flush()
            except zlib.error:
                continue
            if inflater.eof:
                break
        else:
            raise PushError(400, "flate: corrupt input")
    if max_decompressed_size > 0 and len(data) > max_decompressed_size:
        raise _too_large("decompressed message size too large", len(data), max_decompressed_size)
    return data


def decode_push_batch(
    body: bytes,
    content_type: str | None,
    content_encoding: str | None,
    *,
    max_recv_msg_size: int = MAX_RECV_MSG_SIZE,
    max_decompressed_size: int = 50 * MAX_RECV_MSG_SIZE,
) -> DecodedBatch:
    """Decode a push body into columns; raises `PushError` as Loki answers bad bodies.

    >>> from loglake.ingest.push_proto import encode_push
    >>> body = encode_push([('{job="a"}', [(5, "hi"), (6, "ho")])])
    >>> batch = decode_push_batch(body, "application/x-protobuf", None)
    >>> (batch.labels, batch.offsets, batch.ts.to_pylist(), batch.lines.to_pylist())
    (['{job="a"}'], [0, 2], [5, 6], [b'hi', b'ho'])
    """
    decoded = _decode(
        body, content_type, content_encoding, max_recv_msg_size, max_decompressed_size
    )
    return decoded if isinstance(decoded, DecodedBatch) else DecodedBatch.from_streams(decoded)


def decode_push(
    body: bytes,
    content_type: str | None,
    content_encoding: str | None,
    *,
    max_recv_msg_size: int = MAX_RECV_MSG_SIZE,
    max_decompressed_size: int = 50 * MAX_RECV_MSG_SIZE,
) -> list[DecodedStream]:
    """`decode_push_batch` as one `DecodedStream` per stream.

    >>> from loglake.ingest.push_proto import encode_push
    >>> [s] = decode_push(encode_push([('{job="a"}', [(5, "hi")])]), "application/x-protobuf", None)
    >>> (s.labels, s.ts, s.lines)
    ('{job="a"}', [5], [b'hi'])
    """
    decoded = _decode(
        body, content_type, content_encoding, max_recv_msg_size, max_decompressed_size
    )
    return decoded.streams() if isinstance(decoded, DecodedBatch) else decoded


def _decode(
    body: bytes,
    content_type: str | None,
    content_encoding: str | None,
    max_recv_msg_size: int,
    max_decompressed_size: int,
) -> DecodedBatch | list[DecodedStream]:
    if max_recv_msg_size > 0 and len(body) > max_recv_msg_size:
        raise _too_large("message size too large", len(body), max_recv_msg_size)
    encoding = content_encoding or ""
    if encoding not in ("", "snappy", "gzip", "deflate"):
        raise PushError(400, f"Content-Encoding {go_quote(encoding)} not supported")
    if encoding in ("gzip", "deflate"):
        body = _content_decode(body, encoding, max_decompressed_size)
    if parse_media_type(content_type or "") == "application/json":
        return _decode_json(body)
    # Any other media type is snappy-compressed protobuf (Loki: "expect snappy compression").
    return _decode_protobuf(body, max_decompressed_size)


def _decode_protobuf(body: bytes, max_decompressed_size: int) -> DecodedBatch:
    try:
        size = cramjam.snappy.decompress_raw_len(body)
    except Exception:  # cramjam raises its own DecompressionError
        raise PushError(400, "snappy: corrupt input") from None
    if max_decompressed_size > 0 and size > max_decompressed_size:
        raise _too_large("decompressed message size too large", size, max_decompressed_size)
    try:
        raw = bytes(cramjam.snappy.decompress_raw(body))
    except Exception:
        raise PushError(400, "snappy: corrupt input") from None
    try:
        streams = push_request_columns(raw)
    except ValueError:
        raise PushError(400, _describe_proto_error(raw)) from None
    label_texts, entries, _hash = streams.flatten()
    labels = []
    for text in label_texts.to_pylist():
        try:
            labels.append(text.decode("utf-8"))
        except UnicodeDecodeError:
            raise PushError(400, "couldn't parse labels: invalid UTF-8 rune") from None
    offsets = entries.offsets.to_pylist()
    offsets = [offset - offsets[0] for offset in offsets]
    stamps, lines, pairs, _parsed = entries.flatten().flatten()
    metadata = None
    if len(pairs.flatten()):
        metadata = [
            tuple(_metadata_pair(pair["name"], pair["value"]) for pair in row)
            for row in pairs.to_pylist()
        ]
    ts = stamps.view(pa.int64())
    if ts.null_count:  # an entry without a timestamp is at 0, as upb's empty Timestamp reads
        ts = ts.fill_null(0)
    return DecodedBatch(labels, offsets, ts, lines, metadata)


def _describe_proto_error(raw: bytes) -> str:
    """Name a protobuf decoding failure as Go's generated unmarshalers do, where we can tell."""
    pos, n = 0, len(raw)

    def varint() -> int:
        nonlocal pos
        shift = value = 0
        while True:
            if pos >= n:
                raise EOFError
            byte = raw[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                return value
            shift += 7
            if shift >= 64:
                raise OverflowError

    try:
        while pos < n:
            wire_type = varint() & 7
            if wire_type == 0:
                varint()
            elif wire_type == 1:
                pos += 8
            elif wire_type == 2:
                pos += varint()
            elif wire_type == 5:
                pos += 4
            else:
                return f"proto: illegal wireType {wire_type}"
            if pos > n:
                raise EOFError
    except EOFError:
        return "unexpected EOF"
    except OverflowError:
        return "proto: integer overflow"
    return "proto: cannot parse invalid wire-format data"


_FIX_NAME = re.compile(r"[^a-zA-Z0-9_]")


def _metadata_pair(name: str | bytes, value: str | bytes) -> tuple[str, str]:
    """A structured-metadata pair as Loki's distributor keeps it: the name made a valid label
    name (invalid characters → `_`, a leading digit gets `key_`), invalid UTF-8 in the value
    replaced by spaces."""
    if isinstance(name, bytes):
        name = name.decode("utf-8", "replace")
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace").replace("\ufffd", " ")
    if not is_valid_label_name(name):
        name = _FIX_NAME.sub("_", name)
        if name[:1].isdigit():
            name = "key_" + name
    return name, value


_TS = re.compile(r"[+-]?[0-9]+")


def _json_first_char(value: object) -> str:
    return json.dumps(value)[:1]


def _read_string(value: object) -> str:
    """jsoniter's `ReadString`: a string, or null read as ""."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    raise PushError(400, f'ReadString: expects " or n, but found {_json_first_char(value)}')


def _json_timestamp(value: object) -> int:
    text = _read_string(value)
    if not _TS.fullmatch(text):
        reason = "invalid syntax"
    elif -(2**63) <= int(text) < 2**63:
        return int(text)
    else:
        reason = "value out of range"
    message = f"strconv.ParseInt: parsing {go_quote(text)}: {reason}"
    raise PushError(400, f"error reading entry timestamp: {message}")


def _decode_json(body: bytes) -> list[DecodedStream]:
    if not body.strip():
        raise PushError(400, "EOF")
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as err:
        raise PushError(400, f"invalid JSON: {err}") from None
    if not isinstance(document, dict):
        raise PushError(400, "invalid JSON: a push body is an object with a streams array")
    streams = []
    for item in document.get("streams") or ():
        if not isinstance(item, dict):
            raise PushError(400, "invalid JSON: each stream is an object")
        labels = item.get("stream") or {}
        if not isinstance(labels, dict):
            raise PushError(400, "invalid JSON: stream labels must be an object")
        for value in labels.values():
            _read_string(value)
        # Loki turns the object into label-set text and parses that: same rules as protobuf.
        label_text = "{" + ", ".join(f"{k}={go_quote(labels[k])}" for k in sorted(labels)) + "}"
        ts: list[int] = []
        lines: list[str] = []
        metadata: list[Metadata] | None = None
        for index, value in enumerate(item.get("values") or ()):
            if not isinstance(value, list) or not 2 <= len(value) <= 3:
                raise PushError(
                    400, "error reading entry: array must have at least 2 and up to 3 values"
                )
            ts.append(_json_timestamp(value[0]))
            lines.append(_read_string(value[1]))
            if len(value) == 3 and value[2] is not None:
                extra = value[2]
                if not isinstance(extra, dict):
                    raise PushError(
                        400, f"ReadMapCB: expect {{ or n, but found {_json_first_char(extra)}"
                    )
                if metadata is None:
                    metadata = [()] * index
                metadata.append(tuple(_metadata_pair(k, _read_string(v)) for k, v in extra.items()))
            elif metadata is not None:
                metadata.append(())
        streams.append(DecodedStream(label_text, ts, lines, metadata))
    return streams


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


def _lines_array(lines: list) -> pa.Array:
    """Lines as an Arrow binary or string array (bytes are checked for UTF-8 later)."""
    if not lines or isinstance(lines[0], bytes):
        return pa.array(lines, pa.binary())
    try:
        return pa.array(lines, pa.string())
    except (pa.ArrowException, UnicodeEncodeError):  # lone surrogates from JSON escapes
        return pa.array([line.encode("utf-8", "surrogatepass") for line in lines], pa.binary())


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
    for labels, (start, end) in zip(resolved, _spans(batch), strict=True):
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
            present = [i for i, (start, end) in enumerate(_spans(batch)) if start < end]
            fingerprints = batch.per_row([labels.fingerprint for labels in resolved])
            _set_rows(result, resolved, present, fingerprints, ts, lines, lengths, None, None)
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
    _set_rows(
        result, resolved, present, fingerprints, ts, lines, lengths, metadata_all, metadata_sizes
    )


def _spans(batch: DecodedBatch) -> Iterator[tuple[int, int]]:
    """(first row, end row) of each stream."""
    return zip(*_bounds(batch), strict=True)


def _bounds(batch: DecodedBatch) -> tuple[list[int], list[int]]:
    return batch.offsets[:-1], batch.offsets[1:]


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
) -> None:
    """Store the accepted rows (and the streams `present` among them) in `result`."""
    count = len(ts)
    if metadata_all is None:
        metadata = _empty_maps(count)
    else:
        metadata = pa.array([list(pairs) for pairs in metadata_all], LABELS_TYPE)
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

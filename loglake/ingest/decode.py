"""Loki push bodies decoded: JSON, or protobuf (snappy) through Arrow, before validation.

`decode_push_batch` reads a body as Loki's `parsePushRequestBody` does and gives its entries as
Arrow columns (`DecodedBatch`); `decode_push` gives them as one `DecodedStream` per stream.
Bad bodies raise `PushError` with Loki's status and message. `loglake.ingest.push` validates
what comes out.
"""

from __future__ import annotations

import gzip
import json
import re
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import repeat

import cramjam
import pyarrow as pa
import pyarrow.compute as pc

from loglake.ingest.errors import PushError
from loglake.ingest.labels import go_quote, is_valid_label_name
from loglake.ingest.push_proto import push_request_columns

MAX_RECV_MSG_SIZE = 100 << 20
"""Loki's `distributor.max_recv_msg_size` default (100 MiB)."""

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


def _lines_array(lines: list) -> pa.Array:
    """Lines as an Arrow binary or string array (bytes are checked for UTF-8 later); a lone
    surrogate from a JSON escape reads as U+FFFD, as jsoniter reads it."""
    if not lines or isinstance(lines[0], bytes):
        return pa.array(lines, pa.binary())
    try:
        return pa.array(lines, pa.string())
    except (pa.ArrowException, UnicodeEncodeError):  # lone surrogates from JSON escapes
        return pa.array(list(map(_utf16_text, lines)), pa.string())


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


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
"""The only way a JSON body yields a lone surrogate: an escape such as `\\ud800`."""


def _utf16_text(text: str) -> str:
    r"""`text` with each lone UTF-16 surrogate (a `\ud800` escape without its pair) as
    U+FFFD, as jsoniter reads such an escape; a pair is one character already.

    >>> _utf16_text("x\ud800y") == "x\ufffdy"
    True
    """
    return _LONE_SURROGATE.sub("\ufffd", text)


def _as_is(text: str) -> str:
    return text


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
    # texts are mended (`_utf16_text`) only when the body can hold a lone surrogate
    text = _utf16_text if _SURROGATE_ESCAPE.search(body) else _as_is
    streams = []
    for item in document.get("streams") or ():
        if not isinstance(item, dict):
            raise PushError(400, "invalid JSON: each stream is an object")
        labels = item.get("stream") or {}
        if not isinstance(labels, dict):
            raise PushError(400, "invalid JSON: stream labels must be an object")
        labels = {text(k): text(_read_string(v)) for k, v in labels.items()}
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
                metadata.append(
                    tuple(_metadata_pair(text(k), text(_read_string(v))) for k, v in extra.items())
                )
            elif metadata is not None:
                metadata.append(())
        streams.append(DecodedStream(label_text, ts, lines, metadata))
    return streams


def spans(batch: DecodedBatch) -> Iterator[tuple[int, int]]:
    """(first row, end row) of each stream of a batch."""
    return zip(*_bounds(batch), strict=True)


def _bounds(batch: DecodedBatch) -> tuple[list[int], list[int]]:
    return batch.offsets[:-1], batch.offsets[1:]

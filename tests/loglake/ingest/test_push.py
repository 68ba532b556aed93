"""Push bodies (protobuf+snappy, JSON, gzip/deflate) → validated entries, with Loki's answers."""

from __future__ import annotations

import gzip
import json
import zlib

import cramjam
import pyarrow as pa
import pytest

from loglake.config import Limits
from loglake.ingest.errors import PushError
from loglake.ingest.push import build_entries, decode_push
from loglake.ingest.push_proto import PushRequest, encode_push
from storage.schema import ENTRY_SCHEMA

NOW = 1_700_000_000_000_000_000  # 2023-11-14T22:13:20Z
HOUR = 3_600_000_000_000
PROTO = "application/x-protobuf"
JSON = "application/json"


def json_body(streams) -> bytes:
    return json.dumps({"streams": streams}).encode()


def decode_error(body, content_type, content_encoding=None) -> PushError:
    with pytest.raises(PushError) as err:
        decode_push(body, content_type, content_encoding)
    return err.value


def push(body, content_type=PROTO, content_encoding=None, limits=None, now=NOW):
    streams = decode_push(body, content_type, content_encoding)
    return build_entries(streams, limits or Limits(), "fake", now)


# --- decoding --------------------------------------------------------------------------------


def test_protobuf_round_trip_with_structured_metadata():
    body = encode_push(
        [
            ('{job="api", env="prod"}', [(NOW, "GET /", {"trace_id": "abc"}), (NOW + 1, "POST /")]),
            ('{app="web"}', [(NOW - 5, "hello")]),
        ]
    )
    result = push(body)
    assert result.error is None
    assert result.table.schema == ENTRY_SCHEMA
    rows = result.table.to_pylist()
    assert [r["line"] for r in rows] == ["GET /", "POST /", "hello"]
    assert [r["ts"] for r in rows] == [NOW, NOW + 1, NOW - 5]
    assert rows[0]["labels"] == [("env", "prod"), ("job", "api"), ("service_name", "api")]
    assert rows[2]["labels"] == [("app", "web"), ("service_name", "web")]
    assert rows[0]["structured_metadata"] == [("trace_id", "abc")]
    assert rows[1]["structured_metadata"] == []
    assert rows[0]["fingerprint"] == rows[1]["fingerprint"] != rows[2]["fingerprint"]
    # Loki counts line + structured metadata bytes
    assert (result.lines, result.streams) == (3, 2)
    assert result.bytes == len("GET /") + len("trace_id") + len("abc") + len("POST /") + 5


def test_any_non_json_content_type_is_protobuf():
    body = encode_push([('{a="1"}', [(NOW, "x")])])
    for content_type in (PROTO, "application/octet-stream", "text/plain; charset=utf-8"):
        assert push(body, content_type).lines == 1


@pytest.mark.parametrize(
    "content_type", [JSON, "application/json; charset=utf-8", "Application/JSON"]
)
def test_json_push(content_type):
    body = json_body(
        [
            {
                "stream": {"foo": "bar2"},
                "values": [
                    ["1700000000000000000", "fizzbuzz"],
                    ["1700000000000000001", "with metadata", {"trace_id": "0242ac120002"}],
                ],
            }
        ]
    )
    result = push(body, content_type)
    assert result.error is None
    rows = result.table.to_pylist()
    assert [(r["ts"], r["line"]) for r in rows] == [(NOW, "fizzbuzz"), (NOW + 1, "with metadata")]
    assert rows[0]["labels"] == [("foo", "bar2"), ("service_name", "unknown_service")]
    assert rows[1]["structured_metadata"] == [("trace_id", "0242ac120002")]
    assert result.bytes == len("fizzbuzz") + len("with metadata") + len("trace_id0242ac120002")


def test_json_and_protobuf_give_the_same_fingerprint():
    proto = push(encode_push([('{b="2", a="1"}', [(NOW, "x")])]))
    js = push(json_body([{"stream": {"a": "1", "b": "2"}, "values": [[str(NOW), "x"]]}]), JSON)
    assert proto.table.column("fingerprint") == js.table.column("fingerprint")


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_gzip_and_deflate_bodies(encoding):
    raw = json_body([{"stream": {"foo": "bar"}, "values": [[str(NOW), "zipped"]]}])
    if encoding == "gzip":
        body = gzip.compress(raw)
    else:
        compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)  # Go's compress/flate: raw DEFLATE
        body = compressor.compress(raw) + compressor.flush()
    assert push(body, JSON, encoding).table.column("line").to_pylist() == ["zipped"]
    proto = encode_push([('{a="1"}', [(NOW, "p")])])
    assert push(gzip.compress(proto), PROTO, "gzip").lines == 1
    assert push(zlib.compress(raw), JSON, "deflate").lines == 1  # zlib-wrapped also read


def test_snappy_content_encoding_is_accepted_for_protobuf():
    assert push(encode_push([('{a="1"}', [(NOW, "p")])]), PROTO, "snappy").lines == 1


@pytest.mark.parametrize(
    ("body", "content_type", "encoding", "status", "message"),
    [
        (b"{}", JSON, "br", 400, 'Content-Encoding "br" not supported'),
        (b"{}", "", None, 400, "mime: no media type"),
        (b"{}", None, None, 400, "mime: no media type"),
        (b"{}", "application/json; charsetutf-8", None, 400, "mime: invalid media parameter"),
        (b"", JSON, None, 400, "EOF"),
        (b"not snappy", PROTO, None, 400, "snappy: corrupt input"),
        (b"", PROTO, None, 400, "snappy: corrupt input"),
        (b"\x1f\x8b garbage", JSON, "gzip", 400, "gzip: invalid header"),
        (gzip.compress(b"{}" * 100)[:-5], JSON, "gzip", 400, "unexpected EOF"),
        (b"plain", JSON, "gzip", 400, "gzip: invalid header"),
        (b"\xff\xff\xff", JSON, "deflate", 400, "flate: corrupt input"),
    ],
)
def test_bad_bodies_get_loki_answers(body, content_type, encoding, status, message):
    err = decode_error(body, content_type, encoding)
    assert (err.status, err.message) == (status, message)


def test_json_body_with_snappy_encoding_is_not_decompressed():
    body = json_body([{"stream": {"a": "1"}, "values": [[str(NOW), "x"]]}])
    assert push(body, JSON, "snappy").lines == 1
    err = decode_error(bytes(cramjam.snappy.compress_raw(body)), JSON, "snappy")
    assert err.status == 400


def test_truncated_protobuf():
    payload = encode_push([('{a="1"}', [(NOW, "x" * 100)])], compress=False)
    body = bytes(cramjam.snappy.compress_raw(payload[:-10]))
    assert decode_error(body, PROTO) == PushError(400, "unexpected EOF")


def test_protobuf_with_illegal_wire_type():
    body = bytes(cramjam.snappy.compress_raw(b"\x0f\x00"))
    assert decode_error(body, PROTO) == PushError(400, "proto: illegal wireType 7")


def test_body_size_limits_answer_413():
    body = encode_push([('{a="1"}', [(NOW, "x" * 1000)])])
    with pytest.raises(PushError) as err:
        decode_push(body, PROTO, None, max_recv_msg_size=10)
    assert err.value.status == 413
    assert err.value.message == (
        f"request body too large: message size too large than max ({len(body)} vs 10)"
    )
    with pytest.raises(PushError) as err:
        decode_push(body, PROTO, None, max_decompressed_size=100)
    assert err.value.status == 413
    assert err.value.message.startswith("request body too large: decompressed message size")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ([[1700000000000000000, "x"]], 'ReadString: expects " or n, but found 1'),
        ([["1700000000000000000", {"fizz": "buzz"}]], 'ReadString: expects " or n, but found {'),
        (
            [["abc", "x"]],
            'error reading entry timestamp: strconv.ParseInt: parsing "abc": invalid syntax',
        ),
        (
            [["99999999999999999999", "x"]],
            "error reading entry timestamp: strconv.ParseInt: parsing "
            '"99999999999999999999": value out of range',
        ),
        ([[str(NOW), "x", "meta"]], 'ReadMapCB: expect { or n, but found "'),
        ([[str(NOW), "x", {"k": 1}]], 'ReadString: expects " or n, but found 1'),
        (
            [[str(NOW), "x", {}, "extra"]],
            "error reading entry: array must have at least 2 and up to 3 values",
        ),
    ],
)
def test_json_entry_rules(values, message):
    body = json_body([{"stream": {"a": "1"}, "values": values}])
    assert decode_error(body, JSON) == PushError(400, message)


def test_invalid_json():
    err = decode_error(b'{"streams": [', JSON)
    assert err.status == 400
    assert err.message.startswith("invalid JSON: ")


# --- validation ------------------------------------------------------------------------------


def test_no_streams_is_422():
    result = push(json_body([]), JSON)
    assert result.error == PushError(
        422, "error at least one valid stream is required for ingestion"
    )


def test_unparseable_labels_fail_the_whole_push():
    body = encode_push([('{a="1"}', [(NOW, "ok")]), ("{a=1}", [(NOW, "x")])])
    result = push(body)
    assert result.table.num_rows == 0
    assert result.error == PushError(
        400,
        "couldn't parse labels: 1:4: parse error: unexpected character inside braces: '1'",
    )


def test_json_label_name_that_is_not_an_identifier():
    body = json_body([{"stream": {"k8s.pod": "x"}, "values": [[str(NOW), "l"]]}])
    result = push(body, JSON)
    assert result.error == PushError(
        400, "couldn't parse labels: 1:5: parse error: unexpected character inside braces: '.'"
    )


def test_quoted_invalid_label_name_is_rejected_per_stream():
    body = encode_push([('{"k8s.pod"="x"}', [(NOW, "bad")]), ('{a="1"}', [(NOW, "good")])])
    result = push(body)
    assert result.table.column("line").to_pylist() == ["good"]
    assert result.error == PushError(
        400,
        'error parsing labels \'{k8s.pod="x", service_name="unknown_service"}\' with error: '
        'invalid label name "k8s.pod": must match [a-zA-Z_][a-zA-Z0-9_]*',
    )
    assert result.discarded["invalid_labels"].lines == 1


def test_duplicate_label_names():
    result = push(encode_push([('{a="1", a="2"}', [(NOW, "x")])]))
    assert result.error == PushError(
        400,
        'stream \'{a="1", a="2", service_name="unknown_service"}\' has duplicate label name: \'a\'',
    )
    assert result.discarded["duplicate_label_names"].lines == 1


def test_empty_label_set_without_discovery_is_missing_labels():
    result = push(encode_push([("{}", [(NOW, "x")])]), limits=Limits(discover_service_name=()))
    assert result.error == PushError(400, "error at least one label pair is required per stream")
    # with discovery on (the default) Loki gives it service_name="unknown_service"
    assert push(encode_push([("{}", [(NOW, "x")])])).lines == 1


def test_label_limits():
    limits = Limits(
        max_label_names_per_series=2, max_label_name_length=12, max_label_value_length=3
    )
    body = encode_push(
        [
            ('{a="1", b="2", c="3"}', [(NOW, "x")]),
            ('{a_very_long_name="1"}', [(NOW, "x")]),
            ('{a="long"}', [(NOW, "x")]),
            ('{a="1", b="2", service_name="s"}', [(NOW, "ok")]),  # service_name is not counted
        ]
    )
    result = push(body, limits=limits)
    assert result.table.column("line").to_pylist() == ["ok"]
    unknown = 'service_name="unknown_service"'
    assert result.error.message == "; ".join(
        [
            f'1 errors like: entry for stream \'{{a="1", b="2", c="3", {unknown}}}\' has 3 '
            "label names; limit 2",
            f"1 errors like: stream '{{a_very_long_name=\"1\", {unknown}}}' has label name too "
            "long: 'a_very_long_name'",
            f"1 errors like: stream '{{a=\"long\", {unknown}}}' has label value too long: 'long'",
        ]
    )
    assert result.discarded["max_label_names_per_series"].lines == 1


def test_reserved_label_names():
    result = push(encode_push([('{__secret__="1", a="2"}', [(NOW, "x")])]))
    assert result.error.status == 400
    assert 'label name "__secret__" is reserved' in result.error.message


def test_line_too_long_keeps_the_other_entries():
    limits = Limits(max_line_size=10)
    body = encode_push([('{app="a"}', [(NOW, "short"), (NOW, "x" * 11)])])
    result = push(body, limits=limits)
    assert result.table.column("line").to_pylist() == ["short"]
    assert result.error == PushError(
        400,
        "max entry size '10' bytes exceeded for stream '{app=\"a\", service_name=\"a\"}' "
        "while adding an entry with length '11' bytes",
    )
    assert (result.discarded["line_too_long"].lines, result.discarded["line_too_long"].bytes) == (
        1,
        11,
    )


def test_max_line_size_truncate():
    limits = Limits(max_line_size=4, max_line_size_truncate=True)
    result = push(encode_push([('{app="a"}', [(NOW, "abcdefgh"), (NOW, "ééé")])]), limits=limits)
    assert result.error is None
    assert result.table.column("line").to_pylist() == ["abcd", "éé"]
    assert result.bytes == 8


def test_timestamps_too_old_and_too_new():
    body = encode_push(
        [('{app="a"}', [(NOW - 8 * 24 * HOUR, "old"), (NOW, "now"), (NOW + HOUR, "future")])]
    )
    result = push(body)
    assert result.table.column("line").to_pylist() == ["now"]
    assert result.error.message.split("; ") == [
        '1 errors like: entry for stream \'{app="a", service_name="a"}\' has timestamp too old: '
        "2023-11-06T22:13:20Z, oldest acceptable timestamp is: 2023-11-07T22:13:20Z",
        '1 errors like: entry for stream \'{app="a", service_name="a"}\' has timestamp too new: '
        "2023-11-14T23:13:20Z",
    ]
    assert result.discarded["greater_than_max_sample_age"].lines == 1
    assert result.discarded["too_far_in_future"].lines == 1
    assert push(body, limits=Limits(reject_old_samples=False)).lines == 2


def test_repeated_errors_are_counted():
    result = push(encode_push([('{app="a"}', [(NOW + HOUR, "f")] * 3)]))
    assert result.error.message == (
        '3 errors like: entry for stream \'{app="a", service_name="a"}\' has timestamp too '
        "new: 2023-11-14T23:13:20Z"
    )


def test_non_utf8_line_is_rejected_with_a_clear_message():
    body = encode_push([('{app="a"}', [(NOW, b"ok"), (NOW, b"bad \xff\xfe")])])
    result = push(body)
    assert result.table.column("line").to_pylist() == ["ok"]
    assert result.error == PushError(
        400, 'entry for stream \'{app="a", service_name="a"}\' has a line that is not valid UTF-8'
    )
    assert result.discarded["invalid_utf8"].lines == 1


def test_structured_metadata_limits():
    body = encode_push(
        [
            (
                '{app="a"}',
                [
                    (NOW, "big", {"k": "v" * 20}),
                    (NOW, "many", {"a": "1", "b": "2"}),
                    (NOW, "ok", {"c": "3"}),
                ],
            )
        ]
    )
    result = push(
        body,
        limits=Limits(max_structured_metadata_size=10, max_structured_metadata_entries_count=1),
    )
    assert result.table.column("line").to_pylist() == ["ok"]
    stream = '{app="a", service_name="a"}'
    assert result.error.message.split("; ") == [
        f"1 errors like: stream '{stream}' has structured metadata too large: '21' bytes, limit: "
        "'10' bytes. Please see `limits_config.max_structured_metadata_size` or contact your "
        "Loki administrator to increase it",
        f"1 errors like: stream '{stream}' has too many structured metadata labels: '2', limit: "
        "'1'. Please see `limits_config.max_structured_metadata_entries_count` or contact your "
        "Loki administrator to increase it",
    ]
    disallowed = push(body, limits=Limits(allow_structured_metadata=False))
    assert disallowed.lines == 0
    assert disallowed.error.message.endswith(
        "includes structured metadata, but this feature is disallowed. Please see "
        "`limits_config.allow_structured_metadata` or contact your Loki administrator to enable it"
    )


def test_structured_metadata_names_are_normalised():
    result = push(encode_push([('{app="a"}', [(NOW, "x", {"trace.id": "1", "2x": "y"})])]))
    assert result.table.column("structured_metadata").to_pylist() == [
        [("trace_id", "1"), ("key_2x", "y")]
    ]


def test_streams_without_entries_are_skipped():
    result = push(encode_push([('{app="a"}', []), ('{app="b"}', [(NOW, "x")])]))
    assert (result.error, result.lines, result.streams) == (None, 1, 1)


def test_all_invalid_gives_an_empty_table_with_the_schema():
    result = push(encode_push([('{app="a"}', [(NOW + HOUR, "f")])]))
    assert result.table.num_rows == 0
    assert result.table.schema == ENTRY_SCHEMA
    assert isinstance(result.table, pa.Table)


def test_encoder_body_is_what_loki_reads():
    body = encode_push([('{a="1"}', [(1_500_000_000_000_000_123, "x", {"k": "v"})])])
    request = PushRequest.FromString(bytes(cramjam.snappy.decompress_raw(body)))
    entry = request.streams[0].entries[0]
    assert (entry.timestamp.seconds, entry.timestamp.nanos) == (1_500_000_000, 123)
    # field numbers are wire facts: labels=1, entries=2; timestamp=1, line=2, metadata=3
    assert request.SerializeToString().startswith(b"\x0a")


def test_json_null_label_value_reads_as_empty_and_the_label_is_absent():
    body = json_body([{"stream": {"app": "s", "nul": None}, "values": [[str(NOW), "l"]]}])
    result = push(body, JSON)
    assert result.error is None and result.lines == 1
    assert dict(result.table.column("labels")[0].as_py()) == {"app": "s", "service_name": "s"}


def test_json_lone_surrogate_in_a_label_reads_as_the_replacement_character():
    body = b'{"streams":[{"stream":{"app":"x\\ud800"},"values":[["%d","l"]]}]}' % NOW
    result = push(body, JSON)
    assert result.error is None
    assert dict(result.table.column("labels")[0].as_py())["app"] == "x\ufffd"


def test_json_lone_surrogates_in_a_line_and_metadata_read_as_the_replacement_character():
    body = (
        b'{"streams":[{"stream":{"app":"x"},"values":[["%d","a\\ud800b"],'
        b'["%d","ok",{"k\\udc00":"v\\ud800","pair":"\\ud83d\\ude00"}]]}]}' % (NOW, NOW + 1)
    )
    result = push(body, JSON)
    assert result.error is None
    rows = result.table.to_pylist()
    assert [row["line"] for row in rows] == ["a\ufffdb", "ok"]
    assert rows[1]["structured_metadata"] == [("k_", "v\ufffd"), ("pair", "\U0001f600")]


@pytest.mark.parametrize("escape", ["\\ud800", "\\udfff", "\\U00110000"])
def test_a_label_escape_that_is_no_code_point_is_a_parse_error(escape):
    body = encode_push([('{a="1"}', [(NOW, "ok")]), ('{app="x' + escape + '"}', [(NOW, "x")])])
    result = push(body)
    assert result.table.num_rows == 0
    assert result.error == PushError(
        400,
        "couldn't parse labels: 1:6: parse error: escape sequence is an invalid Unicode code point",
    )


@pytest.mark.parametrize("escape", ["\\xff", "\\377"])
def test_label_escapes_of_bytes_that_are_not_utf8_read_as_the_replacement_character(escape):
    result = push(encode_push([('{app="a' + escape + '"}', [(NOW, "x")])]))
    assert result.error is None
    assert dict(result.table.column("labels")[0].as_py())["app"] == "a\ufffd"

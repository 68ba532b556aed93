"""`detected_level` discovery: the Arrow kernels against the per-line reading of each line, and
cases whose answers come from Loki's own field detection (its Go code, run on each input)."""

from __future__ import annotations

import re

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loglake.config import DEFAULT_LEVEL_FIELDS, Limits
from loglake.ingest.levels import (
    discover_levels,
    json_level_value,
    line_levels,
    logfmt_level_value,
    normalize_level,
    scan_line,
)
from loglake.ingest.push import build_entries, decode_push_batch
from loglake.ingest.push_proto import encode_push

NOW = 1_700_000_000_000_000_000
LEVELS = {"trace", "debug", "info", "warn", "error", "critical", "fatal"}


def is_json(line: str) -> bool:
    """Loki's `isJSON`, per line."""
    start = re.match(
        r"[\t\n\v\f\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*", line
    )
    return line[start.end() : start.end() + 1] == "{" and line.rstrip("\t\n\v\f\r ").endswith("}")


def reference(line: str, fields=DEFAULT_LEVEL_FIELDS, depth: int = 2) -> str:
    """The line's level, one line at a time through the per-line readers."""
    if is_json(line):
        value = json_level_value(line, fields, depth)
    elif "=" in line:
        value = logfmt_level_value(line, fields)
    else:
        value = ""
    level = normalize_level(value)
    return level if level in LEVELS else scan_line(line)


# Pieces that make the kernels' shortcuts and the decoder's error paths meet: names in other
# cases, quotes and escapes, `=` where a value cannot hold one, level words in and out of word
# boundaries, nested objects.
PIECES = [
    "level=info",
    "LEVEL=Warn",
    "lvl=dbg",
    "Severity=ERR",
    "severity_text=fatal",
    "log.level=trc",
    "level=",
    "level",
    'level="warn"',
    'level="in\\u0066o"',
    'level="x\\q"',
    'msg="a level=debug"',
    'msg="unterminated',
    "a=b=c",
    "=x",
    '"q"',
    "x",
    " ",
    "  ",
    "\t",
    "error",
    "ERROR:",
    "[warn]",
    "errors",
    "misc:error",
    "(info)",
    "warning!",
    "critical,",
    "Information",
    "wrn",
    "é",
    "\ufffd",
    "k\ufffd=v",
    "SEVERITY=notice",
    "level=critical",
    'time="2024-01-01T00:00:00Z"',
    "x=1",
]
JSON_PIECES = [
    '"level":"warn"',
    '"LEVEL":"ERROR"',
    '"lvl":3',
    '"lvl":"dbg"',
    '"msg":"level=info"',
    '"log":{"level":"debug"}',
    '"a":{"b":{"level":"fatal"}}',
    '"severity":"Information"',
    '"lev\\u0065l":"warn"',
    '"level":"in\\u0066o"',
    '"x":[{"level":"info"}]',
    '"text":"an error"',
    '"level":"notice"',
    '"SeverityText":"wrn"',
    '"level":""',
    '"n":null',
]

logfmt_lines = st.lists(st.sampled_from(PIECES), max_size=6).map(" ".join)
json_lines = st.lists(st.sampled_from(JSON_PIECES), max_size=4).map(
    lambda parts: "{" + ",".join(parts) + "}"
)
any_lines = st.one_of(logfmt_lines, json_lines, st.text(max_size=30))


# (stream labels, structured metadata, line, detected_level added or None, metadata after):
# each answer is what Loki's field detection (HEAD of its main branch, run as Go) gave.
LOKI_CASES = [
    ({"app": "a"}, [], "level=info msg=x", "info", []),
    ({"app": "a"}, [], 'time="2024-01-01T00:00:00Z" level=warning msg="disk full"', "warn", []),
    ({"app": "a"}, [], 'msg="a level=debug" lvl=err', "error", []),
    ({"app": "a"}, [], "a=b=c level=info", "info", []),
    ({"app": "a"}, [], "ts=1 LEVEL=Warn", "warn", []),
    ({"app": "a"}, [], "Severity=ERR lvl=dbg", "error", []),
    ({"app": "a"}, [], "level= lvl=info", "info", []),
    ({"app": "a"}, [], "level info", "info", []),
    ({"app": "a"}, [], "severity_text=fatal", "fatal", []),
    ({"app": "a"}, [], 'level="in\\u0066o"', "info", []),
    ({"app": "a"}, [], 'level="x\\q" lvl=warn', "warn", []),
    ({"app": "a"}, [], 'msg="unterminated level=info', "info", []),
    ({"app": "a"}, [], "k�=v level=error", "error", []),
    ({"app": "a"}, [], "log.level=trc", "trace", []),
    ({"app": "a"}, [], "SEVERITY=notice critical", "critical", []),
    ({"app": "a"}, [], "GET /x 500 ERROR: boom", "error", []),
    ({"app": "a"}, [], "errors=0 misc:error", "unknown", []),
    ({"app": "a"}, [], "[WARN] slow", "warn", []),
    ({"app": "a"}, [], "(info) ok", "info", []),
    ({"app": "a"}, [], "warning! hot", "warn", []),
    ({"app": "a"}, [], "it's 'warn'", "warn", []),
    ({"app": "a"}, [], "a |info| b", "info", []),
    ({"app": "a"}, [], "Information only", "unknown", []),
    ({"app": "a"}, [], "wrn", "unknown", []),
    ({"app": "a"}, [], "İNFO boot", "info", []),
    ({"app": "a"}, [], "ſeverity=warn", "warn", []),
    ({"app": "a"}, [], "nothing here", "unknown", []),
    ({"app": "a"}, [], "", "unknown", []),
    ({"app": "a"}, [], "   ", "unknown", []),
    ({"app": "a"}, [], '{"level":"warn"}', "warn", []),
    ({"app": "a"}, [], '{"LEVEL":"ERROR"}', "error", []),
    ({"app": "a"}, [], '{"lvl":3,"lvl":"dbg"}', "debug", []),
    ({"app": "a"}, [], '{"msg":"level=info"}', "info", []),
    ({"app": "a"}, [], '{"log":{"level":"debug"}}', "debug", []),
    ({"app": "a"}, [], '{"a":{"b":{"level":"fatal"}}}', "fatal", []),
    ({"app": "a"}, [], '{"lev\\u0065l":"warn"}', "warn", []),
    ({"app": "a"}, [], '{"level":"in\\u0066o"}', "unknown", []),
    ({"app": "a"}, [], '{"x":[{"level":"info"}]}', "info", []),
    ({"app": "a"}, [], '{"text":"an error"}', "error", []),
    ({"app": "a"}, [], '{"level":"notice"}', "unknown", []),
    ({"app": "a"}, [], '{"SeverityText":"wrn"}', "warn", []),
    ({"app": "a"}, [], ' {"level":"TRACE"}\n', "trace", []),
    ({"app": "a"}, [], '{"level":"info"} x', "info", []),
    ({"app": "a"}, [], '{"level":"dbg"}\xa0', "unknown", []),
    ({"app": "a"}, [], '\xa0{"level":"dbg"}', "unknown", []),
    ({"app": "a"}, [], '{"level":""} error', "error", []),
    ({"app": "a"}, [], 'key="v"level=warn', "warn", []),
    ({"app": "a"}, [], 'a="b"  c=d severity="Err"', "error", []),
    ({"app": "a"}, [], 'level="in\\u0066o" (info) Severity=ERR', "info", []),
    ({"app": "a"}, [], "level=critical", "critical", []),
    ({"app": "a"}, [], "errors", "unknown", []),
    ({"app": "a"}, [], "Severity=ERR k�=v a=b=c lvl=dbg log.level=trc", "error", []),
    ({"app": "a"}, [], 'warning! severity_text=fatal "q" log.level=trc', "fatal", []),
    ({"app": "a"}, [], "critical, Severity=ERR x=1 level =x", "critical", []),
    ({"app": "a"}, [], "Severity=ERR x=1 (info) =x lvl=dbg", "error", []),
    ({"app": "a"}, [], 'level="warn"    warning! level="in\\u0066o" level=critical', "warn", []),
    ({"app": "a"}, [], "x=1", "unknown", []),
    ({"app": "a"}, [], 'time="2024-01-01T00:00:00Z" msg="a level=debug" level=', "debug", []),
    (
        {"app": "a"},
        [],
        'x=1 msg="unterminated errors level= time="2024-01-01T00:00:00Z"',
        "unknown",
        [],
    ),
    ({"app": "a"}, [], "a=b=c", "unknown", []),
    ({"app": "a"}, [], "level=critical critical, error wrn", "critical", []),
    ({"app": "a"}, [], 'wrn errors \t "q" msg="a level=debug"', "debug", []),
    ({"app": "a"}, [], "log.level=trc x=1", "trace", []),
    ({"app": "a"}, [], "SEVERITY=notice � ERROR:", "error", []),
    ({"app": "a"}, [], "   severity_text=fatal level k�=v", "fatal", []),
    ({"app": "a"}, [], 'level="x\\q" ERROR: level="in\\u0066o" �', "error", []),
    ({"app": "a"}, [], 'lvl=dbg severity_text=fatal time="2024-01-01T00:00:00Z" x=1', "debug", []),
    ({"app": "a"}, [], "ERROR: [warn] �", "error", []),
    ({"app": "a"}, [], "wrn severity_text=fatal log.level=trc   é", "trace", []),
    ({"app": "a"}, [], "Severity=ERR", "error", []),
    ({"app": "a"}, [], "x=1 Information   ", "unknown", []),
    ({"app": "a"}, [], '[warn] LEVEL=Warn wrn level="x\\q"', "warn", []),
    ({"app": "a"}, [], "level � Severity=ERR a=b=c   ", "error", []),
    ({"app": "a"}, [], '"q" (info)', "info", []),
    ({"app": "a"}, [], '� log.level=trc level="x\\q" Information', "unknown", []),
    ({"app": "a"}, [], 'time="2024-01-01T00:00:00Z"   level="warn" critical,', "warn", []),
    ({"app": "a"}, [], "  warning! [warn] misc:error =x", "warn", []),
    ({"app": "a"}, [], '{"lvl":3}', "unknown", []),
    ({"app": "a"}, [], '{"severity":"Information"}', "info", []),
    ({"app": "a"}, [], '{"n":null}', "unknown", []),
    ({"app": "a"}, [], '{"log":{"level":"debug"},"msg":"level=info","level":""}', "debug", []),
    ({"app": "a"}, [], '{"text":"an error","level":"in\\u0066o"}', "error", []),
    ({"app": "a"}, [], '{"x":[{"level":"info"}],"lvl":3,"text":"an error"}', "info", []),
    (
        {"app": "a"},
        [],
        '{"LEVEL":"ERROR","severity":"Information","SeverityText":"wrn"}',
        "error",
        [],
    ),
    ({"app": "a"}, [], '{"level":"notice","a":{"b":{"level":"fatal"}},"level":""}', "fatal", []),
    ({"app": "a"}, [], '{"lvl":"dbg","severity":"Information"}', "debug", []),
    ({"app": "a"}, [], '{"level":"notice","level":"warn","lvl":"dbg"}', "warn", []),
    ({"app": "a"}, [], '{"log":{"level":"debug"},"LEVEL":"ERROR"}', "debug", []),
    ({"app": "a"}, [], '{"LEVEL":"ERROR","n":null}', "error", []),
    ({"app": "a", "level": "WARNING"}, [("level", "debug")], "error", "warn", [("level", "debug")]),
    ({"app": "a", "lvl": "notice"}, [], "error", "notice", []),
    ({"app": "a"}, [("detected_level", "Err")], "info", None, [("detected_level", "error")]),
    ({"app": "a"}, [("detected_level", "custom")], "info", None, [("detected_level", "custom")]),
    (
        {"app": "a"},
        [("severity_text", "Warning"), ("severity_number", "21")],
        "x",
        "warn",
        [("severity_text", "Warning"), ("severity_number", "21")],
    ),
    ({"app": "a"}, [("level", "")], "error", None, [("level", "")]),
    ({"app": "a"}, [("severity_number", "0")], "error", "unknown", [("severity_number", "0")]),
    ({"app": "a"}, [("severity_number", "4")], "error", "trace", [("severity_number", "4")]),
    ({"app": "a"}, [("severity_number", "5")], "error", "debug", [("severity_number", "5")]),
    ({"app": "a"}, [("severity_number", "12")], "error", "info", [("severity_number", "12")]),
    ({"app": "a"}, [("severity_number", "16")], "error", "warn", [("severity_number", "16")]),
    ({"app": "a"}, [("severity_number", "20")], "error", "error", [("severity_number", "20")]),
    ({"app": "a"}, [("severity_number", "24")], "error", "fatal", [("severity_number", "24")]),
    ({"app": "a"}, [("severity_number", "25")], "error", "unknown", [("severity_number", "25")]),
    ({"app": "a"}, [("severity_number", "-3")], "error", "trace", [("severity_number", "-3")]),
    ({"app": "a"}, [("severity_number", "+9")], "error", "info", [("severity_number", "+9")]),
    ({"app": "a"}, [("severity_number", "x")], "error", "info", [("severity_number", "x")]),
    (
        {"app": "a"},
        [("severity_number", "99999999999999999999")],
        "error",
        "info",
        [("severity_number", "99999999999999999999")],
    ),
    ({"app": "a"}, [("severity_number", "")], "error", "error", [("severity_number", "")]),
]


@pytest.mark.parametrize(("labels", "metadata", "line", "level", "after"), LOKI_CASES)
def test_levels_as_loki_detects_them(labels, metadata, line, level, after) -> None:
    levels, got = discover_levels(
        pa.array([line]), pa.array([0]), [tuple(sorted(labels.items()))], [tuple(metadata)]
    )
    assert (levels.to_pylist(), list(got[0])) == ([level], after)


@settings(max_examples=400, deadline=None)
@given(st.lists(any_lines, min_size=1, max_size=30))
def test_kernels_read_lines_as_the_per_line_readers_do(lines: list[str]) -> None:
    got = line_levels(pa.array(lines, pa.string())).to_pylist()
    assert got == [reference(line) for line in lines]


def build(streams, limits: Limits | None = None):
    body = encode_push(streams)
    batch = decode_push_batch(body, "application/x-protobuf", None)
    return build_entries(batch, limits or Limits(discover_log_levels=True), "t", NOW)


def metadata_of(result) -> list[dict[str, str]]:
    return [dict(m) for m in result.rows.column("structured_metadata").to_pylist()]


def test_every_accepted_entry_gets_its_level_in_order_of_precedence() -> None:
    result = build(
        [
            ('{app="a", level="WARNING"}', [(NOW, "error here", {"level": "debug"})]),
            ('{app="b"}', [(NOW, "error here", {"severity_text": "Err"})]),
            ('{app="b"}', [(NOW + 1, "error here", {"severity_number": "9"})]),
            ('{app="b"}', [(NOW + 2, "plain words")]),
            ('{app="b"}', [(NOW + 3, "x", {"detected_level": "INFO", "level": "error"})]),
            ('{app="b"}', [(NOW + 4, '{"level":"Fatal"}', {"level": ""})]),
        ]
    )
    assert result.error is None
    assert metadata_of(result) == [
        {"level": "debug", "detected_level": "warn"},
        {"severity_text": "Err", "detected_level": "error"},
        {"severity_number": "9", "detected_level": "info"},
        {"detected_level": "unknown"},
        {"detected_level": "info", "level": "error"},
        {"level": ""},
    ]
    # Loki leaves detected_level out of an entry's size.
    assert result.bytes == sum(len(x) for x in ["error here", "level", "debug"]) + sum(
        len(x)
        for x in [
            "error here",
            "severity_text",
            "Err",
            "error here",
            "severity_number",
            "9",
            "plain words",
            "x",
            "detected_level",
            "INFO",
            "level",
            "error",
            '{"level":"Fatal"}',
            "level",
        ]
    ) - len("detected_level") - len("INFO")


def test_lines_without_metadata_get_a_column_of_levels() -> None:
    result = build(
        [
            (
                '{app="a"}',
                [
                    (NOW + i, line)
                    for i, line in enumerate(
                        ["level=error msg=x", '{"lvl":"wrn"}', "GET / 200", "[DEBUG] hi"]
                    )
                ],
            )
        ]
    )
    assert metadata_of(result) == [
        {"detected_level": v} for v in ["error", "warn", "unknown", "debug"]
    ]


@pytest.mark.parametrize(
    "limits",
    [
        Limits(discover_log_levels=False),
        Limits(discover_log_levels=True, allow_structured_metadata=False),
    ],
)
def test_no_level_when_the_tenant_does_not_discover_them(limits: Limits) -> None:
    result = build([('{app="a"}', [(NOW, "level=error")])], limits)
    assert metadata_of(result) == [{}]


def test_a_tenants_own_level_fields_and_json_depth() -> None:
    limits = Limits(
        discover_log_levels=True, log_level_fields=("sev",), log_level_from_json_max_depth=1
    )
    result = build(
        [('{app="a"}', [(NOW, "level=error sev=dbg"), (NOW + 1, '{"x":{"sev":"wrn"}}')])],
        limits,
    )
    assert metadata_of(result) == [{"detected_level": "debug"}, {"detected_level": "unknown"}]
    unlimited = limits.model_copy(update={"log_level_from_json_max_depth": 0})
    deep = build([('{app="a"}', [(NOW, '{"x":{"sev":"wrn"}}')])], unlimited)
    assert metadata_of(deep) == [{"detected_level": "warn"}]


def test_discover_levels_keeps_metadata_rows_apart() -> None:
    levels, metadata = discover_levels(
        pa.array(["level=info", "x"]), pa.array([0, 0]), [(("app", "a"),)], [(), (("lvl", "E"),)]
    )
    assert levels.to_pylist() == ["info", "E"]
    assert metadata == [(), (("lvl", "E"),)]

"""Go `text/template` semantics of `line_format`/`label_format` templates, run on DuckDB.

Every expectation in `GO_CASES` and `GO_PARSE_ERRORS` was produced by Go 1.26's
`text/template` with Loki's function map (sprig v3.3.0, `missingkey=zero`, process time
zone UTC) outside the repository; the tests execute the lowered SQL on one row and compare
the output, or Go's execution error, or the parse error Loki reports.
"""

# ruff: noqa: E501 - the Go-verified case tables hold long literal strings

from __future__ import annotations

import json
import os
import re

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlglot import exp

import logql2sql
from logql2sql.errors import LogQLError, UnsupportedInDialect
from logql2sql.lexical import quote
from logql2sql.sqlbuild import lit
from logql2sql.templates import can_fail, lower_template, render_template
from tests.logql2sql.engine_cases import load_fixture

S = 10**9
LABELS = {
    "a": "Hello World",
    "n": "42",
    "f": "3.75",
    "e": "",
    "s": "  x y\t",
    "ml": "l1\nl2",
    "u": "a%20b+c%2B",
    "bad": "%zz",
    "d": "1.5h",
    "b": "10KB",
    "j": '{"x":"s","n":2,"arr":[1,2],"o":{"k":"v"},"t":true,"z":null}',
    "ja": '[{"q":"a"},{"q":"b"}]',
    "ts": "1700000000",
    "date": "2023-02-28",
    "date2": "2023-02-30",
    "iso": "2023-11-14T22:13:20.5+01:00",
    "neg": "-7",
    "é": "x",
    "uni": "héllo wörld",
}
LINE = "the XYZ line XYZ"
TS = 1700000000123456789
CORPUS = "/work/shared/logql/corpus.jsonl"


def _render(
    template: str, label: str | None = None, labels: dict[str, str] = LABELS
) -> tuple[str, str | None]:
    """(output, execution error) of a template for one row, executed on DuckDB."""
    rendered = lower_template(template, "duckdb", label)
    if labels:
        lbls = exp.Map(
            keys=exp.Array(expressions=[lit(k) for k in labels]),
            values=exp.Array(expressions=[lit(v) for v in labels.values()]),
        )
    else:
        lbls = exp.cast(exp.Map(keys=exp.Array(), values=exp.Array()), "MAP(VARCHAR, VARCHAR)")
    row = exp.select(lbls.as_("lbls"), lit(LINE).as_("line"), exp.Literal.number(TS).as_("ts"))
    error = rendered.error if rendered.error is not None else exp.Null()
    sql = exp.select(rendered.text.as_("t"), error.as_("e")).from_(row.subquery("r"))
    return duckdb.connect().execute(sql.sql("duckdb")).fetchone()


GO_CASES = [
    ("{{ .a }}", ("ok", "Hello World")),
    ("{{ .missing }}", ("ok", "")),
    (
        '{{ ToUpper .a }}|{{ .a | ToLower }}|{{ title "hello wORLD-x_y z" }}|{{ title .uni }}',
        ("ok", "HELLO WORLD|hello world|Hello WORLD-X_y Z|Héllo Wörld"),
    ),
    (
        '{{ Replace .a "o" "0" 1 }}|{{ Replace .a "o" "0" -1 }}|{{ Replace .a "o" "0" 0 }}|{{ Replace .a "" "-" 3 }}|{{ Replace .a "" "-" -1 }}|{{ Replace .e "" "-" -1 }}',
        ("ok", "Hell0 World|Hell0 W0rld|Hello World|-H-e-llo World|-H-e-l-l-o- -W-o-r-l-d-|-"),
    ),
    (
        '{{ replace "l" "L" .a }}|{{ Trim .a "Hd" }}|{{ TrimLeft .a "Hel" }}|{{ TrimRight .a "dlr" }}|{{ TrimPrefix .a "Hello" }}|{{ TrimSuffix .a "World" }}|[{{ TrimSpace .s }}]|[{{ trim .s }}]',
        ("ok", "HeLLo WorLd|ello Worl|o World|Hello Wo| World|Hello |[x y]|[x y]"),
    ),
    (
        '{{ trimAll "Hd" .a }}|{{ trimPrefix "He" .a }}|{{ trimSuffix "ld" .a }}|{{ contains "lo W" .a }}|{{ hasPrefix "He" .a }}|{{ hasSuffix "x" .a }}',
        ("ok", "ello Worl|llo World|Hello Wor|true|true|false"),
    ),
    (
        "{{ trunc 5 .a }}|{{ trunc -5 .a }}|{{ trunc 50 .a }}|{{ trunc -50 .a }}|{{ substr 0 5 .a }}|{{ substr 6 100 .a }}|{{ substr -1 3 .a }}|{{ substr 3 -1 .a }}",
        ("ok", "Hello|World|Hello World|Hello World|Hello|World|Hel|lo World"),
    ),
    (
        "{{ substr 5 3 .a }}",
        (
            "err",
            'template: line:1:3: executing "line" at <substr 5 3 .a>: error calling substr: runtime error: slice bounds out of range [5:3]',
        ),
    ),
    (
        "{{ substr -1 -1 .a }}",
        (
            "err",
            'template: line:1:3: executing "line" at <substr -1 -1 .a>: error calling substr: runtime error: slice bounds out of range [:-1]',
        ),
    ),
    (
        '{{ indent 2 .ml }}|{{ nindent 2 .ml }}|{{ repeat 3 "ab" }}|{{ b64enc .a }}|{{ urlencode "a b&c=d/é~" }}|{{ urldecode .u }}',
        ("ok", "  l1\n  l2|\n  l1\n  l2|ababab|SGVsbG8gV29ybGQ=|a+b%26c%3Dd%2F%C3%A9~|a b c+"),
    ),
    (
        "{{ urldecode .bad }}",
        (
            "err",
            'template: line:1:3: executing "line" at <urldecode .bad>: error calling urldecode: invalid URL escape "%zz"',
        ),
    ),
    (
        '{{ urldecode "abc%4" }}',
        (
            "err",
            'template: line:1:3: executing "line" at <urldecode "abc%4">: error calling urldecode: invalid URL escape "%4"',
        ),
    ),
    (
        '{{ repeat -1 "x" }}',
        (
            "err",
            'template: line:1:3: executing "line" at <repeat -1 "x">: error calling repeat: strings: negative Repeat count',
        ),
    ),
    (
        '{{ alignLeft 5 "ab" }}|{{ alignLeft 1 "ab" }}|{{ alignRight 5 "ab" }}|{{ alignRight 1 "ab" }}|{{ alignLeft -1 "ab" }}',
        ("ok", "ab   |a|   ab|b|ab"),
    ),
    (
        '{{ regexReplaceAll "(l+)o" .a "[$1]" }}|{{ regexReplaceAll "(?P<w>W\\\\w+)" .a "<${w}>" }}|{{ regexReplaceAll "o" .a "$$" }}|{{ regexReplaceAll "(o)" .a "$1x" }}|{{ regexReplaceAllLiteral "o" .a "$1\\\\" }}',
        ("ok", "He[ll] World|Hello <World>|Hell$ W$rld|Hell Wrld|Hell$1\\ W$1\\rld"),
    ),
    ('{{ count "l" .a }}|{{ count "l+" .a }}|{{ __line__ | count "XYZ" }}', ("ok", "3|2|2")),
    (
        "{{ add 1 2 }}|{{ sub 5 7 }}|{{ mul 3 4 5 }}|{{ div 7 2 }}|{{ mod 7 3 }}|{{ max 1 5 3 }}|{{ min 4 2 8 }}|{{ add .n 1 }}|{{ div .n 5 }}|{{ add .f 1 }}",
        ("ok", "3|-2|60|3|1|5|2|43|8|4"),
    ),
    (
        "{{ maxf 1 2.5 }}|{{ minf 1 2.5 }}|{{ ceil 1.2 }}|{{ floor 1.7 }}|{{ round 1.2345 2 }}|{{ round 2.5 0 }}|{{ int .f }}|{{ float64 .f }}|{{ ceil .f }}|{{ round .f 1 }}|{{ floor -1.5 }}",
        ("ok", "2.5|1|2|1|1.23|3|3|3.75|4|3.8|-2"),
    ),
    (
        "{{ div 1 0 }}",
        (
            "err",
            'template: line:1:3: executing "line" at <div 1 0>: error calling div: runtime error: integer divide by zero',
        ),
    ),
    (
        "{{ mod .n 0 }}",
        (
            "err",
            'template: line:1:3: executing "line" at <mod .n 0>: error calling mod: runtime error: integer divide by zero',
        ),
    ),
    (
        '{{ bytes .b }}|{{ duration .d }}|{{ duration_seconds "1m30s" }}|{{ bytes "1.5 GB" }}',
        ("ok", "10000|5400|90|1.5e+09"),
    ),
    # Go's Duration.Seconds() adds whole seconds and the fraction: not ns / 1e9
    ('{{ duration "14.543642159s" }}', ("ok", "14.543642159000001")),
    (
        '{{ bytes "10 XB" }}',
        (
            "err",
            'template: line:1:3: executing "line" at <bytes "10 XB">: error calling bytes: unhandled size name: xb',
        ),
    ),
    (
        '{{ duration "abc" }}',
        (
            "err",
            'template: line:1:3: executing "line" at <duration "abc">: error calling duration: time: invalid duration "abc"',
        ),
    ),
    (
        "{{ if .a }}yes{{ else }}no{{ end }}|{{ if .e }}yes{{ else if .n }}n{{ else }}no{{ end }}|{{ if not .e }}ne{{ end }}|{{ with .a }}[{{ . }}]{{ end }}|{{ with .e }}x{{ else }}empty{{ end }}",
        ("ok", "yes|n|ne|[Hello World]|empty"),
    ),
    (
        '{{ if and .a .n }}both{{ end }}|{{ or .e .n }}|{{ and .a .e }}|{{ if eq .n "42" }}42{{ end }}|{{ if ne .n "4" }}ne{{ end }}|{{ if lt .n "5" }}lt{{ end }}|{{ if gt (len .a) 5 }}long{{ end }}',
        ("ok", "both|42||42|ne|lt|long"),
    ),
    (
        '{{ eq 1 2 3 1 }}|{{ eq "a" "b" }}|{{ le 2 2 }}|{{ ge 1.5 2.5 }}|{{ ne true false }}|{{ eq .missing "" }}|{{ eq .a nil }}',
        ("ok", "true|false|true|false|true|true|false"),
    ),
    (
        "{{ lt .a nil }}",
        (
            "err",
            'template: line:1:3: executing "line" at <lt .a nil>: error calling lt: invalid type for comparison',
        ),
    ),
    (
        '{{ lt 1 "a" }}',
        (
            "err",
            'template: line:1:3: executing "line" at <lt 1 "a">: error calling lt: incompatible types for comparison: int and string',
        ),
    ),
    (
        "{{ eq 1 }}",
        (
            "err",
            'template: line:1:3: executing "line" at <eq 1>: error calling eq: missing argument for comparison',
        ),
    ),
    (
        "{{ $x := .a }}{{ $y := ToUpper $x }}{{ $y }}-{{ $x }}|{{ $.a }}|{{ len .a }}|{{ len .uni }}",
        ("ok", "HELLO WORLD-Hello World|Hello World|11|13"),
    ),
    (
        '{{ default "def" .e }}|{{ default "def" .a }}|{{ .e | default "d2" }}|{{ default 5 0 }}|{{ default 5 3 }}',
        ("ok", "def|Hello World|d2|5|3"),
    ),
    (
        "{{ $j := fromJson .j }}{{ $j.x }}|{{ $j.n }}|{{ $j.arr }}|{{ $j.o }}|{{ $j.t }}|{{ $j.z }}|{{ $j.nope }}|{{ $j.o.k }}|{{ if $j.t }}T{{ end }}|{{ if $j.z }}Z{{ else }}noZ{{ end }}",
        ("ok", "s|2|[1 2]|map[k:v]|true|<no value>|<no value>|v|T|noZ"),
    ),
    (
        "{{ range $i, $q := fromJson .ja }}{{ $i }}:{{ $q.q }};{{ end }}|{{ range fromJson .ja }}{{ .q }}{{ end }}|{{ range fromJson .e }}x{{ else }}none{{ end }}",
        ("ok", "0:a;1:b;|ab|none"),
    ),
    ("{{ (fromJson .j).x | ToUpper }}", ("ok", "S")),
    (
        "{{ ToUpper (fromJson .j).n }}",
        (
            "err",
            'template: line:1:21: executing "line" at <.j>: wrong type for value; expected string; got float64',
        ),
    ),
    (
        "{{ (fromJson .j).x.y }}",
        (
            "err",
            'template: line:1:13: executing "line" at <.j>: can\'t evaluate field y in type interface {}',
        ),
    ),
    (
        "{{ __timestamp__ }}|{{ __timestamp__ | unixEpoch }}|{{ __timestamp__ | unixEpochMillis }}|{{ __timestamp__ | unixEpochNanos }}",
        (
            "ok",
            "2023-11-14 22:13:20.123456789 +0000 UTC|1700000000|1700000000123|1700000000123456789",
        ),
    ),
    (
        '{{ date "2006-01-02T15:04:05Z07:00" __timestamp__ }}|{{ __timestamp__ | date "Jan 2 2006 3:04:05.000 PM Mon MST -0700" }}|{{ date "02/01/06 15h04 .999999 January Monday _2 002" __timestamp__ }}',
        (
            "ok",
            "2023-11-14T22:13:20Z|Nov 14 2023 10:13:20.123 PM Tue UTC +0000|14/11/23 22h13 .123456 November Tuesday 14 318",
        ),
    ),
    (
        '{{ toDate "2006-01-02" .date | unixEpoch }}|{{ toDate "2006-01-02" .date2 | unixEpoch }}|{{ unixEpoch (toDate "2006-01-02T15:04:05Z07:00" .iso) }}|{{ toDate "2006-01-02" .date }}|{{ (toDate "2006-01-02T15:04:05.999Z07:00" .iso) | unixEpochMillis }}',
        ("ok", "1677542400|-62135596800|1699996400|2023-02-28 00:00:00 +0000 UTC|1699996400500"),
    ),
    (
        '{{ toDate "2006-01-02" "bad" }}|{{ toDate "2006-01-02" "bad" | unixEpoch }}|{{ toDate "2006-01-02" "bad" | unixEpochNanos }}',
        ("ok", "0001-01-01 00:00:00 +0000 UTC|-62135596800|-6795364578871345152"),
    ),
    (
        '{{ unixToTime .ts }}|{{ unixToTime "19373" | unixEpoch }}|{{ unixToTime "1673798889902" | unixEpochMillis }}',
        ("ok", "2023-11-14 22:13:20 +0000 UTC|1673827200|1673798889902"),
    ),
    (
        '{{ unixToTime "abc" }}',
        (
            "err",
            'template: line:1:3: executing "line" at <unixToTime "abc">: error calling unixToTime: unable to parse time \'abc\': strconv.ParseInt: parsing "abc": invalid syntax',
        ),
    ),
    (
        '{{ unixToTime "123" }}',
        (
            "err",
            'template: line:1:3: executing "line" at <unixToTime "123">: error calling unixToTime: unable to parse time \'123\': %!w(<nil>)',
        ),
    ),
    (
        '{{ date "2006" 86400 }}|{{ date "15:04" (toDateInZone "2006-01-02 15:04" "UTC" "2020-05-06 07:08") }}',
        ("ok", "1970|07:08"),
    ),
    (
        '{{ printf "%s-%d-%v-%v-%t" .a 3 1.5 true false }}|{{ printf "%5d|%-5v|" 42 .n }}|{{ printf "%s" .a 7 }}',
        ("ok", "Hello World-3-1.5-true-false|   42|42   ||Hello World%!(EXTRA int=7)"),
    ),
    (
        "{{ ToUpper 1 }}",
        ("err", 'template: line:1:11: executing "line" at <1>: expected string; found 1'),
    ),
    (
        '{{ trunc "x" .a }}',
        ("err", 'template: line:1:9: executing "line" at <"x">: expected integer; found "x"'),
    ),
    (
        "{{ .a.b }}",
        (
            "err",
            'template: line:1:5: executing "line" at <.a.b>: can\'t evaluate field b in type string',
        ),
    ),
    (
        "{{ .a 1 }}",
        (
            "err",
            'template: line:1:3: executing "line" at <.a>: a is not a method but has arguments',
        ),
    ),
    ("{{ nil }}", ("err", 'template: line:1:3: executing "line" at <nil>: nil is not a command')),
    (
        '{{ 1 }}|{{ 1.5 }}|{{ -2 }}|{{ 1e6 }}|{{ 0x10 }}|{{ true }}|{{ "s" }}|{{ `raw` }}|{{ 1e21 }}|{{ 123456.0 }}|{{ 0.0001 }}|{{ 0.00001 }}|{{ -0.0 }}',
        ("ok", "1|1.5|-2|1e+06|16|true|s|raw|1e+21|123456|0.0001|1e-05|-0"),
    ),
    ("{{/* comment */}}a {{- .a -}} b {{- /* c */ -}} c", ("ok", "aHello Worldbc")),
    ("{{ if .a }}\n{{ .n }}\n{{ end }}", ("ok", "\n42\n")),
    ("{{ add 1 (len .a) }}|{{ (add 1 2) }}|{{ add (mul 2 3) (sub 10 4) }}", ("ok", "12|3|12")),
    ("{{ range $q := fromJson .ja }} {{ $q.q }} {{ end }}", ("ok", " a  b ")),
    ("{{ range fromJson .ja }}[{{ . }}]{{ end }}", ("ok", "[map[q:a]][map[q:b]]")),
    (
        "{{ range fromJson .n }}x{{ end }}",
        ("err", 'template: line:1:18: executing "line" at <.n>: range can\'t iterate over 42'),
    ),
    ('{{ add "12" "0x10" " 3" "3.0" "3.5" "abc" "010" "1e3" "-2" "+4" "1_000" }}', ("ok", "1044")),
    (
        '{{ float64 "NaN" }}|{{ int "3.7" }}|{{ int 3.7 }}|{{ float64 "010" }}|{{ float64 "1_000" }}|{{ float64 " 3" }}|{{ float64 "inf" }}|{{ float64 "1e400" }}',
        ("ok", "NaN|3|3|10|1000|0|+Inf|0"),
    ),
    (
        "{{ eq 1 1.0 }}",
        (
            "err",
            'template: line:1:3: executing "line" at <eq 1 1.0>: error calling eq: incompatible types for comparison: int and float64',
        ),
    ),
    (
        "{{ eq .n 1 }}",
        (
            "err",
            'template: line:1:3: executing "line" at <eq .n 1>: error calling eq: incompatible types for comparison: string and int',
        ),
    ),
    (
        "{{ lt true false }}",
        (
            "err",
            'template: line:1:3: executing "line" at <lt true false>: error calling lt: invalid type for comparison',
        ),
    ),
    (
        "{{ 1 | ToUpper }}",
        (
            "err",
            'template: line:1:7: executing "line" at <ToUpper>: wrong type for value; expected string; got int',
        ),
    ),
    (
        "{{ trunc 1.5 .a }}",
        ("err", 'template: line:1:9: executing "line" at <1.5>: expected integer; found 1.5'),
    ),
    (
        "{{ mod 1 0 }}",
        (
            "err",
            'template: line:1:3: executing "line" at <mod 1 0>: error calling mod: runtime error: integer divide by zero',
        ),
    ),
]
GO_PARSE_ERRORS = [
    ("{{ if }}", "invalid line template: template: line:1: missing value for if"),
    ("{{ if .a }}x", "invalid line template: template: line:1: unexpected EOF"),
    ("a\n{{ end }}", "invalid line template: template: line:2: unexpected {{end}}"),
    ("{{ $x }}", 'invalid line template: template: line:1: undefined variable "$x"'),
    (
        "{{ .a | 1 }}",
        "invalid line template: template: line:1: non executable command in pipeline stage 2",
    ),
    ("{{ (1 }}", "invalid line template: template: line:1: unclosed left paren"),
    ('{{ "abc }}', "invalid line template: template: line:1: unterminated quoted string"),
    ("x\n\n{{ foo }}", 'invalid line template: template: line:3: function "foo" not defined'),
    ("{{ else }}", "invalid line template: template: line:1: unexpected {{else}}"),
    ("{{ 1.a }}", 'invalid line template: template: line:1: bad number syntax: "1.a"'),
    ("{{ 08 }}", 'invalid line template: template: line:1: integer overflow: "08"'),
    (
        "{{ 99999999999999999999 }}",
        'invalid line template: template: line:1: integer overflow: "99999999999999999999"',
    ),
    ("{{ # }}", 'invalid line template: template: line:1: unexpected "#" in command'),
    (
        "{{/* x */ }}",
        "invalid line template: template: line:1: comment ends before closing delimiter",
    ),
    ("{{ .a b }}", 'invalid line template: template: line:1: function "b" not defined'),
    (
        "{{ if .a }}{{ else if .b }}{{ else }}{{ else }}{{ end }}",
        "invalid line template: template: line:1: expected end; found {{else}}",
    ),
    ("{{ .a", "invalid line template: template: line:1: unclosed action"),
    ("{{ .a\n", "invalid line template: template: line:2: unclosed action started at line:1"),
    ("{{\n.a\n", "invalid line template: template: line:3: unclosed action started at line:1"),
    (
        "{{ if .a }}{{ else with .b }}{{ end }}",
        "invalid line template: template: line:1: unexpected <with> in input",
    ),
    ("{{-.a}}", 'invalid line template: template: line:1: bad number syntax: "-.a"'),
    ("{{ /* c */ }}", 'invalid line template: template: line:1: unexpected "/" in command'),
    (
        "{{ range $i, $v := .a }}{{ $i }}{{ end }}{{ $i }}",
        'invalid line template: template: line:1: undefined variable "$i"',
    ),
    (
        "{{ range $i, $v, $w := .a }}{{end}}",
        "invalid line template: template: line:1: too many declarations in range",
    ),
    (
        "{{ $x, $y := .a }}",
        "invalid line template: template: line:1: too many declarations in command",
    ),
    ("{{ - }}", 'invalid line template: template: line:1: illegal number syntax: "-"'),
    ("{{ true.x }}", 'invalid line template: template: line:1: unexpected . after term "true"'),
    ("{{ | .a }}", 'invalid line template: template: line:1: unexpected "|" in command'),
    ("{{ .a || .b }}", 'invalid line template: template: line:1: unexpected "|" in command'),
    ("{{ ) }}", "invalid line template: template: line:1: unexpected right paren"),
    ("{{ ( }}", "invalid line template: template: line:1: unclosed left paren"),
    ("{{ end }}", "invalid line template: template: line:1: unexpected {{end}}"),
    ("{{ break }}", "invalid line template: template: line:1: {{break}} outside {{range}}"),
    (
        "{{ if .a }}\n{{ else }}\n{{ end }}\n{{ end }}",
        "invalid line template: template: line:4: unexpected {{end}}",
    ),
    ("{{ .a = 1 }}", 'invalid line template: template: line:1: unexpected "=" in operand'),
    ("{{ a:b }}", 'invalid line template: template: line:1: function "a" not defined'),
    ("{{ .a:b }}", "invalid line template: template: line:1: expected :="),
    ('{{ "\\q" }}', "invalid line template: template: line:1: invalid syntax"),
    (
        "text {{ .a }} text\n{{ .b }}\n{{ nosuch }}",
        'invalid line template: template: line:3: function "nosuch" not defined',
    ),
    ("{{{ .a }}", 'invalid line template: template: line:1: unexpected "{" in command'),
    ("{{ .a }", 'invalid line template: template: line:1: unexpected "}" in operand'),
    ("{{ é }}", 'invalid line template: template: line:1: function "é" not defined'),
    ("{{ ~ }}", 'invalid line template: template: line:1: unexpected "~" in command'),
    ("{{ .a.1 }}", 'invalid line template: template: line:1: unexpected ".1" in operand'),
    ("{{ 1..2 }}", 'invalid line template: template: line:1: unexpected ".2" in operand'),
]

LABELS_2 = {
    "a": "Hello",
    "n": "42",
    "e": "",
    "j": '{"x":"s","n":2.5,"arr":[1,"b",null,true],"o":{"k":"v"},"z":null,"big":1e300,"small":1e-7,"i":12345678}',
    "ja": "[1,2,3]",
    "jo": '{"b":[1],"a":{"c":1}}',
    "d1": "2023-01-05 7:08:09",
    "d2": "2023-01-05 07:08:09.123456789",
    "d3": "2023-01-05T07:08:09-05:30",
    "d4": "05/01/2023",
    "d5": "2023-13-01",
    "d6": "2024-02-29",
    "d7": "2023-02-29",
    "d8": "2023-01-05 24:00:00",
    "d9": "2023-01-05 07:08:09,5",
}
GO_CASES_2 = [
    (
        '{{ if and .a (eq .n "42") }}A{{ end }}|{{ if or .e (eq .n "4") }}B{{ else }}C{{ end }}|{{ if not (and .a (lt 1 0)) }}D{{ end }}|{{ if and .e (div 1 0) }}E{{ end }}|{{ with or .e (eq .n "42") }}F{{ end }}',
        ("ok", "A|C|D||F"),
    ),
    ("{{ if or .a (div 1 0) }}G{{ end }}", ("ok", "G")),
    (
        "{{ if and .a (div 1 0) }}G{{ end }}",
        (
            "err",
            'template: line:1:14: executing "line" at <div 1 0>: error calling div: runtime error: integer divide by zero',
        ),
    ),
    ("{{ (fromJson .e).x }}", ("ok", "<no value>")),
    (
        "{{ $j := fromJson .j }}{{ $j.z.y }}",
        (
            "err",
            'template: line:1:28: executing "line" at <$j.z.y>: nil pointer evaluating interface {}.y',
        ),
    ),
    (
        "{{ $j := fromJson .j }}{{ $j.q.y }}",
        (
            "err",
            'template: line:1:28: executing "line" at <$j.q.y>: nil pointer evaluating interface {}.y',
        ),
    ),
    (
        "line1\n{{ .a }}\n  {{ div 1 0 }}",
        (
            "err",
            'template: line:3:5: executing "line" at <div 1 0>: error calling div: runtime error: integer divide by zero',
        ),
    ),
    (
        "{{ if .a }}\n{{ with .e }}x{{ else }}{{ div 2 0 }}{{ end }}{{ end }}",
        (
            "err",
            'template: line:2:27: executing "line" at <div 2 0>: error calling div: runtime error: integer divide by zero',
        ),
    ),
    ("{{ range $i, $v := fromJson .ja }}{{ if $i }},{{ end }}{{ $v }}{{ end }}", ("ok", "1,2,3")),
    ("{{ range fromJson .ja }}{{ $.a }}{{ . }}{{ end }}", ("ok", "Hello1Hello2Hello3")),
    ("{{ if .a }}{{ $x := .n }}{{ $x }}{{ end }}", ("ok", "42")),
    (
        "{{ $j := fromJson .j }}{{ $j.arr }}|{{ $j.big }}|{{ $j.small }}|{{ $j.i }}|{{ len $j.arr }}|{{ len $j }}|{{ $j.o }}",
        ("ok", "[1 b <nil> true]|1e+300|1e-07|1.2345678e+07|4|8|map[k:v]"),
    ),
    (
        "{{ len (fromJson .j).n }}",
        (
            "err",
            'template: line:1:3: executing "line" at <len (fromJson .j).n>: error calling len: len of type float64',
        ),
    ),
    (
        "{{ and .a .n .e }}|{{ or .e .e }}|{{ or .e .a }}|{{ not .a }}|{{ not (fromJson .j).z }}",
        ("ok", "||Hello|false|true"),
    ),
    (
        '{{ printf "%v %v" 1 }}|{{ printf "x" 1 2.5 true .a }}|{{ printf "%5.2s|%-6d|" .a 7 }}',
        (
            "ok",
            "1 %!v(MISSING)|x%!(EXTRA int=1, float64=2.5, bool=true, string=Hello)|   He|7     |",
        ),
    ),
    (
        '{{ toDate "2006-01-02 15:04:05" .d1 | unixEpoch }}|{{ toDate "2006-01-02 15:04:05.000000000" .d2 | unixEpochNanos }}|{{ toDate "2006-01-02T15:04:05Z07:00" .d3 | unixEpoch }}|{{ toDate "02/01/2006" .d4 | unixEpoch }}',
        ("ok", "1672902489|1672902489123456789|1672922289|1672876800"),
    ),
    (
        '{{ toDate "2006-01-02" .d5 | unixEpoch }}|{{ toDate "2006-01-02" .d6 | unixEpoch }}|{{ toDate "2006-01-02" .d7 | unixEpoch }}|{{ toDate "2006-01-02 15:04:05" .d8 | unixEpoch }}|{{ toDate "2006-01-02 15:04:05" .d9 | unixEpochMillis }}',
        ("ok", "-62135596800|1709164800|-62135596800|-62135596800|1672902489500"),
    ),
    (
        '{{ toDate "2006-01-02 15:04:05.999" .d2 | unixEpochNanos }}|{{ toDate "2006-01-02 15:04:05" .d2 | unixEpochNanos }}',
        ("ok", "1672902489123456789|1672902489123456789"),
    ),
    (
        '{{ date "2006-01-02 15:04:05.000 Z0700" (toDate "2006-01-02" .d6) }}|{{ date "3:04PM" (unixToTime "1700000000") }}|{{ date "06 Jan _2 __2 002" (unixToTime "1700000000") }}',
        ("ok", "2024-02-29 00:00:00.000 Z|10:13PM|23 Nov 14 318 318"),
    ),
    (
        '{{ unixToTime "-1700000000" | unixEpoch }}|{{ unixToTime "-1" }}',
        (
            "err",
            'template: line:1:3: executing "line" at <unixToTime "-1700000000">: error calling unixToTime: unable to parse time \'-1700000000\': %!w(<nil>)',
        ),
    ),
    (
        '{{ unixToTime "99999999999999999999" }}',
        (
            "err",
            'template: line:1:3: executing "line" at <unixToTime "99999999999999999999">: error calling unixToTime: unable to parse time \'99999999999999999999\': strconv.ParseInt: parsing "99999999999999999999": value out of range',
        ),
    ),
    ('{{ .a | printf "%s!" | ToUpper | printf "<%s>" }}', ("ok", "<HELLO!>")),
    (
        '{{ regexReplaceAll "(\\\\w)(\\\\w*)" .a "$2$1ay" }}|{{ regexReplaceAll "l" .a "${0}${1}$x" }}',
        ("ok", "ello|Hello"),
    ),
    (
        "{{ if eq (len .a) 5 }}five{{ end }}|{{ if gt (add .n 1) 40 }}big{{ end }}|{{ if lt (float64 .n) 50.5 }}lt{{ end }}",
        ("ok", "five|big|lt"),
    ),
    ("{{ eq (add 1 1) 2 }}", ("ok", "true")),
    ('{{ sub "10" "0x0A" }}|{{ mul "2" 3 1.5 }}|{{ add }}', ("ok", "0|6|0")),
    (
        '{{ round 1.005 2 }}|{{ round -1.5 0 }}|{{ round 1.45 1 0.4 }}|{{ ceil "2.1" }}|{{ floor "x" }}',
        ("ok", "1|-2|1.5|3|0"),
    ),
    ('{{ maxf 1 "NaN" }}|{{ minf 2 "-inf" 3 }}|{{ max "7" 9 "x" }}', ("ok", "NaN|-Inf|9")),
]


@pytest.mark.parametrize(("template", "expected"), GO_CASES)
def test_templates_render_as_go_renders_them(template, expected):
    text, error = _render(template)
    assert (("err", error) if error is not None else ("ok", text)) == expected


@pytest.mark.parametrize(("template", "expected"), GO_CASES_2)
def test_control_flow_json_dates_and_numbers_render_as_go_renders_them(template, expected):
    text, error = _render(template, labels=LABELS_2)
    assert (("err", error) if error is not None else ("ok", text)) == expected


@pytest.mark.parametrize(("template", "message"), GO_PARSE_ERRORS)
def test_parse_errors_are_worded_as_loki_words_them(template, message):
    with pytest.raises(LogQLError) as info:
        lower_template(template, "duckdb")
    assert str(info.value) == message
    assert not isinstance(info.value, UnsupportedInDialect)


@pytest.mark.parametrize(
    ("template", "message"),
    [
        (
            "a\n{{ nosuch }}",
            "invalid template for label 'dst': template: label:2: function \"nosuch\" not defined",
        ),
        ("{{", "invalid template for label 'dst': template: label:1: unclosed action"),
        ("x\n{{ if .a }}", "invalid template for label 'dst': template: label:2: unexpected EOF"),
    ],
)
def test_label_template_errors_name_the_label(template, message):
    with pytest.raises(LogQLError, match=re.escape(message)):
        render_template(template, "duckdb", "dst")


def test_label_template_execution_errors_name_the_label_template():
    assert _render("{{ div 1 0 }}", label="x")[1] == (
        'template: label:1:3: executing "label" at <div 1 0>: '
        "error calling div: runtime error: integer divide by zero"
    )


@pytest.mark.parametrize(
    ("template", "construct"),
    [
        ('{{ toDateInZone "2006" "Europe/Oslo" .a }}', "toDateInZone with a zone other than"),
        ('{{ toDateInZone "2006" .a .a }}', "toDateInZone with a zone other than"),
        ('{{ count "a*" .a }}', "regex that can match the empty string"),
        ("{{ count .a .a }}", "non-literal regex"),
        ("{{ now }}", "printing `now`"),
        ('{{ toDate "Jan 2006" .a }}', "toDate layout element 'Jan'"),
        ("{{ 'a' }}", "character constant"),
        ('{{ and .a (eq .a "x") }}', "printing and/or of values of different types"),
        ('{{ printf "%x" 1 }}', "printf verb '%x'"),
        ("{{ range .a }}x{{ end }}", "range over string"),
        ('{{ toDate "2006-01-02Z07:00" .a }}', "printing a time parsed with a zone offset"),
        ('{{ default "x" (fromJson .a) }}', "default of string and interface {}"),
    ],
)
def test_constructs_without_exact_sql_are_named_as_unsupported(template, construct):
    with pytest.raises(UnsupportedInDialect, match=re.escape(construct)):
        lower_template(template, "duckdb")


def test_now_is_the_engine_clock():
    before = duckdb.connect().execute("SELECT epoch(now())").fetchone()[0]
    text, error = _render("{{ unixEpoch now }}|{{ now | unixEpochMillis }}")
    seconds, millis = map(int, text.split("|"))
    assert error is None
    assert seconds >= int(before) - 1
    assert millis // 1000 == seconds


def test_date_of_a_non_time_formats_the_current_time():
    this_year = duckdb.connect().execute("SELECT year(now())").fetchone()[0]
    assert _render('{{ date "2006" .a }}')[0] in (str(this_year), str(this_year + 1))


TEXT = st.characters(exclude_characters="{}", exclude_categories=("Cs",))
"""Template text: a lone surrogate is no UTF-8, so no query holds one (`st.text()`'s own
alphabet, used for label values, already leaves them out)."""


@given(
    st.lists(
        st.one_of(
            st.text(TEXT, max_size=5).map(lambda t: ("t", t)),
            st.sampled_from(["a", "b", "missing", "x_1"]).map(lambda n: ("f", n)),
        ),
        max_size=6,
    ),
    st.dictionaries(st.sampled_from(["a", "b", "x_1"]), st.text(max_size=6), max_size=3),
)
@settings(max_examples=60, deadline=None)
def test_text_and_fields_render_the_label_values(parts, labels):
    template = "".join(v if kind == "t" else "{{ ." + v + " }}" for kind, v in parts)
    expected = "".join(v if kind == "t" else labels.get(v, "") for kind, v in parts)
    assert _render(template, labels=labels) == (expected, None)
    assert not can_fail(template)


# ------------------------------------------------------------------ stages in queries


def _query(query: str, labels: dict[str, str], line: str = "orig") -> list[tuple]:
    con = duckdb.connect()
    load_fixture(con, [{"labels": labels, "entries": [[str(10 * S), line, {}]]}])
    return con.execute(logql2sql.translate(query, start=0, end=60 * S)).fetchall()


DIV_ERROR = (
    'template: line:1:3: executing "line" at <div .a 0>: '
    "error calling div: runtime error: integer divide by zero"
)


def test_failing_line_format_keeps_the_line_and_sets_template_format_err():
    rows = _query(
        '{app="z"} | label_format k="v" | line_format "{{ div .a 0 }}"', {"app": "z", "a": "7"}
    )
    (_, line, labels, _) = rows[0]
    assert line == "orig"
    assert labels["__error__"] == "TemplateFormatErr"
    assert labels["__error_details__"] == DIV_ERROR


def test_failing_line_format_alone_sets_template_format_err():
    rows = _query('{app="z"} | line_format "{{ div .a 0 }}"', {"app": "z", "a": "7"})
    assert rows[0][2]["__error__"] == "TemplateFormatErr"


def test_line_format_replaces_an_earlier_error():
    rows = _query(
        '{app="z"} | json | line_format "{{ div .a 0 }}"', {"app": "z", "a": "7"}, "not json"
    )
    assert rows[0][2]["__error__"] == "TemplateFormatErr"
    assert rows[0][2]["__error_details__"] == DIV_ERROR


def test_label_format_templates_see_the_labels_as_at_the_first_template():
    labels = {"app": "z", "a": "1", "b": "2"}
    rows = _query('{app="z"} | label_format d=b, a="{{.b}}-x", c="{{.a}}{{.d}}", e=a', labels)
    got = rows[0][2]
    # d=b moves b before the first template runs; e=a then moves the new value of a
    assert got == {"app": "z", "c": "12", "d": "2", "e": "-x"}


def test_failing_label_format_item_leaves_its_label_unset_and_the_last_error_wins():
    rows = _query(
        '{app="z"} | label_format x="{{ div .a 0 }}", y="ok", w="{{ urldecode .p }}"',
        {"app": "z", "a": "7", "x": "old", "p": "%g"},
    )
    got = rows[0][2]
    assert (got["x"], got["y"], got["__error__"]) == ("old", "ok", "TemplateFormatErr")
    assert got["__error_details__"] == (
        'template: label:1:3: executing "label" at <urldecode .p>: '
        'error calling urldecode: invalid URL escape "%g"'
    )


def test_metric_query_over_a_failing_template_fails_like_loki():
    with pytest.raises(duckdb.Error, match="TemplateFormatErr"):
        _query(
            'count_over_time({app="z"} | label_format x="{{ div .a 0 }}" [1m])',
            {"app": "z", "a": "7"},
        )


def test_dialects_keep_portable_templates_and_refuse_the_rest():
    query = '{app="z"} | line_format "{{ .a | ToUpper }} {{ __line__ }}"'
    for dialect in ("trino", "spark", "clickhouse"):
        logql2sql.translate(query, dialect=dialect, start=0, end=S)
        with pytest.raises(UnsupportedInDialect, match="template function add"):
            logql2sql.translate(
                '{a="b"} | line_format "{{ add 1 .a }}"', dialect=dialect, start=0, end=S
            )


# ------------------------------------------------------------------ the corpus


UNTRANSLATED = {
    # Loki rejects these when it builds the stage (the query fails with this message)
    'bytes_over_time({app="a"} | line_format "{{ nosuchfunc }}" [1m])': 'function "nosuchfunc" not defined',
    'count_over_time({app="a"} | label_format x="{{" [1m])': "unclosed action",
}


@pytest.mark.skipif(not os.path.exists(CORPUS), reason="shared LogQL corpus not present")
def test_every_corpus_template_translates():
    failures = {}
    count = 0
    with open(CORPUS) as f:
        for raw in f:
            case = json.loads(raw)
            query = case["q"]
            if case.get("status") != "valid" or not re.search(r"(line|label)_format", query):
                continue
            count += 1
            try:
                logql2sql.translate(query, start=0, end=60 * S)
            except LogQLError as e:
                failures[query] = str(e)
    assert count >= 100
    assert set(failures) == set(UNTRANSLATED)
    for query, message in UNTRANSLATED.items():
        assert message in failures[query]
        assert not isinstance(failures[query], UnsupportedInDialect)


def test_quote_round_trips_templates_into_queries():
    template = '{{ Replace .q "\\n" "" -1 }}'
    rows = _query('{app="z"} | line_format ' + quote(template), {"app": "z", "q": "a\nb"})
    assert rows[0][1] == "ab"

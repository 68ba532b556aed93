"""Go's `index`, `slice`, `call` and `js` builtins, and variable assignment (`$x = …`), in
`line_format`/`label_format` templates.

Every expectation in `GO_BUILTIN_CASES` and `GO_ASSIGNMENT_CASES` was produced by Go 1.26's `text/template` with
`missingkey=zero`, `fromJson` as sprig's and sprig v3.3.0's `add`/`trunc`, over the labels of
`test_templates.LABELS`, outside the repository; the tests execute the lowered SQL on one row
and compare the output or Go's execution error. `RUN_TIME_REFUSALS` are the cases whose Go
result has no SQL counterpart: the query fails naming the construct.
"""

# ruff: noqa: E501 - the Go-verified case tables hold long literal strings

from __future__ import annotations

import duckdb
import pytest

from logql2sql.errors import UnsupportedInDialect
from logql2sql.templates import lower_template
from tests.logql2sql.test_templates import _render

GO_BUILTIN_CASES = [
    ('{{ index . "a" }}', ("ok", "Hello World")),
    ('[{{ index . "missing" }}]', ("ok", "[]")),
    ("[{{ index . .n }}]", ("ok", "[]")),
    (
        "{{ index . 1 }}",
        (
            "err",
            'template: line:1:3: executing "line" at <index . 1>: error calling index: value has type int; should be string',
        ),
    ),
    (
        "{{ index . nil }}",
        (
            "err",
            'template: line:1:3: executing "line" at <index . nil>: error calling index: value is nil; should be of type string',
        ),
    ),
    ('{{ index . "a" 0 }}', ("ok", "72")),
    ("{{ index .a 1 }}", ("ok", "101")),
    (
        "{{ index .a 11 }}",
        (
            "err",
            'template: line:1:3: executing "line" at <index .a 11>: error calling index: reflect: string index out of range',
        ),
    ),
    (
        "{{ index .a 12 }}",
        (
            "err",
            'template: line:1:3: executing "line" at <index .a 12>: error calling index: index out of range: 12',
        ),
    ),
    (
        "{{ index .a -1 }}",
        (
            "err",
            'template: line:1:3: executing "line" at <index .a -1>: error calling index: index out of range: -1',
        ),
    ),
    (
        '{{ index .a "x" }}',
        (
            "err",
            'template: line:1:3: executing "line" at <index .a "x">: error calling index: cannot index slice/array with type string',
        ),
    ),
    (
        "{{ index .a nil }}",
        (
            "err",
            'template: line:1:3: executing "line" at <index .a nil>: error calling index: cannot index slice/array with nil',
        ),
    ),
    (
        "{{ index .e 0 }}",
        (
            "err",
            'template: line:1:3: executing "line" at <index .e 0>: error calling index: reflect: string index out of range',
        ),
    ),
    ('{{ index (fromJson .j) "x" }}', ("ok", "s")),
    ('{{ index (fromJson .j) "n" }}', ("ok", "2")),
    ('{{ index (fromJson .j) "arr" 1 }}', ("ok", "2")),
    ('{{ index (fromJson .j) "o" "k" }}', ("ok", "v")),
    ('{{ index (fromJson .j) "missing" }}', ("ok", "<no value>")),
    ('{{ index (fromJson .j) "z" }}', ("ok", "<no value>")),
    (
        '{{ index (fromJson .j) "z" "k" }}',
        (
            "err",
            'template: line:1:3: executing "line" at <index (fromJson .j) "z" "k">: error calling index: index of nil pointer',
        ),
    ),
    (
        '{{ index (fromJson .j) "missing" "k" }}',
        (
            "err",
            'template: line:1:3: executing "line" at <index (fromJson .j) "missing" "k">: error calling index: index of nil pointer',
        ),
    ),
    (
        "{{ index (fromJson .j) 1 }}",
        (
            "err",
            'template: line:1:3: executing "line" at <index (fromJson .j) 1>: error calling index: value has type int; should be string',
        ),
    ),
    (
        '{{ index (fromJson .j) "n" 0 }}',
        (
            "err",
            'template: line:1:3: executing "line" at <index (fromJson .j) "n" 0>: error calling index: can\'t index item of type float64',
        ),
    ),
    (
        '{{ index (fromJson .j) "t" 0 }}',
        (
            "err",
            'template: line:1:3: executing "line" at <index (fromJson .j) "t" 0>: error calling index: can\'t index item of type bool',
        ),
    ),
    ('{{ index (fromJson .ja) 1 "q" }}', ("ok", "b")),
    (
        "{{ index (fromJson .ja) 2 }}",
        (
            "err",
            'template: line:1:3: executing "line" at <index (fromJson .ja) 2>: error calling index: reflect: slice index out of range',
        ),
    ),
    (
        '{{ index (fromJson .ja) "q" }}',
        (
            "err",
            'template: line:1:3: executing "line" at <index (fromJson .ja) "q">: error calling index: cannot index slice/array with type string',
        ),
    ),
    (
        '{{ index (fromJson .bad) "q" }}',
        (
            "err",
            'template: line:1:3: executing "line" at <index (fromJson .bad) "q">: error calling index: index of untyped nil',
        ),
    ),
    ('{{ index (fromJson .j) (index (fromJson .j) "x") }}', ("ok", "<no value>")),
    (
        '{{ index (fromJson .ja) (index (fromJson .j) "n") }}',
        (
            "err",
            'template: line:1:3: executing "line" at <index (fromJson .ja) (index (fromJson .j) "n")>: error calling index: cannot index slice/array with type float64',
        ),
    ),
    (
        '{{ index (fromJson .j) "arr" (index (fromJson .j) "z") }}',
        (
            "err",
            'template: line:1:3: executing "line" at <index (fromJson .j) "arr" (index (fromJson .j) "z")>: error calling index: cannot index slice/array with nil',
        ),
    ),
    ('{{ index (fromJson .j) "o" }}', ("ok", "map[k:v]")),
    ('{{ "a" | index . }}', ("ok", "Hello World")),
    ('{{ index "abc" 1 }}', ("ok", "98")),
    (
        "{{ index 5 1 }}",
        (
            "err",
            'template: line:1:3: executing "line" at <index 5 1>: error calling index: can\'t index item of type int',
        ),
    ),
    (
        "{{ index nil 1 }}",
        (
            "err",
            'template: line:1:3: executing "line" at <index nil 1>: error calling index: index of untyped nil',
        ),
    ),
    (
        "{{ index }}",
        (
            "err",
            'template: line:1:3: executing "line" at <index>: wrong number of args for index: want at least 1 got 0',
        ),
    ),
    ('{{ (index (fromJson .j) "o").k }}', ("ok", "v")),
    ('{{ (index (fromJson .j) "z").k }}', ("ok", "<no value>")),
    (
        '{{ (index (fromJson .j) "o").k.m }}',
        (
            "err",
            'template: line:1:24: executing "line" at <"o">: can\'t evaluate field m in type interface {}',
        ),
    ),
    ('{{ if index (fromJson .j) "t" }}yes{{ end }}', ("ok", "yes")),
    ("{{ eq (index .a 0) 72 }}", ("ok", "true")),
    ('{{ index . "a" | ToUpper }}', ("ok", "HELLO WORLD")),
    ("{{ index .uni 1 }}", ("ok", "195")),
    (
        '{{ index (fromJson .j) "x" 5 }}',
        (
            "err",
            'template: line:1:3: executing "line" at <index (fromJson .j) "x" 5>: error calling index: index out of range: 5',
        ),
    ),
    (
        "{{ index 1.5 0 }}",
        (
            "err",
            'template: line:1:3: executing "line" at <index 1.5 0>: error calling index: can\'t index item of type float64',
        ),
    ),
    (
        '{{ index . "a" "b" }}',
        (
            "err",
            'template: line:1:3: executing "line" at <index . "a" "b">: error calling index: cannot index slice/array with type string',
        ),
    ),
    (
        "{{ index .a 99999999999 }}",
        (
            "err",
            'template: line:1:3: executing "line" at <index .a 99999999999>: error calling index: index out of range: 99999999999',
        ),
    ),
    ('{{ index (fromJson "[1,2,3]") 0 }}', ("ok", "1")),
    (
        '{{ index (fromJson .j) "arr" 1.0 }}',
        (
            "err",
            'template: line:1:3: executing "line" at <index (fromJson .j) "arr" 1.0>: error calling index: cannot index slice/array with type float64',
        ),
    ),
    (
        "{{ index (fromJson .j) true }}",
        (
            "err",
            'template: line:1:3: executing "line" at <index (fromJson .j) true>: error calling index: value has type bool; should be string',
        ),
    ),
    ('{{ index . "a" | len }}', ("ok", "11")),
    ('{{ $m := fromJson .j }}{{ index $m "x" }}', ("ok", "s")),
    (
        "{{ index .a (index .a 0) }}",
        (
            "err",
            'template: line:1:3: executing "line" at <index .a (index .a 0)>: error calling index: index out of range: 72',
        ),
    ),
    (
        '{{ index (fromJson "{\\"a\\":{\\"b\\":[10,{\\"c\\":\\"deep\\"}]}}") "a" "b" 1 "c" }}',
        ("ok", "deep"),
    ),
    (
        '{{ index (fromJson "[]") 0 }}',
        (
            "err",
            'template: line:1:3: executing "line" at <index (fromJson "[]") 0>: error calling index: reflect: slice index out of range',
        ),
    ),
    (
        '{{ index (fromJson "[1]") -1 }}',
        (
            "err",
            'template: line:1:3: executing "line" at <index (fromJson "[1]") -1>: error calling index: index out of range: -1',
        ),
    ),
    ("{{ slice .a 1 3 }}", ("ok", "el")),
    ("{{ slice .a }}", ("ok", "Hello World")),
    ("{{ slice .a 6 }}", ("ok", "World")),
    (
        "{{ slice .a 3 1 }}",
        (
            "err",
            'template: line:1:3: executing "line" at <slice .a 3 1>: error calling slice: invalid slice index: 3 > 1',
        ),
    ),
    (
        "{{ slice .a 1 2 3 }}",
        (
            "err",
            'template: line:1:3: executing "line" at <slice .a 1 2 3>: error calling slice: cannot 3-index slice a string',
        ),
    ),
    (
        "{{ slice .a 1 2 3 4 }}",
        (
            "err",
            'template: line:1:3: executing "line" at <slice .a 1 2 3 4>: error calling slice: too many slice indexes: 4',
        ),
    ),
    (
        "{{ slice .a 0 12 }}",
        (
            "err",
            'template: line:1:3: executing "line" at <slice .a 0 12>: error calling slice: index out of range: 12',
        ),
    ),
    ("{{ slice .a 0 11 }}", ("ok", "Hello World")),
    (
        "{{ slice .a -1 }}",
        (
            "err",
            'template: line:1:3: executing "line" at <slice .a -1>: error calling slice: index out of range: -1',
        ),
    ),
    (
        '{{ slice .a "x" }}',
        (
            "err",
            'template: line:1:3: executing "line" at <slice .a "x">: error calling slice: cannot index slice/array with type string',
        ),
    ),
    (
        "{{ slice nil }}",
        (
            "err",
            'template: line:1:3: executing "line" at <slice nil>: error calling slice: slice of untyped nil',
        ),
    ),
    (
        "{{ slice 5 }}",
        (
            "err",
            'template: line:1:3: executing "line" at <slice 5>: error calling slice: can\'t slice item of type int',
        ),
    ),
    (
        "{{ slice . }}",
        (
            "err",
            'template: line:1:3: executing "line" at <slice .>: error calling slice: can\'t slice item of type map[string]string',
        ),
    ),
    (
        "{{ slice (fromJson .j) }}",
        (
            "err",
            'template: line:1:3: executing "line" at <slice (fromJson .j)>: error calling slice: can\'t slice item of type map[string]interface {}',
        ),
    ),
    ('{{ slice (index (fromJson .j) "arr") 1 }}', ("ok", "[2]")),
    ('{{ slice (index (fromJson .j) "arr") 0 2 2 }}', ("ok", "[1 2]")),
    ('{{ slice (index (fromJson .j) "x") 0 1 }}', ("ok", "s")),
    (
        '{{ slice (index (fromJson .j) "z") }}',
        (
            "err",
            'template: line:1:3: executing "line" at <slice (index (fromJson .j) "z")>: error calling slice: slice of untyped nil',
        ),
    ),
    (
        "{{ .a | slice 1 }}",
        (
            "err",
            'template: line:1:8: executing "line" at <slice 1>: error calling slice: can\'t slice item of type int',
        ),
    ),
    ("{{ len (slice .a 2) }}", ("ok", "9")),
    ('{{ slice (fromJson "[1,2,3,4,5]") 0 5 }}', ("ok", "[1 2 3 4 5]")),
    ('{{ slice (fromJson "[1,2,3,4,5]") 2 4 5 }}', ("ok", "[3 4]")),
    (
        '{{ slice .a (index (fromJson .j) "n") }}',
        (
            "err",
            'template: line:1:3: executing "line" at <slice .a (index (fromJson .j) "n")>: error calling slice: cannot index slice/array with type float64',
        ),
    ),
    (
        "{{ slice .a nil }}",
        (
            "err",
            'template: line:1:3: executing "line" at <slice .a nil>: error calling slice: cannot index slice/array with nil',
        ),
    ),
    ("{{ slice .e }}", ("ok", "")),
    ("{{ slice .a 2 2 }}", ("ok", "")),
    (
        "{{ call .a }}",
        (
            "err",
            'template: line:1:3: executing "line" at <call .a>: error calling call: non-function .a of type string',
        ),
    ),
    (
        "{{ call nil }}",
        (
            "err",
            'template: line:1:3: executing "line" at <call nil>: error calling call: call of nil',
        ),
    ),
    (
        "{{ call }}",
        (
            "err",
            'template: line:1:3: executing "line" at <call>: wrong number of args for call: want at least 1 got 0',
        ),
    ),
    (
        "{{ call 1 2 }}",
        (
            "err",
            'template: line:1:3: executing "line" at <call 1 2>: error calling call: non-function 1 of type int',
        ),
    ),
    (
        "{{ call (fromJson .j) }}",
        (
            "err",
            'template: line:1:3: executing "line" at <call (fromJson .j)>: error calling call: non-function fromJson .j of type map[string]interface {}',
        ),
    ),
    (
        "{{ call (fromJson .bad) }}",
        (
            "err",
            'template: line:1:3: executing "line" at <call (fromJson .bad)>: error calling call: call of nil',
        ),
    ),
    (
        "{{ call . }}",
        (
            "err",
            'template: line:1:3: executing "line" at <call .>: error calling call: non-function . of type map[string]string',
        ),
    ),
    (
        "{{ .a | call }}",
        (
            "err",
            'template: line:1:8: executing "line" at <call>: error calling call: non-function Hello World of type string',
        ),
    ),
    (
        "{{ call .a (index .a 99) }}",
        (
            "err",
            'template: line:1:12: executing "line" at <index .a 99>: error calling index: index out of range: 99',
        ),
    ),
    (
        "{{ call .missing }}",
        (
            "err",
            'template: line:1:3: executing "line" at <call .missing>: error calling call: non-function .missing of type string',
        ),
    ),
    (
        '{{ call (index (fromJson .j) "n") }}',
        (
            "err",
            'template: line:1:3: executing "line" at <call (index (fromJson .j) "n")>: error calling call: non-function index (fromJson .j) "n" of type float64',
        ),
    ),
    (
        "{{ 1 | call }}",
        (
            "err",
            'template: line:1:7: executing "line" at <call>: error calling call: non-function <int Value> of type int',
        ),
    ),
    (
        '{{ call "x" }}',
        (
            "err",
            'template: line:1:3: executing "line" at <call "x">: error calling call: non-function "x" of type string',
        ),
    ),
    (
        "{{ call .a.b }}",
        (
            "err",
            'template: line:1:10: executing "line" at <.a.b>: can\'t evaluate field b in type string',
        ),
    ),
    (
        '{{ call (index (fromJson .j) "z") }}',
        (
            "err",
            'template: line:1:3: executing "line" at <call (index (fromJson .j) "z")>: error calling call: call of nil',
        ),
    ),
    ("{{ js .a }}", ("ok", "Hello World")),
    ('{{ js "a\'b\\"c<d>e&f=g\\\\h" }}', ("ok", "a\\'b\\\"c\\u003Cd\\u003Ee\\u0026f\\u003Dg\\\\h")),
    (
        '{{ js "tab\\there\\nnl\\x01\\x1f\\x7f" }}',
        ("ok", "tab\\u0009here\\u000Anl\\u0001\\u001F\x7f"),
    ),
    ("{{ js .uni }}", ("ok", "héllo wörld")),
    ('{{ js "\\u00a0x\\u2028y\\u200bz\\u0085" }}', ("ok", "\\u00A0x\\u2028y\\u200Bz\\u0085")),
    ('{{ js 1 2 "x" 3.5 true }}', ("ok", "1 2x3.5 true")),
    ('{{ js "\\U0001F600" }}', ("ok", "😀")),
    ('{{ js "\\U000E0001" }}', ("ok", "\\uE0001")),
    ("[{{ js }}]", ("ok", "[]")),
    ("{{ js .a .n }}", ("ok", "Hello World42")),
    ('{{ js "\\u0378" }}', ("ok", "\\u0378")),
    ('{{ js "\\ufeff" }}', ("ok", "\\uFEFF")),
    ('{{ "<x>" | js }}', ("ok", "\\u003Cx\\u003E")),
    (
        "{{ lt (index .a 0) 100 }}|{{ gt (index .a 0) 100 }}|{{ ne (index .a 1) (index .a 0) }}",
        ("ok", "true|false|true"),
    ),
    ('{{ printf "%d-%v" (index .a 0) (index .a 1) }}', ("ok", "72-101")),
    ("{{ add (index .a 0) 1 }}", ("ok", "73")),
    (
        "{{ trunc (index .a 0) .a }}",
        (
            "err",
            'template: line:1:19: executing "line" at <0>: wrong type for value; expected int; got uint8',
        ),
    ),
    (
        "{{ index .a 0 | len }}",
        (
            "err",
            'template: line:1:16: executing "line" at <len>: error calling len: len of type uint8',
        ),
    ),
    ("{{ if index .e }}x{{ else }}y{{ end }}", ("ok", "y")),
    ('{{ index .e }}|{{ index . "a" }}', ("ok", "|Hello World")),
    (
        "{{ index (fromJson .bad) }}",
        (
            "err",
            'template: line:1:3: executing "line" at <index (fromJson .bad)>: error calling index: index of untyped nil',
        ),
    ),
    (
        '{{ index (fromJson "{\\"a-b\\":1,\\"c\\\\\\"d\\":2,\\"e\\\\\\\\f\\":3}") "a-b" }}|{{ index (fromJson "{\\"a-b\\":1,\\"c\\\\\\"d\\":2,\\"e\\\\\\\\f\\":3}") "c\\"d" }}|{{ index (fromJson "{\\"a-b\\":1,\\"c\\\\\\"d\\":2,\\"e\\\\\\\\f\\":3}") "e\\\\f" }}',
        ("ok", "1|2|3"),
    ),
    ('{{ $k := "x" }}{{ index (fromJson .j) $k }}', ("ok", "s")),
    ('{{ $k := "arr" }}{{ $i := 1 }}{{ index (fromJson .j) $k $i }}', ("ok", "2")),
    ("{{ index (fromJson .j) .n }}", ("ok", "<no value>")),
    (
        "{{ index (fromJson .ja) (len .a) }}",
        (
            "err",
            'template: line:1:3: executing "line" at <index (fromJson .ja) (len .a)>: error calling index: index out of range: 11',
        ),
    ),
    ("{{ slice .a (len .e) 5 }}", ("ok", "Hello")),
    ("{{ slice .a 0 0 }}|{{ slice .e 0 0 }}", ("ok", "|")),
    ('{{ slice (fromJson "[]") }}', ("ok", "[]")),
    (
        '{{ slice (fromJson "[1,2,3]") 1 2 }}|{{ slice (fromJson "[1,2,3]") 3 }}|{{ slice (fromJson "[1,2,3]") 2 1 }}',
        (
            "err",
            'template: line:1:75: executing "line" at <slice (fromJson "[1,2,3]") 2 1>: error calling slice: invalid slice index: 2 > 1',
        ),
    ),
    (
        '{{ slice (fromJson "[1,2,3]") 0 2 1 }}',
        (
            "err",
            'template: line:1:3: executing "line" at <slice (fromJson "[1,2,3]") 0 2 1>: error calling slice: invalid slice index: 2 > 1',
        ),
    ),
    (
        '{{ slice (fromJson "[1,2,3]") "a" }}',
        (
            "err",
            'template: line:1:3: executing "line" at <slice (fromJson "[1,2,3]") "a">: error calling slice: cannot index slice/array with type string',
        ),
    ),
    (
        '{{ slice (fromJson "true") }}',
        (
            "err",
            'template: line:1:3: executing "line" at <slice (fromJson "true")>: error calling slice: can\'t slice item of type bool',
        ),
    ),
    ("{{ slice .a 1 2 | ToUpper }}", ("ok", "E")),
    ('{{ js "\\u00e9\\u0301" }}', ("ok", "é́")),
    ('{{ js "a\\u0000b" }}', ("ok", "a\\u0000b")),
    ("{{ js .ml }}", ("ok", "l1\\u000Al2")),
    (
        "{{ fromJson .j | call }}",
        (
            "err",
            'template: line:1:17: executing "line" at <call>: error calling call: non-function <map[string]interface {} Value> of type map[string]interface {}',
        ),
    ),
    ('{{ "x" | js .a }}', ("ok", "Hello Worldx")),
    ("{{ js (index .a 0) }}", ("ok", "72")),
    (
        '{{ slice (index (fromJson .j) "x") 0 2 }}',
        (
            "err",
            'template: line:1:3: executing "line" at <slice (index (fromJson .j) "x") 0 2>: error calling slice: index out of range: 2',
        ),
    ),
    ('{{ slice "héllo" 0 3 }}|{{ slice "héllo" 1 3 }}|{{ slice "héllo" 3 }}', ("ok", "hé|é|llo")),
]

GO_ASSIGNMENT_CASES = [
    ("{{ $x := 1 }}{{ $x = 2 }}{{ $x }}", ("ok", "2")),
    (
        '{{ $l := "info" }}{{ if eq .a "Hello World" }}{{ $l = "HW" }}{{ end }}{{ $l }}',
        ("ok", "HW"),
    ),
    ('{{ $l := "info" }}{{ if eq .a "nope" }}{{ $l = "HW" }}{{ end }}{{ $l }}', ("ok", "info")),
    (
        '{{ $l := "info" }}{{ if eq .a "nope" }}{{ $l = "A" }}{{ else if .n }}{{ $l = "B" }}{{ else }}{{ $l = "C" }}{{ end }}{{ $l }}',
        ("ok", "B"),
    ),
    (
        '{{ $l := "info" }}{{ if .e }}{{ $l = "A" }}{{ else if .missing }}{{ $l = "B" }}{{ else }}{{ $l = "C" }}{{ end }}{{ $l }}',
        ("ok", "C"),
    ),
    ("{{ $x := 1 }}{{ if true }}{{ $x := 2 }}{{ $x = 3 }}{{ $x }}{{ end }}{{ $x }}", ("ok", "31")),
    ("{{ $x := 1 }}{{ if true }}{{ $x = 5 }}{{ $x := 2 }}{{ $x }}{{ end }}{{ $x }}", ("ok", "25")),
    ("{{ $x := .a }}{{ with .n }}{{ $x = . }}{{ end }}{{ $x }}", ("ok", "42")),
    (
        '{{ $x := .a }}{{ with .e }}{{ $x = . }}{{ else }}{{ $x = "else" }}{{ end }}{{ $x }}',
        ("ok", "else"),
    ),
    (
        "{{ $x := 0 }}{{ if .n }}{{ $x = div 1 0 }}{{ end }}{{ $x }}",
        (
            "err",
            'template: line:1:32: executing "line" at <div 1 0>: error calling div: runtime error: integer divide by zero',
        ),
    ),
    ("{{ $x := 0 }}{{ if .e }}{{ $x = div 1 0 }}{{ end }}{{ $x }}", ("ok", "0")),
    ('{{ $x := "a" }}{{ if $x = .n }}{{ $x }}{{ end }}|{{ $x }}', ("ok", "42|42")),
    (
        '{{ $x := "a" }}{{ if true }}{{ if true }}{{ $x = "deep" }}{{ end }}{{ end }}{{ $x }}',
        ("ok", "deep"),
    ),
    ('{{ $x := "a" }}{{ $y := $x }}{{ $x = "b" }}{{ $y }}{{ $x }}', ("ok", "ab")),
    (
        "{{ $n := 0 }}{{ if .n }}{{ $n = add $n 1 }}{{ end }}{{ if .a }}{{ $n = add $n 1 }}{{ end }}{{ $n }}",
        ("ok", "2"),
    ),
    (
        "{{ $x := 0 }}{{ if .n }}{{ $x = add 1 1 }}{{ end }}{{ trunc $x .a }}",
        (
            "err",
            'template: line:1:60: executing "line" at <$x>: wrong type for value; expected int; got int64',
        ),
    ),
    ("{{ $x := 0 }}{{ if .e }}{{ $x = add 1 1 }}{{ end }}[{{ trunc $x .a }}]", ("ok", "[]")),
    (
        "{{ $x := 3 }}{{ if .e }}{{ $x = add 1 1 }}{{ else if .n }}{{ $x = 5 }}{{ end }}{{ trunc $x .a }}|{{ $x }}",
        ("ok", "Hello|5"),
    ),
    ("{{ $x := add 0 0 }}{{ if .n }}{{ $x = add 1 1 }}{{ end }}{{ $x }}", ("ok", "2")),
]

RUN_TIME_REFUSALS = [
    ('{{ index (fromJson .j) "x" 0 }}', "template index of a decoded JSON string is not supported"),
    (
        '{{ index (fromJson "\\"str\\"") 0 }}',
        "template index of a decoded JSON string is not supported",
    ),
    (
        '{{ slice (index (fromJson .j) "arr") 0 3 }}',
        "template slice of a decoded JSON array past its length is not supported",
    ),
    (
        '{{ slice (index (fromJson .j) "arr") 0 2 3 }}',
        "template slice of a decoded JSON array past its length is not supported",
    ),
    (
        '{{ slice (index (fromJson .j) "arr") 0 2 4 }}',
        "template slice of a decoded JSON array past its length is not supported",
    ),
    ("{{ slice .uni 0 2 }}", "template slice cutting a multi-byte character is not supported"),
    (
        '{{ slice (fromJson "[1,2,3,4,5]") 0 6 }}',
        "template slice of a decoded JSON array past its length is not supported",
    ),
    (
        '{{ slice (fromJson "[1,2,3,4,5]") 2 4 6 }}',
        "template slice of a decoded JSON array past its length is not supported",
    ),
    (
        '{{ slice (fromJson "[1,2,3]") 4 }}',
        "template slice of a decoded JSON array past its length is not supported",
    ),
    ("{{ index (fromJson .j) }}", "printing JSON nested more than one level deep is not supported"),
]


@pytest.mark.parametrize(("template", "expected"), GO_BUILTIN_CASES)
def test_builtins_render_as_go_renders_them(template, expected):
    text, error = _render(template)
    assert (("err", error) if error is not None else ("ok", text)) == expected


@pytest.mark.parametrize(("template", "expected"), GO_ASSIGNMENT_CASES)
def test_assignments_in_branches_render_as_go_renders_them(template, expected):
    text, error = _render(template)
    assert (("err", error) if error is not None else ("ok", text)) == expected


@pytest.mark.parametrize(
    ("template", "construct"),
    [
        ('{{ $x := 1 }}{{ if .n }}{{ $x = "s" }}{{ end }}{{ $x }}', "values of different types"),
        ("{{ $x := 1 }}{{ range fromJson .ja }}{{ $x = 2 }}{{ end }}", "assignment in range"),
        ("{{ $x := 1 }}{{ ($x = 2) }}", "assignment in a parenthesized pipeline"),
    ],
)
def test_assignments_without_exact_sql_are_refused(template, construct):
    with pytest.raises(UnsupportedInDialect, match=construct):
        lower_template(template, "duckdb")


@pytest.mark.parametrize(("template", "message"), RUN_TIME_REFUSALS)
def test_results_without_sql_counterpart_fail_the_query(template, message):
    with pytest.raises(duckdb.Error, match=message):
        _render(template)


def test_hex_and_octal_escapes_are_bytes_as_in_go():
    assert _render('{{ "\\xc3\\xa9\\101" }}') == ("éA", None)  # Go: "éA"


def test_strings_that_are_not_utf8_are_refused_when_translated():
    with pytest.raises(UnsupportedInDialect, match="template string that is not UTF-8"):
        lower_template('{{ js "\\xff\\xfe" }}', "duckdb")

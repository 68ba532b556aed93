"""Label-set parsing, canonical text, fingerprints, service_name and tenant ids."""

from __future__ import annotations

import subprocess
import sys

import pytest

from loglake.ingest.errors import PushError
from loglake.ingest.labels import (
    LabelParseError,
    format_labels,
    go_quote,
    parse_labels,
    resolve_stream,
    tenant_from_org_id,
    validate_tenant_id,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{job="x", env="prod"}', (("env", "prod"), ("job", "x"))),
        ('{job="x",}', (("job", "x"),)),
        ("{}", ()),
        ("", ()),
        (
            '{ "foo"="bar2",      "environment"="prod"   }',
            (("environment", "prod"), ("foo", "bar2")),
        ),
        ("{a='single', b=`raw\\n`}", (("a", "single"), ("b", "raw\\n"))),
        ('{a="tab\\there \\"q\\" \\u00e9 \\x41 \\101"}', (("a", 'tab\there "q" é A A'),)),
        ('{a="", b="1"}', (("b", "1"),)),
        ('up{a="1"}', (("__name__", "up"), ("a", "1"))),
        ('{a="2", a="1"}', (("a", "2"), ("a", "1"))),
    ],
)
def test_parse_labels_accepts_what_loki_accepts(text, expected):
    assert parse_labels(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{job=x}", '1:6: parse error: unexpected identifier "x" in label set, expected string'),
        ('{job="x"', "1:9: parse error: unexpected end of input inside braces"),
        ('{job="x}', "1:6: parse error: unterminated quoted string"),
        ("{job}", '1:5: parse error: unexpected "}" in label set, expected "="'),
        ('{job!="x"}', '1:5: parse error: unexpected <op:!=> in label set, expected "="'),
        (
            '{a="1" b="2"}',
            '1:8: parse error: unexpected identifier "b" in label set, expected "," or "}"',
        ),
        ("{,}", '1:2: parse error: unexpected "," in label set, expected identifier or "}"'),
        ('{foo.bar="x"}', "1:5: parse error: unexpected character inside braces: '.'"),
        ('{a="\\q"}', "1:4: parse error: unknown escape sequence U+0071 'q'"),
    ],
)
def test_parse_labels_rejects_with_prometheus_messages(text, message):
    with pytest.raises(LabelParseError) as err:
        parse_labels(text)
    assert str(err.value) == message


def test_canonical_text_is_sorted_and_go_quoted():
    assert format_labels(parse_labels('{b="2", a="x\\ny"}')) == '{a="x\\ny", b="2"}'
    assert go_quote("\x7f\u2028é") == '"\\x7f\\u2028é"'


def test_service_name_is_derived_in_discover_order():
    discover = ("service", "app", "job")
    assert resolve_stream('{job="j", app="a"}', discover).text == (
        '{app="a", job="j", service_name="a"}'
    )
    assert resolve_stream('{env="p"}', discover).labels[-1] == ("service_name", "unknown_service")
    assert resolve_stream('{service_name="s", app="a"}', discover).text == (
        '{app="a", service_name="s"}'
    )
    # empty values are absent: they neither name the service nor block discovery
    assert resolve_stream('{service_name="", app=""}', discover).text == (
        '{service_name="unknown_service"}'
    )
    assert resolve_stream('{app="a"}', ()).text == '{app="a"}'
    assert resolve_stream('{__pattern__="x"}', discover).text == '{__pattern__="x"}'


def test_fingerprint_ignores_order_and_spelling_and_is_stable_across_processes():
    a = resolve_stream('{b="2", a="1"}', ("app",))
    b = resolve_stream('{ a = "1" , b = "2" , }', ("app",))
    assert a.fingerprint == b.fingerprint
    assert resolve_stream('{a="1", b="3"}', ("app",)).fingerprint != a.fingerprint
    code = (
        "from loglake.ingest.labels import resolve_stream;"
        "print(resolve_stream('{b=\"2\", a=\"1\"}', ('app',)).fingerprint)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(out.stdout) == a.fingerprint


@pytest.mark.parametrize("tenant", ["fake", "team-a_1", "a.b", "!*'()", "x" * 150])
def test_valid_tenant_ids(tenant):
    validate_tenant_id(tenant)


@pytest.mark.parametrize(
    ("tenant", "message"),
    [
        ("a/b", "tenant ID 'a/b' contains unsupported character '/'"),
        ("../etc", "tenant ID '../etc' contains unsupported character '/'"),
        ("a b", "tenant ID 'a b' contains unsupported character ' '"),
        ("..", "tenant ID is '.' or '..'"),
        (".", "tenant ID is '.' or '..'"),
        ("x" * 151, "tenant ID is too long: max 150 characters"),
        ("é", "tenant ID 'é' contains unsupported character 'Ã'"),
    ],
)
def test_invalid_tenant_ids_get_dskit_messages(tenant, message):
    with pytest.raises(PushError) as err:
        validate_tenant_id(tenant)
    assert (err.value.status, err.value.message) == (400, message)


def test_tenant_from_org_id():
    assert tenant_from_org_id("acme") == "acme"
    assert tenant_from_org_id("acme:sub") == "acme"
    assert tenant_from_org_id("acme|acme:x") == "acme"
    for org_id, status, message in [
        (None, 401, "no org id"),
        ("", 401, "no org id"),
        ("a|b", 400, "multiple org IDs present"),
        ("a/b", 400, "tenant ID 'a/b' contains unsupported character '/'"),
    ]:
        with pytest.raises(PushError) as err:
            tenant_from_org_id(org_id)
        assert (err.value.status, err.value.message) == (status, message)

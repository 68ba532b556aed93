"""`toDateInZone` in IANA zones, sprig's decimal `addf`/`subf`/`mulf`/`divf` and Loki's
`b64dec`, and Go's builtins `print`/`println`/`urlquery`/`html`, run on DuckDB.

Every expectation in `GO_CASES` was produced by Go 1.26's `text/template` with Loki's
function map (sprig v3.3.0, shopspring/decimal v1.4.0, spf13/cast v1.10.0, tzdata 2025b,
`missingkey=zero`, process time zone UTC) outside the repository, over the labels, line and
timestamp of `test_templates`.
"""

# ruff: noqa: E501 - the Go-verified case table holds long literal strings

from __future__ import annotations

import datetime as dt
import zoneinfo

import duckdb
import pytest

from logql2sql.errors import UnsupportedInDialect
from logql2sql.template_zones import OTHER_ZONES, ZONES, go_zone
from logql2sql.templates import lower_template
from tests.logql2sql.test_templates import _render

GO_CASES = [
    (
        '{{ toDateInZone "2006-01-02 15:04" "America/New_York" "2020-03-08 02:30" | unixEpoch }}|{{ toDateInZone "2006-01-02 15:04" "America/New_York" "2020-11-01 01:30" | unixEpoch }}|{{ toDateInZone "2006-01-02 15:04" "America/New_York" "2020-07-01 12:00" | unixEpoch }}',
        ("ok", "1583649000|1604208600|1593619200"),
    ),
    (
        '{{ toDateInZone "2006-01-02 15:04:05.999" "Europe/Berlin" "1500-06-01 12:00:00.25" | unixEpochNanos }}|{{ toDateInZone "2006-01-02 15:04" "Europe/Berlin" "2021-03-28 02:30" | unixEpoch }}|{{ toDateInZone "2006-01-02 15:04" "Europe/Berlin" "1945-06-01 12:00" | unixEpoch }}',
        ("ok", "3628060865959551616|1616895000|-775839600"),
    ),
    (
        '{{ toDateInZone "2006-01-02" "Asia/Kolkata" "1900-01-01" | unixEpoch }}|{{ toDateInZone "2006-01-02 15:04" "Asia/Kolkata" .iso | unixEpoch }}|{{ toDateInZone "2006-01-02" "Asia/Kolkata" .date | unixEpochMillis }}',
        ("ok", "-2209008070|-62135596800|1677522600000"),
    ),
    (
        '{{ toDateInZone "2006-01-02 15:04" "Australia/Lord_Howe" "2021-10-03 02:15" | unixEpoch }}|{{ toDateInZone "2006-01-02 15:04" "Australia/Lord_Howe" "2021-04-04 01:45" | unixEpoch }}|{{ toDateInZone "2006-01-02 15:04" "Australia/Lord_Howe" "2021-04-04 01:15" | unixEpoch }}',
        ("ok", "1633189500|1617462900|1617459300"),
    ),
    (
        '{{ toDateInZone "2006-01-02" "Pacific/Apia" "2011-12-30" | unixEpoch }}|{{ toDateInZone "2006-01-02 15:04" "America/St_Johns" "9999-12-31 23:59" | unixEpoch }}|{{ toDateInZone "2006-01-02 15:04" "Europe/London" "0000-01-01 00:00" | unixEpoch }}|{{ toDateInZone "2006-01-02 15:04" "Nowhere/Zone" "2021-04-04 01:45" | unixEpoch }}|{{ toDateInZone "2006-01-02 15:04" "Local" "2021-04-04 01:45" | unixEpoch }}',
        ("ok", "1325152800|253402313340|-62167219125|1617500700|1617500700"),
    ),
    (
        '{{ toDateInZone "2006-01-02 15:04 -0700" "Asia/Kolkata" "2021-04-04 01:45 +0200" | unixEpoch }}|{{ toDateInZone "2006-01-02 15:04" "Asia/Kolkata" "2021-04-04 01:4" | unixEpoch }}|{{ toDateInZone "2006-01-02 15:04" "Asia/Kolkata" "2021-04-04 01:45" | date "2006-01-02T15:04:05Z07:00" }}|{{ toDateInZone "2006-01-02T15:04:05" "US/Pacific" "2023-02-28T23:59:59" | unixEpoch }}',
        ("ok", "1617493500|-62135596800|2021-04-03T20:15:00Z|1677657599"),
    ),
    (
        '{{ (toDateInZone "2006-01-02" "US/Pacific" .date).Foo }}',
        (
            "err",
            'template: line:1:43: executing "line" at <.date>: can\'t evaluate field Foo in type time.Time',
        ),
    ),
    (
        "{{ addf 0.1 0.2 }}|{{ subf 0.3 0.1 }}|{{ mulf 0.1 3 }}|{{ divf 1 3 }}|{{ divf 2 3 }}|{{ divf -2 3 }}",
        ("ok", "0.3|0.2|0.3|0.3333333333333333|0.6666666666666667|-0.6666666666666667"),
    ),
    (
        "{{ divf 1 0 }}",
        (
            "err",
            'template: line:1:3: executing "line" at <divf 1 0>: error calling divf: decimal division by 0',
        ),
    ),
    (
        '{{ addf "NaN" 1 }}',
        (
            "err",
            'template: line:1:3: executing "line" at <addf "NaN" 1>: error calling addf: Cannot create a Decimal from NaN',
        ),
    ),
    (
        '{{ addf 1 "-inf" }}',
        (
            "err",
            'template: line:1:3: executing "line" at <addf 1 "-inf">: error calling addf: Cannot create a Decimal from -Inf',
        ),
    ),
    (
        '{{ mulf "+Inf" 1 }}',
        (
            "err",
            'template: line:1:3: executing "line" at <mulf "+Inf" 1>: error calling mulf: Cannot create a Decimal from +Inf',
        ),
    ),
    (
        '{{ mulf "-1e-200" "1e-200" }}|{{ mulf "1e200" "1e200" }}|{{ mulf "-1e200" "1e200" }}',
        ("ok", "-0|+Inf|-Inf"),
    ),
    (
        "{{ addf }}|{{ addf 1 }}|{{ subf 5 }}|{{ divf 1 3 3 }}|{{ mulf 1.1 1.1 1.1 }}|{{ divf 1e20 3 }}|{{ divf 1 3e20 }}|{{ divf 1e-300 7 }}",
        ("ok", "0|1|5|0.1111111111111111|1.331|3.333333333333333e+19|0|0"),
    ),
    (
        '{{ divf 5e-17 1 }}|{{ divf 4.9e-17 1 }}|{{ divf -5e-17 1 }}|{{ addf .f .n "x" true }}|{{ addf 1e300 }}|{{ addf 1e300 1e290 }}',
        ("ok", "1e-16|0|-1e-16|46.75|1e+300|1.0000000001e+300"),
    ),
    (
        '{{ addf 0 0 -0.0 }}|{{ subf 1e-300 1e-300 }}|{{ mulf 0.1 0.1 }}|{{ divf 0 5 }}|{{ addf "1.5" .f .n }}|{{ subf 1 0.9 }}|{{ mulf 1.0000001 1.0000001 }}',
        ("ok", "0|0|0.01|0|47.25|0.1|1.00000020000001"),
    ),
    (
        "{{ divf 22 7 }}|{{ divf -22 7 }}|{{ divf 22 -7 }}|{{ divf 1 -3 }}|{{ divf 10 4 }}|{{ divf 123456789.123 0.001 }}|{{ divf 0.5e-16 1 }}|{{ divf 1.5e-16 1 }}|{{ divf 2.5e-16 1 }}",
        (
            "ok",
            "3.142857142857143|-3.142857142857143|-3.142857142857143|-0.3333333333333333|2.5|1.23456789123e+11|1e-16|2e-16|3e-16",
        ),
    ),
    (
        "{{ mulf 1.7976931348623157e308 1 }}|{{ mulf 5e-324 1 }}|{{ divf 5e-324 1 }}|{{ addf 4.35 4.35 4.35 }}|{{ subf 100 0.01 0.02 }}|{{ mulf 3 .f }}|{{ divf .n .f }}|{{ .f | mulf 2 }}",
        ("ok", "1.7976931348623157e+308|5e-324|0|13.05|99.97|11.25|11.2|7.5"),
    ),
    (
        '{{ addf 0.1 .e }}|{{ mulf "abc" 2 }}|{{ divf 1 .e }}',
        (
            "err",
            'template: line:1:40: executing "line" at <divf 1 .e>: error calling divf: decimal division by 0',
        ),
    ),
    (
        "{{ addf 1 .j }}|{{ $x := fromJson .j }}{{ addf $x.n 0.5 }}|{{ mulf $x.t 3 }}|{{ subf $x.x 1 }}",
        ("ok", "1|2.5|3|-1"),
    ),
    (
        '{{ divf 1 "NaN" }}',
        (
            "err",
            'template: line:1:3: executing "line" at <divf 1 "NaN">: error calling divf: Cannot create a Decimal from NaN',
        ),
    ),
    (
        '{{ divf "NaN" 0 }}',
        (
            "err",
            'template: line:1:3: executing "line" at <divf "NaN" 0>: error calling divf: Cannot create a Decimal from NaN',
        ),
    ),
    (
        '{{ divf 1 0 "NaN" }}',
        (
            "err",
            'template: line:1:3: executing "line" at <divf 1 0 "NaN">: error calling divf: decimal division by 0',
        ),
    ),
    ("{{ if gt (addf 0.1 0.2) 0.3 }}gt{{ else }}le{{ end }}", ("ok", "le")),
    (
        '{{ divf "5745696.318594469" "0.010502705553761671" }}|{{ divf "-178.142" "1.8431001277848214e-09" }}|{{ divf 1e-300 1e300 }}|{{ divf 123456789.12345678 0.000000012345678 }}',
        ("ok", "5.470682091565043e+08|-9.665345757102446e+10|0|1.000000073900006e+16"),
    ),
    (
        '{{ b64dec "SGVsbG8=" }}|{{ b64dec "SGVsbG8" }}|{{ b64dec "SGVsbA" }}|{{ b64dec "SGVsb" }}|{{ b64dec "" }}|{{ b64dec "S" }}',
        (
            "ok",
            "Hello|Hello|Hell|illegal base64 data at input byte 4||illegal base64 data at input byte 0",
        ),
    ),
    (
        '{{ b64dec "SGV$bG8=" }}|{{ b64dec "SG=sbG8=" }}|{{ b64dec "SGVsbG8==" }}|{{ b64dec "SGVsbG8=x" }}|{{ b64dec "=" }}|{{ b64dec "==" }}|{{ b64dec "SGVsbG9=" }}|{{ b64dec "SGVsbG8=AAAA" }}|{{ b64dec "SGVsbG==" }}|{{ b64dec "SGV=" }}|{{ b64dec "SG==" }}|{{ b64dec "S===" }}|{{ b64dec "SGVsbG8=SGVs" }}',
        (
            "ok",
            "illegal base64 data at input byte 3|illegal base64 data at input byte 2|illegal base64 data at input byte 8|illegal base64 data at input byte 8|illegal base64 data at input byte 0|illegal base64 data at input byte 0|Hello|illegal base64 data at input byte 8|Hell|He|H|illegal base64 data at input byte 1|illegal base64 data at input byte 8",
        ),
    ),
    (
        '{{ b64dec "SGVsb===" }}|{{ b64dec "SGVsb=" }}|{{ b64dec "SGVsbG8=====" }}|{{ b64dec "SGé" }}|{{ b64dec "aGVsbG8gd29ybGQ" }}|{{ b64dec "w6k=" }}|{{ b64dec "SGVsbG8=SG" }}|{{ b64dec .a }}|{{ b64enc .uni | b64dec }}|{{ b64dec "SGVs=A==" }}|{{ b64dec "SGVsbG8-" }}|{{ b64dec "SGV=bG8=" }}|{{ b64dec "SGVsbG8=S" }}',
        (
            "ok",
            "illegal base64 data at input byte 5|illegal base64 data at input byte 5|illegal base64 data at input byte 8|illegal base64 data at input byte 2|hello world|é|illegal base64 data at input byte 8|illegal base64 data at input byte 5|héllo wörld|illegal base64 data at input byte 4|illegal base64 data at input byte 7|illegal base64 data at input byte 4|illegal base64 data at input byte 8",
        ),
    ),
    (
        '{{ print "a" 1 2 "b" true 2.5 }}|{{ print }}|{{ print .a .n }}|{{ print 1 2 }}|{{ print 1.5 true }}|{{ .a | print "x" }}',
        ("ok", "a1 2btrue 2.5||Hello World42|1 2|1.5 true|xHello World"),
    ),
    (
        '{{ println "a" 1 2 }}|{{ println }}|{{ urlquery "a b&c=d/é~" }}|{{ urlquery 1 "x y" 2 }}|{{ html "<a href=\'x\'>\\"&\\"</a>" }}|{{ html 1 2 }}|{{ .a | html }}',
        (
            "ok",
            "a 1 2\n|\n|a+b%26c%3Dd%2F%C3%A9~|1x+y2|&lt;a href=&#39;x&#39;&gt;&#34;&amp;&#34;&lt;/a&gt;|1 2|Hello World",
        ),
    ),
]


@pytest.mark.parametrize(("template", "expected"), GO_CASES)
def test_zones_and_decimals_render_as_go_renders_them(template, expected):
    text, error = _render(template)
    assert (("err", error) if error is not None else ("ok", text)) == expected


@pytest.mark.parametrize(
    ("template", "construct"),
    [
        ('{{ toDateInZone "2006" "Europe/Oslo" .a }}', "toDateInZone with a zone other than"),
        ('{{ toDateInZone "2006" "posix/Europe/Berlin" .a }}', "toDateInZone with a zone"),
        ('{{ toDateInZone "2006" .a .a }}', "toDateInZone with a zone other than"),
        ('{{ toDateInZone "2006" "Asia/Tokyo" .a }}', "printing a time parsed with a zone"),
        ('{{ (toDateInZone "2006" "Asia/Tokyo" .a).Unix }}', "method or field Unix of a time"),
        ('{{ (toDate "2006" .a).Year }}', "method or field Year of a time"),
        ("{{ print (fromJson .j) }}", "print of a interface {} value"),
    ],
)
def test_zones_sql_cannot_follow_are_refused(template, construct):
    with pytest.raises(UnsupportedInDialect, match=construct):
        lower_template(template, "duckdb")


def test_b64dec_of_text_with_line_breaks_fails_the_query():
    with pytest.raises(duckdb.Error, match="b64dec of text with line breaks"):
        _render('{{ b64dec "SGVs\\nbG8=" }}')


def test_zone_names_go_fails_to_load_are_utc():
    assert go_zone("Nowhere/Zone") == go_zone("") == go_zone("Local") == "UTC"
    assert go_zone("Europe/Berlin") == "Europe/Berlin"
    assert go_zone("Europe/Oslo") is None and go_zone("right/UTC") is None


@pytest.mark.parametrize(
    ("template", "operand"),
    [
        ("{{ subf .f 1e300 }}", "subf"),  # 300 orders of magnitude apart
        ("{{ divf 1e300 1e-300 }}", "divf"),
        ('{{ mulf "1.2345678901234567" "1.2345678901234567" "1.2345678901234567" }}', "mulf"),
    ],
)
def test_decimals_beyond_38_digits_fail_the_query(template, operand):
    with pytest.raises(duckdb.Error, match=f"template {operand} needs more than 38 decimal digits"):
        _render(template)


def _system_zones() -> set[str]:
    try:
        return set(zoneinfo.available_timezones())
    except Exception:  # pragma: no cover - no tzdata on the host
        return set()


@pytest.mark.skipif(not _system_zones(), reason="no system tzdata to compare ICU with")
def test_listed_zones_have_go_offsets_in_duckdb():
    """Every zone of `ZONES` is known to DuckDB's ICU and gives the offsets of the host's
    tzdata (the files Go reads) at instants sampled every ~30 days from 1850 to 2060."""
    host = _system_zones()
    con = duckdb.connect()
    known = {r[0] for r in con.sql("SELECT name FROM pg_timezone_names()").fetchall()}
    assert known >= ZONES
    assert not ZONES & OTHER_ZONES
    start = int(dt.datetime(1850, 1, 1, tzinfo=dt.UTC).timestamp())
    end = int(dt.datetime(2060, 1, 1, tzinfo=dt.UTC).timestamp())
    xs = list(range(start, end, 30 * 86400 + 3 * 3600 + 17))
    con.execute("CREATE TABLE x AS SELECT unnest(?::BIGINT[]) AS s", [xs])
    differ = []
    for name in sorted(ZONES & host):
        got = con.execute(
            "SELECT epoch_us(timezone(?, to_timestamp(s))) // 1000000 - s FROM x ORDER BY s",
            [name],
        ).fetchall()
        zone = zoneinfo.ZoneInfo(name)
        want = [int(dt.datetime.fromtimestamp(s, zone).utcoffset().total_seconds()) for s in xs]
        if [g for (g,) in got] != want:
            differ.append(name)
    assert differ == []

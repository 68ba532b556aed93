"""The errors Loki raises when it builds a query's pipeline, worded as Loki words them.

Loki's parser accepts `{app="a"} |~ "("`; the query fails only when the querier builds the
pipeline's stages: `parse error : stage '|~ "("' : error parsing regexp: missing closing ):
`(``, answered with 400. The checks here run after validation, before lowering, and follow
how Loki builds a pipeline (`MultiStageExpr.reorderStages` and `stages`):

- consecutive line filters form one stage, also across parsers, `drop`, `keep` and
  `label_format` (a label filter, `line_format` or `unpack` ends the run), checked before
  the other stages of their run; the stage's text is every filter of the run, and the
  filter reported is the last failing one (Loki builds the run from its end);
- `line_format`, `label_format`, `json`/`logfmt` with parameters, and a label filter that
  is a single `ip()` fail on what their constructors refuse;
- a stage's text is the one Loki's `String()` prints, Go-quoted.

`parse(text)` does not run these checks (Loki's `ParseExpr` accepts such queries, and so
do `format_query` and the label endpoints); translation does.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from logql2sql import ast
from logql2sql.errors import LogQLError, ParseError, UnsupportedInDialect
from logql2sql.ipmatch import parse_pattern
from logql2sql.jsonexpr import parse_json_expression
from logql2sql.lexical import quote
from logql2sql.logfmtexpr import logfmt_expression_key
from logql2sql.regex import RegexError, compile_re2
from logql2sql.templates import render_template

ERROR_LABEL = "__error__"
_LINE_PATTERN_CAPTURE = re.compile(r"<(_|[a-zA-Z_][a-zA-Z0-9_]*)>")


def check_stages(expr: ast.Expr) -> ast.Expr:
    """Raise Loki's `stage '…' : …` error for the first stage of `expr` Loki cannot build;
    return `expr` unchanged.

    >>> from logql2sql import parse
    >>> check_stages(parse('{app="a"} |= "x" | json |~ "("'))
    Traceback (most recent call last):
    ...
    logql2sql.errors.ParseError: parse error : stage '|= "x" |~ "("' : error parsing \
regexp: missing closing ): `(`
    """
    for log in ast.log_selectors(expr):
        for text, check in _built_stages(log.pipeline):
            try:
                check()
            except UnsupportedInDialect:
                continue  # not Loki's error: lowering reports it for the dialect at hand
            except RegexError as err:
                raise ParseError(f"stage '{text}' : {err.go_message}") from None
            except LogQLError as err:
                raise ParseError(f"stage '{text}' : {err}") from None
    return expr


_Check = Callable[[], object]
"""Builds a stage as Loki would, raising what Loki's constructor returns."""


def _built_stages(pipeline: tuple[ast.Stage, ...]) -> Iterator[tuple[str, _Check]]:
    """(text, check) per stage Loki builds, in the order it builds them."""
    filters: list[ast.LineFilter] = []
    others: list[ast.Stage] = []

    def end_run() -> Iterator[tuple[str, _Check]]:
        if filters:
            run = tuple(filters)
            yield " ".join(_line_filter_text(f) for f in run), lambda: _check_run(run)
        for stage in others:
            yield _stage_check(stage)
        filters.clear()
        others.clear()

    for stage in pipeline:
        if isinstance(stage, ast.Unwrap):
            break  # what follows `unwrap` filters samples, not lines
        if isinstance(stage, ast.LabelFilterStage):
            yield from end_run()
            yield _stage_check(stage)
        elif isinstance(stage, ast.LineFilter):
            filters.append(stage)
        else:
            others.append(stage)
            if isinstance(stage, ast.LineFormat | ast.UnpackParser):
                yield from end_run()
    yield from end_run()


def _stage_check(stage: ast.Stage) -> tuple[str, _Check]:
    if isinstance(stage, ast.LineFormat):
        return f"| line_format {quote(stage.template)}", lambda: render_template(
            stage.template, "duckdb"
        )
    if isinstance(stage, ast.LabelFormat):
        return _label_format_text(stage), lambda: _check_label_format(stage)
    if isinstance(stage, ast.JsonParser) and stage.params:
        return _params_text("| json ", stage.params), lambda: _check_json(stage)
    if isinstance(stage, ast.LogfmtParser) and stage.params:
        flags = "--strict " * stage.strict + "--keep-empty " * stage.keep_empty
        return _params_text(f"| logfmt {flags}", stage.params), lambda: _check_logfmt(stage)
    if isinstance(stage, ast.LabelFilterStage) and isinstance(stage.filter, ast.IpLabelFilter):
        f = stage.filter
        return f"| {f.name}{f.op}ip({quote(f.pattern)})", lambda: parse_pattern(f.pattern)
    return "", lambda: None


def _line_filter_text(stage: ast.LineFilter) -> str:
    values = " or ".join(f"ip({quote(v.value)})" if v.ip else quote(v.value) for v in stage.values)
    return f"{stage.op} {values}"


def _label_format_text(stage: ast.LabelFormat) -> str:
    items = ",".join(f"{i.dst}={quote(i.src) if i.template else i.src}" for i in stage.items)
    return f"| label_format {items}"


def _params_text(head: str, params: tuple[ast.Extraction, ...]) -> str:
    return head + ",".join(f"{p.name}={quote(p.expression)}" for p in params)


def _check_run(run: tuple[ast.LineFilter, ...]) -> None:
    """Loki builds a run of line filters from its last filter back to its first, and the
    alternatives of one filter from left to right."""
    for stage in reversed(run):
        for value in stage.values:
            check_line_filter_value(stage.op, value)


def check_line_filter_value(op: str, value: ast.LineFilterValue) -> None:
    """What Loki's line filter constructors refuse, with their messages."""
    if value.ip:
        if op not in ("|=", "!="):
            raise LogQLError("ip: invalid operation")
        parse_pattern(value.value)
    elif op in ("|~", "!~"):
        compile_re2(value.value)
    elif op in ("|>", "!>"):
        check_line_pattern(value.value)


def check_line_pattern(pattern: str) -> None:
    """Loki's checks of a `|>`/`!>` pattern: only `<_>` captures, never two in a row."""
    captures = list(_LINE_PATTERN_CAPTURE.finditer(pattern))
    for a, b in zip(captures, captures[1:], strict=False):
        if a.end() == b.start():
            raise LogQLError(
                f"found consecutive capture '{a.group(0)}{b.group(0)}': invalid expression"
            )
    for m in captures:
        if m.group(1) != "_":
            raise LogQLError(f"named captures are not allowed: found '{m.group(0)}'")


def _check_label_format(stage: ast.LabelFormat) -> None:
    """`NewLabelsFormatter`: no `__error__`, each label once, then each template parsed."""
    seen: set[str] = set()
    for item in stage.items:
        if item.dst == ERROR_LABEL:
            raise LogQLError(f"{ERROR_LABEL} cannot be formatted")
        if item.dst in seen:
            raise LogQLError(
                f"multiple label name '{item.dst}' not allowed in a single format operation"
            )
        seen.add(item.dst)
    for item in stage.items:
        if item.template:
            render_template(item.src, "duckdb", item.dst)


def _check_json(stage: ast.JsonParser) -> None:
    for p in stage.params:
        parse_json_expression(p.expression)


def _check_logfmt(stage: ast.LogfmtParser) -> None:
    for p in stage.params:
        logfmt_expression_key(p.expression)

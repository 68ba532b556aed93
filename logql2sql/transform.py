"""Pass 2 — transform: lark tree to the frozen-dataclass AST.

Reshaping only: token text becomes values (strings unquoted, durations and numbers read),
alternatives become nodes. Semantic rules (unwrap placement, grouping, parameters,
matcher requirements) belong to `validate`. Lexical errors found while reading a token
(an invalid escape, an unknown duration unit) are reported at the token's position.
"""

from __future__ import annotations

from typing import Any

import lark
from lark import Token

from logql2sql import ast
from logql2sql.errors import ParseError
from logql2sql.lexer import loki_duration
from logql2sql.lexical import parse_bytes, parse_duration, parse_float, unquote

_PUNCTUATION = {"LPAREN", "RPAREN", "LBRACE", "RBRACE", "COMMA", "PIPE"}


def _values(children: list[Any]) -> list[Any]:
    """Children without punctuation tokens and without absent optional parts."""
    return [
        c
        for c in children
        if c is not None and not (isinstance(c, Token) and c.type in _PUNCTUATION)
    ]


def _string(tok: Token) -> str:
    try:
        return unquote(str(tok))
    except ParseError as err:
        raise ParseError(err.msg, tok.line or 0, tok.column or 0) from None


def _lexed_duration(tok: Token) -> int:
    """The value of a DURATION token (`lexer.LokiLexer` emits only durations that parse)."""
    value = loki_duration(str(tok))
    assert value is not None, tok
    return value


def _require_metric(expr: ast.Expr, next_token: Token) -> None:
    """Loki's grammar takes only metric expressions as aggregation and label_replace input."""
    if isinstance(expr, ast.LogExpr):
        raise ParseError(
            f"syntax error: unexpected {next_token}",
            next_token.line or 0,
            next_token.column or 0,
        )


_CMP = {"=": "==", "==": "==", "!=": "!=", ">": ">", ">=": ">=", "<": "<", "<=": "<="}


class ToAst(lark.Transformer):
    """Builds `logql2sql.ast` nodes bottom-up."""

    def start(self, c):
        return c[0]

    # ---- expressions
    def paren_expr(self, c):
        return _values(c)[0]

    def bin_op_expr(self, c):
        left, op, (return_bool, matching), right = c
        return ast.BinOp(str(op).lower(), left, right, return_bool, matching)

    def bin_op_modifier(self, c):
        bool_tok, on_ignoring, group = c
        matching = ast.VectorMatching()
        if on_ignoring is not None:
            on, labels = on_ignoring
            card, include = group if group is not None else ("one-to-one", ())
            matching = ast.VectorMatching(on, labels, card, include)
        return bool_tok is not None, matching

    def on_modifier(self, c):
        return True, _values(c[1:])[0] if _values(c[1:]) else ()

    def ignoring_modifier(self, c):
        return False, _values(c[1:])[0] if _values(c[1:]) else ()

    def group_left(self, c):
        rest = _values(c[1:])
        return "many-to-one", rest[0] if rest else ()

    def group_right(self, c):
        rest = _values(c[1:])
        return "one-to-many", rest[0] if rest else ()

    def labels(self, c):
        return tuple(str(t) for t in _values(c))

    def number(self, c):
        return ast.Literal(parse_float(str(c[-1])))

    def negative_number(self, c):
        return ast.Literal(-parse_float(str(c[-1])))

    def vector_expr(self, c):
        return ast.VectorExpr(parse_float(str(_values(c)[1])))

    def label_replace_expr(self, c):
        _, expr, dst, repl, src, regex = _values(c)
        _require_metric(expr, c[3])
        return ast.LabelReplace(expr, _string(dst), _string(repl), _string(src), _string(regex))

    def range_op(self, c):
        return str(c[0]).lower()

    def vector_op(self, c):
        return str(c[0]).lower()

    def range_aggregation_expr(self, c):
        op, _lp, param, _comma, rng, _rp, grouping = c
        value = parse_float(str(param)) if param is not None else None
        return ast.RangeAggregation(op, rng, value, grouping)

    def vector_aggregation_expr(self, c):
        op, _lp, param, _comma, expr, rp, grouping = c
        _require_metric(expr, rp)
        return ast.VectorAggregation(op, expr, str(param) if param is not None else None, grouping)

    def vector_aggregation_expr_grouping_first(self, c):
        op, grouping, _lp, param, _comma, expr, rp = c
        _require_metric(expr, rp)
        return ast.VectorAggregation(op, expr, str(param) if param is not None else None, grouping)

    def grouping_by(self, c):
        return ast.Grouping(c[2] or (), False)

    def grouping_without(self, c):
        return ast.Grouping(c[2] or (), True)

    # ---- log ranges
    def _range(self, tok: Token) -> int:
        # `lexer.LokiLexer` ends the input at a range whose duration does not parse
        return parse_duration(str(tok)[1:-1], syntax="prometheus")

    def log_range_range_first(self, c):
        selector, rng, offset, pipeline = c
        return ast.LogRange(ast.LogExpr(selector, pipeline or ()), self._range(rng), offset or 0)

    def log_range_pipeline_first(self, c):
        selector, pipeline, rng, offset = c
        return ast.LogRange(ast.LogExpr(selector, pipeline), self._range(rng), offset or 0)

    def log_range_parenthesised(self, c):
        _lp, expr, _rp, rng, offset = c
        if not isinstance(expr, ast.LogExpr):
            raise ParseError("syntax error: unexpected RANGE", rng.line or 0, rng.column or 0)
        return ast.LogRange(expr, self._range(rng), offset or 0)

    def log_range_nested(self, c):
        return _values(c)[0]

    def offset_expr(self, c):
        return _lexed_duration(c[1])

    # ---- log expressions
    def log_expr(self, c):
        selector, pipeline = c
        return ast.LogExpr(selector, pipeline or ())

    def selector(self, c):
        return c[1] or ()

    def matchers(self, c):
        return tuple(_values(c))

    def matcher(self, c):
        name, op, value = c
        return ast.Matcher(str(name), str(op), _string(value))

    def pipeline_expr(self, c):
        return tuple(s for s in c if not isinstance(s, Token))

    def pipeline_stage(self, c):
        return _values(c)[0]

    def line_filter(self, c):
        op = str(c[0])
        values = tuple(v for v in c[1:] if isinstance(v, ast.LineFilterValue))
        return ast.LineFilter(op, values)

    def filter(self, c):
        return c[0]

    def line_filter_string(self, c):
        return ast.LineFilterValue(_string(c[0]))

    def line_filter_ip(self, c):
        return ast.LineFilterValue(_string(c[2]), ip=True)

    def logfmt_parser(self, c):
        flags = {str(t) for t in c if isinstance(t, Token) and t.type == "PARSER_FLAG"}
        params = c[-1] or ()
        return ast.LogfmtParser("--strict" in flags, "--keep-empty" in flags, params)

    def json_parser(self, c):
        return ast.JsonParser()

    def json_expression_parser(self, c):
        return ast.JsonParser(c[1])

    def regexp_parser(self, c):
        return ast.RegexpParser(_string(c[1]))

    def pattern_parser(self, c):
        return ast.PatternParser(_string(c[1]))

    def unpack_parser(self, c):
        return ast.UnpackParser()

    def label_extraction_expression_list(self, c):
        return tuple(_values(c))

    def label_extraction_expression(self, c):
        name, _eq, expr = c
        return ast.Extraction(str(name), _string(expr) if expr is not None else str(name))

    def line_format_expr(self, c):
        return ast.LineFormat(_string(c[1]))

    def decolorize_expr(self, c):
        return ast.Decolorize()

    def label_format_expr(self, c):
        return ast.LabelFormat(tuple(_values(c[1:])))

    def label_format_rename(self, c):
        return ast.LabelFormatItem(str(c[0]), str(c[2]), False)

    def label_format_template(self, c):
        return ast.LabelFormatItem(str(c[0]), _string(c[2]), True)

    def drop_labels_expr(self, c):
        return ast.Drop(tuple(_values(c[1:])))

    def keep_labels_expr(self, c):
        return ast.Keep(tuple(_values(c[1:])))

    def named_matcher(self, c):
        item = c[0]
        if isinstance(item, ast.Matcher):
            return ast.NamedMatcher(item.name, item)
        return ast.NamedMatcher(str(item))

    def unwrap_expr(self, c):
        vals = _values(c)
        if len(vals) == 2:
            return ast.Unwrap(str(vals[1]))
        return ast.Unwrap(str(vals[2]), vals[1])

    def conv_op(self, c):
        return str(c[0]).lower()

    # ---- label filters
    def label_filter_stage(self, c):
        return ast.LabelFilterStage(c[0])

    def label_filter_or(self, c):
        return ast.OrLabelFilter(c[0], c[2])

    def label_filter_and(self, c):
        return ast.AndLabelFilter(c[0], c[-1])

    def label_filter_atom(self, c):
        return _values(c)[0]

    def string_label_filter(self, c):
        return ast.StringLabelFilter(c[0])

    def ip_label_filter(self, c):
        name, op, _ip, _lp, pattern, _rp = c
        return ast.IpLabelFilter(str(name), str(op), _string(pattern))

    def filter_cmp(self, c):
        return _CMP[str(c[0])]

    def duration_label_filter(self, c):
        return ast.DurationLabelFilter(str(c[0]), c[1], _lexed_duration(c[2]))

    def bytes_label_filter(self, c):
        value = parse_bytes(str(c[2]))
        if value is None:
            raise ParseError("syntax error: unexpected BYTES", c[2].line or 0, c[2].column or 0)
        return ast.BytesLabelFilter(str(c[0]), c[1], value)

    def number_label_filter(self, c):
        return ast.NumericLabelFilter(str(c[0]), c[1], c[2].value)


def to_ast(tree: lark.Tree) -> ast.Expr:
    """The AST of a parsed LogQL tree; lexical errors surface as `ParseError` (a number's
    scanner error, `parse.parse_tree`'s `scan_error`, after the errors of the tree's own)."""
    try:
        expr = ToAst().transform(tree)
    except lark.exceptions.VisitError as err:
        if isinstance(err.orig_exc, ParseError):
            raise err.orig_exc from None
        raise
    scan_error = getattr(tree, "scan_error", None)
    if scan_error is not None:
        raise scan_error
    return expr

"""Pass 1 — parse: LogQL text to a lark tree, with Loki-worded positioned errors.

The LALR parser is built lazily from `grammar/logql.lark` and cached. This is the only
module that catches lark's exceptions; each becomes a `ParseError` worded like Loki's
(`syntax error: unexpected IDENTIFIER, expecting STRING or ip`, `literal not terminated`,
`missing closing ']' in duration`).
"""

from __future__ import annotations

import functools
from pathlib import Path

import lark
from lark.parsers.lalr_parser_state import ParserState

from logql2sql.errors import ParseError
from logql2sql.lexer import NO_LINE_TOKENS, LokiLexer, collecting_scan_errors

MAX_INPUT_SIZE = 131072
"""Loki's `maxInputSize`: longer queries are rejected before parsing."""

_GRAMMAR = Path(__file__).parent / "grammar" / "logql.lark"

# How Loki's yacc names tokens in messages: punctuation and keywords by their text,
# value tokens and functions by their token name.
_LITERAL_NAMES = {
    "PIPE_EXACT": "|=",
    "PIPE_MATCH": "|~",
    "PIPE_PATTERN": "|>",
    "PIPE": "|",
    "NRE": "!~",
    "NPA": "!>",
    "NEQ": "!=",
    "RE": "=~",
    "CMP_EQ": "==",
    "EQ": "=",
    "GTE": ">=",
    "GT": ">",
    "LTE": "<=",
    "LT": "<",
    "ADD": "+",
    "SUB": "-",
    "MUL": "*",
    "DIV": "/",
    "MOD": "%",
    "POW": "^",
    "LBRACE": "{",
    "RBRACE": "}",
    "LPAREN": "(",
    "RPAREN": ")",
    "COMMA": ",",
    "$END": "$end",
    "LABEL_FMT": "label_format",
    "LINE_FMT": "line_format",
    "IP": "ip",
    "PARSER_FLAG": "FUNCTION_FLAG",
    "DOT": ".",
    "CLOSE_BRACKET": "]",
}
_KEYWORDS = {
    "BY",
    "WITHOUT",
    "BOOL",
    "OFFSET",
    "ON",
    "IGNORING",
    "GROUP_LEFT",
    "GROUP_RIGHT",
    "OR",
    "AND",
    "UNLESS",
    "JSON",
    "REGEXP",
    "LOGFMT",
    "UNPACK",
    "PATTERN",
    "DECOLORIZE",
    "DROP",
    "KEEP",
    "UNWRAP",
}


def token_display(name: str) -> str:
    """The name Loki uses for a token in `unexpected ...` messages."""
    if name in _LITERAL_NAMES:
        return _LITERAL_NAMES[name]
    if name in _KEYWORDS:
        return name.lower()
    return name


@functools.cache
def parser() -> lark.Lark:
    """The cached LALR parser for the LogQL grammar."""
    return lark.Lark(
        _GRAMMAR.read_text(encoding="utf-8"),
        parser="lalr",
        lexer=LokiLexer,
        maybe_placeholders=True,
        propagate_positions=False,
    )


def parse_tree(text: str) -> lark.Tree:
    """The lark tree of `text`; raises `ParseError` positioned like Loki's.

    A number the scanner reported an error for (`1E`) fails the parse with that error,
    unless the grammar failed first; when the grammar accepts the text, the error rides on
    the tree as `scan_error` for `transform.to_ast`, where a failing grammar action (Loki's
    `mustNew...` panics) takes precedence, as in Loki.
    """
    if len(text.encode("utf-8", "surrogatepass")) > MAX_INPUT_SIZE:
        raise ParseError("input size too long")
    with collecting_scan_errors() as scan_errors:
        try:
            tree = _parse(text)
        except ParseError:
            if scan_errors:
                raise scan_errors[0] from None
            raise
    if scan_errors:
        tree.scan_error = scan_errors[0]
    return tree


def _parse(text: str) -> lark.Tree:
    try:
        return parser().parse(text)
    except lark.exceptions.UnexpectedCharacters as err:
        raise _char_error(text, err) from None
    except lark.exceptions.UnexpectedEOF as err:
        line, col = _end_position(text)
        raise ParseError(_unexpected("$END", err.expected), line, col) from None
    except lark.exceptions.UnexpectedToken as err:
        tok = err.token
        if tok.type == "$END":
            line, col = _end_position(text)
        elif tok.type in NO_LINE_TOKENS:
            # Loki's lexer read these past the scanned token: its error names line 0.
            line, col = 0, tok.column
        else:
            line, col = tok.line, tok.column
        expected = _expected_after_default_reductions(err.state, tok.type)
        raise ParseError(_unexpected(tok.type, expected), line, col) from None


def _expected_after_default_reductions(state: ParserState, lookahead: str) -> set[str]:
    """The tokens Loki's parser names as expected when `lookahead` fails in `state`.

    goyacc reduces by a state's default reduction whatever the lookahead, so Loki notices
    an error only in a state that shifts, and lists what that state takes. lark notices it
    in the state that has no action for the lookahead, which may be one that can only
    reduce (`{a="b"` followed by `=`: the matcher is complete). Taking such pure
    reductions on a copy of the state stack first lists what Loki lists (`expecting } or ,`
    rather than every token that may follow a selector in any context).
    """
    table = state.parse_conf.parse_table.states
    stack = list(state.state_stack)
    for _ in range(64):  # each step pops the rule's states and pushes one
        actions = table[stack[-1]]
        if any(action.name == "Shift" for name, (action, _) in actions.items() if name.isupper()):
            break
        reductions = [arg for action, arg in actions.values() if action.name == "Reduce"]
        if not reductions:
            break
        rule = max(reductions, key=reductions.count)
        if rule.expansion:
            del stack[-len(rule.expansion) :]
        if not stack or rule.origin.name not in table[stack[-1]]:
            return _terminals(table[state.position])
        stack.append(table[stack[-1]][rule.origin.name][1])
        if lookahead in table[stack[-1]]:  # the token is taken after all: keep lark's view
            return _terminals(table[state.position])
    return _terminals(table[stack[-1]])


def _terminals(actions: dict) -> set[str]:
    """The tokens among a state's actions (rule names, lower case, are gotos)."""
    return {name for name in actions if name.isupper() or name == "$END"}


# Loki's yacc token order, used to list expected tokens the way its messages do.
_TOKEN_ORDER = [
    "BYTES",
    "IDENTIFIER",
    "STRING",
    "NUMBER",
    "PARSER_FLAG",
    "DURATION",
    "RANGE",
    "EQ",
    "RE",
    "NRE",
    "NPA",
    "LBRACE",
    "RBRACE",
    "COMMA",
    "PIPE_MATCH",
    "PIPE_EXACT",
    "PIPE_PATTERN",
    "LPAREN",
    "RPAREN",
    "BY",
    "WITHOUT",
    "COUNT_OVER_TIME",
    "RATE",
    "RATE_COUNTER",
    "SUM",
    "SORT",
    "SORT_DESC",
    "AVG",
    "MAX",
    "MIN",
    "COUNT",
    "STDDEV",
    "STDVAR",
    "BOTTOMK",
    "TOPK",
    "APPROX_TOPK",
    "BYTES_OVER_TIME",
    "BYTES_RATE",
    "BOOL",
    "JSON",
    "REGEXP",
    "LOGFMT",
    "PIPE",
    "LINE_FMT",
    "LABEL_FMT",
    "UNWRAP",
    "AVG_OVER_TIME",
    "SUM_OVER_TIME",
    "MIN_OVER_TIME",
    "MAX_OVER_TIME",
    "STDVAR_OVER_TIME",
    "STDDEV_OVER_TIME",
    "QUANTILE_OVER_TIME",
    "BYTES_CONV",
    "DURATION_CONV",
    "DURATION_SECONDS_CONV",
    "FIRST_OVER_TIME",
    "LAST_OVER_TIME",
    "ABSENT_OVER_TIME",
    "VECTOR",
    "LABEL_REPLACE",
    "UNPACK",
    "OFFSET",
    "PATTERN",
    "IP",
    "ON",
    "IGNORING",
    "GROUP_LEFT",
    "GROUP_RIGHT",
    "DECOLORIZE",
    "DROP",
    "KEEP",
    "OR",
    "AND",
    "UNLESS",
    "CMP_EQ",
    "NEQ",
    "LT",
    "LTE",
    "GT",
    "GTE",
    "ADD",
    "SUB",
    "MUL",
    "DIV",
    "MOD",
    "POW",
]


def _unexpected(name: str, expected: set[str] | None) -> str:
    msg = f"syntax error: unexpected {token_display(name)}"
    order = {t: i for i, t in enumerate(_TOKEN_ORDER)}
    # goyacc never names the end of input as expected
    names = sorted(set(expected or ()) - {"$END"}, key=lambda t: (order.get(t, len(order)), t))
    if 0 < len(names) <= 4:  # goyacc lists at most four
        msg += ", expecting " + " or ".join(token_display(n) for n in names)
    return msg


def _char_error(text: str, err: lark.exceptions.UnexpectedCharacters) -> ParseError:
    ch = text[err.pos_in_stream]
    if ch in '"`':
        return ParseError("literal not terminated", err.line, err.column)
    if ch == "[":
        return ParseError("missing closing ']' in duration", 0, err.column)
    return ParseError(f"syntax error: unexpected {ch}", err.line, err.column)


def _end_position(text: str) -> tuple[int, int]:
    lines = text.split("\n")
    return len(lines), len(lines[-1]) + 1

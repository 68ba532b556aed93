"""Go `text/template` (as used by `line_format` and `label_format`) lowered to SQL.

Supported: text, `{{ .label }}`, `{{ __line__ }}`, trim markers `{{-`/`-}}`, and pipelines
or calls of the string functions below (`{{ .a | ToUpper }}`, `{{ ToLower .a }}`,
`{{ default "x" .a }}`). A missing label renders as "". Any other construct raises
`UnsupportedInDialect` naming it; a function Loki does not define raises `LogQLError`
(`function "x" not defined`), as Loki fails such a query.
"""

from __future__ import annotations

import re

from sqlglot import exp

from logql2sql.errors import LogQLError, UnsupportedInDialect
from logql2sql.lexical import unquote
from logql2sql.sqlbuild import case, col, fn, get, lit

LOKI_FUNCTIONS = set(
    [
        "ToLower",
        "ToUpper",
        "Replace",
        "Trim",
        "TrimLeft",
        "TrimRight",
        "TrimPrefix",
        "TrimSuffix",
        "TrimSpace",
        "regexReplaceAll",
        "regexReplaceAllLiteral",
        "count",
        "urldecode",
        "urlencode",
        "bytes",
        "duration",
        "duration_seconds",
        "unixEpochMillis",
        "unixEpochNanos",
        "toDateInZone",
        "unixToTime",
        "alignLeft",
        "alignRight",
        "b64dec",
        "b64enc",
        "lower",
        "upper",
        "title",
        "trunc",
        "substr",
        "contains",
        "hasPrefix",
        "hasSuffix",
        "indent",
        "nindent",
        "replace",
        "repeat",
        "trim",
        "trimAll",
        "trimSuffix",
        "trimPrefix",
        "int",
        "float64",
        "add",
        "sub",
        "mul",
        "div",
        "mod",
        "addf",
        "subf",
        "mulf",
        "divf",
        "max",
        "min",
        "maxf",
        "minf",
        "ceil",
        "floor",
        "round",
        "fromJson",
        "date",
        "toDate",
        "now",
        "unixEpoch",
        "default",
        "printf",
        "eq",
        "ne",
        "lt",
        "le",
        "gt",
        "ge",
        "and",
        "or",
        "not",
        "len",
        "index",
        "print",
        "println",
        "html",
        "js",
        "urlquery",
        "slice",
        "call",
    ]
)

_ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.S)
_TOKEN = re.compile(r'\s*("(?:[^"\\]|\\.)*"|`[^`]*`|\.[A-Za-z_][A-Za-z0-9_]*|[A-Za-z_]\w*|\|)')


def render_template(template: str, dialect: str) -> exp.Expression:
    """A SQL string expression rendering `template` for the current row."""
    parts: list[exp.Expression] = []
    pos = 0
    text_parts: list[str] = []
    for m in _ACTION.finditer(template):
        text = template[pos : m.start()]
        if m.group(1):
            text = text.rstrip()
        text_parts.append(text)
        pos = m.end()
        parts.append(lit(text))
        parts.append(_action(m.group(2).strip(), dialect))
        if m.group(3):
            rest = template[pos:]
            pos += len(rest) - len(rest.lstrip())
    parts.append(lit(template[pos:]))
    parts = [p for p in parts if not (isinstance(p, exp.Literal) and p.this == "")]
    if not parts:
        return lit("")
    out = parts[0]
    for p in parts[1:]:
        out = exp.DPipe(this=out, expression=p, safe=True)
    return out


def _tokens(action: str) -> list[str]:
    tokens, pos = [], 0
    while pos < len(action):
        m = _TOKEN.match(action, pos)
        if not m:
            raise UnsupportedInDialect(f"template action {{{{{action}}}}}", "any")
        tokens.append(m.group(1))
        pos = m.end()
        if action[pos:].strip() == "":
            break
    return tokens


def _operand(token: str) -> exp.Expression:
    if token.startswith("."):
        return exp.Coalesce(this=get(col("lbls"), token[1:]), expressions=[lit("")])
    if token == "__line__":
        return col("line")
    if token[0] in '"`':
        return lit(unquote(token))
    raise UnsupportedInDialect(f"template operand {token}", "any")


def _action(action: str, dialect: str) -> exp.Expression:
    if action.startswith("/*"):
        return lit("")
    commands: list[list[str]] = [[]]
    for tok in _tokens(action):
        if tok == "|":
            commands.append([])
        else:
            commands[-1].append(tok)
    value: exp.Expression | None = None
    for command in commands:
        if not command:
            raise UnsupportedInDialect(f"template action {{{{{action}}}}}", dialect)
        head, args = command[0], command[1:]
        if head.startswith(".") or head == "__line__" or head[0] in '"`':
            if args or value is not None:
                raise UnsupportedInDialect(f"template action {{{{{action}}}}}", dialect)
            value = _operand(head)
            continue
        if head not in LOKI_FUNCTIONS:
            raise LogQLError(f'template: line:1: function "{head}" not defined')
        operands = [_operand(a) for a in args]
        if value is not None:
            operands.append(value)
        value = _call(head, operands, dialect)
    assert value is not None
    return value


def _call(name: str, args: list[exp.Expression], dialect: str) -> exp.Expression:
    if name in ("ToUpper", "upper") and len(args) == 1:
        return fn("upper", args[0])
    if name in ("ToLower", "lower") and len(args) == 1:
        return fn("lower", args[0])
    if name in ("TrimSpace", "trim") and len(args) == 1:
        return fn("trim", args[0])
    if name == "default" and len(args) == 2:
        return case((exp.EQ(this=args[1], expression=lit("")), args[0]), default=args[1])
    if name == "replace" and len(args) == 3:
        return fn("replace", args[2], args[0], args[1])
    if name == "Replace" and len(args) == 4:
        return fn("replace", args[0], args[1], args[2])
    if name == "TrimPrefix" and len(args) == 2:
        return case(
            (
                fn("starts_with", args[0], args[1]),
                fn(
                    "substr",
                    args[0],
                    exp.Add(this=fn("length", args[1]), expression=exp.Literal.number(1)),
                ),
            ),
            default=args[0],
        )
    if name == "len" and len(args) == 1:
        return exp.cast(fn("length", args[0]), "VARCHAR")
    raise UnsupportedInDialect(f"template function {name}", dialect)

"""Go `text/template` (as used by `line_format` and `label_format`) lowered to SQL.

Supported: text, `{{ .label }}`, `{{ __line__ }}`, trim markers `{{-`/`-}}`, and pipelines
or calls of the string functions below (`{{ .a | ToUpper }}`, `{{ ToLower .a }}`,
`{{ default "x" .a }}`), and `printf` with a literal format of `%s`/`%v` verbs (flags `-`,
width, precision) and `%%`, with Go's `%!s(MISSING)`/`%!(EXTRA …)` for a wrong argument
count. A missing label renders as "". Any other construct raises
`UnsupportedInDialect` naming it; a function Loki does not define raises `LogQLError`
(`function "x" not defined`), as Loki fails such a query.
"""

from __future__ import annotations

import re

from sqlglot import exp

from logql2sql.errors import LogQLError, UnsupportedInDialect
from logql2sql.lexical import unquote
from logql2sql.sqlbuild import case, cast, col, fn, get, lit

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


def render_template(template: str, dialect: str, label: str | None = None) -> exp.Expression:
    """A SQL string expression rendering `template` for the current row.

    `label` names the `label_format` target (None for `line_format`); it only words the
    error for a template Go cannot parse, as Loki words it when it builds the stage.
    """
    _check_closed(template, label)
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


def _check_closed(template: str, label: str | None) -> None:
    """Reject an action left open (`{{` with no `}}`), as Go's template lexer does."""
    end = 0
    for m in _ACTION.finditer(template):
        end = m.end()
    start = template.find("{{", end)
    if start < 0:
        return
    line = template.count("\n", 0, start) + 1
    name = "line" if label is None else "label"
    message = f"template: {name}:{line}: unclosed action"
    if label is None:
        raise LogQLError(f"invalid line template: {message}")
    raise LogQLError(f"invalid template for label '{label}': {message}")


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
    piped_string = True  # whether `value` is a Go string (printf prints other types apart)
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
        if head == "printf":
            value = _printf(args, value, piped_string, dialect)
            continue
        operands = [_operand(a) for a in args]
        if value is not None:
            operands.append(value)
        value = _call(head, operands, dialect)
        piped_string = head != "len"
    assert value is not None
    return value


_VERB = re.compile(r"%([-+# 0]*)(\d*)(?:\.(\d*))?(.)", re.S)


def _printf(
    args: list[str], piped: exp.Expression | None, piped_string: bool, dialect: str
) -> exp.Expression:
    """Go's `fmt.Sprintf` for a literal format whose verbs print strings (`%s`, `%v`)."""
    if not args or args[0][0] not in '"`':
        raise UnsupportedInDialect("printf with a non-literal format", dialect)
    if piped is not None and not piped_string:
        raise UnsupportedInDialect("printf of a non-string value", dialect)
    fmt = unquote(args[0])
    values = [_operand(a) for a in args[1:]] + ([piped] if piped is not None else [])
    parts: list[exp.Expression] = []
    pos = used = 0
    for m in _VERB.finditer(fmt):
        parts.append(lit(fmt[pos : m.start()]))
        pos = m.end()
        flags, width, precision, verb = m.groups()
        if verb == "%" and not (flags or width or precision is not None):
            parts.append(lit("%"))
            continue
        if verb not in "sv" or set(flags) - {"-"}:
            raise UnsupportedInDialect(f"printf verb {m.group(0)!r}", dialect)
        if used == len(values):
            parts.append(lit(f"%!{verb}(MISSING)"))
            continue
        text = values[used]
        used += 1
        if precision is not None:
            text = fn(
                "substr", text, exp.Literal.number(1), exp.Literal.number(int(precision or 0))
            )
        if width:
            pad = fn(
                "rpad" if "-" in flags else "lpad", text, exp.Literal.number(int(width)), lit(" ")
            )
            longer = exp.GTE(
                this=fn("length", text.copy()), expression=exp.Literal.number(int(width))
            )
            text = case((longer, text.copy()), default=pad)
        parts.append(text)
    parts.append(lit(fmt[pos:]))
    if used < len(values):
        extra: list[exp.Expression] = [lit("%!(EXTRA ")]
        for i, v in enumerate(values[used:]):
            extra += [lit(", string=" if i else "string="), v]
        parts += [*extra, lit(")")]
    parts = [p for p in parts if not (isinstance(p, exp.Literal) and p.this == "")]
    out = parts[0] if parts else lit("")
    for p in parts[1:]:
        out = exp.DPipe(this=out, expression=p, safe=True)
    return out


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
        return cast(fn("length", args[0]), "VARCHAR")
    raise UnsupportedInDialect(f"template function {name}", dialect)

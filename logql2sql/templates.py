"""Go `text/template` (as `line_format` and `label_format` run it) lowered to SQL.

`lower_template(template, dialect, label=None) -> Rendered` parses the template as Go does
(`template_parse`) and evaluates it symbolically per row, as Go's `text/template/exec`
would with Loki's function map and `missingkey=zero`: `.a` is label `a` ("" when absent),
`__line__` the line, `__timestamp__` the entry's time. `Rendered.text` is the output and
`Rendered.error` the execution error Go would return for that row (NULL when none, in Go's
words: `template: line:1:3: executing "line" at <div .a 0>: error calling div: ...`);
Loki keeps the line and sets `__error__=TemplateFormatErr` with that text as details.
`render_template` returns the text alone (for callers that only check a template).

Errors Loki's `NewFormatter`/`NewLabelsFormatter` return for a template Go cannot parse are
`LogQLError`s worded as Loki words them (`invalid line template: template: line:2: ...`,
`invalid template for label 'x': template: label:1: ...`). Constructs with no exact SQL
raise `UnsupportedInDialect` naming them (see `template_funcs`); DuckDB is the dialect that
runs templates beyond text, label fields, `__line__` and `ToUpper`/`ToLower`/`TrimPrefix`/
`default`/`printf`, which every dialect takes. Decoded JSON with a key given twice reads
the first value where Go keeps the last.

A variable assigned (`$x = …`) in a part of an `if`/`with` holds, after it, the value of the
part each row took; assignments in `range` (a loop-carried value) and of values of
different types (but for Go's `int` and `int64`) are refused.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlglot import exp

from logql2sql import template_funcs as funcs
from logql2sql.errors import LogQLError, UnsupportedInDialect
from logql2sql.sqlbuild import case, cast, col, fn, get, lam, lit, negate, num
from logql2sql.template_parse import (
    Action,
    Bool,
    Branch,
    Chain,
    Command,
    Dot,
    Field,
    Identifier,
    Nil,
    Node,
    Number,
    Pipe,
    String,
    TemplateSyntaxError,
    Text,
    Variable,
    node_string,
    parse_template,
)
from logql2sql.template_values import (
    GO_TYPES,
    Val,
    bound,
    concat,
    first_error,
    format_float,
    json_list,
    json_type,
    parenthesize,
)

PORTABLE = {"ToUpper", "upper", "ToLower", "lower", "TrimPrefix", "printf", "default"}
"""Functions whose SQL every dialect spells alike; other dialects take these only."""


@dataclass(frozen=True)
class Rendered:
    """A template's output per row and the execution error that replaces it (or None)."""

    text: exp.Expression
    error: exp.Expression | None


def render_template(template: str, dialect: str, label: str | None = None) -> exp.Expression:
    """A SQL string expression rendering `template` for the current row (see the module)."""
    return lower_template(template, dialect, label).text


def can_fail(template: str) -> bool:
    """Whether executing `template` can fail on some line (setting `__error__`)."""
    return lower_template(template, "duckdb").error is not None


def lower_template(template: str, dialect: str, label: str | None = None) -> Rendered:
    """The output and execution error of `template` per row; `label` names the
    `label_format` target (None for `line_format`)."""
    name = "line" if label is None else "label"
    try:
        nodes = parse_template(template, name)
    except TemplateSyntaxError as e:
        if label is None:
            raise LogQLError(f"invalid line template: {e}") from None
        raise LogQLError(f"invalid template for label '{label}': {e}") from None
    if dialect != "duckdb":
        _check_portable(nodes, dialect)
    ev = _Evaluator(template, name, dialect)
    text, err, _ = ev.nodes(nodes, Val("labels", col("lbls")), {"$": Val("labels", col("lbls"))})
    return Rendered(parenthesize(text), parenthesize(err) if err is not None else None)


def _check_portable(nodes: tuple[Node, ...], dialect: str) -> None:
    """Other dialects: text, fields and `__line__`, piped through portable functions."""
    for n in nodes:
        if isinstance(n, Text):
            continue
        if not isinstance(n, Action) or n.pipe.decls:
            raise UnsupportedInDialect(f"template {type(n).__name__.lower()}", dialect)
        for c in n.pipe.commands:
            for a in c.args:
                if isinstance(a, Identifier) and a.name not in PORTABLE | {"__line__"}:
                    raise UnsupportedInDialect(f"template function {a.name}", dialect)
                if not isinstance(a, Identifier | String) and not (
                    isinstance(a, Field) and len(a.names) == 1
                ):
                    raise UnsupportedInDialect(f"template operand {node_string(a)}", dialect)


class _Scope(dict):
    """The variables visible in a node list (a dict from `$name` to its value), which of
    them it declared, and the values it assigned (`$x = …`) to variables declared outside."""

    def __init__(self, outer: dict[str, Val]) -> None:
        super().__init__(outer)
        self.declared: set[str] = set()
        self.assigned: dict[str, Val] = {}

    def declare(self, name: str, value: Val) -> None:
        self[name] = value
        self.declared.add(name)

    def assign(self, name: str, value: Val) -> None:
        """Go's `setVar`: the innermost variable of that name takes the value."""
        self[name] = value
        if name not in self.declared:
            self.assigned[name] = value


class _Evaluator:
    """Go's `text/template` execution, lowered: each node to (text, error) SQL."""

    def __init__(self, source: str, name: str, dialect: str) -> None:
        self.source = source
        self.name = name
        self.dialect = dialect
        self.lambdas = 0

    # ---------------------------------------------------------------- errors

    def error_at(self, node: Node, message: exp.Expression | str) -> exp.Expression:
        """Go's `state.errorf` at `node`: `template: line:L:C: executing "line" at <...>: `."""
        text = self.source[: node.pos]
        line = text.count("\n") + 1
        col_ = node.pos - (text.rfind("\n") + 1) if "\n" in text else node.pos
        context = node_string(node)
        prefix = f'template: {self.name}:{line}:{col_}: executing "{self.name}" at <{context}>: '
        msg = lit(message) if isinstance(message, str) else message
        return concat(lit(prefix), msg)

    def unsupported(self, what: str) -> UnsupportedInDialect:
        return UnsupportedInDialect(what, self.dialect)

    # ---------------------------------------------------------------- lists and branches

    def nodes(
        self, nodes: tuple[Node, ...], dot: Val, env: dict[str, Val]
    ) -> tuple[exp.Expression, exp.Expression | None, dict[str, Val]]:
        """The output of a node list, its first error, and the values it assigned to
        variables of `env` (its own declarations end with it)."""
        scope = _Scope(env)
        parts: list[exp.Expression] = []
        errs: list[exp.Expression | None] = []
        for n in nodes:
            if isinstance(n, Text):
                parts.append(lit(n.text))
            elif isinstance(n, Action):
                v = self.pipe(n.pipe, dot, scope)
                errs.append(v.err)
                if not n.pipe.decls:
                    parts.append(self.printed(v, n))
            elif isinstance(n, Branch):
                text, err, assigned = self.branch(n, dot, scope)
                parts.append(text)
                errs.append(err)
                for name, value in assigned.items():
                    scope.assign(name, value)
            else:
                raise self.unsupported(f"template node {type(n).__name__}")
        return concat(*parts), first_error(*errs), scope.assigned

    def branch(
        self, n: Branch, dot: Val, env: dict[str, Val]
    ) -> tuple[exp.Expression, exp.Expression | None, dict[str, Val]]:
        """An `if`/`with`/`range`: its output, first error and assignments to variables of
        `env`. A variable assigned in one part only keeps its value in the other."""
        scope = _Scope(env)
        if n.kind == "range":
            text, err = self.range_(n, dot, scope)
            return text, err, scope.assigned
        v = self.pipe(n.pipe, dot, scope)
        truth = funcs.truth(v)
        body_dot = v if n.kind == "with" else dot
        body, body_err, body_set = self.nodes(n.body, body_dot, scope)
        other, other_err, other_set = self.nodes(n.orelse or (), dot, scope)
        text = case((truth, body), default=other)
        err = first_error(
            v.err,
            _when(truth.copy(), body_err, other_err),
        )
        for name in sorted(body_set.keys() | other_set.keys()):
            then, otherwise = body_set.get(name, scope[name]), other_set.get(name, scope[name])
            scope.assign(name, self.either(truth, then, otherwise))
        return text, err, scope.assigned

    def either(self, cond: exp.Expression, then: Val, otherwise: Val) -> Val:
        """The value of a variable assigned in a branch: `then` where `cond` holds."""
        if then is otherwise:
            return then
        sql = case((cond.copy(), then.sql), default=otherwise.sql)
        err = _when(cond.copy(), then.err, otherwise.err)
        ints = ("int", "int64")
        mixed = then.kind != otherwise.kind or then.int_kind is not None
        if (
            then.kind in ints
            and otherwise.kind in ints
            and (mixed or otherwise.int_kind is not None)
        ):
            # Go keeps each value's own type: only a parameter of type int tells them apart
            kinds = [
                v.int_kind if v.int_kind is not None else lit(v.kind) for v in (then, otherwise)
            ]
            return Val("int64", sql, err, int_kind=case((cond.copy(), kinds[0]), default=kinds[1]))
        if (then.kind, then.zoned) != (otherwise.kind, otherwise.zoned) or "truth" in (
            then.kind,
            otherwise.kind,
        ):
            raise self.unsupported("template variable assigned values of different types")
        return Val(then.kind, sql, err, then.zoned)

    def range_(
        self, n: Branch, dot: Val, env: dict[str, Val]
    ) -> tuple[exp.Expression, exp.Expression | None]:
        """`range` over a decoded JSON value: array elements in order (`$i, $v`), object
        values by sorted key (`$k, $v`); the else part for nil and empty ones; Go's error
        for anything else."""
        if n.pipe.assign:
            raise self.unsupported("template variable assignment in range")
        v = self.pipe(n.pipe, dot, env, declare=False)
        if v.kind != "json":
            raise self.unsupported(f"template range over {GO_TYPES.get(v.kind, v.kind)}")
        self.lambdas += 1
        names = (f"_e{self.lambdas}", f"_i{self.lambdas}", f"_k{self.lambdas}")
        text = bound(v.sql, "_rj", lambda j: self.range_parts(n, j, dot, env, names)[0])
        err = self.range_parts(n, v.sql, dot, env, names)[1]
        if err is not None:
            err = bound(v.sql, "_rj", lambda j: self.range_parts(n, j, dot, env, names)[1])
        return text, first_error(v.err, err)

    def range_parts(
        self, n: Branch, j: exp.Expression, dot: Val, env: dict[str, Val], names: tuple
    ) -> tuple[exp.Expression, exp.Expression]:
        e, i, k = names
        decls = n.pipe.decls
        elements = json_list(j)
        keys = fn("list_sort", fn("list_distinct", fn("json_keys", j.copy())))
        arr_elem = Val("json", col(e), boxed=True)
        path = concat(lit('$."'), fn("replace", col(k), lit('"'), lit('\\"')), lit('"'))
        obj_elem = Val("json", fn("json_extract", j.copy(), path), boxed=True)
        arr_env, obj_env = dict(env), dict(env)
        if len(decls) == 2:
            arr_env[decls[0]] = Val("int", exp.Sub(this=col(i), expression=num(1)))
            obj_env[decls[0]] = Val("string", col(k))
        if decls:
            arr_env[decls[-1]] = arr_elem
            obj_env[decls[-1]] = obj_elem
        arr_text, arr_err, arr_set = self.nodes(n.body, arr_elem, arr_env)
        obj_text, obj_err, obj_set = self.nodes(n.body, obj_elem, obj_env)
        other, other_err, other_set = self.nodes(n.orelse or (), dot, env)
        if arr_set or obj_set or other_set:
            raise self.unsupported("template variable assignment in range")

        def over(items: exp.Expression, params: list[str], body: exp.Expression | None):
            if body is None:
                return None
            return fn("list_transform", items.copy(), lam(params, body))

        def first(errs: exp.Expression | None) -> exp.Expression:
            if errs is None:
                return exp.Null()
            present = lam(["_x"], negate(exp.Is(this=col("_x"), expression=exp.Null())))
            return exp.Bracket(
                this=fn("list_filter", errs, present), expressions=[num(1)], offset=1
            )

        def joined(texts: exp.Expression | None) -> exp.Expression:
            return fn("array_to_string", texts, lit(""))

        t = json_type(j)
        is_arr = exp.EQ(this=t, expression=lit("ARRAY"))
        is_obj = exp.EQ(this=t.copy(), expression=lit("OBJECT"))
        full_arr = exp.and_(is_arr, exp.GT(this=fn("len", elements.copy()), expression=num(0)))
        full_obj = exp.and_(is_obj, exp.GT(this=fn("len", keys.copy()), expression=num(0)))
        rangeable = exp.In(this=t.copy(), expressions=[lit("NULL"), lit("ARRAY"), lit("OBJECT")])
        text = case(
            (full_arr, joined(over(elements, [e, i], arr_text))),
            (full_obj, joined(over(keys, [k], obj_text))),
            (rangeable, other),
            default=lit(""),
        )
        bad = self.error_at(
            _last_node(n.pipe), concat(lit("range can't iterate over "), funcs.json_printed(j))
        )
        err = case(
            (full_arr.copy(), first(over(elements, [e, i], arr_err))),
            (full_obj.copy(), first(over(keys, [k], obj_err))),
            (rangeable.copy(), other_err or exp.Null()),
            default=bad,
        )
        return text, err

    # ---------------------------------------------------------------- pipelines

    def pipe(self, p: Pipe, dot: Val, env: dict[str, Val], declare: bool = True) -> Val:
        if p.assign and not isinstance(env, _Scope):
            raise self.unsupported("template variable assignment in a parenthesized pipeline")
        value: Val | None = None
        for c in p.commands:
            value = self.command(c, dot, env, value)
        assert value is not None
        if value.boxed:
            value = replace(value, boxed=False)
        if declare and p.decls:
            if p.assign:
                env.assign(p.decls[-1], value)
            elif isinstance(env, _Scope):
                env.declare(p.decls[-1], value)
            else:
                env[p.decls[-1]] = value
        return value

    def command(self, c: Command, dot: Val, env: dict[str, Val], final: Val | None) -> Val:
        head = c.args[0]
        if isinstance(head, Identifier):
            return self.call(head, c, list(c.args[1:]), dot, env, final)
        if len(c.args) > 1 or final is not None:
            if isinstance(head, Field | Variable | Chain) and _field_names(head):
                name = _field_names(head)[-1]
                return Val(
                    "string",
                    lit(""),
                    self.error_at(head, f"{name} is not a method but has arguments"),
                )
            return Val(
                "string",
                lit(""),
                self.error_at(head, f"can't give argument to non-function {node_string(head)}"),
            )
        if isinstance(head, Nil):
            return Val("string", lit(""), self.error_at(head, "nil is not a command"))
        return self.operand(head, dot, env)

    def operand(self, n: Node, dot: Val, env: dict[str, Val]) -> Val:
        if isinstance(n, Field):
            return self.fields(dot, n.names, n)
        if isinstance(n, Variable):
            return self.fields(env[n.name], n.names, n)
        if isinstance(n, Dot):
            return dot
        if isinstance(n, Pipe):
            return self.pipe(n, dot, dict(env))
        if isinstance(n, Chain):
            return self.fields(self.operand(n.node, dot, env), n.names, funcs.visited(n))
        if isinstance(n, String):
            return Val("string", lit(n.value))
        if isinstance(n, Bool):
            return Val("bool", exp.true() if n.value else exp.false())
        if isinstance(n, Number):
            return funcs.ideal_constant(n, self)
        if isinstance(n, Nil):
            return Val("nil", exp.Null())
        if isinstance(n, Identifier):
            return self.call(n, Command(n.pos, (n,)), [], dot, env, None)
        raise self.unsupported(f"template operand {node_string(n)}")

    def fields(self, v: Val, names: tuple[str, ...], node: Node) -> Val:
        for name in names:
            if v.kind == "labels":
                v = Val("string", exp.Coalesce(this=get(v.sql, name), expressions=[lit("")]), v.err)
            elif v.kind == "json":
                obj = exp.EQ(this=json_type(v.sql), expression=lit("OBJECT"))
                nil = exp.EQ(this=json_type(v.sql.copy()), expression=lit("NULL"))
                value = fn("json_extract", v.sql.copy(), lit(f'$."{_json_key(name)}"'))
                nil_err = exp.Null()
                if v.boxed:  # a pipeline's nil result reads as nil; a nil map value fails
                    nil_err = self.error_at(node, f"nil pointer evaluating interface {{}}.{name}")
                err = case(
                    (obj, exp.Null()),
                    (nil, nil_err),
                    default=self.error_at(
                        node, f"can't evaluate field {name} in type interface {{}}"
                    ),
                )
                v = Val("json", value, first_error(v.err, err), boxed=True)
            elif v.kind == "time" and (name in _TIME_METHODS or name in ("wall", "ext", "loc")):
                raise self.unsupported(f"template method or field {name} of a time.Time")
            else:
                go = GO_TYPES.get(v.kind, v.kind)
                return Val(
                    "string",
                    lit(""),
                    first_error(
                        v.err, self.error_at(node, f"can't evaluate field {name} in type {go}")
                    ),
                )
        return v

    def call(
        self,
        ident: Identifier,
        c: Command,
        args: list[Node],
        dot: Val,
        env: dict[str, Val],
        final: Val | None,
    ) -> Val:
        return funcs.call(self, ident, c, args, dot, env, final)

    # ---------------------------------------------------------------- printing

    def printed(self, v: Val, node: Node) -> exp.Expression:
        """`fmt.Fprint` of a value, as an action prints it."""
        if v.kind == "string":
            return v.sql
        if v.kind in funcs.INT_KINDS:
            return cast(v.sql, "VARCHAR")
        if v.kind == "float64":
            return format_float(v.sql)
        if v.kind == "bool":
            return case((v.sql, lit("true")), default=lit("false"))
        if v.kind == "nil":
            return lit("<no value>")
        if v.kind == "json":
            return funcs.json_printed(v.sql)
        if v.kind == "truth":
            raise self.unsupported("printing and/or of values of different types")
        if v.kind == "time":
            if v.zoned:
                raise self.unsupported("printing a time parsed with a zone offset or in a zone")
            return funcs.time_printed(v)
        raise self.unsupported(f"printing a template value of type {GO_TYPES.get(v.kind, v.kind)}")


_TIME_METHODS = frozenset(
    """Add AddDate After AppendBinary AppendFormat AppendText Before Clock Compare Date Day
    Equal Format GoString GobDecode GobEncode Hour ISOWeek In IsDST IsZero Local Location
    MarshalBinary MarshalJSON MarshalText Minute Month Nanosecond Round Second String Sub
    Truncate UTC Unix UnixMicro UnixMilli UnixNano UnmarshalBinary UnmarshalJSON
    UnmarshalText Weekday Year YearDay Zone ZoneBounds""".split()  # noqa: SIM905
)
"""Go's `time.Time` methods: `.Unix` on a time calls one (not lowered)."""


def _when(
    cond: exp.Expression, then: exp.Expression | None, otherwise: exp.Expression | None
) -> exp.Expression | None:
    if then is None and otherwise is None:
        return None
    return case((cond, then or exp.Null()), default=otherwise or exp.Null())


def _last_node(p: Pipe) -> Node:
    """The node Go's executor visited last in a pipeline (where it reports range errors)."""
    last = p.commands[-1].args[-1]
    return _last_node(last) if isinstance(last, Pipe) else last


def _field_names(n: Node) -> tuple[str, ...]:
    return getattr(n, "names", ())


def _json_key(name: str) -> str:
    return name.replace('"', '\\"')


__all__ = ["Rendered", "can_fail", "lower_template", "render_template"]

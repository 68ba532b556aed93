"""Parsing of Go `text/template` source, as `line_format`/`label_format` templates use it.

`parse_template(text, name) -> tuple[Node, ...]` follows Go's `text/template/parse` (lexer
states, trim markers `{{- ` / ` -}}`, comments, keywords, pipelines, parenthesised
pipelines, variables with their scopes, number literals) and raises `TemplateSyntaxError`
with Go's message (`template: line:3: function "foo" not defined`), so the caller can add
Loki's prefix. Functions are checked against Loki's function map at parse time, as Go does.
`define`, `template`, `block`, `break` and `continue` parse only as far as needed to reject
them with `UnsupportedInDialect` (no LogQL user writes them; they cannot be lowered).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from logql2sql.errors import UnsupportedInDialect

SPACES = " \t\r\n"
KEYWORDS = {
    "block",
    "break",
    "continue",
    "define",
    "else",
    "end",
    "if",
    "range",
    "nil",
    "template",
    "with",
}
BUILTINS = {
    "and",
    "call",
    "html",
    "index",
    "slice",
    "js",
    "len",
    "not",
    "or",
    "print",
    "printf",
    "println",
    "urlquery",
    "eq",
    "ge",
    "gt",
    "le",
    "lt",
    "ne",
}
LOKI_FUNCTIONS = {
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
    "__line__",
    "__timestamp__",
    # sprig's, as Loki picks them (`templateFunctions` in pkg/logql/log/fmt.go)
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
}
FUNCTIONS = LOKI_FUNCTIONS | BUILTINS


class TemplateSyntaxError(Exception):
    """A template Go's parser rejects; the message is Go's (`template: line:1: ...`)."""


# ------------------------------------------------------------------ AST


@dataclass(frozen=True)
class Node:
    """A parse node; `pos` is the byte offset of its first token in the source."""

    pos: int


@dataclass(frozen=True)
class Text(Node):
    text: str


@dataclass(frozen=True)
class Field(Node):
    """`.a.b`: field (map key) accesses on dot."""

    names: tuple[str, ...]


@dataclass(frozen=True)
class Variable(Node):
    """`$x.a`: a variable and field accesses on it (`$` is the data)."""

    name: str
    names: tuple[str, ...] = ()


@dataclass(frozen=True)
class Dot(Node):
    pass


@dataclass(frozen=True)
class Nil(Node):
    pass


@dataclass(frozen=True)
class Bool(Node):
    value: bool


@dataclass(frozen=True)
class String(Node):
    text: str  # as written, quotes included
    value: str


@dataclass(frozen=True)
class Number(Node):
    """A number constant, with Go's int/float views of it (None when it has none)."""

    text: str
    int_value: int | None
    float_value: float | None


@dataclass(frozen=True)
class Identifier(Node):
    name: str


@dataclass(frozen=True)
class Command(Node):
    args: tuple[Node, ...]


@dataclass(frozen=True)
class Pipe(Node):
    decls: tuple[str, ...]
    commands: tuple[Command, ...]
    assign: bool = False


@dataclass(frozen=True)
class Chain(Node):
    """`(pipeline).a.b`: field accesses on a parenthesised pipeline."""

    node: Node
    names: tuple[str, ...]


@dataclass(frozen=True)
class Action(Node):
    pipe: Pipe


@dataclass(frozen=True)
class Branch(Node):
    """`if`, `with` or `range` (in `kind`) with its body and else part."""

    kind: str
    pipe: Pipe
    body: tuple[Node, ...]
    orelse: tuple[Node, ...] | None = field(default=None)


def node_string(n: Node) -> str:
    """Go's `Node.String()`, as it shows in execution errors (`at <...>`)."""
    if isinstance(n, Field):
        return "".join("." + x for x in n.names)
    if isinstance(n, Variable):
        return n.name + "".join("." + x for x in n.names)
    if isinstance(n, Dot):
        return "."
    if isinstance(n, Nil):
        return "nil"
    if isinstance(n, Bool):
        return "true" if n.value else "false"
    if isinstance(n, String | Number):
        return n.text
    if isinstance(n, Identifier):
        return n.name
    if isinstance(n, Command):
        return " ".join(
            f"({node_string(a)})" if isinstance(a, Pipe) else node_string(a) for a in n.args
        )
    if isinstance(n, Pipe):
        decl = ""
        if n.decls:
            decl = ", ".join(n.decls) + (" = " if n.assign else " := ")
        return decl + " | ".join(node_string(c) for c in n.commands)
    if isinstance(n, Chain):
        inner = node_string(n.node)
        if isinstance(n.node, Pipe):
            inner = f"({inner})"
        return inner + "".join("." + x for x in n.names)
    raise TypeError(n)


# ------------------------------------------------------------------ lexer


@dataclass(frozen=True)
class Tok:
    typ: str  # text, left, right, space, field, var, ident, string, raw, number, bool, ...
    val: str
    pos: int
    line: int

    def __str__(self) -> str:
        """Go's `item.String()`, as parse errors quote a token."""
        if self.typ == "eof":
            return "EOF"
        if self.typ == "error":
            return self.val
        if self.typ in ("keyword", "dot", "nil"):
            return f"<{self.val}>"
        if len(self.val) > 10:
            return go_quote(self.val[:10]) + "..."
        return go_quote(self.val)


def go_quote(s: str) -> str:
    """Go's `strconv.Quote`."""
    out = ['"']
    named = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
    named |= {"\v": "\\v", "\\": "\\\\", '"': '\\"'}
    for ch in s:
        if ch in named:
            out.append(named[ch])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return "".join(out) + '"'


def _go_rune(ch: str) -> str:
    """Go's `%#U` of a rune: `U+0023 '#'`."""
    return f"U+{ord(ch):04X} '{ch}'" if ch.isprintable() else f"U+{ord(ch):04X}"


_NUMBER = re.compile(
    r"[+-]?(0[xX][0-9a-fA-F_]*\.?[0-9a-fA-F_]*([pP][+-]?[0-9_]+)?"
    r"|0[oObB][0-9_]*|[0-9_]*\.?[0-9_]*([eE][+-]?[0-9_]+)?)i?"
)


def _alnum(ch: str) -> bool:
    return ch == "_" or ch.isalnum()


class _Lexer:
    """Go's template lexer, producing every token up to EOF or the first error."""

    def __init__(self, text: str) -> None:
        self.s = text
        self.toks: list[Tok] = []
        self.line = 1

    def emit(self, typ: str, val: str, pos: int) -> None:
        self.toks.append(Tok(typ, val, pos, self.line))
        self.line += val.count("\n")

    def run(self) -> list[Tok]:
        s, pos = self.s, 0
        try:
            while True:
                x = s.find("{{", pos)
                if x < 0:
                    if pos < len(s):
                        self.emit("text", s[pos:], pos)
                    self.emit("eof", "", len(s))
                    return self.toks
                trim = s.startswith("-", x + 2) and len(s) > x + 3 and s[x + 3] in SPACES
                end = len(s[pos:x].rstrip(SPACES)) + pos if trim else x
                if end > pos:
                    self.emit("text", s[pos:end], pos)
                self.line += s.count("\n", end, x)
                pos = self.action(x, trim)
        except _LexError as e:
            self.toks.append(Tok("error", str(e), pos, self.line))
            return self.toks

    def right_trim_marker(self, p: int) -> bool:
        """` -}}` at p: a space, then `-}}`."""
        return self.s[p : p + 1] in tuple(SPACES) and self.s.startswith("-}}", p + 1)

    def close(self, p: int, trim: bool) -> int:
        """Emit the right delimiter at p (after a trim marker if `trim`); the next pos."""
        if trim:
            p += 2
        self.emit("right", "}}", p)
        p += 2
        if trim:
            skipped = len(self.s[p:]) - len(self.s[p:].lstrip(SPACES))
            self.line += self.s.count("\n", p, p + skipped)
            p += skipped
        return p

    def action(self, x: int, trim: bool) -> int:
        s = self.s
        p = x + 4 if trim else x + 2
        if s.startswith("/*", p):
            return self.comment(x, p)
        self.emit("left", "{{", x)
        depth = 0
        while True:
            if s.startswith("}}", p):
                if depth:
                    raise _LexError("unclosed left paren")
                return self.close(p, False)
            if p >= len(s):
                raise _LexError("unclosed action")
            ch = s[p]
            if ch in SPACES:
                q = p
                while q < len(s) and s[q] in SPACES:
                    q += 1
                if s.startswith("-}}", q):
                    # ` -}}`: one space before the marker belongs to the delimiter
                    if q - p > 1:
                        self.emit("space", s[p : q - 1], p)
                    if depth:
                        raise _LexError("unclosed left paren")
                    return self.close(q - 1, True)
                self.emit("space", s[p:q], p)
                p = q
            elif ch == "=":
                self.emit("assign", "=", p)
                p += 1
            elif ch == ":":
                if not s.startswith(":=", p):
                    raise _LexError("expected :=")
                self.emit("declare", ":=", p)
                p += 2
            elif ch == "|":
                self.emit("pipe", "|", p)
                p += 1
            elif ch == '"':
                q = p + 1
                while True:
                    if q >= len(s) or s[q] == "\n":
                        raise _LexError("unterminated quoted string")
                    if s[q] == "\\":
                        q += 2
                        continue
                    if s[q] == '"':
                        break
                    q += 1
                self.emit("string", s[p : q + 1], p)
                p = q + 1
            elif ch == "`":
                q = s.find("`", p + 1)
                if q < 0:
                    raise _LexError("unterminated raw quoted string")
                self.emit("raw", s[p : q + 1], p)
                p = q + 1
            elif ch == "$":
                p = self.word(p, p + 1, "var")
            elif ch == "'":
                raise UnsupportedInDialect("template character constant", "any")
            elif ch == "." and not (p + 1 < len(s) and s[p + 1].isdigit()):
                p = self.word(p, p + 1, "field")
            elif ch in "+-." or ch.isdigit():
                m = _NUMBER.match(s, p)
                q = m.end() if m else p + 1
                if q < len(s) and _alnum(s[q]):
                    raise _LexError(f"bad number syntax: {go_quote(s[p : q + 1])}")
                self.emit("number", s[p:q], p)
                p = q
            elif _alnum(ch):
                q = p
                while q < len(s) and _alnum(s[q]):
                    q += 1
                word = s[p:q]
                self.terminator(q)
                if word in KEYWORDS:
                    typ = {"nil": "nil"}.get(word, "keyword")
                else:
                    typ = "bool" if word in ("true", "false") else "ident"
                self.emit(typ, word, p)
                p = q
            elif ch == "(":
                depth += 1
                self.emit("lparen", "(", p)
                p += 1
            elif ch == ")":
                depth -= 1
                if depth < 0:
                    raise _LexError("unexpected right paren")
                self.emit("rparen", ")", p)
                p += 1
            elif ord(ch) < 0x80 and ch.isprintable():
                self.emit("char", ch, p)
                p += 1
            else:
                raise _LexError(f"unrecognized character in action: {_go_rune(ch)}")

    def word(self, start: int, p: int, typ: str) -> int:
        """A field `.abc`, variable `$abc`, or the bare `.`/`$`."""
        s = self.s
        if self.is_terminator(p):
            self.emit("dot" if typ == "field" else typ, s[start:p], start)
            return p
        q = p
        while q < len(s) and _alnum(s[q]):
            q += 1
        self.terminator(q)
        self.emit(typ, s[start:q], start)
        return q

    def is_terminator(self, p: int) -> bool:
        if p >= len(self.s):
            return True
        return self.s[p] in SPACES or self.s[p] in ".,|:)(" or self.s.startswith("}}", p)

    def terminator(self, p: int) -> None:
        if not self.is_terminator(p):
            raise _LexError(f"bad character {_go_rune(self.s[p])}")

    def comment(self, x: int, p: int) -> int:
        s = self.s
        q = s.find("*/", p + 2)
        if q < 0:
            raise _LexError("unclosed comment")
        q += 2
        if self.right_trim_marker(q):
            self.line += s.count("\n", x, q)
            p = q + 4
            skipped = len(s[p:]) - len(s[p:].lstrip(SPACES))
            self.line += s.count("\n", p, p + skipped)
            return p + skipped
        if not s.startswith("}}", q):
            raise _LexError("comment ends before closing delimiter")
        self.line += s.count("\n", x, q)
        return q + 2


class _LexError(Exception):
    pass


# ------------------------------------------------------------------ parser


def parse_template(text: str, name: str) -> tuple[Node, ...]:
    """The top-level nodes of `text`; `name` ("line"/"label") words the errors."""
    return _Parser(_Lexer(text).run(), name).parse()


class _End(Node):
    pass


@dataclass(frozen=True)
class _Else(Node):
    chained: str | None  # "if"/"with" for `{{else if ...}}`, else None


class _Parser:
    def __init__(self, toks: list[Tok], name: str) -> None:
        self.toks = toks
        self.i = 0
        self.name = name
        self.vars = ["$"]
        self.last = toks[0]
        self.action_line = 0
        self.ranges = 0

    def error(self, msg: str) -> None:
        raise TemplateSyntaxError(f"template: {self.name}:{self.last.line}: {msg}")

    def next(self) -> Tok:
        tok = self.toks[min(self.i, len(self.toks) - 1)]
        self.i += 1
        self.last = tok
        return tok

    def backup(self, n: int = 1) -> None:
        self.i -= n

    def peek(self) -> Tok:
        return self.toks[min(self.i, len(self.toks) - 1)]

    def next_non_space(self) -> Tok:
        tok = self.next()
        while tok.typ == "space":
            tok = self.next()
        return tok

    def peek_non_space(self) -> Tok:
        tok = self.next_non_space()
        self.backup()
        return tok

    def unexpected(self, tok: Tok, context: str) -> None:
        if tok.typ == "error":
            extra = ""
            if self.action_line and self.action_line != tok.line:
                extra = f" in action started at {self.name}:{self.action_line}"
                if tok.val.endswith(" action"):
                    extra = extra[len(" in action") :]
            self.error(tok.val + extra)
        self.error(f"unexpected {tok} in {context}")

    def expect(self, typ: str, context: str) -> Tok:
        tok = self.next_non_space()
        if tok.typ != typ:
            self.unexpected(tok, context)
        return tok

    def parse(self) -> tuple[Node, ...]:
        nodes: list[Node] = []
        while self.peek().typ != "eof":
            n = self.text_or_action()
            if isinstance(n, _End):
                self.error("unexpected {{end}}")
            if isinstance(n, _Else):
                self.error("unexpected {{else}}")
            if n is not None:
                nodes.append(n)
        return tuple(nodes)

    def item_list(self) -> tuple[tuple[Node, ...], Node]:
        nodes: list[Node] = []
        while self.peek_non_space().typ != "eof":
            n = self.text_or_action()
            if isinstance(n, _End | _Else):
                return tuple(nodes), n
            if n is not None:
                nodes.append(n)
        self.next_non_space()
        self.error("unexpected EOF")
        raise AssertionError

    def text_or_action(self) -> Node | None:
        tok = self.next_non_space()
        if tok.typ == "text":
            return Text(tok.pos, tok.val)
        if tok.typ == "left":
            self.action_line = tok.line
            try:
                return self.action()
            finally:
                self.action_line = 0
        self.unexpected(tok, "input")
        return None

    def action(self) -> Node | None:
        tok = self.next_non_space()
        if tok.typ == "keyword":
            if tok.val == "else":
                return self.else_control()
            if tok.val == "end":
                self.expect("right", "end")
                return _End(tok.pos)
            if tok.val in ("if", "with", "range"):
                return self.control(tok.val, tok.pos)
            if tok.val in ("break", "continue"):
                if self.ranges:
                    raise UnsupportedInDialect(f"template {{{{{tok.val}}}}}", "any")
                self.error(f"{{{{{tok.val}}}}} outside {{{{range}}}}")
            if tok.val in ("define", "template", "block"):
                raise UnsupportedInDialect(f"template {{{{{tok.val}}}}}", "any")
        self.backup()
        return Action(tok.pos, self.pipeline("command", "right"))

    def else_control(self) -> Node:
        tok = self.peek_non_space()
        if tok.typ == "keyword" and tok.val in ("if", "with"):
            return _Else(tok.pos, tok.val)
        self.expect("right", "else")
        return _Else(tok.pos, None)

    def control(self, kind: str, pos: int) -> Branch:
        depth = len(self.vars)
        try:
            pipe = self.pipeline(kind, "right")
            self.ranges += kind == "range"
            body, nxt = self.item_list()
            self.ranges -= kind == "range"
            orelse: tuple[Node, ...] | None = None
            if isinstance(nxt, _Else):
                if nxt.chained is not None and nxt.chained == kind and kind != "range":
                    self.next_non_space()  # the `if`/`with` keyword
                    orelse = (self.control(kind, nxt.pos),)
                else:
                    orelse, end = self.item_list()
                    if not isinstance(end, _End):
                        self.error("expected end; found {{else}}")
            return Branch(pos, kind, pipe, body, orelse)
        finally:
            del self.vars[depth:]

    def pipeline(self, context: str, end: str) -> Pipe:
        pos = self.peek_non_space().pos
        decls: list[str] = []
        assign = False
        while self.peek_non_space().typ == "var":
            start = self.i
            v = self.next()
            nxt = self.peek_non_space()
            if nxt.typ in ("declare", "assign"):
                assign = nxt.typ == "assign"
                self.next_non_space()
                decls.append(v.val)
                self.vars.append(v.val)
                break
            if nxt.typ == "char" and nxt.val == ",":
                self.next_non_space()
                decls.append(v.val)
                self.vars.append(v.val)
                if context == "range" and len(decls) < 2:
                    if self.peek_non_space().typ in ("var", "right", "rparen"):
                        continue
                    self.error("range can only initialize variables")
                self.error(f"too many declarations in {context}")
            self.i = start
            break
        commands: list[Command] = []
        while True:
            tok = self.next_non_space()
            if tok.typ == end:
                if not commands:
                    self.error(f"missing value for {context}")
                for i, c in enumerate(commands[1:]):
                    if isinstance(c.args[0], Bool | Dot | Nil | Number | String):
                        self.error(f"non executable command in pipeline stage {i + 2}")
                return Pipe(pos, tuple(decls), tuple(commands), assign)
            if tok.typ in (
                "bool",
                "dot",
                "field",
                "ident",
                "number",
                "nil",
                "raw",
                "string",
                "var",
                "lparen",
            ):
                self.backup()
                commands.append(self.command())
            else:
                self.unexpected(tok, context)

    def command(self) -> Command:
        pos = self.peek_non_space().pos
        args: list[Node] = []
        while True:
            self.peek_non_space()
            operand = self.operand()
            if operand is not None:
                args.append(operand)
            tok = self.next()
            if tok.typ == "space":
                continue
            if tok.typ in ("right", "rparen"):
                self.backup()
            elif tok.typ != "pipe":
                self.unexpected(tok, "operand")
            break
        if not args:
            self.error("empty command")
        return Command(pos, tuple(args))

    def operand(self) -> Node | None:
        node = self.term()
        if node is None:
            return None
        if self.peek().typ == "field":
            names: list[str] = []
            chain_pos = self.peek().pos
            while self.peek().typ == "field":
                names.append(self.next().val[1:])
            if isinstance(node, Field):
                return Field(chain_pos, node.names + tuple(names))
            if isinstance(node, Variable):
                return Variable(chain_pos, node.name, node.names + tuple(names))
            if isinstance(node, Bool | String | Number | Nil | Dot):
                self.error(f"unexpected . after term {go_quote(node_string(node))}")
            return Chain(chain_pos, node, tuple(names))
        return node

    def term(self) -> Node | None:
        tok = self.next_non_space()
        if tok.typ == "ident":
            if tok.val not in FUNCTIONS:
                self.error(f"function {go_quote(tok.val)} not defined")
            return Identifier(tok.pos, tok.val)
        if tok.typ == "dot":
            return Dot(tok.pos)
        if tok.typ == "nil":
            return Nil(tok.pos)
        if tok.typ == "var":
            name, *names = tok.val.split(".")
            if name not in self.vars:
                self.error(f"undefined variable {go_quote(name)}")
            return Variable(tok.pos, name, tuple(names))
        if tok.typ == "field":
            return Field(tok.pos, (tok.val[1:],))
        if tok.typ == "bool":
            return Bool(tok.pos, tok.val == "true")
        if tok.typ == "number":
            return self.number(tok)
        if tok.typ == "lparen":
            return self.pipeline("parenthesized pipeline", "rparen")
        if tok.typ in ("string", "raw"):
            try:
                return String(tok.pos, tok.val, _unquote(tok.val))
            except (ValueError, IndexError, TemplateSyntaxError):
                self.error("invalid syntax")
        self.backup()
        return None

    def number(self, tok: Tok) -> Number:
        text = tok.val
        if text.endswith("i"):
            raise UnsupportedInDialect("template complex number", "any")
        int_value = _parse_int(text)
        float_value: float | None = None
        if int_value is not None:
            if not -(2**63) <= int_value < 2**64:
                self.error(f"integer overflow: {go_quote(text)}")
            float_value = float(int_value)
            if int_value >= 2**63:
                int_value = None
        else:
            float_value = _parse_float(text)
            if float_value is not None:
                if not re.search(r"[.eEpP]", text):
                    self.error(f"integer overflow: {go_quote(text)}")
                if float_value.is_integer() and abs(float_value) < 2**63:
                    int_value = int(float_value)
        if int_value is None and float_value is None:
            self.error(f"illegal number syntax: {go_quote(text)}")
        return Number(tok.pos, text, int_value, float_value)


def _parse_int(text: str) -> int | None:
    """Go's `strconv.ParseInt(text, 0, 64)` syntax (range checked by the caller)."""
    m = re.fullmatch(r"([+-]?)(0[xX]|0[oO]|0[bB]|0(?=.))?(.*)", text)
    if not m:
        return None
    sign, prefix, digits = m.groups()
    base = {"0x": 16, "0o": 8, "0b": 2, "0": 8}.get((prefix or "").lower(), 10)
    digit = {16: "[0-9a-fA-F]", 8: "[0-7]", 2: "[01]", 10: "[0-9]"}[base]
    lead = "_?" if prefix else ""
    if not re.fullmatch(f"{lead}{digit}(_?{digit})*", digits):
        return None
    value = int(digits.replace("_", ""), base)
    return -value if sign == "-" else value


def _parse_float(text: str) -> float | None:
    """Go's `strconv.ParseFloat(text, 64)` for decimal and hex floats."""
    clean = text.replace("_", "")
    try:
        if re.fullmatch(r"[+-]?0[xX].*", clean):
            return float.fromhex(clean) if re.search(r"[pP]", clean) else None
        if re.fullmatch(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?", clean):
            return float(clean)
    except (ValueError, OverflowError):
        return None
    return None


_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


def _unquote(text: str) -> str:
    """Go's `strconv.Unquote` of a lexed string or raw string.

    `\\x` and octal escapes are bytes, as in Go (`"\\xc3\\xa9"` is `é`); text whose
    bytes are not UTF-8 has no SQL string, so it is refused."""
    if text[0] == "`":
        return text[1:-1].replace("\r", "")
    out, i, body = bytearray(), 0, text[1:-1]
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out += ch.encode()
            i += 1
            continue
        nxt = body[i + 1]
        if nxt in _ESCAPES:
            out += _ESCAPES[nxt].encode()
            i += 2
        elif nxt in "\\\"'":
            out += nxt.encode()
            i += 2
        elif nxt == "x":
            out.append(int(body[i + 2 : i + 4], 16))
            i += 4
        elif nxt in "uU":
            n = 4 if nxt == "u" else 8
            rune = int(body[i + 2 : i + 2 + n], 16)
            if 0xD800 <= rune <= 0xDFFF or rune > 0x10FFFF:  # not `utf8.ValidRune`
                raise TemplateSyntaxError("invalid syntax")
            out += chr(rune).encode()
            i += 2 + n
        elif nxt in "01234567":
            out.append(int(body[i + 1 : i + 4], 8))
            i += 4
        else:
            raise TemplateSyntaxError("invalid syntax")
    try:
        return out.decode()
    except UnicodeDecodeError:
        raise UnsupportedInDialect("template string that is not UTF-8", "any") from None

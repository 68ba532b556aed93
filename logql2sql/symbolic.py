"""Symbolic query times: lower a query once, bind `start`/`end` into its SQL text per call.

`Slots` hands out `Symbol`s for `start` and `end`. A `Symbol` is `base + delta` (`delta` a
known integer): the lowering computes with it as with an int (`start - offset - range`),
and `sqlbuild.num` turns it into a marker literal that prints as a unique token. After SQL
generation, `Template.of(sql, slots)` splits the text at those tokens; `Template.bind`
joins it back with the integers `start + delta`, `end + delta` formatted by Python, exactly
as `num` prints a concrete integer (negative numbers with a leading `-`).

Only integers enter the text, so binding cannot inject anything. Every Python decision on
a symbolic time fails loudly (`bool`, `<`, `==`, `str`, `format` raise `NotSymbolic`; `int` and
arithmetic other than `± int` raise `TypeError`), so a lowering that branches on
`start`/`end` cannot be cached by mistake: such branches belong in the cache key instead.

>>> slots = Slots()
>>> start, end = slots.start, slots.end
>>> template = Template.of(f"x > {slots.token(start - 5)} AND x <= {slots.token(end)}", slots)
>>> template.bind(start=100, end=200)
'x > 95 AND x <= 200'
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field

from sqlglot import exp


class NotSymbolic(TypeError):
    """The lowering used a symbolic time in a way a template cannot hold (a branch on its
    value, its text); the query is then translated with concrete times instead."""


@dataclass(frozen=True, eq=False)
class Symbol:
    """The integer `base + delta`, with `base` one of the query times (`start`, `end`)."""

    base: str
    delta: int
    slots: Slots = field(repr=False)

    def __add__(self, other: object) -> Symbol:
        if type(other) is not int:
            return NotImplemented
        return Symbol(self.base, self.delta + other, self.slots)

    __radd__ = __add__

    def __sub__(self, other: object) -> Symbol:
        if type(other) is not int:
            return NotImplemented
        return Symbol(self.base, self.delta - other, self.slots)

    def __bool__(self) -> bool:
        raise NotSymbolic(f"branch on the symbolic query time {self.base}")

    def __lt__(self, other: object) -> bool:
        raise NotSymbolic(f"comparison with the symbolic query time {self.base}")

    __le__ = __gt__ = __ge__ = __eq__ = __ne__ = __lt__  # type: ignore[assignment]
    __hash__ = object.__hash__

    def __str__(self) -> str:
        raise NotSymbolic(f"text of the symbolic query time {self.base}")

    def __format__(self, spec: str) -> str:
        raise NotSymbolic(f"text of the symbolic query time {self.base}")

    def literal(self) -> exp.Literal:
        """The marker literal standing for this value in a sqlglot tree."""
        return exp.Literal.number(self.slots.token(self))


class Slots:
    """The symbolic times of one lowering and the tokens their values print as.

    Tokens are `<nonce>x<slot>`; the nonce is random per instance and chosen to occur nowhere
    in `avoid` (the query's text and source name), so no user string holds it, and
    `Template.of` checks that it appears nowhere but in whole tokens.
    """

    def __init__(self, avoid: str = "") -> None:
        self.nonce = "q" + secrets.token_hex(8)
        while self.nonce in avoid:
            self.nonce = "q" + secrets.token_hex(8)
        self.slots: list[tuple[str, int]] = []
        self._index: dict[tuple[str, int], int] = {}
        self.start = Symbol("start", 0, self)
        self.end = Symbol("end", 0, self)

    def token(self, symbol: Symbol) -> str:
        key = (symbol.base, symbol.delta)
        index = self._index.get(key)
        if index is None:
            index = self._index[key] = len(self.slots)
            self.slots.append(key)
        return f"{self.nonce}x{index}"


@dataclass(frozen=True)
class Template:
    """SQL text with holes for `start + delta` / `end + delta`.

    `parts` alternates text and holes: `(text, base, delta)` means `text` followed by the
    value of `base + delta`; the last part has no hole (`base` is empty).
    """

    parts: tuple[tuple[str, str, int], ...]

    @classmethod
    def of(cls, sql: str, slots: Slots) -> Template:
        """Split generated SQL at the tokens of `slots`."""
        parts: list[tuple[str, str, int]] = []
        pos = 0
        for m in re.finditer(re.escape(slots.nonce) + r"x(\d+)\b", sql):
            index = int(m.group(1))
            if index >= len(slots.slots):
                raise NotSymbolic(f"unknown symbolic time token {m.group(0)}")
            base, delta = slots.slots[index]
            parts.append((sql[pos : m.start()], base, delta))
            pos = m.end()
        tail = sql[pos:]
        if slots.nonce in tail or any(slots.nonce in text for text, _, _ in parts):
            raise NotSymbolic("a symbolic time was printed in an unexpected form")
        parts.append((tail, "", 0))
        return cls(tuple(parts))

    def bind(self, *, start: int, end: int) -> str:
        """The SQL text with the integers of the given query times filled in."""
        values = {"start": int(start), "end": int(end), "": 0}
        out: list[str] = []
        for text, base, delta in self.parts:
            out.append(text)
            if base:
                out.append(str(values[base] + delta))
        return "".join(out)

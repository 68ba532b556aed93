"""Whether Loki keeps a label filter's regex as a regex: `loki_keeps_regex(pattern)`.

Loki tries to replace a `| name=~"re"` filter with literal comparisons (`foo|bar` becomes
"equals foo or equals bar"), and only when it cannot does the filter print its regex as a
raw string (`` name=~`re` ``) in Loki's query text. Whether it can depends on the tree
Go's `regexp/syntax` parses (with its alternation factoring: `value1|value5` becomes
`value[15]`, which no longer is a list of literals), so this module reads the pattern into
a small model of that tree and runs Loki's simplification rules over it. The model
covers what decides the answer: literals (merged as Go merges them), groups, alternation
factoring, `.*`, `.+` and empty matches; every other construct (classes, anchors, other
repetitions) is opaque, which Loki's rules reject as Go's tree does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

LIT, EMPTY, CLASS, ANYNL, ANY, STAR, PLUS, OTHER, CAPTURE, CONCAT, ALT = range(11)
_CLASS_LIKE = (CLASS, ANYNL, ANY)


@dataclass
class _Re:
    """A node of the model of Go's `syntax.Regexp`."""

    op: int
    runes: str = ""
    fold: bool = False
    subs: list[_Re] = field(default_factory=list)
    text: str = ""
    sealed: bool = False  # a literal left by `x{1}`, which Go never merges with its neighbours

    def char_class_like(self) -> bool:
        return (
            self.op == LIT and len(self.runes) == 1 and not self.sealed
        ) or self.op in _CLASS_LIKE

    def same(self, other: _Re | None) -> bool:
        return other is not None and (self.op, self.runes, self.fold, self.text) == (
            other.op,
            other.runes,
            other.fold,
            other.text,
        )


class _Unsupported(Exception):
    """A spelling the model does not read; the caller answers as for a kept regex."""


_ESCAPED_CHARS = {"a": "\a", "f": "\f", "t": "\t", "n": "\n", "r": "\r", "v": "\v"}


class _Parser:
    def __init__(self, pattern: str) -> None:
        self.s = pattern
        self.i = 0
        self.fold = False
        self.dot_nl = False

    # ---- concatenation with Go's lazy literal merging
    @staticmethod
    def _merge_top(items: list[_Re]) -> None:
        if len(items) >= 2:
            a, b = items[-2], items[-1]
            if a.op == LIT and b.op == LIT and a.fold == b.fold and not (a.sealed or b.sealed):
                items[-2:] = [_Re(LIT, a.runes + b.runes, a.fold)]

    def _push(self, items: list[_Re], node: _Re) -> None:
        self._merge_top(items)
        items.append(node)

    def _concat(self, items: list[_Re]) -> _Re:
        self._merge_top(items)
        if not items:
            return _Re(EMPTY)
        if len(items) == 1:
            return items[0]
        subs: list[_Re] = []
        for item in items:
            subs.extend(item.subs if item.op == CONCAT else [item])
        return _Re(CONCAT, subs=subs)

    def parse(self, until_paren: bool = False) -> _Re:
        alternatives: list[_Re] = []
        items: list[_Re] = []
        saved = (self.fold, self.dot_nl)
        while self.i < len(self.s):
            c = self.s[self.i]
            if c == ")" and until_paren:
                break
            self.i += 1
            if c == "|":
                alternatives.append(self._concat(items))
                items = []
            elif c == "(":
                self._group(items)
            elif c in "*+?":
                self._repeat(items, {"*": (0, -1), "+": (1, -1), "?": (0, 1)}[c])
            elif c == "{" and self._braces() is not None:
                self._repeat(items, self._braces_consume())
            elif c == ".":
                self._push(items, _Re(ANY if self.dot_nl else ANYNL))
            elif c in "^$":
                self._push(items, _Re(OTHER, text=c))
            elif c == "[":
                self._push(items, self._class())
            elif c == "\\":
                self._escape(items)
            else:
                self._push(items, _Re(LIT, c, self.fold))
        alternatives.append(self._concat(items))
        self.fold, self.dot_nl = saved
        if len(alternatives) == 1:
            return alternatives[0]
        return _alternate(alternatives)

    def _group(self, items: list[_Re]) -> None:
        capture = True
        before = (self.fold, self.dot_nl)
        if self.s.startswith("?", self.i):
            end = self.i + 1
            if self.s.startswith(("P<", "<"), end):
                self.i = self.s.index(">", end) + 1
            else:
                j = end
                while j < len(self.s) and self.s[j] not in ":)":
                    j += 1
                flags, self.i = self.s[end:j], j + 1
                on = "-" not in flags
                for f in flags:
                    if f == "-":
                        on = False
                    elif f == "i":
                        self.fold = on
                    elif f == "s":
                        self.dot_nl = on
                    elif f not in "mU":
                        raise _Unsupported
                if self.s[j : j + 1] == ")":
                    return  # (?i): the flags hold until the enclosing group ends
                capture = False
        inner = self.parse(until_paren=True)
        if self.s[self.i : self.i + 1] != ")":
            raise _Unsupported
        self.i += 1
        self.fold, self.dot_nl = before
        self._push(items, _Re(CAPTURE, subs=[inner]) if capture else inner)

    def _braces(self) -> tuple[int, int] | None:
        j = self.s.find("}", self.i)
        body = self.s[self.i : j] if j >= 0 else ""
        low, comma, high = body.partition(",")
        if not low.isdigit() or (high and not high.isdigit()):
            return None
        return int(low), (int(high) if high else (-1 if comma else int(low)))

    def _braces_consume(self) -> tuple[int, int]:
        bounds = self._braces()
        assert bounds is not None
        self.i = self.s.index("}", self.i) + 1
        return bounds

    def _repeat(self, items: list[_Re], bounds: tuple[int, int]) -> None:
        if self.s.startswith("?", self.i):
            self.i += 1  # non-greedy: the same node for this purpose
        if not items:
            raise _Unsupported
        last = items[-1]
        if last.op == LIT and len(last.runes) > 1:  # applies to the last rune only
            items[-1:] = [_Re(LIT, last.runes[:-1], last.fold), _Re(LIT, last.runes[-1], last.fold)]
            last = items[-1]
        low, high = bounds
        if (low, high) == (1, 1):
            items[-1] = _Re(last.op, last.runes, last.fold, last.subs, last.text, sealed=True)
            return
        node = {(0, -1): STAR, (1, -1): PLUS}.get((low, high), OTHER)
        items[-1] = _Re(EMPTY) if (low, high) == (0, 0) else _Re(node, subs=[last], text="rep")

    def _class(self) -> _Re:
        start = self.i - 1
        j = self.i + (1 if self.s.startswith("^", self.i) else 0)
        j += 1 if self.s.startswith("]", j) else 0
        while j < len(self.s) and self.s[j] != "]":
            if self.s.startswith("[:", j):
                j = self.s.index(":]", j) + 2
                continue
            j += 2 if self.s[j] == "\\" else 1
        self.i = j + 1
        body = self.s[start + 1 : j]
        if len(body) == 2 and body[0] == "\\" and not body[1].isalnum():
            body = body[1]
        if len(body) == 1 and body != "^":
            # A one-character class is that character; under (?i) a cased one matches
            # both cases, which Go keeps as a case-folded literal.
            return _Re(LIT, body, self.fold and body.lower() != body.upper())
        if len(body) == 2 and body[0] != body[1] and body[0].lower() == body[1].lower():
            return _Re(LIT, body[0], True)  # [Aa]
        return _Re(CLASS, text=self.s[start : self.i])

    def _escape(self, items: list[_Re]) -> None:
        c = self.s[self.i : self.i + 1]
        self.i += 1
        if c == "Q":
            end = self.s.find("\\E", self.i)
            end = len(self.s) if end < 0 else end
            for ch in self.s[self.i : end]:
                self._push(items, _Re(LIT, ch, self.fold))
            self.i = min(len(self.s), end + 2)
        elif c in "dDwWsSpP":
            if c in "pP" and self.s.startswith("{", self.i):
                self.i = self.s.index("}", self.i) + 1
            elif c in "pP":
                self.i += 1
            self._push(items, _Re(CLASS, text="\\" + c))
        elif c in "bBAz":
            self._push(items, _Re(OTHER, text="\\" + c))
        elif c in _ESCAPED_CHARS:
            self._push(items, _Re(LIT, _ESCAPED_CHARS[c], self.fold))
        elif c == "x":
            self._push(items, _Re(LIT, chr(self._hex()), self.fold))
        elif c and c in "01234567":
            digits = c
            while len(digits) < 3 and self.s[self.i : self.i + 1] in tuple("01234567"):
                digits += self.s[self.i]
                self.i += 1
            if c != "0" and len(digits) == 1:
                raise _Unsupported  # a backreference, which Go refuses
            self._push(items, _Re(LIT, chr(int(digits, 8)), self.fold))
        elif c and not c.isalnum():
            self._push(items, _Re(LIT, c, self.fold))
        else:
            raise _Unsupported  # an escape Go refuses

    def _hex(self) -> int:
        """The value of `\\xhh` or `\\x{h...}` after the `x`."""
        if self.s.startswith("{", self.i):
            end = self.s.index("}", self.i)
            digits, self.i = self.s[self.i + 1 : end], end + 1
        else:
            digits, self.i = self.s[self.i : self.i + 2], self.i + 2
        return int(digits, 16)


def _leading_string(re: _Re) -> tuple[str, bool]:
    if re.op == CONCAT and re.subs:
        re = re.subs[0]
    return (re.runes, re.fold) if re.op == LIT and not re.sealed else ("", False)


def _remove_leading_string(re: _Re, n: int) -> _Re:
    if re.op == CONCAT and re.subs:
        first = _remove_leading_string(re.subs[0], n)
        if first.op != EMPTY:
            return _Re(CONCAT, subs=[first, *re.subs[1:]])
        rest = re.subs[1:]
        if not rest:
            return _Re(EMPTY)
        return rest[0] if len(rest) == 1 else _Re(CONCAT, subs=rest)
    if re.op == LIT:
        runes = re.runes[n:]
        return _Re(LIT, runes, re.fold) if runes else _Re(EMPTY)
    return re


def _leading_regexp(re: _Re) -> _Re | None:
    if re.op == EMPTY:
        return None
    if re.op == CONCAT and re.subs:
        return None if re.subs[0].op == EMPTY else re.subs[0]
    return re


def _remove_leading_regexp(re: _Re) -> _Re:
    if re.op == CONCAT and re.subs:
        rest = re.subs[1:]
        if not rest:
            return _Re(EMPTY)
        return rest[0] if len(rest) == 1 else _Re(CONCAT, subs=rest)
    return _Re(EMPTY)


def _alternate(subs: list[_Re]) -> _Re:
    flat: list[_Re] = []
    for sub in subs:
        flat.extend(sub.subs if sub.op == ALT else [sub])
    factored = _factor(flat)
    return factored[0] if len(factored) == 1 else _Re(ALT, subs=factored)


def _factor(subs: list[_Re]) -> list[_Re]:
    """Go's alternation factoring: common literal prefixes, common leading classes, runs
    of single characters merged into a class, runs of empty matches into one."""
    if len(subs) < 2:
        return subs
    out: list[_Re] = []
    start, prefix, fold = 0, "", False
    for i in range(len(subs) + 1):
        istr, ifold = _leading_string(subs[i]) if i < len(subs) else ("", False)
        if i < len(subs) and ifold == fold:
            same = 0
            while same < min(len(prefix), len(istr)) and prefix[same] == istr[same]:
                same += 1
            if same:
                prefix = prefix[:same]
                continue
        if i == start + 1:
            out.append(subs[start])
        elif i > start + 1:
            rests = [_remove_leading_string(s, len(prefix)) for s in subs[start:i]]
            out.append(_Re(CONCAT, subs=[_Re(LIT, prefix, fold), _alternate(rests)]))
        start, prefix, fold = i, istr, ifold
    subs, out = out, []
    start, first = 0, None
    for i in range(len(subs) + 1):
        ifirst = _leading_regexp(subs[i]) if i < len(subs) else None
        if first is not None and first.same(ifirst) and first.char_class_like():
            continue
        if i == start + 1:
            out.append(subs[start])
        elif i > start + 1:
            rests = [_remove_leading_regexp(s) for s in subs[start:i]]
            out.append(_Re(CONCAT, subs=[first, _alternate(rests)]))
        start, first = i, ifirst
    subs, out = out, []
    run: list[_Re] = []
    for sub in [*subs, None]:
        if sub is not None and sub.char_class_like():
            run.append(sub)
            continue
        if len(run) == 1:
            out.append(run[0])
        elif run:
            ops = {r.op for r in run}
            merged = ANY if ANY in ops else (ANYNL if ANYNL in ops else CLASS)
            out.append(_Re(merged, text="|".join(r.runes or r.text for r in run)))
        run = []
        if sub is not None:
            out.append(sub)
    return [
        s
        for i, s in enumerate(out)
        if not (s.op == EMPTY and out[i + 1 : i + 2] and out[i + 1].op == EMPTY)
    ]


def _uncapture(re: _Re) -> _Re:
    return re.subs[0] if re.op == CAPTURE else re


def _simplify(re: _Re) -> bool:
    if re.op == ALT:
        return all(_simplify(_uncapture(sub)) for sub in re.subs)
    if re.op == CONCAT:
        return _simplify_concat(re, None)
    if re.op == CAPTURE:
        return _simplify(re.subs[0])
    if re.op in (STAR, PLUS):
        return re.subs[0].op == ANYNL
    return re.op in (LIT, EMPTY)


def _simplify_concat(re: _Re, base: str | None) -> bool:
    subs = [s for s in map(_uncapture, re.subs) if s.op != EMPTY]
    if len(subs) > 3:
        return False
    literals, base_fold, alternated = 0, False, False
    for sub in subs:
        if sub.op == LIT:
            if literals:
                return False
            literals, base, base_fold = 1, (base or "") + sub.runes, sub.fold
        elif sub.op == ALT and base is not None:
            if not _simplify_concat_alternate(sub, base, base_fold):
                return False
            alternated = True
        elif not (sub.op == STAR and sub.subs[0].op == ANYNL):
            return False
    return alternated or base is not None


def _simplify_concat_alternate(re: _Re, base: str, base_fold: bool) -> bool:
    for alt in re.subs:
        if not base_fold and alt.op == LIT and alt.fold:
            return False
        if alt.op == CONCAT:
            if not _simplify_concat(alt, base):
                return False
        elif alt.op == STAR:
            if alt.subs[0].op != ANYNL:
                return False
        elif alt.op not in (EMPTY, LIT):
            return False
    return bool(re.subs)


def loki_keeps_regex(pattern: str) -> bool:
    """True when Loki keeps `| name=~"pattern"` as a regex filter (so prints it raw), false
    when it reduces it to literal comparisons (and prints the matcher as written).

    >>> loki_keeps_regex("foo|bar"), loki_keeps_regex("value1|value5"), loki_keeps_regex("5..")
    (False, True, True)
    >>> loki_keeps_regex("(?i).*|UNSET"), loki_keeps_regex("err(or)?"), loki_keeps_regex(".+")
    (False, True, False)
    """
    try:
        tree = _Parser(pattern).parse()
    except (_Unsupported, ValueError, RecursionError):
        return True
    return not _simplify(tree)

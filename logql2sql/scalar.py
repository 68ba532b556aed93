"""Binary operators on two numbers, as Loki folds literal expressions.

`1 + 1` is a literal `2` in Loki; a comparison between two numbers yields 1 or 0 with or
without `bool`. Division or modulo by zero is NaN, as Loki's
binary operator evaluation answers; `%` is Go's `math.Mod`.
"""

from __future__ import annotations

import math


def apply_binop(op: str, left: float, right: float, return_bool: bool = False) -> float:
    """`left op right` as Loki's literal folding computes it.

    >>> apply_binop("+", 1, 1), apply_binop("/", 1, 0), apply_binop(">", 2, 7)
    (2.0, nan, 0.0)
    """
    del return_bool  # comparisons of two numbers always yield 1/0
    if op == "+":
        return float(left + right)
    if op == "-":
        return float(left - right)
    if op == "*":
        return float(left * right)
    if op == "/":
        return math.nan if right == 0 else float(left / right)
    if op == "%":
        if right == 0 or math.isinf(left) or math.isnan(left) or math.isnan(right):
            return math.nan
        return math.fmod(left, right)
    if op == "^":
        try:
            return float(math.pow(left, right))
        except OverflowError:
            return math.inf
        except ValueError:
            return math.nan
    comparisons = {
        "==": left == right,
        "!=": left != right,
        ">": left > right,
        ">=": left >= right,
        "<": left < right,
        "<=": left <= right,
    }
    return 1.0 if comparisons[op] else 0.0

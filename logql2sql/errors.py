"""Typed errors raised by logql2sql.

Every failure a user can cause is a `LogQLError`. `ParseError` carries Loki's wording
(`parse error at line 1, col 13: syntax error: unexpected ...`, or `parse error : ...` for
validation failures that have no position), so the HTTP layer can return the message as is.
`UnsupportedInDialect` is raised when a construct cannot be expressed in the chosen SQL
dialect: the translator never emits SQL whose meaning differs from Loki's.
"""

from __future__ import annotations


class LogQLError(Exception):
    """Base class of every error logql2sql raises for bad or untranslatable input."""


class ParseError(LogQLError):
    """A query Loki's parser would reject; `line`/`col` are 1-based, 0 when unknown.

    >>> str(ParseError("syntax error: unexpected IDENTIFIER", 1, 13))
    'parse error at line 1, col 13: syntax error: unexpected IDENTIFIER'
    >>> str(ParseError("queries require at least one matcher"))
    'parse error : queries require at least one matcher'
    """

    def __init__(self, msg: str, line: int = 0, col: int = 0) -> None:
        self.msg = msg
        self.line = line
        self.col = col
        if line or col:
            text = f"parse error at line {line}, col {col}: {msg}"
        else:
            text = f"parse error : {msg}"
        super().__init__(text)


class UnsupportedInDialect(LogQLError):
    """A LogQL construct has no faithful translation in the requested SQL dialect."""

    def __init__(self, construct: str, dialect: str) -> None:
        self.construct = construct
        self.dialect = dialect
        super().__init__(f"{construct} is not supported in the {dialect} dialect")

"""`QueryError`: a failure a client caused or must see, with Loki's status code and text.

Routes turn it into Loki's plain-text error response; the CLI prints its message. The
messages are Loki's own (`pkg/loghttp`, `pkg/logqlmodel/error.go`,
`pkg/util/validation/limits.go`, `pkg/util/server/error.go`), so clients that match on them
keep working.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator

import duckdb

import logql2sql
from logql2sql import ast
from logql2sql.errors import LogQLError

DEADLINE_EXCEEDED = (
    "request timed out, decrease the duration of the request or add more label matchers "
    "(prefer exact match over regex match) to reduce the amount of data processed"
)
UNSUPPORTED_INSTANT_LOG_QUERY = (
    "log queries are not supported as an instant query type, please change your query to a "
    "range query type"
)


class QueryError(Exception):
    """An error answered with `status` (400 unless said) and `message` as the body.

    >>> QueryError("invalid direction 'up'").status
    400
    """

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@contextlib.contextmanager
def deadline(
    con: duckdb.DuckDBPyConnection,
    timeout_ns: int,
    engine_error: Callable[[duckdb.Error], QueryError] = lambda exc: QueryError(str(exc)),
) -> Iterator[None]:
    """Run the block under `query_timeout`: DuckDB is interrupted when it passes, and the
    block fails with Loki's 504; other engine errors become `engine_error(exc)`."""
    timed_out = threading.Event()

    def interrupt() -> None:
        timed_out.set()
        con.interrupt()

    timer = threading.Timer(timeout_ns / 1e9, interrupt)
    timer.daemon = True
    if timeout_ns > 0:
        timer.start()
    try:
        yield
    except duckdb.InterruptException:
        raise QueryError(DEADLINE_EXCEEDED, 504) from None
    except duckdb.Error as exc:
        if timed_out.is_set():
            raise QueryError(DEADLINE_EXCEEDED, 504) from None
        raise engine_error(exc) from None
    finally:
        timer.cancel()
    if timed_out.is_set():
        raise QueryError(DEADLINE_EXCEEDED, 504)


def parse_query(text: str) -> ast.Expr:
    """`logql2sql.parse` with its errors as `QueryError` (Loki's wording, 400)."""
    try:
        return logql2sql.parse(text)
    except LogQLError as exc:
        raise QueryError(str(exc)) from None


def parse_log_query(text: str, otherwise: str) -> ast.LogExpr:
    """`parse_query` for endpoints that take a log query only; `otherwise` is Loki's
    message for any other query."""
    expr = parse_query(text)
    if not isinstance(expr, ast.LogExpr):
        raise QueryError(otherwise)
    return expr

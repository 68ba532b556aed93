"""The one error type of the push path: `PushError(status, message)`.

The HTTP layer answers a `PushError` with its status and its message as a `text/plain` body,
as Loki's distributor does (`http.Error(w, message, status)`).
"""

from __future__ import annotations


class PushError(Exception):
    """A push that Loki would answer with `status` and `message`.

    >>> err = PushError(400, "mime: no media type")
    >>> (err.status, str(err))
    (400, 'mime: no media type')
    """

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def __repr__(self) -> str:
        return f"PushError({self.status}, {self.message!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PushError):
            return NotImplemented
        return (self.status, self.message) == (other.status, other.message)

    def __hash__(self) -> int:
        return hash((self.status, self.message))

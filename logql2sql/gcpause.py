"""Pause Python's cyclic garbage collector while one query is translated.

Every sqlglot node points at its parent, so a lowered tree is one large reference cycle
that only the collector frees. While a tree is being built, the collector's youngest
generation fills every 700 allocations and each pass walks the nodes built so far, then
promotes them and walks them again in the older generations: about a third of a cold
translation's time goes there, on objects that are all alive. Paused, the tree is walked
once, by the first collection after the translation, when it is garbage: a cold
translation then costs about a fifth less CPU (`bench/logql2sql_translate.py`).

The collector's switch is process-wide, so the pause is counted: threads translating at
once keep it off until the last one finishes, and a collector that was off before (the
application's choice) stays off.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

_lock = threading.Lock()
_holders = 0
_resume = False


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Run the body with the cyclic collector off (see the module docstring).

    >>> import gc
    >>> with collector_paused():
    ...     gc.isenabled()
    False
    >>> gc.isenabled()
    True
    """
    global _holders, _resume
    with _lock:
        if _holders == 0:
            _resume = gc.isenabled()
            gc.disable()
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0 and _resume:
                gc.enable()

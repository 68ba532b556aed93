"""Dagster test instances that stay the current one while a test uses them.

Entering a `DagsterInstance` makes its definitions-state storage the current one (a
context variable) and leaves it set on exit. The reset is still pending in the
instance's exit stack: when the instance is garbage-collected, that reset runs and puts
back whatever storage was current before it was entered — possibly one of an instance
collected long ago, whose weak reference to it is dead. If that happens in the middle of a
later test, that test's next definitions load (`dg.materialize`) fails with "Attempted to
resolve undefined DagsterInstance weakref" (seen with Dagster 1.13, depending on when the
garbage collector runs). Collecting garbage before a test instance is entered runs those
resets first.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg


@contextmanager
def instance_for_test() -> Iterator[dg.DagsterInstance]:
    """`dg.instance_for_test()`, entered once earlier instances are collected."""
    gc.collect()
    with dg.instance_for_test() as instance:
        yield instance


def failed_materialization(
    asset: dg.AssetsDefinition, lake: dg.ConfigurableResource
) -> tuple[str, dict[str, object]]:
    """Materialize `asset` with the lake resource `lake`, which must fail: the failure's
    message and the metadata the asset's `Failure` carried."""
    with instance_for_test() as instance:
        result = dg.materialize(
            [asset], resources={"lake": lake}, instance=instance, raise_on_error=False
        )
        assert not result.success
        [failure] = [e for e in result.all_events if e.is_step_failure]
    error = failure.step_failure_data
    metadata = {k: v.value for k, v in error.user_failure_data.metadata.items()}
    return error.error.message, metadata

"""Pausing Python's cyclic garbage collector while archc builds a spec's data structures.

Parsing and analysis create a large tree of objects that all stay alive (located YAML
values, nodes, modules); every object survives, so the collector's full collections walk
an ever larger heap for nothing. On specs of 10,000 written-out layers those walks doubled
the time per layer (bench/FINDINGS.md). Reference counting still frees everything
short-lived; cycles made meanwhile are collected once the collector is back on.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_gc() -> Iterator[None]:
    """Disable the cyclic collector for the block (or decorated function), then restore it."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()

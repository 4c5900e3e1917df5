"""The spine of archc: load -> expand (with shapes) -> count -> receptive fields -> backends."""

from __future__ import annotations

import os
from typing import Any

from archc.diagnostics import Reporter, SpecError
from archc.gc_pause import paused_gc
from archc.ir.graph import Graph
from archc.passes.counts import count
from archc.passes.dead_code import find_dead
from archc.passes.expand import expand
from archc.passes.freeze import freeze
from archc.passes.init_check import check_init
from archc.passes.layout import layouts
from archc.passes.receptive_field import receptive_fields
from archc.spec.loader import Spec, load_spec


@paused_gc()
def analyse(
    spec: Spec,
    variant: str | None = None,
    reporter: Reporter | None = None,
    overrides: dict[str, Any] | None = None,
) -> Graph:
    """Expand a loaded spec's variant and run every analysis pass over it.

    `overrides` are `--set` settings: parameter values, or `training.FIELD` values.
    """
    reporter = reporter or Reporter()
    try:
        graph = expand(spec, spec.variant(variant, reporter, overrides), reporter)
    except SpecError:
        # A bad function definition is reported beside what the analysis found without it.
        _add_function_problems(spec, reporter)
        raise SpecError(reporter.diagnostics) from None
    _add_function_problems(spec, reporter)
    reporter.check()
    check_init(graph, spec.raw.value_span("init"), reporter)
    freeze(graph, spec, reporter)
    count(graph)
    find_dead(graph, reporter)
    receptive_fields(graph)
    layouts(graph)
    return graph


def _add_function_problems(spec: Spec, reporter: Reporter) -> None:
    """The definitions' problems, listed first: they stand at the top of the file."""
    new = [p for p in spec.function_problems if p not in reporter.diagnostics]
    reporter.diagnostics[0:0] = new


def load(
    path: str | os.PathLike,
    variant: str | None = None,
    reporter: Reporter | None = None,
    overrides: dict[str, Any] | None = None,
    import_root: str | os.PathLike | None = None,
) -> Graph:
    """Load, validate and analyse one variant of a spec file; raise SpecError on problems.

    `import_root`: the folder the spec's `imports:` may read (default: the spec's own)."""
    reporter = reporter or Reporter()
    spec = load_spec(path, reporter, import_root=import_root)
    return analyse(spec, variant, reporter, overrides)

"""Apply `training: {freeze: [...]}`: the named modules' layers are not trained.

This is `trainable: false` written from outside the layers (or from the command line,
`--set "training.freeze=[features]"`), so fine-tuning a zoo network does not mean editing
its spec. It runs before counting, so the summary's trainable count reflects it.
"""

from __future__ import annotations

from archc.diagnostics import Reporter, Span, did_you_mean
from archc.ir.graph import INPUT, Graph, Module
from archc.spec.loader import Spec


def freeze(graph: Graph, spec: Spec, reporter: Reporter) -> None:
    """Mark every layer at or below a path of `graph.training.freeze` as not trainable."""
    names = list(graph.training.freeze) if graph.training is not None else []
    if not names:
        return
    paths = {n.path for n in graph.nodes if n.kind != INPUT}
    paths |= {m.path for m in graph.root.walk() if isinstance(m, Module)}
    raw = spec.raw.get("training")
    span = spec.raw.value_span("training") if raw is not None else Span(spec.display)
    for name in names:
        if name not in paths:
            reporter.error(
                "E-FREEZE-UNKNOWN",
                f"training.freeze: '{name}' is not a module of {graph.network} [{graph.variant}]",
                span,
                did_you_mean(name, paths),
            )
    reporter.check()
    for node in graph.nodes:
        if node.kind != INPUT and any(
            node.path == name or node.path.startswith(name + ".") for name in names
        ):
            node.trainable = False

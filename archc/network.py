"""`archc.load` returns a Network: one analysed variant of a spec, without torch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from archc.ir.graph import Graph


@dataclass(repr=False)
class Network:
    """A validated, analysed network (one variant of a spec).

    `print(net)` prints its summary table, `net.table(depth=1)` returns it with blocks
    folded, and Jupyter shows it as an HTML table; `repr(net)` is one short line.
    """

    graph: Graph

    def __repr__(self) -> str:
        from archc.backends.summary import si
        from archc.layers.base import fmt_shape
        from archc.passes.counts import totals

        t = totals(self.graph)
        output = self.graph.nodes[self.graph.output].volume
        return (
            f"<archc.Network {self.name} / {self.variant} ({self.class_name}): "
            f"{len(self.graph.layers())} layers, {fmt_shape(self.graph.input_shape)} -> "
            f"{output}, {si(t.params)} params, {si(t.macs)} MACs>"
        )

    def __str__(self) -> str:
        return self.table()

    def table(self, depth: int | None = None, width: int | None = None) -> str:
        """The summary table and totals as text, as `archc summary` prints them; `depth`
        folds modules nested deeper into one row each, `width` fits a terminal that wide
        (None: as wide as the table needs, no figure ever cut)."""
        from archc.backends.summary import render_table

        return render_table(self.graph, width, depth)

    def _repr_html_(self) -> str:
        """The summary as an HTML table, for Jupyter."""
        from archc.backends.summary import to_html

        return to_html(self.graph)

    @property
    def name(self) -> str:
        """The network's name."""
        return self.graph.network

    @property
    def variant(self) -> str:
        """The variant's name."""
        return self.graph.variant

    @property
    def class_name(self) -> str:
        """The generated class's name."""
        return self.graph.class_name

    def summary(self) -> dict[str, Any]:
        """The dict of `archc summary --json`."""
        from archc.backends.summary import summary_dict

        return summary_dict(self.graph)

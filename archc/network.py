"""`archc.load` returns a Network: one analysed variant of a spec, without torch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from archc.ir.graph import Graph


@dataclass
class Network:
    """A validated, analysed network (one variant of a spec)."""

    graph: Graph

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

"""Receptive field size and jump of every layer (Araujo, Norris & Sim, Distill, 2019).

For a window of size k, stride s and dilation d over an input whose field is (r, j):
r' = r + d(k-1)j and j' = js. Pointwise layers keep the field; merges take the largest
field of their inputs; layers whose output is a flat vector have none.
"""

from __future__ import annotations

from archc.ir.graph import INPUT, Graph, ReceptiveField


def receptive_fields(graph: Graph) -> None:
    """Fill `node.receptive_field` for every node."""
    for node in graph.nodes:
        if len(node.shape) != 3:
            node.receptive_field = None
            continue
        if node.kind == INPUT:
            node.receptive_field = ReceptiveField((1, 1), (1, 1))
            continue
        fields = [graph.nodes[i].receptive_field for i in node.inputs]
        fields = [f for f in fields if f is not None]
        if not fields:
            node.receptive_field = None
            continue
        size = tuple(max(f.size[a] for f in fields) for a in (0, 1))
        jump = tuple(max(f.jump[a] for f in fields) for a in (0, 1))
        shapes = [graph.nodes[i].shape for i in node.inputs]
        window = node.layer.window(node.fields, shapes)
        if window is not None:
            size = tuple(
                size[a] + window.dilation[a] * (window.kernel[a] - 1) * jump[a] for a in (0, 1)
            )
            jump = tuple(jump[a] * window.stride[a] for a in (0, 1))
        node.receptive_field = ReceptiveField(size, jump)

"""Receptive field size and jump of every layer (Araujo, Norris & Sim, Distill, 2019).

For a window of size k, stride s and dilation d over an input whose field is (r, j):
r' = r + d(k-1)j and j' = js. Pointwise layers keep the field; merges take the largest
field of their inputs; layers whose output is a flat vector have none. Token sequences keep
the field of their patches until a layer mixes every token with every other (self-attention):
from there on the field is the whole input, which no size can state honestly.
"""

from __future__ import annotations

from typing import Any

from archc.ir.graph import INPUT, Graph, ReceptiveField
from archc.layers.base import Window


def receptive_fields(graph: Graph) -> None:
    """Fill `node.receptive_field` for every node."""
    nodes = graph.nodes
    # One (fields, input volumes) pair has one window; see passes/counts.py for the memo.
    windows: dict[tuple, tuple[Window | None, Any]] = {}
    for node in nodes:
        if len(node.shape) < 2:
            node.receptive_field = None
            continue
        if node.kind == INPUT:
            node.receptive_field = ReceptiveField((1, 1), (1, 1)) if len(node.shape) == 3 else None
            continue
        incoming = [f for i in node.inputs if (f := nodes[i].receptive_field) is not None]
        if not incoming:
            node.receptive_field = None
            continue
        if node.layer.global_field or any(f.whole for f in incoming):
            node.receptive_field = _whole(incoming)
            continue
        shapes = [nodes[i].shape for i in node.inputs]
        key = (id(node.fields), *shapes)
        known = windows.get(key)
        if known is None:
            known = windows[key] = (node.layer.window(node.fields, shapes), node.fields)
        window = known[0]
        if len(incoming) == 1:
            if window is None:  # pointwise: the field passes through (it is immutable)
                node.receptive_field = incoming[0]
                continue
            size, jump = incoming[0].size, incoming[0].jump
        else:
            size = tuple(max(f.size[a] for f in incoming) for a in (0, 1))
            jump = tuple(max(f.jump[a] for f in incoming) for a in (0, 1))
        if window is not None:
            size = tuple(
                size[a] + window.dilation[a] * (window.kernel[a] - 1) * jump[a] for a in (0, 1)
            )
            jump = tuple(jump[a] * window.stride[a] for a in (0, 1))
        node.receptive_field = ReceptiveField(size, jump)


def _whole(incoming: list[ReceptiveField]) -> ReceptiveField:
    """The field of a layer that sees its whole input (the first such one makes it)."""
    for field in incoming:
        if field.whole:
            return field
    return ReceptiveField(incoming[0].size, incoming[0].jump, whole=True)

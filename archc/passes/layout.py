"""Which maps are held channels last (H, W, C): ConvNeXt and Swin permute to it and back.

Shapes stay positional (CONTRACT.md); this only tells the printers how to write a volume,
so that a channels-last 56x56x96 map is not shown as 56x96x56.
"""

from __future__ import annotations

from archc.ir.graph import INPUT, Graph


def layouts(graph: Graph) -> None:
    """Fill `node.channels_last` for every node (nodes come after their inputs)."""
    for node in graph.nodes:
        if node.kind == INPUT or len(node.shape) != 3:
            node.channels_last = False
            continue
        inputs = [graph.nodes[i].channels_last for i in node.inputs]
        node.channels_last = node.layer.channels_last(node.fields, inputs)

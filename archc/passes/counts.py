"""Count each layer's parameters, buffers, MACs, activation elements and connections."""

from __future__ import annotations

import math

from archc.ir.graph import INPUT, Counts, Graph


def count(graph: Graph) -> None:
    """Fill `node.tensors` and `node.counts` for every node of the graph."""
    for node in graph.nodes:
        if node.kind == INPUT:
            node.counts = Counts(activation_elements=math.prod(node.shape))
            continue
        kind, fields = node.layer, node.fields
        shapes = [graph.nodes[i].shape for i in node.inputs]
        node.tensors = kind.tensors(fields, shapes, node.shape)
        params = sum(t.numel for t in node.tensors if not t.buffer)
        node.counts = Counts(
            params=params,
            trainable_params=params if node.trainable else 0,
            buffer_elements=sum(t.numel for t in node.tensors if t.buffer),
            macs=kind.macs(fields, shapes, node.shape),
            activation_elements=math.prod(node.shape) if kind.makes_tensor else 0,
            connections=kind.connections(fields, shapes, node.shape),
        )


def totals(graph: Graph) -> Counts:
    """The sums over the whole network (the input's volume included in activations)."""
    total = Counts()
    for node in graph.nodes:
        for key in vars(total):
            setattr(total, key, getattr(total, key) + getattr(node.counts, key))
    return total

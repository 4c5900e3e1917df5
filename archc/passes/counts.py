"""Count each layer's parameters, buffers, MACs, activation elements and connections."""

from __future__ import annotations

import math

from archc.ir.graph import INPUT, Counts, Graph


def count(graph: Graph) -> None:
    """Fill `node.tensors` and `node.counts` for every node of the graph."""
    nodes = graph.nodes
    # Layers with equal fields share one fields object (the expansion does that), so the
    # figures of a (fields, input volumes) pair are worked out once: deep networks repeat a
    # few configurations many times. The memo holds each fields object, so ids stay unique.
    memo: dict[tuple, tuple] = {}
    for node in nodes:
        if node.kind == INPUT:
            node.counts = Counts(activation_elements=math.prod(node.shape))
            continue
        kind, fields = node.layer, node.fields
        shapes = [nodes[i].shape for i in node.inputs]
        key = (id(fields), node.shape, *shapes)
        known = memo.get(key)
        if known is None:
            tensors = kind.tensors(fields, shapes, node.shape)
            known = memo[key] = (
                tensors,
                sum(t.numel for t in tensors if not t.buffer),
                sum(t.numel for t in tensors if t.buffer),
                kind.macs(fields, shapes, node.shape),
                math.prod(node.shape) if kind.makes_tensor else 0,
                kind.connections(fields, shapes, node.shape),
                fields,
            )
        tensors, params, buffers, macs, activations, connections, _ = known
        node.tensors = list(tensors)
        node.counts = Counts(
            params=params,
            trainable_params=params if node.trainable else 0,
            buffer_elements=buffers,
            macs=macs,
            activation_elements=activations,
            connections=connections,
        )


def totals(graph: Graph) -> Counts:
    """The sums over the whole network (the input's volume included in activations)."""
    counts = [node.counts for node in graph.nodes]
    return Counts(**{key: sum(getattr(c, key) for c in counts) for key in vars(Counts())})

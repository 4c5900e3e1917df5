"""Count each layer's parameters, buffers, MACs, activation elements and connections."""

from __future__ import annotations

import dataclasses
import math

from archc.ir.graph import INPUT, Counts, Graph


def count(graph: Graph) -> None:
    """Fill `node.tensors` and `node.counts` for every node of the graph."""
    nodes = graph.nodes
    # Layers with equal fields share one fields object (the expansion does that), so the
    # figures of a (fields, input volumes) pair are worked out once: deep networks repeat a
    # few configurations many times. The memo holds each fields object, so ids stay unique.
    memo: dict[tuple, tuple[list, Counts, Counts, object]] = {}
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
            params = sum(t.numel for t in tensors if not t.buffer)
            trained = Counts(
                params=params,
                trainable_params=params,
                buffer_elements=sum(t.numel for t in tensors if t.buffer),
                macs=kind.macs(fields, shapes, node.shape),
                activation_elements=math.prod(node.shape) if kind.makes_tensor else 0,
                connections=kind.connections(fields, shapes, node.shape),
                attention_macs=kind.attention_macs(fields, shapes, node.shape),
            )
            frozen = dataclasses.replace(trained, trainable_params=0)
            known = memo[key] = (tensors, trained, frozen, fields)
        node.tensors = list(known[0])
        node.counts = known[1] if node.trainable else known[2]


def totals(graph: Graph) -> Counts:
    """The sums over the whole network (the input's volume included in activations)."""
    counts = [node.counts for node in graph.nodes]
    return Counts(**{key: sum(getattr(c, key) for c in counts) for key in vars(Counts())})

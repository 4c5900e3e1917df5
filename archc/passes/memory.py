"""Training memory, statically: what autograd keeps for the backward pass, layer by layer,
and the peak of a training step at a batch size, dtype and optimizer.

Each layer kind says what its backward needs (`LayerKind.saved`, torch's derivative rules):
a tensor that already exists (its input or output) or one it makes (pooling indices, dropout
masks, batch statistics). Existing tensors are followed to the memory they live in (a
flatten is a view of its input), so a tensor kept by two layers (a ReLU's output, kept by
the ReLU and by the convolution reading it) is counted once, for the first layer that keeps
it: the convention of counting unique storages. A layer that neither has trainable weights
nor reads anything that needs a gradient keeps nothing (a frozen stem).

docs/memory.md explains the model, what it leaves out, and how it was checked against torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from archc.ir.graph import INPUT, Graph, Node

#: Bytes per element of each kind of saved tensor, by activation dtype and device.
ACTIVATION_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
OPTIMIZER_STATES = {"sgd": 0, "momentum": 1, "adam": 2, "adamw": 2}
DEVICES = ("cuda", "cpu")
#: torchinfo measures the input with `sys.getsizeof(tensor.untyped_storage())`, which adds
#: the Python object's header (64 bytes with CPython 3 and torch 2) to the data.
TORCHINFO_INPUT_OVERHEAD = 64


@dataclass(frozen=True)
class Kept:
    """Elements a layer keeps for the backward pass, by storage dtype: per example of the
    batch, and independent of the batch size."""

    per_example: tuple[tuple[str, int], ...] = ()
    fixed: tuple[tuple[str, int], ...] = ()
    at_batch_one: tuple[tuple[str, int], ...] = ()

    def bytes(self, batch: int, sizes: dict[str, int]) -> int:
        """Bytes at a batch size, with these element sizes per dtype."""
        single = self.at_batch_one if batch == 1 else ()
        return (
            sum(n * batch * sizes[d] for d, n in self.per_example)
            + sum(n * sizes[d] for d, n in self.fixed)
            + sum(n * sizes[d] for d, n in single)
        )


def element_sizes(dtype: str = "float32", device: str = "cuda") -> dict[str, int]:
    """Bytes per element of each saved-tensor dtype."""
    return {
        "activation": ACTIVATION_BYTES[dtype],
        "float32": 4,
        "int64": 8,
        # torch's fused CUDA dropout keeps a bool mask; on the CPU it multiplies by a float
        # mask and keeps that.
        "mask": 1 if device == "cuda" else 4,
    }


def kept_tensors(graph: Graph) -> dict[int, Kept]:
    """For each node, what autograd keeps for it in a training step (first keeper counts)."""
    nodes = graph.nodes
    storage: dict[int, int] = {}
    needs_grad: dict[int, bool] = {}
    seen: set[int] = set()
    result: dict[int, Kept] = {}
    for node in nodes:
        if node.kind == INPUT:
            storage[node.id] = node.id
            needs_grad[node.id] = False
            result[node.id] = Kept()
            continue
        first = node.inputs[0]
        storage[node.id] = storage[first] if node.layer.aliases(node.fields) else node.id
        needs_grad[node.id] = node.counts.trainable_params > 0 or any(
            needs_grad[i] for i in node.inputs
        )
        result[node.id] = _kept(node, nodes, storage, seen) if needs_grad[node.id] else Kept()
    return result


def _kept(node: Node, nodes: list[Node], storage: dict[int, int], seen: set[int]) -> Kept:
    shapes = [nodes[i].shape for i in node.inputs]
    per_example: dict[str, int] = {}
    fixed: dict[str, int] = {}
    single: dict[str, int] = {}
    for item in node.layer.saved(node.fields, shapes, node.shape):
        if item.of is None:
            for amounts, value in (
                (per_example, item.per_example),
                (fixed, item.fixed),
                (single, item.at_batch_one),
            ):
                if value:
                    amounts[item.dtype] = amounts.get(item.dtype, 0) + value
            continue
        source = node.inputs[item.index] if item.of == "input" else node.id
        key = storage[source]
        if key in seen:
            continue
        seen.add(key)
        # A view keeps all the memory it looks into (`x[:, 0]` keeps every token).
        elements = math.prod(nodes[key].shape)
        per_example[item.dtype] = per_example.get(item.dtype, 0) + elements
    return Kept(
        tuple(sorted(per_example.items())),
        tuple(sorted(fixed.items())),
        tuple(sorted(single.items())),
    )


@dataclass
class MemoryPlan:
    """The memory of one training step at a batch size (bytes), and torchinfo's figures."""

    batch: int
    dtype: str
    optimizer: str
    device: str
    saved_per_layer: dict[int, int] = field(default_factory=dict)
    saved: int = 0
    weights: int = 0
    buffers: int = 0
    gradients: int = 0
    optimizer_state: int = 0
    autocast_copies: int = 0
    transient: int = 0
    activations_per_example: int = 0
    #: The bytes that grow with the batch (for the largest batch that fits).
    per_example: int = 0
    torchinfo: dict[str, int] = field(default_factory=dict)

    @property
    def peak(self) -> int:
        """Weights, buffers, gradients, optimizer state, autocast's weight copies, saved
        activations and the largest transient."""
        return (
            self.weights
            + self.buffers
            + self.gradients
            + self.optimizer_state
            + self.autocast_copies
            + self.saved
            + self.transient
        )

    def largest_batch(self, budget: int) -> int:
        """The largest batch size whose peak fits in `budget` bytes (0: not even one)."""
        fixed = self.peak - self.per_example * self.batch
        if self.per_example <= 0:
            return 0 if fixed > budget else 2**31
        return max(0, (budget - fixed) // self.per_example)


def plan(
    graph: Graph,
    batch: int = 1,
    dtype: str = "float32",
    optimizer: str = "sgd",
    device: str = "cuda",
) -> MemoryPlan:
    """The memory of a training step of `graph` at this batch size."""
    sizes = element_sizes(dtype, device)
    kept = kept_tensors(graph)
    result = MemoryPlan(batch, dtype, optimizer, device)
    for node_id, item in kept.items():
        result.saved_per_layer[node_id] = item.bytes(batch, sizes)
    result.saved = sum(result.saved_per_layer.values())
    params = sum(n.counts.params for n in graph.nodes)
    trainable = sum(n.counts.trainable_params for n in graph.nodes)
    result.weights = params * 4
    result.buffers = sum(_buffer_bytes(n) for n in graph.nodes)
    result.gradients = trainable * 4
    result.optimizer_state = OPTIMIZER_STATES[optimizer] * trainable * 4
    if dtype != "float32":
        # Autocast runs convolutions and linear layers on 16-bit copies of their weights.
        result.autocast_copies = params * ACTIVATION_BYTES[dtype]
    activation = sizes["activation"]
    result.transient = max(
        (
            (math.prod(n.shape) + sum(math.prod(graph.nodes[i].shape) for i in n.inputs))
            * batch
            * activation
            for n in graph.layers()
        ),
        default=0,
    )
    result.activations_per_example = (
        sum(n.counts.activation_elements for n in graph.nodes) * activation
    )
    per_example_saved = sum(item.bytes(3, sizes) - item.bytes(2, sizes) for item in kept.values())
    result.per_example = per_example_saved + result.transient // max(batch, 1)
    result.torchinfo = torchinfo_figures(graph, batch)
    return result


def _buffer_bytes(node: Node) -> int:
    return sum(t.numel * t.itemsize for t in node.tensors if t.buffer)


def torchinfo_figures(graph: Graph, batch: int) -> dict[str, int]:
    """torchinfo's four memory figures, in bytes, under its own conventions (fp32):
    the input; twice the outputs of the leaf modules that have parameters ("forward/backward
    pass size": outputs and their gradients); the parameters of leaf modules; their sum."""
    input_bytes = math.prod(graph.input_shape) * batch * 4 + TORCHINFO_INPUT_OVERHEAD
    outputs = 0
    params = 0
    for node in graph.layers():
        shapes = [graph.nodes[i].shape for i in node.inputs]
        for elements, own in node.layer.torchinfo_leaves(node.fields, shapes, node.shape):
            outputs += elements * batch * 4 * 2
            params += own * 4
    return {
        "input": input_bytes,
        "forward_backward": outputs,
        "params": params,
        "total": input_bytes + outputs + params,
    }

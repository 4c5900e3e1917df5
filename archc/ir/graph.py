"""Graph, Node and Module: what a spec becomes once blocks, repeats and variants are expanded.

Two views of one network:
- the dataflow graph: `Graph.nodes` in execution order, each `Node` naming its input nodes;
- the module tree: `Module`s (the root, Sequentials, block instances) whose children are
  modules and nodes, in the order that decides PyTorch's module paths and state_dict keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from archc.diagnostics import Span
from archc.layers.base import SELF, LayerKind, Shape, Tensor, fmt_shape, tensor_key

INPUT = "input"
LAYER = "layer"
MERGE = "merge"


@dataclass(frozen=True)
class Counts:
    """What one layer costs, per example (immutable: equal layers share one)."""

    params: int = 0
    trainable_params: int = 0
    buffer_elements: int = 0
    macs: int = 0
    activation_elements: int = 0
    connections: int = 0
    #: Attention's query-key and attention-value products, outside `macs`' convention.
    attention_macs: int = 0


@dataclass(frozen=True)
class ReceptiveField:
    """Receptive field size and jump (input pixels per output step), per axis.

    `whole` marks a field that is the entire input (after self-attention, where every
    token sees every token); size and jump then keep the last windowed figures.
    """

    size: tuple[int, int]
    jump: tuple[int, int]
    whole: bool = False


@dataclass(eq=False)
class Node:
    """One primitive layer (or the graph's input) in the dataflow graph."""

    id: int
    kind: str
    name: str
    path: str
    shape: Shape
    span: Span
    layer: LayerKind | None = None
    fields: Any = None
    inputs: list[int] = field(default_factory=list)
    parent: Module | None = None
    trainable: bool = True
    init: str | None = None
    #: Where the `init:` in force is written (the layer's own, or a container's).
    init_span: Span | None = None
    tensors: list[Tensor] = field(default_factory=list)
    counts: Counts = field(default_factory=Counts)
    receptive_field: ReceptiveField | None = None
    #: The entry's `doc:` text (a comment above the layer in generated code).
    doc: str | None = None
    #: Its map is held channels last (H, W, C), as after ConvNeXt's and Swin's permute:
    #: `shape` stays positional; only how the volume is written depends on it.
    channels_last: bool = False

    @property
    def volume(self) -> str:
        """The output volume as archc writes it (`56x56x96`, whatever the layout)."""
        return fmt_shape(self.shape, self.channels_last)

    @property
    def type(self) -> str:
        """The layer's YAML type name (`input` for the input node)."""
        return self.layer.type if self.layer else INPUT

    def __repr__(self) -> str:
        # The generated repr would print the parent module, and through it the whole tree.
        return f"<Node {self.id} {self.type} {self.path!r} {list(self.shape)}>"


@dataclass(eq=False)
class Module:
    """A container: the network itself, a Sequential, or an instance of a block."""

    kind: str  # "root", "sequential" or "block"
    name: str
    path: str
    span: Span
    block: str | None = None
    args: dict[str, Any] = field(default_factory=dict)
    children: list[Module | Node] = field(default_factory=list)
    input: int = 0
    output: int = 0
    parent: Module | None = None
    #: The entry's `doc:` text (a comment above the container in generated code).
    doc: str | None = None
    #: Its unnamed children are numbered as in an nn.Sequential (a `sequential: true`
    #: block); a chain of them is written as one.
    numbered: bool = False

    def __repr__(self) -> str:
        return f"<Module {self.kind} {self.path!r}: {len(self.children)} children>"

    def walk(self):
        """Every module and node below this one, depth first, in order."""
        for child in self.children:
            yield child
            if isinstance(child, Module):
                yield from child.walk()


@dataclass(eq=False)
class Graph:
    """A fully expanded, shape-checked network for one variant."""

    network: str
    variant: str
    class_name: str
    spec_path: str
    input_shape: Shape
    nodes: list[Node]
    root: Module
    output: int
    description: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    init: str | None = None
    blocks: dict[str, Any] = field(default_factory=dict)
    #: The variant's `training:` settings (archc.training.Training), or None.
    training: Any = None
    #: Merges that `when:` left out, each standing for its first input: (label, where it
    #: is written, the ids of its inputs), for the dead-code pass to explain itself.
    left_out_merges: list[tuple[str, Span, list[int]]] = field(default_factory=list)
    #: Ids of layers whose output reaches no network output (passes/dead_code.py).
    dead: set[int] = field(default_factory=set)

    def __repr__(self) -> str:
        return (
            f"<Graph {self.network} / {self.variant}: {len(self.nodes) - 1} layers, "
            f"{list(self.input_shape)} -> {list(self.output_shape)}>"
        )

    @property
    def output_shape(self) -> Shape:
        """The network's output volume."""
        return self.nodes[self.output].shape

    def layers(self) -> list[Node]:
        """Every primitive layer (not the input), in execution order."""
        return [n for n in self.nodes if n.kind != INPUT]

    def state_dict(self) -> list[tuple[str, Tensor]]:
        """(key, tensor) of every parameter and buffer, in PyTorch's state_dict order.

        A module lists its own tensors (layers held as plain attributes, `SELF`) first,
        parameters before buffers, then its children's in order, as torch's
        `Module.state_dict` does.
        """
        result: list[tuple[str, Tensor]] = []
        _module_state(self.root, result)
        return result

    def consumers(self) -> dict[int, list[int]]:
        """For each node id, the ids of the nodes that read its output."""
        result: dict[int, list[int]] = {n.id: [] for n in self.nodes}
        for node in self.nodes:
            for source in node.inputs:
                result[source].append(node.id)
        return result


def _module_state(module: Module, result: list[tuple[str, Tensor]]) -> None:
    own = [
        (child.path, tensor)
        for child in module.children
        if isinstance(child, Node)
        for tensor in child.tensors
        if tensor.name == SELF
    ]
    result += [entry for entry in own if not entry[1].buffer]
    result += [entry for entry in own if entry[1].buffer]
    for child in module.children:
        if isinstance(child, Module):
            _module_state(child, result)
        else:
            result += [(tensor_key(child.path, t.name), t) for t in child.tensors if t.name != SELF]

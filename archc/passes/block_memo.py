"""Reuse the expansion of a block instance for later instances that must expand the same.

Deep networks instantiate a few block configurations many times: ResNet-152's 50
bottlenecks come in 8 distinct ones, a 100,000-layer residual stack in a handful. Expanding
a block instance evaluates every entry's expressions, validates its fields and works out
its volumes; all of that depends only on the block, the values its body can read, the
volume it receives, and the `trainable` and `init` settings it inherits. When all of those
match an instance already expanded without a single diagnostic, the new instance is a copy
of that one's nodes and modules under its own path, which is several times cheaper.

Values that hold spec entries (a list parameter of layers) are matched by identity, not by
value: entries carry their places in the spec, and copies must point where the original
points. Anything with no hashable stand-in is never matched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from archc.diagnostics import Span
from archc.ir.graph import Counts, Module, Node
from archc.spec.source import LocDict, LocList


@dataclass
class Template:
    """An expanded block instance: its module, and its nodes as the id range [start, end)."""

    module: Module
    start: int
    end: int
    input: int
    output: int
    #: Holds the values matched by identity, so their ids are not reused while it lives.
    keep: Any = field(repr=False)
    #: The merges `when:` left out inside it (label, span, input ids), for the dead-code
    #: pass: a copy leaves out the same ones, reading its own nodes.
    left_out: list[tuple[str, Span, list[int]]] = field(default_factory=list)


def moved_id(template: Template, node_id: int, offset: int, input_id: int) -> int:
    """Where a node id of the template lands in a copy whose nodes start `offset` later and
    that reads `input_id`."""
    if template.start <= node_id < template.end:
        return node_id + offset
    return input_id if node_id == template.input else node_id


def frozen(value: Any, located: bool = True) -> Any:
    """A hashable stand-in for a value, or None when there is none.

    Scalars are tagged with their type (`1`, `1.0` and `true` expand differently: strict
    validation refuses some of them). With `located`, located spec values (lists and
    mappings read from YAML: entries carry their places) are matched by identity, as a
    block body's values must be (see above); without it, by value, as a layer's evaluated
    field values may be (their places are not part of the fields)."""
    if value is None or isinstance(value, (str, int, float)):
        return (type(value), value)
    if located and isinstance(value, (LocList, LocDict)):
        return ("same object", id(value))
    if isinstance(value, (list, tuple)):
        items = tuple(frozen(item, located) for item in value)
        return None if None in items else (type(value) is tuple, items)
    if isinstance(value, Span):
        return value
    if isinstance(value, dict):
        items = tuple((key, frozen(item, located)) for key, item in value.items())
        return None if any(item is None for _, item in items) else (dict, items)
    return None


def instance_key(
    block: str,
    ctx: dict[str, Any],
    input_shape: tuple[int, ...],
    trainable: bool,
    init: tuple[Any, Span] | None,
    stack: list[str],
    ignored: frozenset[str],
) -> Any:
    """What decides a block instance's expansion, hashable; None if it cannot be matched.

    `ignored`: names in `ctx` that no expression of the spec can read (`index`, when the
    word appears nowhere), so that the copies of a `repeat:` still match each other."""
    items = frozen({k: v for k, v in ctx.items() if k not in ignored})
    settings = frozen((trainable, init))
    if items is None or settings is None:
        return None
    return (block, items, input_shape, settings, tuple(stack))


def mentions(word: str, *values: Any) -> bool:
    """Whether `word` occurs in any text inside the values (spec data, nested)."""
    pending = list(values)
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            if word in value:
                return True
        elif isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, (list, tuple)):
            pending.extend(value)
    return False


def covers(module: Module, start: int, end: int) -> bool:
    """Whether the nodes under `module` are exactly the ids [start, end): then a copy of
    its tree is a copy of those nodes."""
    ids = sorted(child.id for child in module.walk() if isinstance(child, Node))
    return ids == list(range(start, end))


def clone(template: Template, module: Module, input_id: int, nodes: list[Node]) -> int:
    """Copy the template's nodes and modules into `module` (a new, empty instance reading
    `input_id`), appending the nodes to `nodes`; return the id of the copy's output."""
    offset = len(nodes) - template.start
    start, end = template.start, template.end
    old_prefix, new_prefix = len(template.module.path), module.path

    def moved(node_id: int) -> int:
        return moved_id(template, node_id, offset, input_id)

    def moved_inputs(inputs: list[int]) -> list[int]:
        # Inlined (this runs once per copied node): ids inside the instance shift by the
        # offset, the instance's input becomes the new input.
        return [
            i + offset if start <= i < end else (input_id if i == template.input else i)
            for i in inputs
        ]

    copies: list[Node] = [None] * (end - start)  # type: ignore[list-item]

    def fill(source: Module, target: Module) -> None:
        for child in source.children:
            path = new_prefix + child.path[old_prefix:]
            if isinstance(child, Node):
                # A shallow copy with the fields that differ replaced (fields, shapes and
                # spans are immutable, so they are shared); faster than copy.copy.
                node = object.__new__(Node)
                node.__dict__ = {
                    **child.__dict__,
                    "id": child.id + offset,
                    "path": path,
                    "inputs": moved_inputs(child.inputs),
                    "parent": target,
                    "tensors": [],
                    "counts": Counts(),
                }
                copies[child.id - start] = node
                target.children.append(node)
            else:
                inner = Module(
                    child.kind,
                    child.name,
                    path,
                    child.span,
                    block=child.block,
                    args=child.args,
                    input=moved(child.input),
                    output=moved(child.output),
                    parent=target,
                    doc=child.doc,
                    numbered=child.numbered,
                )
                target.children.append(inner)
                fill(child, inner)

    fill(template.module, module)
    module.input = input_id
    module.output = moved(template.module.output)
    nodes.extend(copies)  # every slot is filled: templates are checked with covers()
    return moved(template.output)

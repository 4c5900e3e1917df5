"""Transfer learned weights between networks, layer by layer, as the papers did.

A *plan* is computed from the two analysed graphs alone (no torch): which target layer takes
which source layer's tensors, which target layers stay freshly initialised, and which
source tensors are left behind. Applying it (`transfer`) then copies tensors between two
PyTorch modules or state_dicts, after checking every shape.

Recipes (`RECIPES`):

- `names`: every layer whose module path exists in both networks is copied; the rest of the
  target is initialised. A shape mismatch is refused (use `head` to replace the output).
- `head`: as `names`, but the output layer (the last layer with learnable parameters) is
  always initialised: fine-tuning on a new problem, possibly with another `num_classes`.
- `vgg`: Simonyan & Zisserman (2015), section 3.1: "we initialised the first four
  convolutional layers and the last three fully-connected layers with the layers of net A
  (the intermediate layers were initialised randomly)". The convolutions are matched by
  position *within their stage* (the input resolution they see), not by raw order: the
  second convolution of A (64->128 channels, first of stage 2) corresponds to the first
  convolution of D's stage 2, not to D's second convolution (64->64), whose shape differs.
  The fully connected layers are matched from the end.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from typing import Any

from archc.ir.graph import INPUT, Graph, Node
from archc.layers.base import Shape, tensor_key

#: Mismatches a refusal lists before it gives only their count.
SHOWN_MISMATCHES = 5


class TransferError(Exception):
    """The plan cannot be applied: shapes differ, or a checkpoint is not of the network."""


@dataclass(frozen=True)
class Recipe:
    """How to pair a source network's layers with a target network's."""

    name: str
    description: str
    #: Layer family -> how many of the source's first layers of it to copy, matched by
    #: (input resolution, order within that resolution).
    first: dict[str, int] = field(default_factory=dict)
    #: Layer family -> how many of the source's last layers of it to copy, from the end.
    last: dict[str, int] = field(default_factory=dict)
    #: Also pair every other layer by identical module path.
    by_name: bool = False
    #: Initialise the output layer instead of copying it.
    new_head: bool = False


RECIPES = {
    "names": Recipe(
        "names", "copy every layer with the same module path; refuse shape mismatches", by_name=True
    ),
    "head": Recipe(
        "head",
        "copy every layer with the same module path except the output "
        "layer, which is initialised (new head for a new problem)",
        by_name=True,
        new_head=True,
    ),
    "vgg": Recipe(
        "vgg",
        "VGG's pre-training: the first four conv layers (by position in "
        "their stage) and the last three FC layers of the source; the rest "
        "initialised",
        first={"conv": 4},
        last={"fc": 3},
    ),
}


@dataclass(frozen=True)
class Copy:
    """One tensor copied from the source into the target."""

    source: str
    target: str
    shape: Shape


@dataclass(frozen=True)
class Mismatch:
    """A paired tensor whose shapes differ (the plan is refused)."""

    source: str
    target: str
    source_shape: Shape
    target_shape: Shape


@dataclass
class TransferPlan:
    """What `transfer` does: copies, target tensors left initialised, source tensors unused."""

    recipe: str
    source: str
    target: str
    layers: list[tuple[str, str]] = field(default_factory=list)
    copies: list[Copy] = field(default_factory=list)
    initialised: list[tuple[str, Shape]] = field(default_factory=list)
    skipped: list[tuple[str, Shape]] = field(default_factory=list)
    mismatches: list[Mismatch] = field(default_factory=list)
    #: Every tensor of the target, in state_dict order (for display).
    target_keys: list[str] = field(default_factory=list)
    #: Every tensor the source spec declares, with its shape (to check a checkpoint).
    source_tensors: dict[str, Shape] = field(default_factory=dict)
    #: The target's output layer (the last with learnable parameters).
    head: str | None = None

    def check(self) -> None:
        """Raise TransferError if any paired shapes differ: the first few mismatches, their
        count, and the way out where there is one (every mismatch at the output layer)."""
        if not self.mismatches:
            return
        lines = [
            f"{m.source} {list(m.source_shape)} -> {m.target} {list(m.target_shape)}"
            for m in self.mismatches
        ]
        shown = lines[:SHOWN_MISMATCHES]
        if len(lines) > len(shown):
            shown.append(f"... and {len(lines) - len(shown)} more")
        only_head = self.head is not None and all(
            m.target.rpartition(".")[0] == self.head for m in self.mismatches
        )
        if only_head and self.recipe == "names":
            shown.append(
                f"hint: only the output layer differs; to replace it, use the 'head' plan "
                f"or --init {self.head}"
            )
        raise TransferError(
            f"cannot transfer {self.source} -> {self.target} with plan '{self.recipe}': "
            f"{len(lines)} tensor shape(s) differ:\n" + "\n".join(f"  {line}" for line in shown)
        )

    def copied_params(self) -> int:
        """Elements copied, over all tensors."""
        import math

        return sum(math.prod(c.shape) for c in self.copies)


def _weighted(graph: Graph) -> list[Node]:
    """Layers that hold tensors (parameters or buffers), in execution order."""
    return [n for n in graph.nodes if n.kind != INPUT and n.tensors]


def _head(graph: Graph) -> Node | None:
    """The output layer: the last layer with learnable parameters."""
    learnable = [n for n in _weighted(graph) if any(not t.buffer for t in n.tensors)]
    return learnable[-1] if learnable else None


def _stage_keys(nodes: list[Node], graph: Graph) -> dict[tuple, Node]:
    """Key each layer by (its input's spatial size, its order among layers of that size)."""
    seen: dict[tuple, int] = {}
    result = {}
    for node in nodes:
        resolution = tuple(graph.nodes[node.inputs[0]].shape[1:]) if node.inputs else ()
        order = seen.get(resolution, 0)
        seen[resolution] = order + 1
        result[(resolution, order)] = node
    return result


def _label(graph: Graph) -> str:
    return f"{graph.network}#{graph.variant}"


def plan_transfer(
    source: Any, target: Any, recipe: str | Recipe = "names", init: tuple[str, ...] | list[str] = ()
) -> TransferPlan:
    """Pair the layers of two analysed networks (Graph or archc.Network) by a recipe.

    `init` names target module paths to initialise whatever the recipe says.
    """
    source_graph: Graph = getattr(source, "graph", source)
    target_graph: Graph = getattr(target, "graph", target)
    if isinstance(recipe, str):
        if recipe not in RECIPES:
            raise TransferError(f"unknown plan '{recipe}' (plans: {', '.join(RECIPES)})")
        recipe = RECIPES[recipe]
    plan = TransferPlan(recipe.name, _label(source_graph), _label(target_graph))
    pairs = _pair_layers(source_graph, target_graph, recipe, plan)
    target_paths = {n.path for n in target_graph.nodes} | {
        m.path for m in target_graph.root.walk() if not isinstance(m, Node)
    }
    for name in init:
        if name not in target_paths:
            raise TransferError(f"--init {name}: {plan.target} has no module '{name}'")
    output_layer = _head(target_graph)
    plan.head = output_layer.path if output_layer is not None else None
    head = output_layer if recipe.new_head else None
    fresh = {
        n.path
        for n in target_graph.nodes
        if any(n.path == p or n.path.startswith(p + ".") for p in init)
    }
    if head is not None:
        fresh.add(head.path)
    used_source: set[str] = set()
    filled: set[str] = set()
    for src, tgt in pairs:
        if tgt.path in fresh:
            continue
        plan.layers.append((src.path, tgt.path))
        source_tensors = {t.name: t for t in src.tensors}
        for tensor in tgt.tensors:
            other = source_tensors.get(tensor.name)
            if other is None:
                continue
            src_key, tgt_key = tensor_key(src.path, other.name), tensor_key(tgt.path, tensor.name)
            if other.shape != tensor.shape:
                plan.mismatches.append(Mismatch(src_key, tgt_key, other.shape, tensor.shape))
                continue
            plan.copies.append(Copy(src_key, tgt_key, tensor.shape))
            used_source.add(src_key)
            filled.add(tgt_key)
    for node in _weighted(target_graph):
        for tensor in node.tensors:
            key = tensor_key(node.path, tensor.name)
            plan.target_keys.append(key)
            if key not in filled:
                plan.initialised.append((key, tensor.shape))
    for node in _weighted(source_graph):
        for tensor in node.tensors:
            key = tensor_key(node.path, tensor.name)
            plan.source_tensors[key] = tensor.shape
            if key not in used_source:
                plan.skipped.append((key, tensor.shape))
    return plan


def _pair_layers(
    source: Graph, target: Graph, recipe: Recipe, plan: TransferPlan
) -> list[tuple[Node, Node]]:
    pairs: list[tuple[Node, Node]] = []
    src_layers, tgt_layers = _weighted(source), _weighted(target)
    for family, count in recipe.first.items():
        src = [n for n in src_layers if n.layer.family == family][:count]
        tgt_keys = _stage_keys([n for n in tgt_layers if n.layer.family == family], target)
        src_keys = _stage_keys([n for n in src_layers if n.layer.family == family], source)
        for key, node in src_keys.items():
            if node not in src:
                continue
            if key not in tgt_keys:
                raise TransferError(
                    f"plan '{recipe.name}': {plan.target} has no {family} layer "
                    f"#{key[1] + 1} at input resolution {'x'.join(map(str, key[0]))} to take "
                    f"{node.path} of {plan.source}"
                )
            pairs.append((node, tgt_keys[key]))
    for family, count in recipe.last.items():
        src = [n for n in src_layers if n.layer.family == family]
        tgt = [n for n in tgt_layers if n.layer.family == family]
        if len(src) < count or len(tgt) < count:
            raise TransferError(
                f"plan '{recipe.name}' copies the last {count} {family} layers, but "
                f"{plan.source} has {len(src)} and {plan.target} has {len(tgt)}"
            )
        pairs.extend(zip(src[len(src) - count :], tgt[len(tgt) - count :], strict=True))
    if recipe.by_name:
        taken = {t.path for _, t in pairs}
        by_path = {n.path: n for n in src_layers}
        pairs.extend(
            (by_path[n.path], n) for n in tgt_layers if n.path in by_path and n.path not in taken
        )
    order = {n.path: i for i, n in enumerate(tgt_layers)}
    return sorted(pairs, key=lambda pair: order[pair[1].path])


def check_source(plan: TransferPlan, source_state: dict[str, Any]) -> None:
    """Refuse a source state_dict that is not of the plan's source network (all names and
    shapes must be those its spec declares); cheap, so run it before building a target."""
    problems = []
    for key, shape in plan.source_tensors.items():
        tensor = source_state.get(key)
        if tensor is None:
            problems.append(f"it has no tensor '{key}'")
        elif tuple(tensor.shape) != shape:
            problems.append(
                f"its '{key}' is {list(tensor.shape)}, but {plan.source} declares {list(shape)}"
            )
    problems += [
        f"it has a tensor '{key}' that {plan.source} does not declare"
        for key in source_state
        if key not in plan.source_tensors
    ]
    _refuse(f"the source weights are not those of {plan.source}", problems)


def _refuse(what: str, problems: list[str]) -> None:
    if problems:
        more = f"; and {len(problems) - 5} more" if len(problems) > 5 else ""
        raise TransferError(f"{what}: " + "; ".join(problems[:5]) + more)


def transfer(source_model: Any, target_model: Any, plan: TransferPlan) -> TransferPlan:
    """Copy the plan's tensors from a module or state_dict into `target_model` (in place).

    Everything is checked before anything is copied: the plan's shapes, that the source
    holds exactly the tensors its spec declares (a checkpoint of another network is refused,
    not half-used), and that the target has the plan's tensors.
    """
    import torch

    plan.check()
    source_state = (
        source_model.state_dict() if hasattr(source_model, "state_dict") else dict(source_model)
    )
    target_state = (
        target_model.state_dict() if hasattr(target_model, "state_dict") else target_model
    )
    check_source(plan, source_state)
    problems = []
    for item in plan.copies:
        if item.target not in target_state:
            problems.append(f"it has no tensor '{item.target}'")
        elif tuple(target_state[item.target].shape) != item.shape:
            problems.append(
                f"its '{item.target}' is {list(target_state[item.target].shape)}, "
                f"but {plan.target} declares {list(item.shape)}"
            )
    _refuse(f"the target module is not {plan.target}", problems)
    with torch.no_grad():
        for item in plan.copies:
            target_state[item.target].copy_(source_state[item.source])
    return plan


def load_state(path: str | os.PathLike) -> dict[str, Any]:
    """Read a state_dict checkpoint (a bare state_dict, or train.py's {'model': ...})."""
    import torch

    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise TransferError(f"checkpoint '{path}' does not exist") from None
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets one clear message
        raise TransferError(
            f"cannot read checkpoint '{path}': {type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}"
        ) from None
    if isinstance(data, dict) and isinstance(data.get("model"), dict):
        data = data["model"]
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in data.items()
    ):
        raise TransferError(
            f"checkpoint '{path}' is not a state_dict (a mapping of names to tensors)"
        )
    return data


def save_state(state: dict[str, Any], path: str | os.PathLike) -> None:
    """Write a state_dict atomically (a temporary file renamed into place)."""
    from pathlib import Path

    import torch

    from archc.build import atomic_write

    buffer = io.BytesIO()
    torch.save(dict(state), buffer)
    atomic_write(Path(path), buffer.getvalue())


def print_plan(plan: TransferPlan, console: Any) -> None:
    """Show, layer by layer, what a plan copies, initialises and leaves behind (rich)."""
    from rich.table import Table

    from archc.diagnostics import terminal_text as text

    # Names come from specs and keys from a checkpoint: shown as text, never as markup.
    table = Table(
        title=text(f"transfer {plan.source} -> {plan.target} (plan '{plan.recipe}')"),
        title_justify="left",
    )
    for column in ("target", "action", "from", "shape"):
        table.add_column(column)
    copied = {c.target: c for c in plan.copies}
    fresh = dict(plan.initialised)
    for key in plan.target_keys:
        if key in copied:
            source, shape = copied[key].source, _shape(copied[key].shape)
            table.add_row(text(key), text("copied", "green"), text(source), shape)
        else:
            table.add_row(text(key), text("initialised", "yellow"), "", _shape(fresh[key]))
    for key, shape in plan.skipped:
        table.add_row("", text("skipped", "dim"), text(key), _shape(shape))
    console.print(table)
    console.print(
        f"copied {len(plan.copies)} tensors ({plan.copied_params():,} values) from "
        f"{len(plan.layers)} layers; initialised {len(plan.initialised)}; "
        f"skipped {len(plan.skipped)} source tensors",
        highlight=False,
    )


def _shape(shape: Shape) -> str:
    return "x".join(map(str, shape)) or "scalar"


__all__ = [
    "RECIPES",
    "Recipe",
    "TransferPlan",
    "TransferError",
    "plan_transfer",
    "transfer",
    "load_state",
    "save_state",
]

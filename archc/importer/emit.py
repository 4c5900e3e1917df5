"""The scope tree of a traced model as a spec: entries, blocks folded from repeated module
classes, and YAML text a person would write.

An nn.Sequential becomes a `sequential` entry (unnamed entries, numbered as nn.Sequential
numbers its children). Any other module holding others becomes an instance of a block.
Instances of one module class whose bodies differ only in numbers (channels, strides)
share one block, whose parameters are the numbers that differ; equal columns of numbers
are one parameter. Instances that differ in structure (a `downsample` present in some)
get blocks of their own, so the spec always regenerates the same modules and keys.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from archc.importer.trace import Gap, Item, Scope

Body = list[dict[str, Any]]
_NUMBER = (int, float, bool)
_STRUCTURAL = {"name", "type", "inputs"}


@dataclass
class Spec:
    """The spec being written: its blocks (in first-use order) and its top-level layers."""

    blocks: dict[str, dict[str, Any]] = field(default_factory=dict)
    layers: Body = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    gaps: list[Gap] = field(default_factory=list)


def build_spec(root: Scope, reserved: set[str]) -> Spec:
    """Entries and blocks for a resolved scope tree; `reserved` names cannot name blocks
    (layer kinds)."""
    spec = Spec()
    groups = _group(root)
    block_of: dict[int, tuple[str, dict[str, Any]]] = {}
    taken = set(reserved) | {"sequential"}
    # Innermost first, so a parent's body already names its children's blocks.
    for members in sorted(groups.values(), key=lambda m: -max(s.path.count(".") for s in m)):
        _fold(members, block_of, spec, taken)
    spec.layers = _entries(root, block_of)
    # Blocks are listed in the order a reader meets them, from the network down.
    order: list[str] = []

    def meet(body: Body) -> None:
        for entry in body:
            kind = entry.get("type")
            if kind in spec.blocks and kind not in order:
                order.append(kind)
                meet(spec.blocks[kind]["layers"])
            if isinstance(entry.get("layers"), list):
                meet(entry["layers"])

    meet(spec.layers)
    spec.blocks = {name: spec.blocks[name] for name in order}
    _classes_param(spec)
    return spec


def _classes_param(spec: Spec) -> None:
    """A classifier's last linear layer reads its width from a `num_classes` parameter,
    so `--set num_classes=10` retargets the imported network (as torchvision's do)."""
    body = spec.layers
    while body and isinstance(body[-1].get("layers"), list):
        body = body[-1]["layers"]
    if body and body[-1].get("type") == "linear" and isinstance(body[-1].get("out"), int):
        spec.params["num_classes"] = body[-1]["out"]
        body[-1]["out"] = "num_classes"


def _group(root: Scope) -> dict[str, list[Scope]]:
    groups: dict[str, list[Scope]] = {}

    def visit(scope: Scope) -> None:
        for item in scope.items:
            if isinstance(item, Scope):
                visit(item)
                if not item.is_sequential:
                    cls = type(item.module)
                    groups.setdefault(f"{cls.__module__}.{cls.__qualname__}", []).append(item)

    visit(root)
    return groups


def _entries(scope: Scope, block_of: dict) -> Body:
    """The entries of a scope, children written as their instance entries."""
    body: Body = []
    previous = "input"
    numbered = scope.is_sequential and [
        i.name if isinstance(i, (Scope, Item)) else None for i in scope.items
    ] == [str(k) for k in range(len(scope.items))]
    for item in scope.items:
        entry = _instance(item, block_of) if isinstance(item, Scope) else dict(item.entry)
        if not numbered:
            entry = {"name": item.name, **entry}
        reads = item.inputs
        if len(reads) > 1 or (reads and reads[0] != previous):
            entry["inputs"] = reads if len(reads) > 1 else reads[0]
        body.append(entry)
        previous = item.name
    return body


def _instance(scope: Scope, block_of: dict) -> dict[str, Any]:
    if scope.is_sequential:
        return {"type": "sequential", "layers": _entries(scope, block_of)}
    name, args = block_of[id(scope)]
    return {"type": name, **args}


def _fold(members: list[Scope], block_of: dict, spec: Spec, taken: set) -> None:
    """Blocks for the instances of one module class: one per structure."""
    by_shape: dict[str, list[tuple[Scope, Body]]] = {}
    for scope in members:
        body = _entries(scope, block_of)
        by_shape.setdefault(_shape(body, scope.output), []).append((scope, body))
    base = _block_name(type(members[0].module).__name__)
    for _, group in by_shape.items():
        name = base
        k = 2
        while name in taken:
            name, k = f"{base}_{k}", k + 1
        taken.add(name)
        bodies = [body for _, body in group]
        template, params, values = _abstract(bodies)
        definition: dict[str, Any] = {}
        doc = _first_line(type(group[0][0].module).__doc__)
        if doc:
            definition["description"] = doc
        if params:
            definition["params"] = {p: None for p in params}
        definition["layers"] = template
        last = template[-1].get("name") if template else None
        output = group[0][0].output
        if output is not None and output != last:
            definition["output"] = output
        spec.blocks[name] = definition
        for (scope, _), args in zip(group, values, strict=True):
            block_of[id(scope)] = (name, args)


def _leaves(value: Any, path: tuple = ()) -> list[tuple[tuple, Any]]:
    if isinstance(value, dict):
        found = []
        for key, item in value.items():
            if key not in _STRUCTURAL:
                found += _leaves(item, (*path, key))
        return found
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        found = []
        for k, item in enumerate(value):
            found += _leaves(item, (*path, k))
        return found
    if isinstance(value, _NUMBER) or (
        isinstance(value, list) and all(isinstance(v, _NUMBER) for v in value)
    ):
        return [(path, value)]
    return []


def _shape(body: Body, output: str | None) -> str:
    """The body with its numbers blanked: instances with equal shapes can share a block."""

    def blank(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: (v if k in _STRUCTURAL else blank(v)) for k, v in value.items()}
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            return [blank(v) for v in value]
        if isinstance(value, _NUMBER) or isinstance(value, list):
            return "#" if not isinstance(value, list) else ["#"] * len(value)
        return value

    return json.dumps([blank(e) for e in body] + [output], sort_keys=True)


def _abstract(bodies: list[Body]) -> tuple[Body, list[str], list[dict[str, Any]]]:
    """One body with the numbers that differ between instances replaced by parameters;
    the parameter names and each instance's values."""
    columns: dict[tuple, list[Any]] = {}
    for body in bodies:
        for path, value in _leaves(body):
            columns.setdefault(path, []).append(value)
    template = json.loads(json.dumps(bodies[0]))
    params: list[str] = []
    by_values: dict[str, str] = {}
    names: dict[tuple, str] = {}
    for path, values in columns.items():
        if len(values) != len(bodies) or all(v == values[0] for v in values):
            continue
        signature = json.dumps(values)
        if signature not in by_values:
            by_values[signature] = _param_name(template, path, set(params))
            params.append(by_values[signature])
        names[path] = by_values[signature]
    for path, name in names.items():
        _set(template, path, name)
    values = []
    for body in bodies:
        leaves = dict(_leaves(body))
        args: dict[str, Any] = {}
        for path, name in names.items():
            args[name] = leaves[path]
        values.append(args)
    return template, params, values


def _param_name(template: Body, path: tuple, taken: set[str]) -> str:
    """A parameter's name: the nearest named entry and the field (`conv1_out`), else the
    field alone, else the whole path; the first that is free."""
    named: list[str] = []
    node: Any = template
    for step in path[:-1]:
        node = node[step]
        if isinstance(node, dict) and node.get("name"):
            named.append(str(node["name"]))
    field_name = str(path[-1])
    whole = "_".join([*named, field_name])
    candidates = [f"{named[-1]}_{field_name}"] if named else []
    candidates += [field_name, whole]
    for candidate in candidates:
        name = _identifier(candidate)
        if name not in taken:
            return name
    base, k = _identifier(whole), 2
    while f"{base}_{k}" in taken:
        k += 1
    return f"{base}_{k}"


def _identifier(text: str) -> str:
    name = re.sub(r"\W+", "_", text).strip("_") or "value"
    return name if not name[0].isdigit() else f"p{name}"


def _set(template: Body, path: tuple, value: Any) -> None:
    node: Any = template
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value


def _block_name(class_name: str) -> str:
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", class_name).lower()
    snake = re.sub(r"\W+", "_", snake).strip("_") or "block"
    return snake if not snake[0].isdigit() else f"b_{snake}"


def _first_line(doc: str | None) -> str:
    if not doc:
        return ""
    line = doc.strip().splitlines()[0].strip()
    return line if len(line) <= 120 else line[:117] + "..."


# --- YAML text --------------------------------------------------------------------------


def to_yaml(
    network: str,
    input_shape: tuple[int, ...],
    class_name: str | None,
    spec: Spec,
    header: list[str],
) -> str:
    """The spec as YAML: entries in flow style on one line each, nested lists indented."""
    lines = [f"# {line}" for line in header]
    lines.append(f"network: {_scalar(network)}")
    lines.append(f"input: {_flow(list(input_shape))}")
    if class_name:
        lines.append(f"class_name: {_scalar(class_name)}")
    if spec.params:
        lines.append(f"params: {_flow(spec.params)}")
    if spec.blocks:
        lines.append("blocks:")
        for name, block in spec.blocks.items():
            lines.append(f"  {name}:")
            if "description" in block:
                lines.append(f"    description: {_scalar(block['description'])}")
            if "params" in block:
                lines.append(f"    params: {_flow(block['params'])}")
            lines.append("    layers:")
            lines += _entry_lines(block["layers"], 6)
            if "output" in block:
                lines.append(f"    output: {_scalar(block['output'])}")
    lines.append("layers:")
    lines += _entry_lines(spec.layers, 2)
    return "\n".join(lines) + "\n"


def _entry_lines(body: Body, indent: int) -> list[str]:
    pad = " " * indent
    lines = []
    for entry in body:
        if "layers" not in entry:
            lines.append(f"{pad}- {_flow(entry)}")
            continue
        head = {k: v for k, v in entry.items() if k != "layers"}
        first = True
        for key, value in head.items():
            lines.append(f"{pad}{'- ' if first else '  '}{key}: {_flow(value)}")
            first = False
        lines.append(f"{pad}{'- ' if first else '  '}layers:")
        lines += _entry_lines(entry["layers"], indent + 4)
    return lines


def _flow(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    return _scalar(value)


def _scalar(value: Any) -> str:
    if value is None:
        return "~"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        # YAML 1.1 (PyYAML) reads a float only with a dot: 1.0e-05, not 1e-05.
        mantissa, e, exponent = repr(value).partition("e")
        if "." not in mantissa and mantissa.lstrip("-").isdigit():
            mantissa += ".0"
        return f"{mantissa}{e}{exponent}"
    text = str(value)
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.\-]*", text) and text.lower() not in {
        "true",
        "false",
        "null",
        "yes",
        "no",
        "on",
        "off",
        "y",
        "n",
    }:
        return text
    # JSON strings are YAML strings: every character escaped as needed, one line.
    return json.dumps(text)

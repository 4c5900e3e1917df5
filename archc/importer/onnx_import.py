"""`archc import model.onnx`: an ONNX file as an editable spec.

Each node maps to a layer entry (`_MAPPERS`, fields at non-default values only, as in
archc/importer/mapping.py). Names come from the model itself: a parameter's initializer
(`layer1.0.conv1.weight`) names its layer, and the TorchScript exporter's node names
(`/layer1/layer1.0/relu/Relu`) give each node its module path, so nodes are grouped into
the same nested scopes and the spec regenerates the source's state_dict keys; the scope
tree is written by archc/importer/emit.py, as for a PyTorch module. A model without such
names gives a flat spec. What has no archc kind is reported at the node, never guessed.

The file is untrusted: its size is bounded before it is read, nothing in it is run (only
protobuf is parsed), and a malformed model is a clean error. Needs the `onnx` package.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archc.importer import Imported, ImportFailed, spec_state
from archc.importer.emit import build_spec, to_yaml
from archc.importer.trace import Gap, Item, Scope

#: The largest ONNX file read (bytes); a bigger one is refused before reading.
MAX_ONNX_BYTES = 2 * 1024**3

Entry = dict[str, Any]


class Unmapped(Exception):
    """A node archc has no layer kind for (or not with these attributes)."""


# Stand-ins for module classes in emit's tree (no docstrings: emit would quote them): an
# nn.Sequential scope (numbered children in a chain), and for other scopes one class per
# depth and role (`layer1.0` -> layer), whose instances emit folds into one block per
# structure; emit folds the deepest classes first, so a class never spans depths.
Sequential = type("Sequential", (), {})
_ROLES: dict[tuple[int, str], type] = {}


def _role(path: tuple[str, ...]) -> Any:
    named = [p for p in path if not p.isdigit()] or ["block"]
    role = _identifier(named[-1].rstrip("0123456789_")) or "block"
    key = (len(path), role)
    if key not in _ROLES:
        _ROLES[key] = type(role, (), {})
    return _ROLES[key]()


@dataclass
class _Node:
    """One mapped node: its entry, module path, the tensors it reads and makes."""

    entry: Entry
    path: list[str]
    reads: list[str]
    output: str
    where: str


@dataclass
class _Graph:
    """What a mapper may look at: constants (initializers and Constant nodes) by name."""

    constants: dict[str, Any] = field(default_factory=dict)
    alias: dict[str, str] = field(default_factory=dict)

    def value(self, name: str) -> Any:
        return self.constants.get(self.alias.get(name, name))

    def real(self, name: str) -> str:
        return self.alias.get(name, name)


def from_onnx(
    path: str | Path,
    input_shape: tuple[int, ...] | None = None,
    network: str | None = None,
    partial: bool = False,
    max_bytes: int | None = None,
) -> Imported:
    """A spec (YAML text) for the ONNX model at `path`; ImportFailed says what could not
    be read or mapped (with `partial`, unmapped nodes become identities marked in the
    header instead)."""
    model = _read(Path(path), MAX_ONNX_BYTES if max_bytes is None else max_bytes)
    graph = model.graph
    shape = input_shape or _input_shape(graph)
    name = network or _identifier(Path(path).stem.lower()) or "imported"
    try:
        nodes, gaps = _map_nodes(graph)
        if not nodes:
            raise ImportFailed(f"{path}: no node of the graph reads its input")
        if gaps and not partial:
            raise ImportFailed(f"{len(gaps)} node(s) have no archc equivalent", gaps)
        root, scope_gaps = _tree(nodes, graph)
    except (IndexError, KeyError, TypeError, ValueError, StopIteration, RecursionError) as exc:
        # A node without its inputs or outputs, an attribute of the wrong type, a graph
        # that reads what nothing makes: the file is not a model archc can read.
        raise ImportFailed(f"{path}: malformed ONNX graph ({type(exc).__name__})") from None
    if scope_gaps:
        raise ImportFailed("the graph's scopes cannot be written as spec entries", scope_gaps)
    from archc.layers.base import REGISTRY

    scoped = any(_SCOPE.match(node.name) for node in graph.node)
    header = [
        f"Imported by `archc import` from {Path(path).name} (ONNX);",
        "module paths are kept, so the generated model has the source's state_dict keys."
        if scoped
        else "the graph names no module scopes, so the spec is flat (names from its nodes).",
    ]
    if gaps:
        header.append(f"PARTIAL: {len(gaps)} node(s) could not be mapped:")
        header += [f"  {gap.path}: {gap.what}" for gap in gaps]
    spec = build_spec(root, set(REGISTRY))
    text = to_yaml(name, shape, None, spec, header)
    result = Imported(text, name, notes=[f"{g.path}: {g.what}" for g in gaps])
    if not gaps:
        result.keys_checked = _check_keys(text, graph)
    return result


def _check_keys(text: str, graph: Any) -> int:
    """Every initializer named as a state_dict key must be one of the spec's, with its
    shape (the graph has no num_batches_tracked, and the exporter shares equal
    initializers under one name, so the graph's keys are a subset of the model's)."""
    ours = dict(spec_state(text))
    checked = 0
    for tensor in graph.initializer:
        if tensor.name in ours:
            if ours[tensor.name] != tuple(tensor.dims):
                raise ImportFailed(
                    f"{tensor.name}: {ours[tensor.name]} in the spec against "
                    f"{tuple(tensor.dims)} in the ONNX file",
                    text=text,
                )
            checked += 1
    return checked


# --- reading ----------------------------------------------------------------------------


def _read(path: Path, limit: int) -> Any:
    import onnx

    try:
        size = path.stat().st_size
        if not path.is_file():
            raise ImportFailed(f"{path}: not a regular file")
    except OSError as exc:
        raise ImportFailed(f"{path}: {exc.strerror}") from None
    if size > limit:
        raise ImportFailed(f"{path}: {size} bytes, over the limit of {limit} for an ONNX file")
    try:
        # External data (weights in side files) is not followed: the structure is enough.
        model = onnx.load_model_from_string(path.read_bytes())
    except Exception as exc:  # noqa: BLE001 - protobuf's errors have no common base
        raise ImportFailed(f"{path}: not an ONNX model ({type(exc).__name__})") from None
    if not model.graph.node:
        raise ImportFailed(f"{path}: the ONNX graph has no nodes")
    return model


def _input_shape(graph: Any) -> tuple[int, ...]:
    initializers = {t.name for t in graph.initializer}
    inputs = [v for v in graph.input if v.name not in initializers]
    if len(inputs) != 1:
        raise ImportFailed(f"the graph has {len(inputs)} inputs; archc networks have one")
    dims = inputs[0].type.tensor_type.shape.dim
    shape = tuple(d.dim_value for d in dims[1:])
    if not shape or any(v <= 0 for v in shape):
        raise ImportFailed("the graph's input shape is not fixed: give it with --input C,H,W")
    return shape


# --- nodes to entries -------------------------------------------------------------------


def _map_nodes(graph: Any) -> tuple[list[_Node], list[Gap]]:
    known = _Graph({t.name: _tensor(t) for t in graph.initializer})
    data = {v.name for v in graph.input} - set(known.constants)
    nodes: list[_Node] = []
    gaps: list[Gap] = []
    scoped = any(_SCOPE.match(node.name) for node in graph.node)
    for node in graph.node:
        where = node.name or f"{node.op_type} node {len(nodes)}"
        if node.op_type == "Constant":
            known.constants[node.output[0]] = _constant(node)
            continue
        if node.op_type in ("Identity", "Dropout") and node.input:
            # Dropout is an identity at inference; the mask output is never read.
            known.alias[node.output[0]] = known.real(node.input[0])
            continue
        if node.op_type == "Transpose" and known.value(node.input[0]) is not None:
            known.constants[node.output[0]] = known.value(node.input[0]).transpose(
                _attributes(node).get("perm") or None
            )
            known.alias.setdefault(node.output[0] + "#source", known.real(node.input[0]))
            continue
        if node.op_type == "Shape" or not any(known.real(i) in data for i in node.input if i):
            # Arithmetic on shapes and constants only sizes other ops (a Resize's scales);
            # such an op is reported by what it feeds, not node by node.
            continue
        data.add(node.output[0])
        mapper = _MAPPERS.get(node.op_type)
        try:
            if mapper is None:
                raise Unmapped(f"{node.op_type} has no archc layer kind")
            entry, reads, param = mapper(node, _attributes(node), known)
        except Unmapped as exc:
            gaps.append(Gap(where, f"{node.op_type}: {exc}"))
            entry, reads, param = {"type": "identity"}, [node.input[0]] if node.input else [], None
            entry["doc"] = f"TODO: {node.op_type} not mapped"
        path = _module_path(node.name, param and known.real(param), scoped)
        odd = [part for part in path if not _valid_part(part)]
        if odd:
            # torchvision's RegNet names its blocks `block1-0`: no spec entry has that
            # name, so the keys could not be kept.
            gaps.append(Gap(where, f"module name {odd[0]!r} is not an archc name"))
            path = [_identifier(part) or "module" for part in path]
        nodes.append(_Node(entry, path, [known.real(r) for r in reads], node.output[0], where))
    gaps += _fold_bias_adds(nodes)
    return nodes, gaps


def _tensor(tensor: Any) -> Any:
    """An initializer's value; for one stored in a side file, which is never opened (its
    path is the file's to choose), an array of its shape that holds no data."""
    import numpy
    from onnx import TensorProto, numpy_helper

    try:
        if tensor.data_location == TensorProto.EXTERNAL:
            return numpy.broadcast_to(numpy.zeros((), numpy.uint8), tuple(tensor.dims))
        return numpy_helper.to_array(tensor)
    except Exception:  # noqa: BLE001 - a malformed tensor, whatever numpy or onnx say
        raise ImportFailed(f"initializer {tensor.name!r} is malformed") from None


def _attributes(node: Any) -> dict[str, Any]:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _constant(node: Any) -> Any:
    value = _attributes(node).get("value")
    return _tensor(value) if value is not None else None


def _pair(values: Any, default: int) -> Any:
    values = [int(v) for v in values] if values else [default, default]
    return values[0] if len(set(values)) == 1 else values


def _nondefault(entry: Entry, **fields: tuple[Any, Any]) -> Entry:
    for name, (value, default) in fields.items():
        if value != default:
            entry[name] = value
    return entry


def _padding(attrs: dict[str, Any]) -> Any:
    if attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET", b"VALID", "VALID"):
        raise Unmapped(f"auto_pad={attrs['auto_pad']!r}")
    pads = [int(v) for v in attrs.get("pads", [])] or [0, 0, 0, 0]
    half = len(pads) // 2
    if pads[:half] != pads[half:]:
        raise Unmapped(f"asymmetric pads {pads} (archc pads both sides alike)")
    return _pair(pads[:half], 0)


def _weight(node: Any, known: _Graph, index: int) -> Any:
    if len(node.input) <= index or known.value(node.input[index]) is None:
        raise Unmapped(f"input {index} is not a constant (archc layers own their weights)")
    return known.value(node.input[index])


Mapped = tuple[Entry, list[str], str | None]


def _conv(node: Any, attrs: dict, known: _Graph) -> Mapped:
    weight = _weight(node, known, 1)
    if weight.ndim != 4:
        raise Unmapped("only 2-d convolutions")
    entry = {"type": "conv", "out": int(weight.shape[0]), "kernel": _pair(weight.shape[2:], 1)}
    _nondefault(
        entry,
        stride=(_pair(attrs.get("strides"), 1), 1),
        padding=(_padding(attrs), 0),
        dilation=(_pair(attrs.get("dilations"), 1), 1),
        groups=(int(attrs.get("group", 1)), 1),
        bias=(len(node.input) > 2 and bool(node.input[2]), True),
    )
    return entry, [node.input[0]], node.input[1]


def _batchnorm(node: Any, attrs: dict, known: _Graph) -> Mapped:
    for k in range(1, 5):
        _weight(node, known, k)
    entry = _nondefault(
        {"type": "batchnorm"},
        eps=(_float(attrs.get("epsilon", 1e-5)), 1e-5),
        momentum=(_momentum(attrs.get("momentum", 0.9)), 0.1),
    )
    return entry, [node.input[0]], node.input[1]


def _float(value: float) -> float:
    # ONNX stores float32: 1e-5 comes back as 9.99999974e-06; the nearest short decimal.
    return float(f"{value:.6g}")


def _momentum(value: float) -> float:
    # ONNX's momentum weighs the running value; PyTorch's the new one.
    return _float(1.0 - value)


def _pool(kind: str) -> Callable[..., Mapped]:
    def mapper(node: Any, attrs: dict, known: _Graph) -> Mapped:
        kernel = _pair(attrs.get("kernel_shape"), 1)
        entry = _nondefault(
            {"type": kind},
            kernel=(kernel, 2),
            stride=(_pair(attrs.get("strides"), 1), kernel),
            padding=(_padding(attrs), 0),
            ceil_mode=(bool(attrs.get("ceil_mode", 0)), False),
        )
        if kind == "maxpool":
            _nondefault(entry, dilation=(_pair(attrs.get("dilations"), 1), 1))
            if len(node.output) > 1 and node.output[1]:
                raise Unmapped("the indices output")
        else:
            include = bool(attrs.get("count_include_pad", 0))
            if entry.get("padding", 0) == 0:
                include = True  # nothing padded: the two counts agree
            _nondefault(entry, count_include_pad=(include, True))
        return entry, [node.input[0]], None

    return mapper


def _global_avgpool(node: Any, attrs: dict, known: _Graph) -> Mapped:
    return {"type": "adaptive_avgpool"}, [node.input[0]], None


def _flatten(node: Any, attrs: dict, known: _Graph) -> Mapped:
    if int(attrs.get("axis", 1)) != 1:
        raise Unmapped(f"axis={attrs['axis']} (archc flattens from axis 1)")
    return {"type": "flatten"}, [node.input[0]], None


def _gemm(node: Any, attrs: dict, known: _Graph) -> Mapped:
    weight = _weight(node, known, 1)
    if attrs.get("transA", 0) or float(attrs.get("alpha", 1.0)) != 1.0:
        raise Unmapped("transA or alpha (a linear layer is x @ W.T + b)")
    if float(attrs.get("beta", 1.0)) != 1.0:
        raise Unmapped("beta (a linear layer adds its bias once)")
    if not attrs.get("transB", 0):
        raise Unmapped("transB=0 (the weight is not stored as PyTorch's [out, in])")
    has_bias = len(node.input) > 2 and bool(node.input[2])
    if has_bias and known.value(node.input[2]) is None:
        raise Unmapped("a bias that is not a constant")
    entry = _nondefault({"type": "linear", "out": int(weight.shape[0])}, bias=(has_bias, True))
    return entry, [node.input[0]], node.input[1]


def _matmul(node: Any, attrs: dict, known: _Graph) -> Mapped:
    weight = _weight(node, known, 1)
    source = known.alias.get(node.input[1] + "#source")
    if weight.ndim != 2 or source is None:
        raise Unmapped("a product with a weight not stored as PyTorch's [out, in]")
    # A linear layer without its bias for now; an Add of its bias follows (_fold_bias_adds).
    # PyTorch exports nn.Linear on more than a vector as a product over the last axis.
    entry = {"type": "linear", "out": int(weight.shape[1]), "over": "last", "bias": False}
    return entry, [node.input[0]], source


def _merge(kind: str) -> Callable[..., Mapped]:
    def mapper(node: Any, attrs: dict, known: _Graph) -> Mapped:
        if kind == "concat" and int(attrs.get("axis", 1)) != 1:
            raise Unmapped(f"axis={attrs['axis']} (archc concatenates channels)")
        constant = [known.value(i) is not None for i in node.input]
        if any(constant):
            if kind == "add" and len(node.input) == 2 and constant.count(True) == 1:
                bias, data = node.input if constant[0] else node.input[::-1]
                return {"type": "add", "bias_of": bias}, [data], None
            raise Unmapped("a constant operand (archc merges tensors)")
        return {"type": kind}, list(node.input), None

    return mapper


def _clip(node: Any, attrs: dict, known: _Graph) -> Mapped:
    bounds = [known.value(i) if i else None for i in node.input[1:3]]
    low, high = (float(b) if b is not None else None for b in (bounds + [None, None])[:2])
    if "min" in attrs:  # opset < 11
        low, high = float(attrs["min"]), float(attrs.get("max", 0.0))
    if (low, high) == (0.0, 6.0):
        return {"type": "relu6"}, [node.input[0]], None
    raise Unmapped(f"bounds ({low}, {high}); archc has relu6 = Clip(0, 6)")


def _hardsigmoid(node: Any, attrs: dict, known: _Graph) -> Mapped:
    alpha, beta = float(attrs.get("alpha", 0.2)), float(attrs.get("beta", 0.5))
    if abs(alpha - 1 / 6) > 1e-6 or beta != 0.5:
        raise Unmapped(f"alpha={alpha:g}, beta={beta:g} (PyTorch's is x/6 + 1/2)")
    return {"type": "hardsigmoid"}, [node.input[0]], None


def _gelu(node: Any, attrs: dict, known: _Graph) -> Mapped:
    if attrs.get("approximate", b"none") not in (b"none", "none"):
        raise Unmapped("GELU's tanh approximation")
    return {"type": "gelu"}, [node.input[0]], None


def _softmax(node: Any, attrs: dict, known: _Graph) -> Mapped:
    if int(attrs.get("axis", -1)) != 1:
        raise Unmapped(f"axis={attrs.get('axis', -1)} (archc's softmax is over channels)")
    return {"type": "softmax"}, [node.input[0]], None


def _lrn(node: Any, attrs: dict, known: _Graph) -> Mapped:
    entry = _nondefault(
        {"type": "lrn"},
        size=(int(attrs["size"]), 5),
        alpha=(_float(attrs.get("alpha", 1e-4)), 1e-4),
        beta=(_float(attrs.get("beta", 0.75)), 0.75),
        k=(_float(attrs.get("bias", 1.0)), 2.0),
    )
    return entry, [node.input[0]], None


def _layernorm(node: Any, attrs: dict, known: _Graph) -> Mapped:
    if int(attrs.get("axis", -1)) != -1:
        raise Unmapped("layer norm over more than the last axis")
    scale = _weight(node, known, 1)
    if scale.ndim != 1:
        raise Unmapped("layer norm over more than the last axis")
    has_bias = len(node.input) > 2 and bool(node.input[2])
    entry = _nondefault(
        {"type": "layernorm"},
        eps=(_float(attrs.get("epsilon", 1e-5)), 1e-5),
        bias=(has_bias, True),
    )
    return entry, [node.input[0]], node.input[1]


def _simple(kind: str) -> Callable[..., Mapped]:
    return lambda node, attrs, known: ({"type": kind}, [node.input[0]], None)


#: ONNX op_type -> mapper: (entry, the tensors it reads, the initializer that names it).
_MAPPERS: dict[str, Callable[..., Mapped]] = {
    "Conv": _conv,
    "BatchNormalization": _batchnorm,
    "Relu": _simple("relu"),
    "Clip": _clip,
    "Sigmoid": _simple("sigmoid"),
    "Tanh": _simple("tanh"),
    "HardSigmoid": _hardsigmoid,
    "HardSwish": _simple("hardswish"),
    "Gelu": _gelu,
    "Elu": _simple("elu"),
    "MaxPool": _pool("maxpool"),
    "AveragePool": _pool("avgpool"),
    "GlobalAveragePool": _global_avgpool,
    "Flatten": _flatten,
    "Gemm": _gemm,
    "MatMul": _matmul,
    "Add": _merge("add"),
    "Mul": _merge("multiply"),
    "Concat": _merge("concat"),
    "Softmax": _softmax,
    "LRN": _lrn,
    "LayerNormalization": _layernorm,
}


def _fold_bias_adds(nodes: list[_Node]) -> list[Gap]:
    """MatMul then Add of a constant is one linear layer with a bias (as PyTorch exports
    nn.Linear on more than two axes); any other Add of a constant is reported."""
    made = {node.output: node for node in nodes}
    gaps = []
    for node in list(nodes):
        bias = node.entry.pop("bias_of", None)
        if bias is None:
            continue
        producer = made.get(node.reads[0])
        if not producer or producer.entry["type"] != "linear" or "bias" not in producer.entry:
            gaps.append(Gap(node.where, "Add: a constant operand (archc merges tensors)"))
            node.entry = {"type": "identity", "doc": "TODO: Add of a constant not mapped"}
            continue
        del producer.entry["bias"]
        producer.output = node.output
        nodes.remove(node)
    return gaps


# --- names and scopes -------------------------------------------------------------------

_SCOPE = re.compile(r"^/(?:[^/]+/)*[^/]+$")


def _module_path(node_name: str, param: str | None, scoped: bool) -> list[str]:
    """The module path a node was exported from: the TorchScript exporter's scope
    (`/features/features.0/features.0.2/HardSwish` -> features.0.2), else its parameter's
    name less `.weight` (the exporter shares equal initializers under one name, so the
    scope comes first), else none. In a graph without scopes (the dynamo exporter's
    `node_conv2d`) the spec is flat: one name per entry, the parameter's path joined by _."""
    if scoped and node_name and _SCOPE.match(node_name):
        parts: list[str] = []
        previous = ""
        for segment in node_name.split("/")[1:-1]:
            if previous and segment.startswith(previous + "."):
                parts += segment[len(previous) + 1 :].split(".")
            else:
                parts += segment.split(".")
            previous = segment
        return parts
    if param and "." in param and param.rsplit(".", 1)[1] in ("weight", "bias"):
        parts = param.rsplit(".", 1)[0].split(".")
        if all(_valid_part(p) for p in parts):
            return parts if scoped else [_identifier("_".join(parts))]
    if not scoped and _identifier(node_name):
        return [_identifier(node_name)]
    return []


def _valid_part(part: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*|\d+", part))


def _identifier(text: str) -> str:
    name = re.sub(r"\W+", "_", text).strip("_")
    return name if not name or not name[0].isdigit() else f"n_{name}"


def _tree(nodes: list[_Node], graph: Any) -> tuple[Scope, list[Gap]]:
    """The scope tree of the mapped nodes, each entry's inputs named within its scope."""
    root = Scope("", "", _role(()))
    scopes: dict[tuple[str, ...], Scope] = {(): root}
    owner: dict[str, tuple[Item, tuple[str, ...]]] = {}
    items: list[tuple[Item, tuple[str, ...]]] = []
    # A path that holds others is a module calling functions (`x + identity`): its nodes
    # are entries inside it, named by their kinds; any other path is a leaf module's.
    holders = {tuple(node.path[:k]) for node in nodes for k in range(len(node.path))}
    for node in nodes:
        if node.path and tuple(node.path) not in holders:
            *outer, leaf = node.path
        else:
            outer, leaf = list(node.path), ""
        scope = _scope(scopes, tuple(outer))
        name = leaf or node.entry["type"]
        taken = {item.name for item in scope.items}
        if name in taken:
            base, k = name if leaf else node.entry["type"], 1
            while f"{base}_{k}" in taken:
                k += 1
            name = f"{base}_{k}"
        item = Item(name, node.entry, node.reads, node.output, ".".join([*outer, name]))
        scope.items.append(item)
        owner[node.output] = (item, (*outer, name))
        items.append((item, tuple(outer)))
    gaps: list[Gap] = []
    graph_input = next(v.name for v in graph.input if v.name not in owner)
    outputs = [v.name for v in graph.output]
    _resolve(root, (), owner, graph_input, outputs, gaps)
    if not gaps:
        _mark_sequentials(root, gaps)
    return root, gaps


def _scope(scopes: dict, path: tuple[str, ...]) -> Scope:
    if path not in scopes:
        parent = _scope(scopes, path[:-1])
        scope = Scope(".".join(path), path[-1], _role(path), parent=parent)
        parent.items.append(scope)
        scopes[path] = scope
    return scopes[path]


def _resolve(scope: Scope, path: tuple, owner: dict, graph_input: str, outputs: list, gaps: list):
    """Name each read within `scope`; a scope reading one tensor from outside and making
    one tensor read outside is one entry, anything else is reported."""
    everything = _members(_top(scope))
    for child in scope.items:
        if isinstance(child, Scope):
            inner = _members(child)
            made = _made(inner)
            reads = {r for item in inner for r in item.reads if r not in made}
            inside = {id(item) for item in inner}
            read_outside = {r for m in everything if id(m) not in inside for r in m.reads}
            leaving = {v for v in made if v in outputs or v in read_outside}
            if len(reads) != 1 or len(leaving) != 1:
                gaps.append(
                    Gap(
                        child.path,
                        f"reads {len(reads)} and makes {len(leaving)} tensors across its edge",
                    )
                )
                continue
            child.inputs = [_local(next(iter(reads)), path, owner)]
            child.output = owner[next(iter(leaving))][1][len(path) + 1]
            child.output_value = next(iter(leaving))
            _resolve(child, (*path, child.name), owner, graph_input, outputs, gaps)
        else:
            child.inputs = [_local(r, path, owner) for r in child.reads]


def _members(scope: Scope) -> list[Item]:
    found: list[Item] = []
    for child in scope.items:
        found += _members(child) if isinstance(child, Scope) else [child]
    return found


def _made(items: list[Item]) -> set[str]:
    return {item.value for item in items}


def _top(scope: Scope) -> Scope:
    while scope.parent is not None:
        scope = scope.parent
    return scope


def _local(value: str, path: tuple, owner: dict) -> str:
    if value not in owner or owner[value][1][: len(path)] != path:
        return "input"
    return owner[value][1][len(path)]


def _mark_sequentials(scope: Scope, gaps: list[Gap]) -> None:
    """A scope of numbered children in a chain is written as a `sequential` entry; numbers
    the export left out (a Dropout, an Identity: no nodes in eval) become identities, so
    the others keep their numbers. Numbered children not in a chain (a ModuleList) have no
    spec form (archc names are identifiers) and are reported."""
    for child in scope.items:
        if isinstance(child, Scope):
            _mark_sequentials(child, gaps)
    numbers = [item.name for item in scope.items if item.name.isdigit()]
    if not scope.path or not numbers:
        return
    chain = all(
        item.inputs == (["input"] if k == 0 else [scope.items[k - 1].name])
        for k, item in enumerate(scope.items)
    )
    ordered = [int(n) for n in numbers] == sorted({int(n) for n in numbers})
    chain = chain and scope.output in (None, scope.items[-1].name)
    if len(numbers) != len(scope.items) or not chain or not ordered:
        gaps.append(Gap(scope.path, "numbered modules (a ModuleList?) not called in a chain"))
        return
    filled: list[Item | Scope] = []
    for item in scope.items:
        while len(filled) < int(item.name):
            missing = str(len(filled))
            entry = {"type": "identity", "doc": "not in the ONNX graph (a Dropout or Identity)"}
            filled.append(Item(missing, entry, [], None, f"{scope.path}.{missing}", ["input"]))
        filled.append(item)
    for k, item in enumerate(filled[1:], 1):
        item.inputs = [filled[k - 1].name]
    scope.items = filled
    scope.module = Sequential()

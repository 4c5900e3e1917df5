"""ONNX backend: export the generated PyTorch module to `model.onnx`, and check the export.

Exporter: `torch.onnx.export(..., dynamo=False)`, the TorchScript exporter, chosen on purpose
over the newer torch.export-based default:
- it names every ONNX node and value by the module path it came from
  (`/layer1/layer1.0/conv1/Conv`, `/layer1/layer1.0/conv1/Conv_output_0`), so the file traces
  back to the spec's layer names, and the shape check below can map outputs to layers; the
  dynamo exporter names nodes generically (`node_conv2d`) and keeps the path only in
  metadata;
- it is about 20x faster (0.25 s against 5 s on a small ResNet here), which keeps building
  the zoo, and the CI checks over it, quick.
It folds eval-mode BatchNorm into the preceding convolution, as deployment wants. Its
deprecation warning is silenced; if it is ever removed, `export` is the one place to change.

The weights are initialised under a fixed seed (0), so the same spec gives the same bytes:
`model.onnx` holds initial, untrained weights. `archc build --weights CHECKPOINT` exports
trained ones instead: the state_dict is read with `torch.load(weights_only=True)` (a
checkpoint is untrusted input: no pickled code runs), must match the generated module's
names and shapes exactly, and the export is then checked like `--check` does, parity with
the PyTorch module holding those weights included.

Sizes are checked before anything is allocated, since a spec costs nothing to write and a
10^12-parameter network would otherwise be refused only by the operating system:
- the weights (parameters and buffers) must fit one protobuf message (MAX_WEIGHT_BYTES,
  under protobuf's 2 GiB): archc's analysis says so without torch, and the generated
  module, built first on the `meta` device (no memory), must agree before it is built for
  real;
- the trace's forward pass costs activation memory in proportion to the input. Above
  TRACE_BUDGET_BYTES of activations the module is traced at a smaller input of the same
  aspect (`trace_size`) with height and width as dynamic axes, then the file's input is
  fixed at the real size and ONNX shape inference must give every layer archc's volume at
  that size (the shape check, run on every such export); a network whose graph depends on
  its input size (a flatten into a linear layer) cannot be, and is refused with a clear
  message. The parity check then runs at the traced size.

Checks (`archc build --target onnx --check`, and the tests):
1. `onnx.checker.check_model(full_check=True)`;
2. ONNX shape inference (run afresh, the exporter's own value_info dropped) gives every
   layer output that can be mapped back to a spec layer the volume archc's analysis gives,
   with a symbolic batch axis; every layer with multiply-accumulates must map back;
3. onnxruntime's output on a batch of 2 (the export used 1: the batch axis is dynamic)
   equals the PyTorch module's within 1e-4 of the output's largest magnitude.
"""

from __future__ import annotations

import importlib.util
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from archc.backends.bounded_text import size_text
from archc.ir.graph import Graph
from archc.layers.base import fmt_shape

OPSET = 17
INPUT_NAME = "input"
OUTPUT_NAME = "output"
BATCH_AXIS = "batch"
SEED = 0
#: Parity bar: max |onnxruntime - torch| <= RTOL * max |torch| (reference/README.md).
RTOL = 1e-4
PARITY_BATCH = 2
#: The largest weights archc exports: one protobuf message (an ONNX file without external
#: data) cannot exceed 2 GiB, and the graph itself needs some room.
MAX_WEIGHT_BYTES = 2**31 - 2**26
#: Activation memory (fp32, one example, archc's `activation_elements`) above which the
#: module is traced at a smaller input. The zoo's largest is RegNetX-32GF's 313 MiB.
TRACE_BUDGET_BYTES = 384 * 2**20
#: The activation memory aimed at when tracing at a smaller input.
TRACE_TARGET_BYTES = 32 * 2**20
#: PyTorch's note that `padding='same'` with an even kernel copies the input to pad it: a
#: fact of PyTorch's implementation, nothing the user of archc can act on.
SAME_PADDING_NOTE = "Using padding='same' with even kernel lengths"
#: Names of the spatial axes when the export is traced at a smaller input.
SPATIAL_AXES = ("height", "width")


class CheckFailed(Exception):
    """One of the export checks failed; the message says which and why."""


@dataclass
class CheckReport:
    """The outcome of one check, as a line for the user."""

    name: str
    detail: str

    def line(self) -> str:
        """`onnx check <name>: ok (<detail>)`."""
        return f"onnx check {self.name}: ok ({self.detail})"


def check_sizes(graph: Graph) -> None:
    """Refuse (CheckFailed) a network whose weights cannot be exported, from archc's
    analysis alone: nothing is allocated."""
    from archc.passes.counts import totals

    total = totals(graph)
    _refuse_weights((total.params + total.buffer_elements) * 4, "archc's analysis")


def _refuse_weights(size: int, source: str) -> None:
    if size > MAX_WEIGHT_BYTES:
        raise CheckFailed(
            f"the weights would take {size / 2**30:.1f} GiB ({source}), over the "
            f"{MAX_WEIGHT_BYTES / 2**30:.2f} GiB one ONNX file can hold (protobuf's 2 GiB "
            "limit); nothing was allocated. Build the other targets with --target "
            "pytorch,graphviz,summary"
        )


def _weight_bytes(module: Any) -> int:
    tensors = [*module.parameters(), *module.buffers()]
    return sum(t.numel() * t.element_size() for t in tensors)


def load_generated(graph: Graph, folder: Path) -> Any:
    """Instantiate the generated class from `folder/model.py` in eval mode, seeded weights.

    The class is first built on the `meta` device, which allocates nothing, so that weights
    too large to export are refused before they exist (CheckFailed).
    """
    import torch

    path = folder / "model.py"
    name = f"_archc_generated_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise CheckFailed(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
        cls = getattr(module, graph.class_name)
        with torch.device("meta"):
            _refuse_weights(_weight_bytes(cls()), "the generated module, built on `meta`")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(SEED)
            model = cls()
    finally:
        sys.modules.pop(name, None)
    return model.eval()


def trace_size(graph: Graph) -> tuple[int, ...]:
    """The per-example input the export traces: the real one, unless its activations exceed
    TRACE_BUDGET_BYTES; then height and width scaled down by one factor (aiming at
    TRACE_TARGET_BYTES), each kept a multiple of the network's largest stride (its largest
    jump short of a window over the whole map, such as global pooling), so that every
    window tiles as at full size, and at least that stride."""
    import math

    from archc.passes.counts import totals

    shape = tuple(graph.input_shape)
    used = totals(graph).activation_elements * 4
    if len(shape) != 3 or used <= TRACE_BUDGET_BYTES:
        return shape
    fields = [n.receptive_field for n in graph.nodes if n.receptive_field is not None]
    jumps = [j for f in fields for j in f.jump if j < min(shape[1:])]
    jump = max(jumps, default=1)
    factor = math.sqrt(used / TRACE_TARGET_BYTES)
    small = [max(jump, int(size / factor) // jump * jump) for size in shape[1:]]
    return (shape[0], *(min(s, size) for s, size in zip(small, shape[1:], strict=True)))


#: Mismatches a refused checkpoint lists before it gives only their count.
SHOWN_PROBLEMS = 5


def load_weights(module: Any, graph: Graph, path: str | Path) -> None:
    """Load a trained state_dict into the generated module, or raise CheckFailed naming the
    first few missing, unexpected or misshapen tensors and how many there are."""
    from archc.transfer import TransferError, load_state

    try:
        state = load_state(path)
    except TransferError as exc:
        raise CheckFailed(f"--weights: {exc}") from None
    expected = {key: tuple(t.shape) for key, t in module.state_dict().items()}
    problems = [
        f"missing '{key}' {list(shape)}" for key, shape in expected.items() if key not in state
    ]
    problems += [
        f"'{key}' is {list(state[key].shape)}, {graph.class_name} has {list(shape)}"
        for key, shape in expected.items()
        if key in state and tuple(state[key].shape) != shape
    ]
    problems += [f"unexpected '{key}'" for key in state if key not in expected]
    if problems:
        shown = "; ".join(problems[:SHOWN_PROBLEMS])
        more = (
            f"; and {len(problems) - SHOWN_PROBLEMS} more" if len(problems) > SHOWN_PROBLEMS else ""
        )
        raise CheckFailed(
            f"--weights: '{path}' is not a state_dict of {graph.network} [{graph.variant}] "
            f"({len(problems)} tensor(s) differ): {shown}{more}"
        )
    module.load_state_dict(state, strict=True)
    module.eval()


def export(module: Any, graph: Graph, path: Path) -> tuple[int, ...]:
    """Export `module` (eval mode) to ONNX at `path`: opset 17, dynamic batch axis.

    Returns the per-example input it traced (`trace_size`); when that is smaller than the
    real input, the file's input is fixed at the real size and the shape check has run.
    """
    import io

    import onnx
    import torch

    traced = trace_size(graph)
    small = traced != tuple(graph.input_shape)
    if small:
        _check_size_independent(module, graph, traced)
    dynamic = {0: BATCH_AXIS, **({2: SPATIAL_AXES[0], 3: SPATIAL_AXES[1]} if small else {})}
    example = torch.zeros(1, *traced)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # The TorchScript exporter announces its deprecation; the choice is explained above.
        warnings.simplefilter("ignore", category=DeprecationWarning)
        warnings.simplefilter("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export.*")
        warnings.filterwarnings("ignore", message=".*feature will be removed.*")
        # torch cannot fold a Slice with a step; fold_constants does it after export.
        warnings.filterwarnings("ignore", message="Constant folding - Only steps=1")
        # torch's own local_response_norm checks `input.numel() == 0` while tracing; the
        # generated code's warnings are kept (the parity check runs another batch size).
        warnings.filterwarnings(
            "ignore", category=torch.jit.TracerWarning, module="torch.nn.functional"
        )
        warnings.filterwarnings("ignore", message=SAME_PADDING_NOTE)
        # nn.MultiheadAttention's fused inference kernel has no ONNX form; its unfused
        # path computes the same and exports (ViT's self-attention).
        fastpath = torch.backends.mha.get_fastpath_enabled()
        torch.backends.mha.set_fastpath_enabled(False)
        try:
            with torch.no_grad():
                torch.onnx.export(
                    module,
                    (example,),
                    buffer,
                    dynamo=False,
                    opset_version=OPSET,
                    input_names=[INPUT_NAME],
                    output_names=[OUTPUT_NAME],
                    dynamic_axes={INPUT_NAME: dynamic, OUTPUT_NAME: {0: BATCH_AXIS}},
                    do_constant_folding=True,
                )
        finally:
            torch.backends.mha.set_fastpath_enabled(fastpath)
    data = buffer.getvalue()
    model = onnx.load_from_string(data)
    count = len(model.graph.node)
    # Re-serialising ~100 MB of weights costs a fifth of a second; when folding changed
    # nothing, the exporter's own bytes are the file (the round trip would give the same).
    changed = explicit_pads(model)
    if fold_constants(model) or len(model.graph.node) != count or small or changed:
        if small:
            _fix_input(model, graph)
        data = model.SerializeToString()
    path.write_bytes(data)
    if small:
        try:
            check_shapes(graph, path)
        except CheckFailed as exc:
            path.unlink(missing_ok=True)
            raise CheckFailed(
                f"traced at {_hw(traced)} to bound its memory, the export does not give "
                f"archc's volumes at the real input {_hw(graph.input_shape)}: {exc}"
            ) from exc
    return traced


def _hw(shape: tuple[int, ...] | list[int]) -> str:
    return f"{shape[1]}x{shape[2]}"


def _check_size_independent(module: Any, graph: Graph, traced: tuple[int, ...]) -> None:
    """Refuse to trace at `traced` a network whose output there is not its output at the
    real size (a flatten into a linear layer needs the real size). Runs on the `meta`
    device: no memory for weights or activations."""
    import copy

    import torch

    used = f"{_hw(graph.input_shape)} would need about"
    try:
        meta = copy.deepcopy(module).to("meta")
        with torch.no_grad():
            out = meta(torch.zeros(1, *traced, device="meta"))
        same = tuple(out.shape[1:]) == tuple(graph.output_shape)
    except Exception:  # noqa: BLE001 - any failure means: not at this size
        same = False
    if not same:
        from archc.passes.counts import totals

        need = size_text(totals(graph).activation_elements * 4)
        raise CheckFailed(
            f"tracing at the real input {used} {need} of activations (archc traces "
            f"at most {size_text(TRACE_BUDGET_BYTES)}), and at a smaller input "
            f"({_hw(traced)}) this network's output changes, so its ONNX graph would not "
            "be the same; give it a smaller input, or build the other targets with --target"
        )


def _fix_input(model: Any, graph: Graph) -> None:
    """Write the real sizes into the file's input (traced with dynamic height and width)
    and output, and drop the exporter's value_info, which holds the traced sizes."""
    for value, shape in (
        (model.graph.input[0], graph.input_shape),
        (model.graph.output[0], graph.output_shape),
    ):
        dims = value.type.tensor_type.shape.dim
        for dim, size in zip(list(dims)[1:], shape, strict=True):
            dim.Clear()
            dim.dim_value = size
    del model.graph.value_info[:]


def explicit_pads(model: Any) -> int:
    """Write each convolution's `auto_pad` SAME_UPPER (what the exporter writes for
    PyTorch's `padding='same'` when the kernel needs uneven padding) as explicit `pads`,
    the same numbers: ONNX Runtime cannot run SAME with dilation, and explicit pads are
    what every runtime reads. Returns how many were rewritten.

    PyTorch pads `dilation * (kernel - 1)` in all (stride 1, which `same` requires), half of
    it, rounded down, before, the rest after: SAME_UPPER's rule at stride 1.
    """
    from onnx import helper

    done = 0
    for node in model.graph.node:
        attrs = {a.name: a for a in node.attribute}
        if node.op_type != "Conv" or "auto_pad" not in attrs:
            continue
        if attrs["auto_pad"].s != b"SAME_UPPER" or any(s != 1 for s in attrs["strides"].ints):
            continue
        kernel = list(attrs["kernel_shape"].ints)
        dilations = list(attrs["dilations"].ints) if "dilations" in attrs else [1] * len(kernel)
        totals = [d * (k - 1) for k, d in zip(kernel, dilations, strict=True)]
        pads = [t // 2 for t in totals] + [t - t // 2 for t in totals]
        node.attribute.remove(attrs["auto_pad"])
        node.attribute.append(helper.make_attribute("pads", pads))
        done += 1
    return done


#: Largest tensor (elements) fold_constants computes: shape arithmetic, never weights.
FOLD_LIMIT = 4096


def fold_constants(model: Any) -> int:
    """Replace each node computed from small constants alone whose value shape inference
    needs (see `shape_values`) by a Constant node of the same name holding that value;
    drop Constants nobody reads. Returns how many were folded.

    torch's exporter leaves some shape arithmetic unfolded (the pads of `F.pad` go through
    a Slice with step -1), and then ONNX shape inference cannot know the padded volume;
    after folding, every layer's volume is static again, as deployment tools want. Values
    only computed on (a convolution's bias behind the Identity that the exporter writes for
    a repeated weight) are left as exported: folding them would copy stored tensors into
    Constant nodes and make no shape more static.
    """
    import numpy as np

    needed = shape_values(model)
    values: dict[str, Any] = {}
    if needed:
        from onnx import numpy_helper

        values = {
            init.name: numpy_helper.to_array(init)
            for init in model.graph.initializer
            if init.name in needed and np.prod(init.dims, dtype=np.int64) <= FOLD_LIMIT
        }
    nodes, folded = [], 0
    for node in model.graph.node:
        computable = (
            node.domain in ("", "ai.onnx")
            and any(name in needed for name in node.output)
            and not any(a.type in (a.GRAPH, a.GRAPHS) for a in node.attribute)
        )
        inputs = [name for name in node.input if name]
        if computable and all(name in values for name in inputs):
            node, done = _fold(node, values, inputs)
            folded += done
        nodes.append(node)
    read = {name for node in nodes for name in node.input}
    read |= {o.name for o in model.graph.output}
    kept = [n for n in nodes if n.op_type != "Constant" or any(o in read for o in n.output)]
    if len(kept) != len(nodes) or folded:
        del model.graph.node[:]
        model.graph.node.extend(kept)
    return folded


def _fold(node: Any, values: dict[str, Any], inputs: list[str]) -> tuple[Any, int]:
    """Compute `node` from `values` (adding its outputs there when small); return the node,
    replaced by a Constant when it was folded, and 1 if it was."""
    import numpy as np
    from onnx import helper, numpy_helper
    from onnx.reference import ReferenceEvaluator

    outputs = ReferenceEvaluator(node, opsets={"": OPSET}).run(
        None, {name: values[name] for name in inputs}
    )
    if not all(np.asarray(v).size <= FOLD_LIMIT for v in outputs):
        return node, 0
    values.update(zip(node.output, outputs, strict=True))
    if node.op_type == "Constant" or len(node.output) != 1:
        return node, 0
    value = numpy_helper.from_array(np.asarray(outputs[0]), node.output[0])
    return helper.make_node("Constant", [], [node.output[0]], name=node.name, value=value), 1


def shape_values(model: Any) -> set[str]:
    """The values whose contents ONNX shape inference may need: graph outputs, values read
    at an input that the operator's schema does not call differentiable (shapes, pads,
    axes, indices; every input of an operator without a schema), and the inputs of any
    node that computes such a value (data propagation follows them)."""
    import onnx.defs

    needed: set[str] = set()
    schemas: dict[tuple[str, str], Any] = {}
    for node in reversed(model.graph.node):
        key = (node.domain, node.op_type)
        if key not in schemas:
            try:
                schemas[key] = onnx.defs.get_schema(node.op_type, OPSET, node.domain)
            except onnx.defs.SchemaError:
                schemas[key] = None
        schema = schemas[key]
        feeds_shape = any(name in needed for name in node.output)
        for index, name in enumerate(node.input):
            if name and (feeds_shape or not _data_input(schema, index)):
                needed.add(name)
    return needed | {o.name for o in model.graph.output}


def _data_input(schema: Any, index: int) -> bool:
    """Whether input `index` of an operator is one the schema calls differentiable: data
    that shape inference never needs the contents of (weights, activations)."""
    if schema is None or not schema.inputs:
        return False
    formal = schema.inputs[min(index, len(schema.inputs) - 1)]
    if index >= len(schema.inputs) and formal.option != formal.option.Variadic:
        return False
    return formal.differentiation_category == formal.differentiation_category.Differentiable


def module_path(node_name: str) -> str | None:
    """The module path an exported node came from: `/layer1/layer1.0/conv1/Conv` ->
    `layer1.0.conv1`; None for nodes outside any module (`/Flatten`, `Identity_3`).

    The TorchScript exporter writes one scope per module, children of containers as
    `parent.child` (`layer1.0`) and others by attribute name (`conv1`).
    """
    if not node_name.startswith("/"):
        return None
    scopes = node_name.split("/")[1:-1]
    parts: list[str] = []
    previous = ""
    for scope in scopes:
        local = (
            scope[len(previous) + 1 :] if previous and scope.startswith(previous + ".") else scope
        )
        parts.append(local)
        previous = scope
    return ".".join(parts) or None


def layer_outputs(model: Any) -> dict[str, str]:
    """Module path -> the ONNX value it outputs, for every module whose nodes make exactly
    one value that is read outside the module (or is the graph's output)."""
    nodes = list(model.graph.node)
    scopes = [module_path(n.name) for n in nodes]
    readers: dict[str, list[int]] = {}
    for index, node in enumerate(nodes):
        for value in node.input:
            readers.setdefault(value, []).append(index)
    graph_outputs = {o.name for o in model.graph.output}
    # Each node belongs to its module and to every module above it.
    members: dict[str, set[int]] = {}
    for index, scope in enumerate(scopes):
        parts = scope.split(".") if scope else []
        for depth in range(1, len(parts) + 1):
            members.setdefault(".".join(parts[:depth]), set()).add(index)
    result = {}
    for path in sorted(members):
        inside = members[path]
        # A Constant the exporter placed in a module's scope but shares with later code
        # (a shape for a reshape) is not what the module outputs.
        leaving = [
            value
            for i in sorted(inside)
            if nodes[i].op_type != "Constant"
            for value in nodes[i].output
            if value in graph_outputs or any(r not in inside for r in readers.get(value, []))
        ]
        if len(leaving) == 1:
            result[path] = leaving[0]
    return result


def check_model(path: Path) -> CheckReport:
    """Check 1: the ONNX checker, full_check (types and shapes included)."""
    import onnx

    try:
        onnx.checker.check_model(str(path), full_check=True)
    except onnx.checker.ValidationError as exc:
        raise CheckFailed(f"onnx.checker rejected {path.name}: {exc}") from exc
    return CheckReport("checker", f"full_check, opset {OPSET}")


def _dims(value_info: Any) -> list[int | str]:
    dims = []
    for dim in value_info.type.tensor_type.shape.dim:
        dims.append(dim.dim_value if dim.HasField("dim_value") else dim.dim_param or "?")
    return dims


def check_shapes(graph: Graph, path: Path) -> CheckReport:
    """Check 2: ONNX shape inference agrees with archc's volume for every mapped layer."""
    import onnx

    model = onnx.load(str(path))
    del model.graph.value_info[:]
    inferred = onnx.shape_inference.infer_shapes(
        model, check_type=True, strict_mode=True, data_prop=True
    )
    shapes = {v.name: _dims(v) for v in inferred.graph.value_info}
    shapes.update({v.name: _dims(v) for v in inferred.graph.output})
    outputs = layer_outputs(inferred)
    problems, mapped = [], 0
    for node in graph.layers():
        value = outputs.get(node.path)
        if value is None:
            if node.counts.macs:
                problems.append(f"{node.path}: no ONNX output traces back to it")
            continue
        dims = shapes.get(value)
        expected = list(node.shape)
        if dims is None or len(dims) != len(expected) + 1:
            problems.append(
                f"{node.path}: ONNX inferred {dims} for {value}, archc {fmt_shape(node.shape)}"
            )
        elif dims[1:] != expected or isinstance(dims[0], int):
            problems.append(
                f"{node.path}: ONNX inferred {dims} for {value}, expected "
                f"[{BATCH_AXIS}, {', '.join(map(str, expected))}] "
                f"({fmt_shape(node.shape)})"
            )
        mapped += 1
    out_dims = shapes.get(OUTPUT_NAME)
    if out_dims is None or out_dims[1:] != list(graph.output_shape):
        problems.append(
            f"graph output: ONNX inferred {out_dims}, archc {fmt_shape(graph.output_shape)}"
        )
    if problems:
        raise CheckFailed("ONNX shape inference disagrees with archc:\n  " + "\n  ".join(problems))
    return CheckReport(
        "shapes",
        f"{mapped} of {len(graph.layers())} layer outputs traced "
        "back, all volumes agree, batch axis dynamic",
    )


def check_parity(
    graph: Graph, module: Any, path: Path, size: tuple[int, ...] | None = None
) -> CheckReport:
    """Check 3: onnxruntime's output equals the PyTorch module's within RTOL, on an input
    of `size` (default the real input; the traced size for an export traced smaller, run
    through the same graph and weights with its input made dynamic again)."""
    import numpy as np
    import onnx
    import onnxruntime
    import torch

    size = tuple(size or graph.input_shape)
    generator = torch.Generator().manual_seed(SEED)
    x = torch.randn(PARITY_BATCH, *size, generator=generator)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=SAME_PADDING_NOTE)
        expected = module(x).numpy()
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    source: Any = str(path)
    if size != tuple(graph.input_shape):
        model = onnx.load(str(path))
        dims = model.graph.input[0].type.tensor_type.shape.dim
        for dim, name in zip(list(dims)[2:], SPATIAL_AXES, strict=True):
            dim.Clear()
            dim.dim_param = name
        source = model.SerializeToString()
    session = onnxruntime.InferenceSession(source, options, providers=["CPUExecutionProvider"])
    (got,) = session.run([OUTPUT_NAME], {INPUT_NAME: x.numpy()})
    if got.shape != expected.shape:
        raise CheckFailed(f"onnxruntime output shape {got.shape}, PyTorch {expected.shape}")
    scale = float(np.abs(expected).max())
    diff = float(np.abs(got - expected).max())
    if scale == 0.0:
        raise CheckFailed("the PyTorch module's output is all zeros: parity would prove nothing")
    if not np.isfinite(diff) or diff > RTOL * scale:
        raise CheckFailed(
            f"onnxruntime differs from PyTorch: max |diff| {diff:.3g} > "
            f"{RTOL:g} x max |output| {scale:.3g}"
        )
    at = "" if size == tuple(graph.input_shape) else f" at the traced input {_hw(size)}"
    return CheckReport(
        "onnxruntime",
        f"batch {PARITY_BATCH}{at}, max |diff| {diff:.2g} <= {RTOL:g} x {scale:.3g}",
    )


def run_checks(
    graph: Graph, module: Any, path: Path, traced: tuple[int, ...] | None = None
) -> list[CheckReport]:
    """All three checks, in order; raise CheckFailed at the first that fails. `traced` is
    the input the export traced (parity runs there)."""
    return [
        check_model(path),
        check_shapes(graph, path),
        check_parity(graph, module, path, traced),
    ]


def write_target(graph: Graph, staging: Path, options: dict[str, Any]) -> None:
    """Build target `onnx`: model.onnx from the staged model.py; run the checks if asked."""
    from archc.build import BuildError

    out = staging / "model.onnx"
    weights = options.get("weights")
    try:
        check_sizes(graph)
        module = load_generated(graph, staging)
        if weights is not None:
            load_weights(module, graph, weights)
        traced = export(module, graph, out)
    except CheckFailed as exc:
        raise BuildError(f"onnx: {exc}") from exc
    except ImportError:
        raise  # a missing extra: the build says which to install (archc/build.py)
    except Exception as exc:  # noqa: BLE001 - any exporter failure is reported, not a traceback
        raise BuildError(f"onnx: export failed: {type(exc).__name__}: {exc}") from exc
    if not options.get("check") and weights is None:
        return
    try:
        for report in run_checks(graph, module, out, traced):
            print(f"{graph.network} [{graph.variant}]: {report.line()}", file=sys.stderr)
    except CheckFailed as exc:
        raise BuildError(f"onnx check failed: {exc}") from exc
    except Exception as exc:  # noqa: BLE001 - onnxruntime refusing the file is a failed check
        raise BuildError(f"onnx check failed: {type(exc).__name__}: {exc}") from exc

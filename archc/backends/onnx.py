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

The weights are initialised under a fixed seed, so the same spec gives the same bytes.

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


def load_generated(graph: Graph, folder: Path) -> Any:
    """Instantiate the generated class from `folder/model.py` in eval mode, seeded weights."""
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
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(SEED)
            model = cls()
    finally:
        sys.modules.pop(name, None)
    return model.eval()


def export(module: Any, graph: Graph, path: Path) -> None:
    """Export `module` (eval mode) to ONNX at `path`: opset 17, dynamic batch axis."""
    import io

    import onnx
    import torch

    example = torch.zeros(1, *graph.input_shape)
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
        with torch.no_grad():
            torch.onnx.export(
                module,
                (example,),
                buffer,
                dynamo=False,
                opset_version=OPSET,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_axes={INPUT_NAME: {0: BATCH_AXIS}, OUTPUT_NAME: {0: BATCH_AXIS}},
                do_constant_folding=True,
            )
    data = buffer.getvalue()
    model = onnx.load_from_string(data)
    count = len(model.graph.node)
    # Re-serialising ~100 MB of weights costs a fifth of a second; when folding changed
    # nothing, the exporter's own bytes are the file (the round trip would give the same).
    if fold_constants(model) or len(model.graph.node) != count:
        data = model.SerializeToString()
    path.write_bytes(data)


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
        leaving = [
            value
            for i in sorted(inside)
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


def check_parity(graph: Graph, module: Any, path: Path) -> CheckReport:
    """Check 3: onnxruntime's output equals the PyTorch module's within RTOL."""
    import numpy as np
    import onnxruntime
    import torch

    generator = torch.Generator().manual_seed(SEED)
    x = torch.randn(PARITY_BATCH, *graph.input_shape, generator=generator)
    with torch.no_grad():
        expected = module(x).numpy()
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
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
    return CheckReport(
        "onnxruntime", f"batch {PARITY_BATCH}, max |diff| {diff:.2g} <= {RTOL:g} x {scale:.3g}"
    )


def run_checks(graph: Graph, module: Any, path: Path) -> list[CheckReport]:
    """All three checks, in order; raise CheckFailed at the first that fails."""
    return [check_model(path), check_shapes(graph, path), check_parity(graph, module, path)]


def write_target(graph: Graph, staging: Path, options: dict[str, Any]) -> None:
    """Build target `onnx`: model.onnx from the staged model.py; run the checks if asked."""
    from archc.build import BuildError

    out = staging / "model.onnx"
    try:
        module = load_generated(graph, staging)
        export(module, graph, out)
    except CheckFailed as exc:
        raise BuildError(f"onnx: {exc}") from exc
    except Exception as exc:  # noqa: BLE001 - any exporter failure is reported, not a traceback
        raise BuildError(f"onnx: export failed: {type(exc).__name__}: {exc}") from exc
    if not options.get("check"):
        return
    try:
        for report in run_checks(graph, module, out):
            print(f"{graph.network} [{graph.variant}]: {report.line()}", file=sys.stderr)
    except CheckFailed as exc:
        raise BuildError(f"onnx check failed: {exc}") from exc

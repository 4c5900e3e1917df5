"""ONNX export and its three checks, on a hand-written module (so the checks themselves are
tested, including that they fail when they should)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")

import onnx  # noqa: E402
from onnx import numpy_helper  # noqa: E402

from archc.backends import onnx as backend  # noqa: E402
from archc.build import BuildError  # noqa: E402
from archc.pipeline import load  # noqa: E402

pytestmark = pytest.mark.torch

TINY = """\
network: tiny
input: [3, 32, 32]
layers:
  - {name: conv1, type: conv, out: 8, kernel: 3, padding: 1}
  - {name: bn1, type: batchnorm}
  - relu
  - {name: pool, type: maxpool, kernel: 2, stride: 2}
  - flatten
  - {name: fc, type: linear, out: 10}
"""

MODEL = """\
import torch
from torch import nn


class TINY(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.relu = nn.ReLU(inplace=True)
        self.pool = nn.MaxPool2d({pool}, {pool})
        self.fc = nn.Linear(8 * {side} * {side}, 10)

    def forward(self, x):
        x = self.pool(self.relu(self.bn1(self.conv1(x))))
        return self.fc(torch.flatten(x, 1))
"""


@pytest.fixture
def tiny(tmp_path, write_spec):
    """The tiny spec's graph and a staging folder holding a matching model.py."""
    graph = load(write_spec(TINY))
    staging = tmp_path / "staging"
    staging.mkdir()
    (staging / "model.py").write_text(MODEL.format(pool=2, side=16))
    return graph, staging


def exported(graph, staging: Path):
    module = backend.load_generated(graph, staging)
    path = staging / "model.onnx"
    backend.export(module, graph, path)
    return module, path


@pytest.mark.parametrize(
    "name, path",
    [
        ("/layer1/layer1.0/conv1/Conv", "layer1.0.conv1"),
        ("/layer1/layer1.0/downsample/downsample.0/Conv", "layer1.0.downsample.0"),
        ("/features/features.0/Conv", "features.0"),
        ("/a/a/Relu", "a.a"),
        ("/stem/Conv", "stem"),
        ("/Flatten", None),
        ("Identity_0", None),
    ],
)
def test_module_path_of_exported_node_names(name, path):
    assert backend.module_path(name) == path


def test_export_names_opset_and_dynamic_batch(tiny):
    graph, staging = tiny
    _, path = exported(graph, staging)
    model = onnx.load(str(path))
    assert [i.name for i in model.graph.input] == ["input"]
    assert [o.name for o in model.graph.output] == ["output"]
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= 17
    batch = model.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch.dim_param == "batch" and not batch.HasField("dim_value")
    # Nodes are named by module path: the convolution and the classifier trace back.
    paths = {backend.module_path(n.name) for n in model.graph.node}
    assert {"conv1", "fc"} <= paths


def test_checks_pass_on_a_faithful_module(tiny):
    graph, staging = tiny
    module, path = exported(graph, staging)
    reports = backend.run_checks(graph, module, path)
    assert [r.name for r in reports] == ["checker", "shapes", "onnxruntime"]
    assert "4 of 6 layer outputs" in reports[1].detail


def test_export_is_deterministic(tiny):
    graph, staging = tiny
    _, path = exported(graph, staging)
    first = path.read_bytes()
    _, path = exported(graph, staging)
    assert path.read_bytes() == first


def test_shape_check_names_the_layer_that_disagrees(tiny):
    graph, staging = tiny
    # A module that pools 4x4 where the spec says 2x2: self-consistent, but not the spec.
    (staging / "model.py").write_text(MODEL.format(pool=4, side=8))
    module, path = exported(graph, staging)
    backend.check_model(path)
    with pytest.raises(backend.CheckFailed, match=r"pool: ONNX inferred \['batch', 8, 8, 8\]"):
        backend.check_shapes(graph, path)


def test_parity_check_fails_on_a_tampered_model(tiny):
    graph, staging = tiny
    module, path = exported(graph, staging)
    model = onnx.load(str(path))
    for init in model.graph.initializer:
        if init.name == "fc.bias":
            init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) + 1.0, init.name))
    onnx.save(model, str(path))
    with pytest.raises(backend.CheckFailed, match="onnxruntime differs from PyTorch"):
        backend.check_parity(graph, module, path)


def test_checker_fails_on_a_broken_model(tiny):
    graph, staging = tiny
    _, path = exported(graph, staging)
    model = onnx.load(str(path))
    model.graph.node[0].op_type = "NoSuchOp"
    onnx.save(model, str(path))
    with pytest.raises(backend.CheckFailed, match="onnx.checker rejected"):
        backend.check_model(path)


def test_write_target_reports_checks(tiny, capsys):
    graph, staging = tiny
    backend.write_target(graph, staging, {"check": True})
    err = capsys.readouterr().err
    for name in ("checker", "shapes", "onnxruntime"):
        assert f"onnx check {name}: ok" in err
    assert (staging / "model.onnx").is_file()


def test_write_target_turns_failures_into_build_errors(tiny):
    graph, staging = tiny
    (staging / "model.py").write_text(MODEL.format(pool=4, side=8))
    with pytest.raises(BuildError, match="onnx check failed: ONNX shape inference disagrees"):
        backend.write_target(graph, staging, {"check": True})
    (staging / "model.py").write_text("raise RuntimeError('broken generator')\n")
    with pytest.raises(BuildError, match="broken generator"):
        backend.write_target(graph, staging, {"check": False})


def _pad_model(nodes, initializers=()):
    """A one-input graph `x` [batch, 2, 3, 3] -> `y` of the given nodes, opset 17."""
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 2, 3, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        list(initializers),
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_fold_constants_makes_computed_pads_static():
    import numpy as np
    import onnxruntime
    from onnx import helper

    # Pads computed from constants (as torch exports F.pad): [0, 1, 0, 0] ++ zeros(4).
    nodes = [
        helper.make_node(
            "Constant", [], ["four"], value=numpy_helper.from_array(np.array([4], dtype=np.int64))
        ),
        helper.make_node(
            "ConstantOfShape",
            ["four"],
            ["zeros"],
            name="/pad/ConstantOfShape",
            value=numpy_helper.from_array(np.array([0], dtype=np.int64)),
        ),
        helper.make_node(
            "Constant",
            [],
            ["head"],
            value=numpy_helper.from_array(np.array([0, 1, 0, 0], dtype=np.int64)),
        ),
        helper.make_node("Concat", ["head", "zeros"], ["pads"], name="/pad/Concat", axis=0),
        helper.make_node("Pad", ["x", "pads"], ["y"], name="/pad/Pad"),
    ]
    model = _pad_model(nodes)
    x = np.arange(36, dtype=np.float32).reshape(2, 2, 3, 3)
    before = onnxruntime.InferenceSession(model.SerializeToString()).run(None, {"x": x})[0]
    assert backend.fold_constants(model) == 2
    assert [n.op_type for n in model.graph.node] == ["Constant", "Pad"]
    assert model.graph.node[0].name == "/pad/Concat"  # the folded node keeps its name
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    dims = [d.dim_value or d.dim_param for d in inferred.graph.output[0].type.tensor_type.shape.dim]
    assert dims == ["batch", 3, 3, 3]
    after = onnxruntime.InferenceSession(model.SerializeToString()).run(None, {"x": x})[0]
    np.testing.assert_array_equal(before, after)
    assert after.shape == (2, 3, 3, 3)


class _Spy:
    """Wraps torch.onnx.export and keeps the bytes the exporter wrote."""

    def __init__(self, monkeypatch):
        self.real = torch.onnx.export
        self.written: list[bytes] = []
        monkeypatch.setattr(torch.onnx, "export", self)

    def __call__(self, module, args, f, **kwargs):
        result = self.real(module, args, f, **kwargs)
        self.written.append(f.getvalue())
        return result


REPEATED_BIAS = """\
import torch
from torch import nn


class TINY(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8 * 32 * 32, 10)

    def forward(self, x):
        x = self.bn2(self.conv2(self.bn1(self.conv1(x))))
        return self.fc(torch.flatten(x, 1))
"""

COMPUTED_PADS = """\
import torch
from torch import nn


class TINY(nn.Module):
    def __init__(self):
        super().__init__()
        self.extra = 5

    def forward(self, x):
        half = self.extra // 2
        return nn.functional.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, half, self.extra - half))
"""


def _static_dims(path: Path) -> dict[str, list]:
    model = onnx.shape_inference.infer_shapes(onnx.load(str(path)), strict_mode=True)
    values = list(model.graph.value_info) + list(model.graph.output)
    return {
        v.name: [d.dim_value or d.dim_param for d in v.type.tensor_type.shape.dim] for v in values
    }


def test_export_writes_the_exporters_own_bytes_when_nothing_needs_folding(tiny, monkeypatch):
    graph, staging = tiny
    (staging / "model.py").write_text(REPEATED_BIAS)
    spy = _Spy(monkeypatch)
    module, path = exported(graph, staging)
    (written,) = spy.written
    assert path.read_bytes() == written
    model = onnx.load(str(path))
    # Fresh BatchNorms fold into equal biases, which the exporter stores once and repeats
    # through an Identity: a value only computed on, so it is not folded into a Constant.
    assert "Identity" in [n.op_type for n in model.graph.node]
    assert "Constant" not in [n.op_type for n in model.graph.node]
    assert all(d[1:] == [8, 32, 32] for n, d in _static_dims(path).items() if len(d) == 4)
    assert _static_dims(path)["output"] == ["batch", 10]


def test_export_still_folds_computed_pads(tiny, monkeypatch):
    import numpy as np
    import onnxruntime

    graph, staging = tiny
    (staging / "model.py").write_text(COMPUTED_PADS)
    spy = _Spy(monkeypatch)
    module, path = exported(graph, staging)
    (written,) = spy.written
    assert path.read_bytes() != written
    before = onnx.load_from_string(written)
    # torch cannot fold the pads (a Slice with a step), so without folding the padded
    # channel count is unknown; after it, the volume is static.
    assert "Slice" in [n.op_type for n in before.graph.node]
    assert _static_dims(path)["output"] == ["batch", 8, 16, 16]
    x = torch.randn(2, 3, 32, 32)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"input": x.numpy()})
    np.testing.assert_array_equal(got, module(x).numpy())


def test_fold_constants_folds_shape_values_and_leaves_data_values():
    import numpy as np
    from onnx import helper

    initializers = [
        numpy_helper.from_array(np.zeros((2, 2, 1, 1), dtype=np.float32), "w"),
        numpy_helper.from_array(np.zeros(2, dtype=np.float32), "b"),
        numpy_helper.from_array(np.array([0, 1, 0, 0, 0, 0, 0, 0], dtype=np.int64), "p"),
    ]
    nodes = [
        # A bias repeated through an Identity: data, which shape inference never reads.
        helper.make_node("Identity", ["b"], ["bias"], name="/conv/Identity"),
        helper.make_node("Conv", ["x", "w", "bias"], ["c"], name="/conv/Conv"),
        # Pads behind an Identity: ONNX data propagation does not see through it.
        helper.make_node("Identity", ["p"], ["pads"], name="/pad/Identity"),
        helper.make_node("Pad", ["c", "pads"], ["y"], name="/pad/Pad"),
    ]
    model = _pad_model(nodes, initializers)
    unfolded = onnx.shape_inference.infer_shapes(model, strict_mode=True, data_prop=True)
    dims = unfolded.graph.output[0].type.tensor_type.shape.dim
    assert not dims[2].HasField("dim_value")  # the reason to fold the pads at all
    assert backend.fold_constants(model) == 1
    assert [n.op_type for n in model.graph.node] == ["Identity", "Conv", "Constant", "Pad"]
    assert model.graph.node[2].name == "/pad/Identity"
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    dims = [d.dim_value or d.dim_param for d in inferred.graph.output[0].type.tensor_type.shape.dim]
    assert dims == ["batch", 3, 3, 3]

"""`archc import model.onnx`: ONNX exports of PyTorch models to specs, and back.

Round trip: a model M is exported with torch's TorchScript exporter (module paths kept,
BatchNorm not folded), the .onnx is imported to a spec S, S is built into M', and M' must
have M's state_dict keys in order with the same shapes and give M's outputs with M's
weights (1e-5 relative). What has no archc kind is reported at the ONNX node.
"""

from __future__ import annotations

import warnings

import pytest

import archc
from archc.importer import ImportFailed, onnx_import
from archc.importer.onnx_import import from_onnx
from tests.conftest import SPECS

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from tests.import_models import MODELS  # noqa: E402
from tests.test_import import _cli, _Upsampler, assert_rebuilds  # noqa: E402


def _export(model, shape, path) -> None:
    model.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            torch.randn(1, *shape),
            str(path),
            dynamo=False,
            training=torch.onnx.TrainingMode.EVAL,
            do_constant_folding=False,
        )


def _round_trip(model, shape, tmp_path, tolerance=1e-5):
    onnx_path = tmp_path / "model.onnx"
    _export(model, shape, onnx_path)
    imported = from_onnx(onnx_path)
    assert imported.keys_checked > 0
    assert_rebuilds(model, imported.text, shape, tmp_path, tolerance)
    return imported


@pytest.mark.parametrize("name", sorted(set(MODELS) - {"vit_encoder"}))
def test_hand_written_models_round_trip(name, tmp_path):
    factory, shape = MODELS[name]
    torch.manual_seed(1)
    model = factory()
    # Trained-looking statistics, so BatchNorm's running values matter to the outputs.
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    _round_trip(model, shape, tmp_path)


def test_resnet_keeps_its_module_hierarchy(tmp_path):
    factory, shape = MODELS["resnet"]
    imported = _round_trip(factory(), shape, tmp_path)
    text = imported.text
    # Residual blocks are blocks (the strided one with its downsample is its own), and
    # the stages are Sequentials of them, as in the source.
    assert "name: layer1\n    type: sequential" in text
    assert "inputs: [bn2, downsample]" in text
    assert "{name: fc, type: linear, out: num_classes}" in text


class _LastAxisLinear(torch.nn.Module):
    """nn.Linear over a volume's last axis: exported as MatMul of the transposed weight,
    then Add of the bias (constant first)."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3)
        self.fc = torch.nn.Linear(6, 5)

    def forward(self, x):
        return self.fc(self.conv(x))


def test_matmul_then_bias_is_one_linear_layer(tmp_path):
    imported = _round_trip(_LastAxisLinear(), (3, 8, 8), tmp_path)
    assert "{name: fc, type: linear, out: num_classes, over: last}" in imported.text


_ZOO_FAST = {"squeezenet"}
_ZOO_MAPPED = ["squeezenet", "mnasnet", "mobilenet_v1", "mobilenet_v2", "preact_resnet"]


@pytest.mark.parametrize(
    "stem",
    [
        pytest.param(stem, marks=[] if stem in _ZOO_FAST else [pytest.mark.slow])
        for stem in _ZOO_MAPPED
    ],
)
def test_zoo_generated_modules_round_trip(stem, tmp_path):
    torch.manual_seed(0)
    path = SPECS / f"{stem}.yaml"
    model = archc.compile(path)
    _round_trip(model, archc.load(path).graph.input_shape, tmp_path, tolerance=1e-4)


@pytest.mark.slow
def test_zoo_helper_modules_are_reported_at_their_nodes(tmp_path):
    """LeNet-5's scaled tanh is archc's own helper module: its export multiplies by
    constants, which is reported at the node, under the module's scope."""
    path = SPECS / "lenet5.yaml"
    model = archc.compile(path, "paper")
    _export(model, archc.load(path, "paper").graph.input_shape, tmp_path / "m.onnx")
    with pytest.raises(ImportFailed) as failure:
        from_onnx(tmp_path / "m.onnx")
    assert "/act1/Mul" in {gap.path for gap in failure.value.gaps}


@pytest.mark.slow
def test_module_names_archc_cannot_write_are_reported(tmp_path):
    """torchvision's RegNet names its blocks `block1-0`, which no spec entry can be named."""
    path = SPECS / "regnet.yaml"
    _export(archc.compile(path), archc.load(path).graph.input_shape, tmp_path / "m.onnx")
    with pytest.raises(ImportFailed) as failure:
        from_onnx(tmp_path / "m.onnx")
    gaps = {gap.path: gap.what for gap in failure.value.gaps}
    conv = "/trunk_output/block1/block1-0/proj/proj.0/Conv"
    assert gaps[conv] == "module name 'block1-0' is not an archc name"


def test_unmapped_op_is_located_at_its_node(tmp_path):
    _export(_Upsampler(), (3, 8, 8), tmp_path / "up.onnx")
    with pytest.raises(ImportFailed) as failure:
        from_onnx(tmp_path / "up.onnx")
    gaps = {gap.path: gap.what for gap in failure.value.gaps}
    assert "/Resize" in gaps and gaps["/Resize"].startswith("Resize")
    partial = from_onnx(tmp_path / "up.onnx", partial=True)
    assert "PARTIAL: 1 node(s)" in partial.text
    assert "TODO: Resize not mapped" in partial.text
    assert "{name: head, type: conv, out: 4, kernel: 1}" in partial.text


def test_attention_export_is_reported_not_guessed(tmp_path):
    factory, shape = MODELS["vit_encoder"]
    _export(factory(), shape, tmp_path / "vit.onnx")
    with pytest.raises(ImportFailed) as failure:
        from_onnx(tmp_path / "vit.onnx")
    paths = {gap.path for gap in failure.value.gaps}
    assert any(path.startswith("/layers/layers.0/self_attention/") for path in paths)


def test_cli_imports_an_onnx_file_with_the_graphs_input(tmp_path):
    factory, shape = MODELS["resnet"]
    _export(factory(), shape, tmp_path / "net.onnx")
    out = tmp_path / "net.yaml"
    run = _cli("import", str(tmp_path / "net.onnx"), "-o", str(out))
    assert run.returncode == 0, run.stderr
    assert "checked against the ONNX initializers" in run.stderr
    assert f"input: [{', '.join(map(str, shape))}]" in out.read_text()


def test_malformed_file_is_a_clean_error(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x0a\xff\xff\xff\xff\x0f not a model")
    out = tmp_path / "bad.yaml"
    run = _cli("import", str(bad), "-o", str(out))
    assert run.returncode == 1
    assert "not an ONNX model" in run.stderr and "Traceback" not in run.stderr
    assert not out.exists()


def test_parseable_but_malformed_graph_is_a_clean_error(tmp_path):
    from onnx import TensorProto, helper, save

    # A group that is a list, not a number.
    conv = helper.make_node("Conv", ["x", "w"], ["y"], name="/conv/Conv", group=[2, 3])
    weight = helper.make_tensor("w", TensorProto.FLOAT, [4, 3, 1, 1], [0.0] * 12)
    graph = helper.make_graph(
        [conv],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [weight],
    )
    save(helper.make_model(graph), tmp_path / "odd.onnx")
    with pytest.raises(ImportFailed) as failure:
        from_onnx(tmp_path / "odd.onnx")
    assert "malformed ONNX graph" in failure.value.message


def test_file_over_the_limit_is_refused_before_reading(tmp_path, monkeypatch):
    factory, shape = MODELS["resnet"]
    _export(factory(), shape, tmp_path / "net.onnx")
    size = (tmp_path / "net.onnx").stat().st_size
    read = []
    monkeypatch.setattr(onnx_import.Path, "read_bytes", lambda self: read.append(self))
    monkeypatch.setattr(onnx_import, "MAX_ONNX_BYTES", size - 1)
    with pytest.raises(ImportFailed) as failure:
        from_onnx(tmp_path / "net.onnx")
    assert f"{size} bytes, over the limit of {size - 1}" in failure.value.message
    assert not read

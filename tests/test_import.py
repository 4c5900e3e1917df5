"""`archc import` / `archc.from_module`: existing PyTorch models to specs, and back.

Round trip: a model M is imported to a spec S, S is built into M', and M' must have M's
state_dict keys in order with the same shapes, give M's outputs with M's weights, and the
summary of S must give the parameters and MACs torch measures on M.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

import archc
from archc.importer import ImportFailed, from_module
from archc.importer.mapping import UNMAPPED_KINDS
from archc.spec.loader import load_spec
from archc.spec.names import layer_name_problem
from tests.conftest import ROOT, SPECS

torch = pytest.importorskip("torch")
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from tests.import_models import MODELS  # noqa: E402


def _helper_kinds(graph) -> set[str]:
    """Kinds whose generated code uses one of archc's own helper modules (LeNet-5's scaled
    tanh, the CIFAR shortcut's SubsamplePad, ConvNeXt's LayerNorm2d): torch.nn has no
    equivalent to map them back to, so the importer must report them, not guess."""
    found = set()
    for node in graph.layers():
        shapes = [graph.nodes[i].shape for i in node.inputs]
        if node.layer.torch(node.fields, shapes, node.shape).helpers:
            found.add(node.type)
    return found


def _round_trip(model, shape, tmp_path, tolerance=1e-5):
    return assert_rebuilds(model, from_module(model, shape).text, shape, tmp_path, tolerance)


def assert_rebuilds(model, text: str, shape, tmp_path, tolerance: float):
    """The spec `text` builds a model with `model`'s state_dict keys and shapes in order
    that, given `model`'s weights, gives its outputs; returns the spec's path."""
    path = tmp_path / "imported.yaml"
    path.write_text(text)
    rebuilt = archc.compile(path)
    ours = [(k, tuple(v.shape)) for k, v in rebuilt.state_dict().items()]
    theirs = [(k, tuple(v.shape)) for k, v in model.state_dict().items()]
    assert ours == theirs
    rebuilt.load_state_dict(model.state_dict())
    model.eval()
    rebuilt.eval()
    torch.manual_seed(0)
    x = torch.randn(2, *shape)
    with torch.no_grad():
        expected, got = model(x), rebuilt(x)
    assert torch.allclose(got, expected, rtol=tolerance, atol=tolerance * expected.abs().max())
    return path


def _measured_macs(model, shape) -> int:
    """Multiply-accumulates of convolutions and linear layers, as torch counts them."""
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.randn(1, *shape))
    flops = counter.get_flop_counts()["Global"]
    ops = {"convolution", "addmm", "mm", "bmm"}
    return sum(v for op, v in flops.items() if op.__name__.split(".")[0] in ops) // 2


@pytest.mark.parametrize("name", sorted(MODELS))
def test_hand_written_models_round_trip(name, tmp_path):
    factory, shape = MODELS[name]
    torch.manual_seed(1)
    model = factory()
    path = _round_trip(model, shape, tmp_path)
    totals = archc.load(path).summary()["totals"]
    assert totals["params"] == sum(p.numel() for p in model.parameters())
    if name != "vit_encoder":  # torch does not count fused attention's products on the CPU
        assert totals["macs"] == _measured_macs(model, shape)


def _zoo():
    cases = []
    for path in sorted(SPECS.glob("*.yaml")):
        for variant in load_spec(path).variant_names():
            macs = archc.load(path, variant).summary()["totals"]["macs"]
            marks = [] if macs <= 2e9 else [pytest.mark.slow]
            cases.append(pytest.param(path, variant, marks=marks, id=f"{path.stem}-{variant}"))
    return cases


@pytest.mark.parametrize(("spec", "variant"), _zoo())
def test_zoo_generated_modules_round_trip(spec, variant, tmp_path):
    """Every zoo network's generated module imports back to the same keys and outputs, or,
    where it is made of archc's own helper modules, is refused with each place named."""
    torch.manual_seed(0)
    model = archc.compile(spec, variant)
    graph = archc.load(spec, variant).graph
    helpers = _helper_kinds(graph) | {n.type for n in graph.layers() if n.type in UNMAPPED_KINDS}
    # Module names archc cannot write as entry names (RegNet's `block1-0`, made by a
    # repeat's `names:` pattern) cannot come back either.
    unwritable = {
        part
        for n in graph.layers()
        for part in n.path.split(".")
        if not part.isdigit() and layer_name_problem(part)
    }
    helpers |= unwritable
    if not helpers:
        _round_trip(model, graph.input_shape, tmp_path, tolerance=1e-4)
        return
    with pytest.raises(ImportFailed) as failure:
        from_module(model, graph.input_shape)
    gaps = failure.value.gaps
    assert gaps and all(gap.path and gap.what for gap in gaps)
    helper_paths = {
        n.path
        for n in graph.layers()
        if n.type in helpers or any(part in helpers for part in n.path.split("."))
    }
    located = {gap.path.split(".")[0] for gap in gaps}
    assert located & {path.split(".")[0] for path in helper_paths}


def test_helper_modules_are_reported_not_guessed():
    model = archc.compile(SPECS / "lenet5.yaml", "paper")
    with pytest.raises(ImportFailed) as failure:
        from_module(model, (1, 32, 32))
    # Each gap is located at the module it is in (fx traces into archc's helper modules).
    tops = {gap.path.split(".")[0] for gap in failure.value.gaps}
    assert {"act1", "s2", "c3", "output"} <= tops


class _Upsampler(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.head = torch.nn.Conv2d(8, 4, 1)

    def forward(self, x):
        x = torch.nn.functional.interpolate(self.conv(x), scale_factor=2.0)
        return self.head(x)


def _cli(*args, cwd=ROOT):
    return subprocess.run(
        [sys.executable, "-c", "from archc.cli import main; main()", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
    )


def test_cli_imports_a_factory_and_checks_its_keys(tmp_path):
    out = tmp_path / "net.yaml"
    result = _cli("import", "tests.import_models:SmallResNet", "--input", "3,64,64", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert "62 state_dict entries checked" in result.stderr
    assert archc.load(out).summary()["totals"]["params"] == sum(
        p.numel() for p in MODELS["resnet"][0]().parameters()
    )
    again = _cli("import", "tests.import_models:SmallResNet", "--input", "3,64,64", "-o", str(out))
    assert again.returncode == 2 and "--force" in again.stderr


def test_cli_passes_arguments_to_the_factory(tmp_path):
    out = tmp_path / "net.yaml"
    result = _cli(
        "import",
        "tests.import_models:SmallResNet",
        "--input",
        "3,64,64",
        "--args",
        '{"num_classes": 7}',
        "-o",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    assert archc.load(out).summary()["output_shape"] == [7]


def test_what_cannot_be_mapped_is_located_and_partial_writes_the_rest(tmp_path):
    module = tmp_path / "upsampler.py"
    module.write_text(
        "import torch\n"
        "class Up(torch.nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)\n"
        "        self.head = torch.nn.Conv2d(8, 4, 1)\n"
        "    def forward(self, x):\n"
        "        y = torch.nn.functional.interpolate(self.conv(x), scale_factor=2.0)\n"
        "        return self.head(y)\n"
    )
    result = _cli("import", "upsampler:Up", "--input", "3,8,8", cwd=tmp_path)
    assert result.returncode == 1
    assert "upsampler:Up:interpolate: error: function interpolate" in result.stderr
    out = tmp_path / "up.yaml"
    partial = _cli(
        "import", "upsampler:Up", "--input", "3,8,8", "--partial", "-o", str(out), cwd=tmp_path
    )
    assert partial.returncode == 0, partial.stderr
    text = out.read_text()
    assert "PARTIAL: 1 part(s) could not be mapped" in text and "TODO: function interpolate" in text
    assert [k for k, _ in archc.load(out).graph.state_dict()] == [
        "conv.weight",
        "conv.bias",
        "head.weight",
        "head.bias",
    ]


@pytest.mark.parametrize(
    "arguments",
    [
        ["nocolon", "--input", "3,8,8"],
        ["tests.import_models:Nope", "--input", "3,8,8"],
        ["tests.import_models:SmallResNet", "--input", "three"],
    ],
)
def test_cli_refuses_bad_arguments(arguments):
    result = _cli("import", *arguments)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr

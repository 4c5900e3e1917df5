"""`archc build --target onnx --check` over the zoo: the generated module exports, passes the
ONNX checker, ONNX shape inference agrees with archc, and onnxruntime agrees with torch.

The default suite covers networks that export in seconds; the slow suite covers every
variant of every spec in specs/.
"""

from __future__ import annotations

import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
pytest.importorskip("torch")

import onnx  # noqa: E402

from archc.backends.onnx import module_path  # noqa: E402
from archc.build import build_graph  # noqa: E402
from archc.pipeline import analyse  # noqa: E402
from archc.spec.loader import load_spec  # noqa: E402
from tests.conftest import SPECS, torchvision_fixture  # noqa: E402

pytestmark = pytest.mark.torch

#: Small enough to export and check in a few seconds each (2 CPU cores).
QUICK = [
    ("lenet5.yaml", "paper"),
    ("lenet5.yaml", "modern"),
    ("alexnet.yaml", "lecture"),
    ("resnet_cifar.yaml", "20"),
    ("resnet.yaml", "18"),
    ("googlenet.yaml", "torchvision"),
]
#: torchvision fixtures whose logits shape the exported graph output must have.
TORCHVISION = {("resnet.yaml", "18"): "resnet18", ("googlenet.yaml", "torchvision"): "googlenet"}


def zoo_variants() -> list[tuple[str, str]]:
    """(spec file, variant) for every variant of every spec in specs/."""
    found = []
    for path in sorted(SPECS.glob("*.yaml")):
        found.extend((path.name, name) for name in load_spec(path).variant_names())
    return found


def build_and_check(spec: str, variant: str, tmp_path, capsys):
    graph = analyse(load_spec(SPECS / spec), variant)
    folder = build_graph(graph, tmp_path, ["pytorch", "onnx"], check=True)
    err = capsys.readouterr().err
    for name in ("checker", "shapes", "onnxruntime"):
        assert f"onnx check {name}: ok" in err, err
    return graph, folder


@pytest.mark.parametrize("spec, variant", QUICK)
def test_zoo_exports_and_passes_the_checks(spec, variant, tmp_path, capsys):
    graph, folder = build_and_check(spec, variant, tmp_path, capsys)
    model = onnx.load(str(folder / "model.onnx"), load_external_data=False)
    # Every layer that multiplies (conv, linear) has ONNX nodes named by its spec path.
    traced = {module_path(n.name) for n in model.graph.node}
    for node in graph.layers():
        if node.counts.macs:
            assert node.path in traced, node.path
    fixture = TORCHVISION.get((spec, variant))
    if fixture:
        logits = torchvision_fixture(fixture)["logits_shape"]
        dims = model.graph.output[0].type.tensor_type.shape.dim
        assert [d.dim_value for d in dims[1:]] == logits[1:]


def test_quick_list_names_real_variants():
    assert set(QUICK) <= set(zoo_variants())


@pytest.mark.slow
@pytest.mark.parametrize("spec, variant", zoo_variants())
def test_whole_zoo_exports_and_passes_the_checks(spec, variant, tmp_path, capsys):
    build_and_check(spec, variant, tmp_path, capsys)


def test_cli_build_onnx_check_reports_to_the_user(tmp_path):
    from click.testing import CliRunner

    from archc.cli import main

    result = CliRunner().invoke(
        main,
        ["build", str(SPECS / "lenet5.yaml"), "--target", "onnx", "--check", "-o", str(tmp_path)],
    )
    assert result.exit_code == 0, result.output
    for name in ("checker", "shapes", "onnxruntime"):
        assert f"lenet5 [paper]: onnx check {name}: ok" in result.output
    assert (tmp_path / "lenet5_paper" / "model.onnx").is_file()

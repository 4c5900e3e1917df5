"""The ONNX export checks sizes before it allocates, and traces large inputs small.

A spec costs nothing to write: a 10^12-parameter network is one line, and a 4000x4000
input made a 1.8K-parameter network's export reach 8.4 GB. The export must refuse weights
one ONNX file cannot hold before anything is allocated, and trace a network whose
activations are large at a smaller input, keeping the file's real input size and checks
that still mean something: ONNX shape inference at the real size, and onnxruntime against
PyTorch, there where both can run.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from click.testing import CliRunner

from archc.backends import onnx as backend
from archc.cli import main
from archc.pipeline import load

TERA = """\
network: tera
input: [1, 1000, 1000]
layers:
  - flatten
  - {type: linear, out: 1000000}
"""
#: A small fully convolutional front and global pooling: the graph does not depend on
#: the input size, so it can be traced smaller.
WIDE = """\
network: wide
input: [3, 96, 160]
layers:
  - {type: conv, out: 8, kernel: 3, padding: 1}
  - relu
  - {type: maxpool, kernel: 2}
  - {type: conv, out: 8, kernel: 3, stride: 2, padding: 1}
  - relu
  - {type: adaptive_avgpool}
  - flatten
  - {type: linear, out: 10}
"""
#: Flatten straight into a linear layer: only the real input size gives its graph.
FLAT = """\
network: flat
input: [3, 64, 64]
layers:
  - {type: conv, out: 4, kernel: 3, stride: 2, padding: 1}
  - relu
  - flatten
  - {type: linear, out: 10}
"""


def test_a_tera_parameter_spec_is_refused_before_anything_is_allocated(
    write_spec, tmp_path, monkeypatch
):
    path = write_spec(TERA)
    graph = load(path)
    with pytest.raises(backend.CheckFailed, match=r"3725\.3 GiB .*nothing was allocated"):
        backend.check_sizes(graph)

    def never(*args, **kwargs):
        raise AssertionError("the module was instantiated")

    monkeypatch.setattr(backend, "load_generated", never)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["build", str(path), "-o", str(out), "--target", "onnx"])
    assert result.exit_code == 1
    message = " ".join(result.stderr.split())
    assert "onnx: the weights would take 3725.3 GiB" in message
    assert "protobuf's 2 GiB limit" in message
    assert "Traceback" not in result.output
    assert list(out.iterdir()) == []


def test_the_generated_module_is_measured_on_meta_before_it_is_built(write_spec, tmp_path):
    """Even if archc's analysis undercounted, the module built on `meta` (no memory) is
    measured before the real one exists."""
    from archc.backends.pytorch import write_target

    graph = load(write_spec(WIDE))
    write_target(graph, tmp_path, {})
    built = []
    real_init = torch.nn.Conv2d.__init__

    def counting(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        built.append(self.weight.device.type)

    try:
        torch.nn.Conv2d.__init__ = counting
        limit = backend.MAX_WEIGHT_BYTES
        backend.MAX_WEIGHT_BYTES = 1000  # the real module has 5,522 bytes of weights
        with pytest.raises(backend.CheckFailed, match="built on `meta`"):
            backend.load_generated(graph, tmp_path)
    finally:
        torch.nn.Conv2d.__init__ = real_init
        backend.MAX_WEIGHT_BYTES = limit
    assert built == ["meta", "meta"]  # two convolutions, neither with real memory


def test_trace_size_keeps_small_inputs_and_shrinks_large_ones(write_spec):
    graph = load(write_spec(WIDE))
    assert backend.trace_size(graph) == (3, 96, 160)
    big = load(write_spec(WIDE.replace("[3, 96, 160]", "[3, 4000, 4000]")))
    traced = backend.trace_size(big)
    assert traced[0] == 3 and traced[1] == traced[2] < 4000
    # A multiple of the largest stride short of the global pool (2 x 2 = 4).
    assert traced[1] % 4 == 0
    elements = sum(n.counts.activation_elements for n in big.nodes)
    assert elements * 4 * (traced[1] / 4000) ** 2 <= backend.TRACE_TARGET_BYTES * 1.1


@pytest.fixture
def small_budget(monkeypatch):
    """Trace anything above 64 KiB of activations at about 16 KiB."""
    monkeypatch.setattr(backend, "TRACE_BUDGET_BYTES", 64 * 2**10)
    monkeypatch.setattr(backend, "TRACE_TARGET_BYTES", 16 * 2**10)


def test_a_large_input_is_traced_small_and_exported_at_its_real_size(
    write_spec, tmp_path, small_budget
):
    from archc.backends.pytorch import write_target

    graph = load(write_spec(WIDE))
    write_target(graph, tmp_path, {})
    module = backend.load_generated(graph, tmp_path)
    path = tmp_path / "model.onnx"
    traced = backend.export(module, graph, path)
    assert traced[1:] < (96, 160) and traced[1] % 4 == 0 and traced[2] % 4 == 0
    model = onnx.load(str(path))
    dims = [d.dim_value or d.dim_param for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", 3, 96, 160]
    reports = backend.run_checks(graph, module, path, traced)
    assert "at the traced input" in reports[2].line()
    # The parity check at the traced size means something at the real size too: the file,
    # run by onnxruntime at 96x160, gives what PyTorch gives there.
    import onnxruntime

    x = torch.randn(2, 3, 96, 160, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = module(x).numpy()
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"input": x.numpy()})
    assert np.abs(got - expected).max() <= 1e-4 * np.abs(expected).max()


def test_a_network_bound_to_its_input_size_is_refused_not_mistraced(
    write_spec, tmp_path, small_budget
):
    path = write_spec(FLAT)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["build", str(path), "-o", str(out), "--target", "onnx"])
    assert result.exit_code == 1
    message = " ".join(result.stderr.split())
    assert "tracing at the real input 64x64 would need about" in message
    assert "this network's output changes" in message
    assert list(out.iterdir()) == []


def test_a_wrong_traced_graph_is_caught_by_the_shape_check(write_spec, tmp_path, small_budget):
    """If a traced-small graph gave other volumes at the real size, the export fails."""
    from archc.backends.pytorch import write_target

    graph = load(write_spec(WIDE))
    write_target(graph, tmp_path, {})
    module = backend.load_generated(graph, tmp_path)
    # The first convolution's volume as archc now claims it is not what the file gives.
    assert graph.nodes[1].type == "conv" and graph.nodes[1].shape == (8, 96, 160)
    graph.nodes[1].shape = (8, 96, 161)
    with pytest.raises(backend.CheckFailed, match="does not give archc's volumes"):
        backend.export(module, graph, tmp_path / "model.onnx")
    assert not (tmp_path / "model.onnx").exists()

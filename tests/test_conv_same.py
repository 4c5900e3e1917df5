"""`padding: same` agrees with PyTorch exactly, for every kernel PyTorch accepts.

PyTorch's `padding='same'` (stride 1 only) pads `dilation * (kernel - 1)` in all, half of
it (rounded down) before and the rest after, so even kernels pad unevenly and a kernel
larger than its input is allowed: the output keeps the input's height and width. archc's
analysis must give the same volume, parameters and multiply-accumulates as torch itself
(counted by torch's FlopCounterMode), the generated module must compute what
`nn.Conv2d(padding='same')` computes, the ONNX export must run in onnxruntime (uneven
`same` with dilation used not to), and what PyTorch refuses (a stride) archc refuses with
a located diagnostic.
"""

from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner
from torch.utils.flop_counter import FlopCounterMode

from archc.backends.pytorch import compile_module
from archc.cli import main
from archc.pipeline import load

CASES = [
    # (kernel, dilation, height, width, groups)
    (1, 1, 5, 5, 1),
    (2, 1, 5, 7, 1),  # even: one more row and column of padding after than before
    (3, 1, 1, 1, 1),  # a 3x3 kernel on a 1x1 input
    (4, 2, 6, 6, 2),
    (5, 1, 3, 3, 1),  # kernel larger than the input
    ([1, 7], 1, 9, 9, 1),
    ([7, 1], [2, 1], 9, 4, 1),
    ([4, 2], [1, 3], 5, 5, 1),  # uneven in both axes, with dilation
    (11, 1, 4, 4, 2),  # far larger than the input: PyTorch still keeps 4x4
]


def spec_text(kernel, dilation, height, width, groups, stride=1) -> str:
    return (
        "network: same\n"
        f"input: [4, {height}, {width}]\n"
        "layers:\n"
        f"  - {{name: conv, type: conv, out: 6, kernel: {kernel}, dilation: {dilation}, "
        f"groups: {groups}, stride: {stride}, padding: same}}\n"
    )


def reference(kernel, dilation, groups) -> torch.nn.Conv2d:
    return torch.nn.Conv2d(4, 6, kernel, dilation=dilation, groups=groups, padding="same")


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths")
@pytest.mark.parametrize("kernel, dilation, height, width, groups", CASES)
def test_analysis_and_module_agree_with_torch(write_spec, kernel, dilation, height, width, groups):
    graph = load(write_spec(spec_text(kernel, dilation, height, width, groups)))
    conv = graph.nodes[1]
    ref = reference(kernel, dilation, groups)
    x = torch.randn(2, 4, height, width, generator=torch.Generator().manual_seed(0))
    with torch.no_grad(), FlopCounterMode(display=False) as flops:
        expected = ref(x)
    assert conv.shape == tuple(expected.shape[1:]) == (6, height, width)
    assert conv.counts.params == sum(p.numel() for p in ref.parameters())
    # FlopCounterMode counts 2 FLOPs per multiply-accumulate, for the batch of 2.
    assert conv.counts.macs == flops.get_total_flops() // 2 // 2
    module = compile_module(graph).eval()
    module.conv.load_state_dict(ref.state_dict())
    with torch.no_grad():
        got = module(x)
    assert torch.equal(got, expected)


def test_stride_is_refused_as_pytorch_refuses_it(write_spec):
    with pytest.raises(ValueError, match="not supported for strided"):
        torch.nn.Conv2d(4, 6, 3, stride=2, padding="same")
    path = write_spec(spec_text(3, 1, 8, 8, 1, stride=2))
    result = CliRunner().invoke(main, ["check", str(path)])
    assert result.exit_code == 1
    assert f"{path}:4:" in result.stderr  # the conv's line
    assert "padding 'same' needs stride 1" in result.stderr


def test_uneven_same_with_dilation_exports_and_runs_in_onnxruntime(write_spec, tmp_path):
    path = write_spec(spec_text([4, 2], [1, 3], 5, 5, 1))
    result = CliRunner().invoke(
        main, ["build", str(path), "-o", str(tmp_path / "out"), "--target", "onnx", "--check"]
    )
    assert result.exit_code == 0, result.output
    assert "onnx check onnxruntime: ok" in result.stderr
    assert "UserWarning" not in result.stderr  # PyTorch's note on padding copies stays quiet

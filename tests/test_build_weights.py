"""`archc build --weights`: model.onnx of trained weights, checked (issue 18, item 6)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from archc.cli import main
from tests.conftest import ROOT

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")

pytestmark = pytest.mark.torch

SPEC = ROOT / "docs" / "examples" / "tiny_resnet.yaml"
OTHER = ROOT / "tests" / "transfer_specs" / "tiny_vgg.yaml"


def _trained(spec, seed: int = 123) -> torch.nn.Module:
    """The spec's module with every tensor moved away from its initial value, running
    statistics included, as training would leave them."""
    import archc

    torch.manual_seed(seed)
    model = archc.compile(spec)
    with torch.no_grad():
        for tensor in model.state_dict().values():
            if tensor.is_floating_point():
                tensor.add_(0.1 * torch.randn_like(tensor)).abs_()
    return model.eval()


def _onnx_output(path, x) -> torch.Tensor:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return torch.from_numpy(session.run(None, {"input": x.numpy()})[0])


def test_weights_are_exported_and_match_the_trained_module(tmp_path):
    """model.onnx held seed-0 initial weights with no way to export trained ones; with
    --weights, onnxruntime on it gives the trained PyTorch module's output."""
    model = _trained(SPEC)
    checkpoint = tmp_path / "model.pt"
    torch.save(model.state_dict(), checkpoint)
    result = CliRunner().invoke(
        main,
        ["build", str(SPEC), "--target", "onnx", "--weights", str(checkpoint), "-o", str(tmp_path)],
    )
    assert result.exit_code == 0, result.output
    assert "onnx check onnxruntime: ok" in result.output  # the parity check ran
    x = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        expected = model(x)
    got = _onnx_output(tmp_path / "tiny_resnet_default" / "model.onnx", x)
    assert torch.allclose(got, expected, rtol=1e-4, atol=1e-4 * expected.abs().max())
    initial = tmp_path / "initial"
    assert CliRunner().invoke(main, ["build", str(SPEC), "--target", "onnx", "-o", str(initial)])
    seed0 = _onnx_output(initial / "tiny_resnet_default" / "model.onnx", x)
    assert not torch.allclose(seed0, expected, atol=1e-3)


def test_a_checkpoint_of_another_network_is_refused_and_nothing_written(tmp_path):
    checkpoint = tmp_path / "vgg.pt"
    torch.save(_trained(OTHER).state_dict(), checkpoint)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main, ["build", str(SPEC), "--weights", str(checkpoint), "-o", str(out)]
    )
    assert result.exit_code == 1
    text = " ".join(result.output.split())
    assert "is not a state_dict of tiny_resnet [default]" in text
    assert "missing 'stem.weight' [16, 3, 3, 3]" in text and "more" in text
    assert "Traceback" not in result.output
    assert not (out / "tiny_resnet_default").exists()


class _Payload:
    """An object a weights_only load must refuse to build (pickled code is untrusted)."""

    def __reduce__(self):
        return (print, ("pickled code ran",))


def test_a_checkpoint_is_read_as_untrusted_input(tmp_path, capfd):
    checkpoint = tmp_path / "evil.pt"
    torch.save({"stem.weight": torch.zeros(16, 3, 3, 3), "x": _Payload()}, checkpoint)
    result = CliRunner().invoke(
        main, ["build", str(SPEC), "--weights", str(checkpoint), "-o", str(tmp_path / "o")]
    )
    assert result.exit_code == 1
    assert "cannot read checkpoint" in result.output
    # torch's message holds terminal escapes: they are shown escaped, never sent raw.
    assert "\x1b" not in result.output
    assert "pickled code ran" not in result.output + capfd.readouterr().out


def test_weights_take_one_network_and_the_onnx_target(tmp_path):
    runner = CliRunner()
    both = runner.invoke(main, ["build", str(SPEC), str(OTHER), "--weights", "w.pt"])
    assert both.exit_code == 2 and "give one spec" in both.output
    summary = runner.invoke(main, ["build", str(SPEC), "--target", "summary", "--weights", "w.pt"])
    assert summary.exit_code == 2 and "add the onnx target" in summary.output

"""The deterministic fill of tests/reference/README.md, checked against the formula as written.

Other PyTorch tests import `fill_state_dict` and `reference_input` from here.
"""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

GOLDEN = 0.6180339887498949
PLASTIC = 0.7548776662466927


def fill_values(k: int, n: int) -> torch.Tensor:
    """u[i] = 2 * frac((i + 1) * 0.618... + k * 0.754...) - 1 for i < n, in float64."""
    i = torch.arange(n, dtype=torch.float64)
    v = (i + 1) * GOLDEN + k * PLASTIC
    return 2 * (v - torch.floor(v)) - 1


def fill_state_dict(model: torch.nn.Module) -> None:
    """Overwrite every state_dict entry as the README's deterministic fill prescribes."""
    state = model.state_dict()
    with torch.no_grad():
        for k, (name, tensor) in enumerate(state.items()):
            n = tensor.numel()
            u = fill_values(k, n).reshape(tensor.shape)
            if name.endswith("num_batches_tracked"):
                value = torch.zeros_like(u)
            elif not tensor.is_floating_point():
                continue  # other integer tensors keep their computed values (Swin's index)
            elif name.endswith("running_mean"):
                value = 0.01 * u
            elif name.endswith("running_var"):
                value = 1 + 0.1 * u.abs()
            elif tensor.dim() >= 2:
                value = u * math.sqrt(6 / (n / tensor.shape[0]))
            elif name.endswith("weight"):
                value = 1 + 0.1 * u
            else:
                value = 0.01 * u
            tensor.copy_(value.to(tensor.dtype))


def reference_input(shape: list[int]) -> torch.Tensor:
    """x.flatten()[j] = sin(0.01 * j), float64, in the given shape."""
    n = math.prod(shape)
    return torch.sin(0.01 * torch.arange(n, dtype=torch.float64)).reshape(shape)


def test_fill_values_follow_the_formula_by_hand():
    u = fill_values(3, 2)
    # Worked by hand: frac(1 * 0.618... + 3 * 0.754...) = frac(2.8827...) = 0.8827...
    first = 2 * ((GOLDEN + 3 * PLASTIC) % 1) - 1
    second = 2 * ((2 * GOLDEN + 3 * PLASTIC) % 1) - 1
    assert u.tolist() == pytest.approx([first, second], abs=1e-15)
    assert -1 <= u.min() and u.max() <= 1


def test_fill_rules_per_entry_kind():
    model = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3), torch.nn.BatchNorm2d(3))
    fill_state_dict(model)
    state = model.state_dict()
    names = list(state)
    assert names[0] == "0.weight"
    u0 = fill_values(0, 54).reshape(3, 2, 3, 3)
    assert torch.allclose(state["0.weight"].double(), u0 * math.sqrt(6 / 18), atol=1e-7)
    assert torch.allclose(state["0.bias"].double(), 0.01 * fill_values(1, 3), atol=1e-9)
    assert torch.allclose(state["1.weight"].double(), 1 + 0.1 * fill_values(2, 3), atol=1e-7)
    assert torch.allclose(state["1.running_var"].double(), 1 + 0.1 * fill_values(5, 3).abs())
    assert state["1.num_batches_tracked"].item() == 0


def test_reference_input_is_a_sine_ramp():
    x = reference_input([1, 2, 2])
    assert x.flatten().tolist() == pytest.approx(
        [0, math.sin(0.01), math.sin(0.02), math.sin(0.03)]
    )

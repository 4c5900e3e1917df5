"""LeNet-5's RBF output layer: fixed, distinct +-1 centres; outputs are squared distances."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import archc  # noqa: E402
from tests.conftest import SPECS  # noqa: E402


def test_rbf_units_have_distinct_centres_and_compute_squared_distances():
    model = archc.compile(SPECS / "lenet5.yaml", variant="paper").eval()
    rbf = next(m for m in model.modules() if hasattr(m, "centers"))
    centers = rbf.centers
    assert centers.shape == (10, 84)
    assert set(centers.unique().tolist()) == {-1.0, 1.0}
    # Identical centres would give every class the same score (LeCun et al., 1998, sec. II.B).
    assert len({tuple(row.tolist()) for row in centers}) == 10
    x = torch.randn(3, 84)
    expected = ((x[:, None, :] - centers[None]) ** 2).sum(-1)
    torch.testing.assert_close(rbf(x), expected)
    # Fixed centres are buffers: nothing in the layer trains (papers.md: 0 trainable).
    assert not any(True for _ in rbf.parameters())

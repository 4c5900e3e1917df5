"""Weight initialization from `init:` (spec-wide and per layer) and `trainable: false`,
measured on the generated model against the schemes' published definitions."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

import archc
from archc.backends.pytorch import compile_module, generate_source
from tests.conftest import ROOT

torch = pytest.importorskip("torch")

SPEC = """\
network: init_demo
input: [32, 8, 8]
{init}
layers:
  - {{name: conv, type: conv, out: 64, kernel: 3, padding: 1}}
  - {{name: bn, type: batchnorm}}
  - {{name: relu, type: relu}}
  - {{name: frozen, type: conv, out: 64, kernel: 1, trainable: false}}
  - {{name: zero, type: conv, out: 64, kernel: 1, init: zeros}}
  - flatten
  - {{name: fc, type: linear, out: 512, init: {fc_init}}}
"""


def build(write_spec, init: str = "", fc_init: str = "normal"):
    graph = archc.load(write_spec(SPEC.format(init=init, fc_init=fc_init))).graph
    torch.manual_seed(0)
    return compile_module(graph), graph


def _std_ratio(weight, expected):
    return weight.std().item() / expected


def test_he_normal_fan_out_as_torchvision_resnet(write_spec):
    model, _ = build(write_spec, "init: he")
    fan_out = 64 * 3 * 3
    assert _std_ratio(model.conv.weight, math.sqrt(2 / fan_out)) == pytest.approx(1, abs=0.05)
    assert model.conv.weight.mean().abs() < 0.01
    assert torch.count_nonzero(model.conv.bias) == 0
    # BatchNorm keeps weight 1 and bias 0 under every scheme.
    assert torch.equal(model.bn.weight, torch.ones(64))
    assert torch.equal(model.bn.bias, torch.zeros(64))
    # Per-layer init overrides the spec's: normal(0, 0.01) and zeros.
    assert _std_ratio(model.fc.weight, 0.01) == pytest.approx(1, abs=0.02)
    assert torch.count_nonzero(model.fc.bias) == 0
    assert torch.count_nonzero(model.zero.weight) == 0


@pytest.mark.parametrize("name", ["xavier", "glorot"])
def test_xavier_uniform(write_spec, name):
    model, _ = build(write_spec, f"init: {name}", fc_init=name)
    fan_in, fan_out = 32 * 9, 64 * 9
    bound = math.sqrt(6 / (fan_in + fan_out))
    weight = model.conv.weight
    assert weight.abs().max() <= bound
    assert weight.abs().max() > 0.99 * bound
    assert _std_ratio(weight, bound / math.sqrt(3)) == pytest.approx(1, abs=0.05)
    assert torch.count_nonzero(model.conv.bias) == 0


def test_kaiming_is_he(write_spec):
    he, _ = build(write_spec, "init: he")
    kaiming, _ = build(write_spec, "init: kaiming")
    assert torch.equal(he.conv.weight, kaiming.conv.weight)  # same seed, same scheme


def test_default_is_pytorchs_own(write_spec):
    model, _ = build(write_spec, "", fc_init="default")
    torch.manual_seed(0)
    reference = torch.nn.Conv2d(32, 64, 3, padding=1)
    assert torch.equal(model.conv.weight, reference.weight)
    assert torch.equal(model.conv.bias, reference.bias)
    # nn.Linear's default: uniform within 1/sqrt(fan_in), bias not zero.
    assert model.fc.weight.abs().max() <= 1 / math.sqrt(64 * 64)
    assert torch.count_nonzero(model.fc.bias) > 0


def test_per_layer_default_under_a_spec_scheme_restores_pytorchs_init(write_spec):
    model, graph = build(write_spec, "init: zeros", fc_init="default")
    assert torch.count_nonzero(model.conv.weight) == 0
    assert torch.count_nonzero(model.fc.bias) > 0
    assert "default_init(self.fc)" in generate_source(graph)


def test_trainable_false_freezes_that_layer_only(write_spec):
    model, graph = build(write_spec)
    assert not any(p.requires_grad for p in model.frozen.parameters())
    assert all(p.requires_grad for p in model.conv.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert trainable == archc.load(graph.spec_path).summary()["totals"]["trainable_params"]
    assert trainable == sum(p.numel() for p in model.parameters()) - (64 * 64 + 64)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    command = [str(Path(sys.executable).parent / "archc"), *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=300)


def test_unknown_init_names_are_located_diagnostics(write_spec, tmp_path):
    path = write_spec(SPEC.format(init="init: hee", fc_init="gaussian"))
    done = run_cli("check", str(path))
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert any(
        ":3:7: error[E-INIT]" in line and "'hee'" in line and "did you mean 'he'" in done.stderr
        for line in lines
    ), done.stderr
    # Located at the value written (`init: gaussian`), not the whole entry.
    assert any(":11:46: error[E-INIT]" in line and "'gaussian'" in line for line in lines), (
        done.stderr
    )
    out = tmp_path / "out"
    built = run_cli("build", str(path), "--target", "pytorch", "-o", str(out))
    assert built.returncode == 1
    assert not any(out.rglob("*.py"))

"""The benchmark suite (bench/): its baselines are right, its generators say what they
make, and `python -m bench --quick` runs end to end. Nothing here asserts a speed."""

from __future__ import annotations

import subprocess
import sys

import pytest

import archc
from bench import generate
from tests.conftest import ROOT, torchvision_fixture

torch = pytest.importorskip("torch")
from bench import handwritten  # noqa: E402  (imports torch)
from tests.test_pytorch_fill import fill_state_dict, reference_input  # noqa: E402

# --- the hand-written baselines are torchvision's networks -------------------------------


@pytest.mark.parametrize("name", sorted(handwritten.MODELS))
def test_handwritten_model_has_torchvision_state_dict(name):
    """Keys, shapes, kinds and parameter counts equal the torchvision fixture."""
    reference = torchvision_fixture(name)
    with torch.device("meta"):  # shapes only: nothing is allocated
        model = handwritten.MODELS[name]()
    params = dict(model.named_parameters())
    ours = [
        [key, list(value.shape), "param" if key in params else "buffer"]
        for key, value in model.state_dict().items()
    ]
    assert ours == reference["state_dict"]
    assert sum(p.numel() for p in model.parameters()) == reference["total_params"]


@pytest.mark.parametrize(
    "name",
    [
        "resnet50",
        "inception_v3",
        "efficientnet_b0",
        "convnext_tiny",
        pytest.param("vit_b_16", marks=pytest.mark.slow),
    ],
)
def test_handwritten_model_reproduces_torchvision_logits(name):
    """With the reference weights, the forward pass gives torchvision's logits (eval mode)."""
    reference = torchvision_fixture(name)
    model = handwritten.MODELS[name]().eval()
    fill_state_dict(model)
    x = reference_input(reference["input_shape"]).float()
    with torch.no_grad():
        y = model(x).double()
    expected = torch.tensor(reference["logits"], dtype=torch.float64)
    assert y.shape == expected.shape
    assert (y - expected).abs().max() <= 1e-4 * expected.abs().max()


# --- the generators make what they say ----------------------------------------------------


@pytest.mark.parametrize("family", sorted(generate.FAMILIES))
@pytest.mark.parametrize("layers", [10, 101, 1000])
def test_generated_scaling_spec_has_the_announced_layer_count(family, layers, tmp_path):
    """archc expands each generated spec to exactly the layers its generator counted."""
    text, count = generate.FAMILIES[family][0](layers)
    assert count == layers
    path = tmp_path / f"{family}.yaml"
    path.write_text(text)
    assert archc.load(path).summary()["totals"]["layers"] == count


def test_wide_vgg_parameter_formula_matches_torch():
    """The closed-form count of the widened VGG equals torch's count of VGG-16 (x1) and of a
    x2 VGG-16 built layer by layer."""
    with torch.device("meta"):
        assert generate.wide_vgg_params(1) == sum(
            p.numel() for p in handwritten.vgg16().parameters()
        )
        config = [c if c == "M" else 2 * c for c in handwritten.VGG_D]
        features = handwritten.make_vgg_layers(config)
        classifier = [
            torch.nn.Linear(1024 * 7 * 7, 8192),
            torch.nn.Linear(8192, 8192),
            torch.nn.Linear(8192, 1000),
        ]
        doubled = sum(p.numel() for m in [features, *classifier] for p in m.parameters())
    assert generate.wide_vgg_params(2) == doubled


def test_wide_vgg_spec_reaches_its_target(tmp_path):
    """The generated spec has at least the asked-for parameters, as archc counts them."""
    text, params, k = generate.wide_vgg(10**9)
    assert params >= 10**9 > generate.wide_vgg_params(k - 1)
    path = tmp_path / "wide.yaml"
    path.write_text(text)
    assert archc.load(path).summary()["totals"]["params"] == params


# --- start-up stays lazy (what the start-up benchmark relies on) ---------------------------

_STARTUP_PROBE = """
import sys
from archc.cli import main
from archc.layers import REGISTRY
sys.argv = ["archc", "check", sys.argv[1]]
try:
    main()
except SystemExit:
    pass
built = sorted(k.type for k in REGISTRY.values() if k.Fields.__pydantic_complete__)
print(",".join(built))
print("torch" in sys.modules)
print("archc.training" in sys.modules)
"""


def _startup_probe(spec: str) -> tuple[set[str], str, str]:
    done = subprocess.run(
        [sys.executable, "-c", _STARTUP_PROBE, str(ROOT / "specs" / spec)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    built, torch_imported, training_imported = done.stdout.split()
    return set(built.split(",")), torch_imported, training_imported


def test_check_builds_only_the_layer_kinds_it_uses_and_no_torch():
    """`archc check` builds validators only for the kinds in the spec and never imports torch."""
    kinds, torch_imported, training_imported = _startup_probe("alexnet.yaml")
    assert torch_imported == "False"
    assert "conv" in kinds
    assert not kinds & {"rbf", "subsample", "subsample_pad", "concat", "add", "batchnorm"}
    assert training_imported == "True"  # alexnet.yaml has the paper's training section


def test_check_of_a_spec_without_training_leaves_the_training_models_alone():
    kinds, torch_imported, training_imported = _startup_probe("vgg.yaml")
    assert (torch_imported, training_imported) == ("False", "False")


# --- the whole suite runs ------------------------------------------------------------------


def test_quick_benchmark_run_writes_every_section(tmp_path):
    """`python -m bench --quick` exits 0 and its report has every measurement and the machine."""
    results = tmp_path / "RESULTS.md"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--results", str(results)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    text = results.read_text()
    for title in (
        "## Machine",
        "## Goals",
        "1. Analysis",
        "2. Scaling",
        "3. Start-up",
        "4. Generated models",
        "5. Build",
        "6. Memory",
    ):
        assert title in text
    assert "crashed" not in text
    assert "torch not imported" in text

"""Generated models against torchvision's own (tests/reference/torchvision/*.json): the same
state_dict keys and shapes, and the same logits after the deterministic fill."""

from __future__ import annotations

import pytest

import archc
from archc.backends.pytorch import compile_module
from archc.spec.loader import load_spec
from tests.conftest import REFERENCE, SPECS, torchvision_fixture
from tests.test_pytorch_fill import fill_state_dict, reference_input

torch = pytest.importorskip("torch")

#: fixture -> (spec, variant); the small ones run by default, the rest with -m slow.
SMALL = {
    "alexnet": ("alexnet.yaml", "torchvision"),
    "resnet18": ("resnet.yaml", "18"),
    "googlenet": ("googlenet.yaml", "torchvision"),
}
BIG = {
    "resnet34": ("resnet.yaml", "34"),
    "resnet50": ("resnet.yaml", "50"),
    "resnet101": ("resnet.yaml", "101"),
    "resnet152": ("resnet.yaml", "152"),
    "inception_v3": ("inception_v3.yaml", "torchvision"),
    "vgg16": ("vgg.yaml", "D"),
    "vgg11": ("vgg.yaml", "A"),
    "vgg16_bn": ("vgg.yaml", "D-BN"),
    "vgg11_bn": ("vgg.yaml", "A-BN"),
    "vgg13": ("vgg.yaml", "B"),
    "vgg13_bn": ("vgg.yaml", "B-BN"),
    "vgg19": ("vgg.yaml", "E"),
    "vgg19_bn": ("vgg.yaml", "E-BN"),
}
CASES = [pytest.param(name, *where, id=name) for name, where in SMALL.items()] + [
    pytest.param(name, *where, id=name, marks=pytest.mark.slow) for name, where in BIG.items()
]


def _model(name: str, spec: str, variant: str):
    if not (REFERENCE / "torchvision" / f"{name}.json").exists():
        pytest.skip(f"no torchvision fixture {name}.json")
    path = SPECS / spec
    if not path.exists() or variant not in load_spec(path).variant_names():
        pytest.skip(f"{spec} has no variant {variant} yet")
    return archc.load(path, variant).graph, torchvision_fixture(name)


def assert_state_dict_equals(graph, fixture: dict) -> None:
    """The generated module's state_dict has the fixture's keys and shapes, in order, and
    loads a state_dict with exactly those keys strictly."""
    model = compile_module(graph, device="meta")
    ours = [[k, list(v.shape)] for k, v in model.state_dict().items()]
    assert ours == [[k, shape] for k, shape, _ in fixture["state_dict"]]
    assert sum(p.numel() for p in model.parameters()) == fixture["total_params"]
    # A real torchvision checkpoint is a state_dict with these keys: strict loading works.
    empty = {k: torch.zeros(shape) for k, shape, _ in fixture["state_dict"]}
    model.load_state_dict(empty, strict=True, assign=True)


def assert_logits_equal(graph, fixture: dict) -> None:
    """After the deterministic fill, the generated module gives the fixture's logits."""
    model = compile_module(graph).double().eval()
    fill_state_dict(model)
    x = reference_input(fixture["input_shape"])
    with torch.no_grad():
        y = model(x)
    expected = torch.tensor(fixture["logits"], dtype=torch.float64)
    assert y.shape == expected.shape
    bound = 1e-4 * expected.abs().max()
    assert (y - expected).abs().max() <= bound, graph.network


@pytest.mark.parametrize(("name", "spec", "variant"), CASES)
def test_state_dict_keys_and_shapes_equal_torchvision(name, spec, variant):
    assert_state_dict_equals(*_model(name, spec, variant))


@pytest.mark.parametrize(("name", "spec", "variant"), CASES)
def test_logits_equal_torchvision_after_the_deterministic_fill(name, spec, variant):
    assert_logits_equal(*_model(name, spec, variant))

"""The modern families (issue 15) against torchvision's own figures.

Every row of MODELS is a torchvision model: its params and conv + linear MACs, at the input
size torchvision evaluates it, are read from tests/reference/papers.md ("Modern families")
and must come out exactly (static, torch-free). Where tests/reference/torchvision holds a
fixture for the model, its state_dict keys and shapes (in order) and its logits after the
deterministic fill (tests/reference/README.md) must match too.
"""

from __future__ import annotations

import re
from functools import cache

import pytest

import archc
from tests.conftest import REFERENCE, SPECS, torchvision_fixture

#: papers.md's model name -> (spec file, variant); one row per line, sorted.
MODELS = {
    "regnet_x_16gf": ("regnet.yaml", "x_16gf"),
    "regnet_x_1_6gf": ("regnet.yaml", "x_1_6gf"),
    "regnet_x_32gf": ("regnet.yaml", "x_32gf"),
    "regnet_x_3_2gf": ("regnet.yaml", "x_3_2gf"),
    "regnet_x_400mf": ("regnet.yaml", "x_400mf"),
    "regnet_x_800mf": ("regnet.yaml", "x_800mf"),
    "regnet_x_8gf": ("regnet.yaml", "x_8gf"),
}

#: Members whose forward pass takes too long for the default suite (hundreds of GMACs or
#: large inputs); their static figures are still checked by default.
SLOW = {"convnext_large", "efficientnet_b7", "regnet_y_128gf"}

FIXTURES = sorted(n for n in MODELS if (REFERENCE / "torchvision" / f"{n}.json").exists())


@cache
def papers_figures() -> dict[str, dict[str, int]]:
    """papers.md's "Modern families" table: model -> input size, params, conv + linear MACs."""
    text = (REFERENCE / "papers.md").read_text()
    section = text.split("## Modern families", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        size = re.fullmatch(r"(\d+)x(\d+)", cells[1]) if len(cells) >= 4 else None
        if size:
            rows[cells[0]] = {
                "input": [3, int(size[1]), int(size[2])],
                "params": int(cells[2].replace(",", "")),
                "macs": int(cells[3].replace(",", "")),
            }
    return rows


@cache
def summary(name: str) -> dict:
    """archc's summary of the variant that stands for a torchvision model."""
    spec, variant = MODELS[name]
    return archc.load(SPECS / spec, variant).summary()


def test_every_row_names_a_model_of_papers_md():
    assert set(MODELS) <= set(papers_figures())
    assert list(MODELS) == sorted(MODELS)


def test_papers_md_table_is_read_whole():
    # Two rows typed in from papers.md, so a parser that drops or shifts cells fails here.
    figures = papers_figures()
    assert figures["regnet_y_400mf"] == {
        "input": [3, 224, 224],
        "params": 4_344_144,
        "macs": 401_842_848,
    }
    assert figures["efficientnet_b7"]["input"] == [3, 600, 600]


@pytest.mark.parametrize("name", list(MODELS))
def test_params_and_conv_linear_macs_equal_torchvision(name):
    expected = papers_figures()[name]
    s = summary(name)
    assert s["input_shape"] == expected["input"]
    assert s["totals"]["params"] == expected["params"]
    macs = sum(row["macs"] for row in s["layers"] if row["type"] in ("conv", "linear"))
    assert macs == expected["macs"]


@pytest.mark.parametrize("name", FIXTURES)
def test_static_state_dict_equals_torchvision_fixture(name):
    fixture = torchvision_fixture(name)
    assert summary(name)["state_dict"] == [list(entry) for entry in fixture["state_dict"]]


def _slow_marked(names: list[str]) -> list:
    return [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in names]


@pytest.mark.parametrize("name", _slow_marked(FIXTURES))
def test_generated_module_matches_torchvision_fixture(name):
    torch = pytest.importorskip("torch")
    from archc.backends.pytorch import compile_module
    from tests.test_pytorch_fill import fill_state_dict, reference_input

    fixture = torchvision_fixture(name)
    spec, variant = MODELS[name]
    graph = archc.load(SPECS / spec, variant).graph
    model = compile_module(graph).double().eval()
    state = [[k, list(v.shape)] for k, v in model.state_dict().items()]
    assert state == [[k, shape] for k, shape, _ in fixture["state_dict"]]
    fill_state_dict(model)
    with torch.no_grad():
        y = model(reference_input(fixture["input_shape"]))
    expected = torch.tensor(fixture["logits"], dtype=torch.float64)
    assert y.shape == expected.shape
    assert (y - expected).abs().max() <= 1e-4 * expected.abs().max()

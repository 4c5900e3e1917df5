"""docs/lecture.md: up to date with its generator, and every claim's figure as published.

Published values are typed in from tests/reference/papers.md (the lecture's comparisons,
the AlexNet table, VGG and ResNet figures) and the torchvision fixtures.
"""

from __future__ import annotations

import importlib.util
import math

import pytest

from tests.conftest import ROOT, torchvision_fixture
from tests.test_zoo import ALEXNET_LECTURE, RESNET_PAPER_FLOPS, hwc


def _generator():
    spec = importlib.util.spec_from_file_location("make_lecture", ROOT / "docs" / "make_lecture.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def make_lecture():
    return _generator()


@pytest.fixture(scope="module")
def fig(make_lecture):
    return make_lecture.figures()


def test_committed_page_is_what_the_generator_makes(make_lecture, fig):
    assert (ROOT / "docs" / "lecture.md").read_text() == make_lecture.render(fig)
    assert make_lecture.main(["--check"]) == 0


def test_alexnet_volume_table(fig):
    # papers.md's AlexNet lecture table, row by row (the page shows exactly these rows).
    rows = [(r["name"], hwc(r["shape"]), r["params"]) for r in fig["alexnet_rows"]]
    assert rows == [(name, volume, params) for name, volume, params, _ in ALEXNET_LECTURE]
    macs = {r["name"]: r["macs"] for r in fig["alexnet_rows"]}
    for name, _, _, published in ALEXNET_LECTURE:
        if published is not None:
            assert macs[name] == published
    assert fig["alexnet_params"] == 62_378_344
    assert fig["alexnet_macs"] == 1_135_256_096


def test_alexnet_227_gives_55_and_224_does_not_tile(fig):
    assert fig["alexnet_input"] == [3, 227, 227]
    assert fig["alexnet_conv1_side"] == (227 - 11) // 4 + 1 == 55
    # (224-11)/4+1 = 54.25: papers.md, "the paper's stated 224 input does not give 55".
    assert fig["alexnet_224_side"] == 54
    assert len(fig["alexnet_224_warnings"]) == 1
    assert "W-UNEVEN-WINDOW" in fig["alexnet_224_warnings"][0]
    assert "54.25" in fig["alexnet_224_warnings"][0]
    # Distill: AlexNet's receptive field is 195.
    assert fig["alexnet_rf"] == 195


def test_weight_memory(fig):
    # papers.md: VGG16 138,357,544 params, "over 533MB"; VGG19 143,667,240, 574MB;
    # ResNet-50 (torchvision) 25,557,032, about 102MB. fp32 = 4 bytes a parameter.
    assert fig["vgg16_params"] == 138_357_544
    assert fig["vgg16_bytes"] == 138_357_544 * 4 > 533e6
    assert fig["vgg19_params"] == 143_667_240
    assert fig["vgg19_bytes"] == 143_667_240 * 4
    assert math.floor(fig["vgg19_bytes"] / 1e6) == 574  # 574.7 MB, quoted in whole MB
    assert fig["resnet50_params"] == torchvision_fixture("resnet50")["total_params"]
    assert math.floor(fig["resnet50_bytes"] / 1e6) == 102  # 102.2 MB


def test_vgg19_against_resnet34(fig):
    # papers.md: VGG-19 19.6 billion FLOPs (19,632,062,464 MACs exact); ResNet-34 and
    # plain-34 3.6 billion (torchvision resnet34: 3,663,761,408).
    assert fig["vgg19_macs"] == 19_632_062_464
    assert round(fig["vgg19_macs"] / 1e9, 1) == 19.6
    assert fig["resnet34_macs"] == torchvision_fixture("resnet34")["macs_conv_linear_per_image"]
    for key in ("resnet34_macs", "plain34_macs"):
        assert abs(fig[key] / 1e9 / RESNET_PAPER_FLOPS["34"] - 1) < 0.02
    assert round(fig["plain34_macs"] / 1e9, 1) == 3.6


def test_googlenet_against_alexnet(fig):
    # papers.md: AlexNet (two towers) 60,965,224; GoogLeNet recounted 6,990,272 weights,
    # torchvision's 6,624,904 params. The lecture's 12x rests on 60M / 5M; the counts give
    # an order of magnitude less, which the page states.
    assert fig["alexnet_paper_params"] == 60_965_224
    assert fig["googlenet_weights"] == 6_990_272
    assert fig["googlenet_tv_params"] == 6_624_904
    ratio = fig["alexnet_paper_params"] / fig["googlenet_params"]
    assert 8 < ratio < 12 and round(60e6 / 5e6) == 12


def test_factorization(fig):
    # papers.md (Inception v3): a 5x5 costs 25/9 = 2.78 times a 3x3 with the same filters;
    # two stacked 3x3s cover the same 5x5 field with 2 * 9 / 25 of the work.
    assert fig["conv5x5_macs"] * 9 == fig["conv3x3_macs"] * 25
    assert round(fig["conv5x5_macs"] / fig["conv3x3_macs"], 2) == 2.78
    assert fig["two_3x3_macs"] * 25 == fig["conv5x5_macs"] * 18
    assert fig["two_3x3_params"] * 25 == fig["conv5x5_params"] * 18
    # 64 -> 64 maps at 56x56: 5*5*64*64*56*56 multiply-accumulates.
    assert fig["conv5x5_macs"] == 5 * 5 * 64 * 64 * 56 * 56
    assert fig["conv5x5_rf"] == fig["two_3x3_rf"] == 5 and fig["conv3x3_rf"] == 3


def test_diagrams_exist(make_lecture):
    # The page links the gallery's drawings of the same specs; each must be there.
    for _caption, path in make_lecture.DIAGRAMS:
        assert (ROOT / "docs" / path).is_file(), path

"""The modern families (issue 15) against torchvision's own figures.

Every row of MODELS is a torchvision model: its params and conv + linear MACs, at the input
size torchvision evaluates it, are read from tests/reference/papers.md ("Modern families")
and must come out exactly (static, torch-free). Where tests/reference/torchvision holds a
fixture for the model, its state_dict keys and shapes (in order) and its logits after the
deterministic fill (tests/reference/README.md) must match too. MobileNet v1, which
torchvision lacks, is held to Howard et al. 2017 at the end.
"""

from __future__ import annotations

import math
import re
from functools import cache

import pytest
from click.testing import CliRunner

import archc
from archc.cli import main
from tests.conftest import REFERENCE, SPECS, torchvision_fixture

#: papers.md's model name -> (spec file, variant); one row per line, sorted.
MODELS = {
    "convnext_base": ("convnext.yaml", "base"),
    "convnext_large": ("convnext.yaml", "large"),
    "convnext_small": ("convnext.yaml", "small"),
    "convnext_tiny": ("convnext.yaml", "tiny"),
    "densenet121": ("densenet.yaml", "121"),
    "densenet161": ("densenet.yaml", "161"),
    "densenet169": ("densenet.yaml", "169"),
    "densenet201": ("densenet.yaml", "201"),
    "efficientnet_b0": ("efficientnet.yaml", "b0"),
    "efficientnet_b1": ("efficientnet.yaml", "b1"),
    "efficientnet_b2": ("efficientnet.yaml", "b2"),
    "efficientnet_b3": ("efficientnet.yaml", "b3"),
    "efficientnet_b4": ("efficientnet.yaml", "b4"),
    "efficientnet_b5": ("efficientnet.yaml", "b5"),
    "efficientnet_b6": ("efficientnet.yaml", "b6"),
    "efficientnet_b7": ("efficientnet.yaml", "b7"),
    "mnasnet0_5": ("mnasnet.yaml", "0_5"),
    "mnasnet0_75": ("mnasnet.yaml", "0_75"),
    "mnasnet1_0": ("mnasnet.yaml", "1_0"),
    "mnasnet1_3": ("mnasnet.yaml", "1_3"),
    "mobilenet_v2": ("mobilenet_v2.yaml", "1.0"),
    "mobilenet_v3_large": ("mobilenet_v3.yaml", "large"),
    "mobilenet_v3_small": ("mobilenet_v3.yaml", "small"),
    "regnet_x_16gf": ("regnet.yaml", "x_16gf"),
    "regnet_x_1_6gf": ("regnet.yaml", "x_1_6gf"),
    "regnet_x_32gf": ("regnet.yaml", "x_32gf"),
    "regnet_x_3_2gf": ("regnet.yaml", "x_3_2gf"),
    "regnet_x_400mf": ("regnet.yaml", "x_400mf"),
    "regnet_x_800mf": ("regnet.yaml", "x_800mf"),
    "regnet_x_8gf": ("regnet.yaml", "x_8gf"),
    "regnet_y_128gf": ("regnet.yaml", "y_128gf"),
    "regnet_y_16gf": ("regnet.yaml", "y_16gf"),
    "regnet_y_1_6gf": ("regnet.yaml", "y_1_6gf"),
    "regnet_y_32gf": ("regnet.yaml", "y_32gf"),
    "regnet_y_3_2gf": ("regnet.yaml", "y_3_2gf"),
    "regnet_y_400mf": ("regnet.yaml", "y_400mf"),
    "regnet_y_800mf": ("regnet.yaml", "y_800mf"),
    "regnet_y_8gf": ("regnet.yaml", "y_8gf"),
    "resnext101_32x8d": ("resnet.yaml", "resnext101_32x8d"),
    "resnext101_64x4d": ("resnet.yaml", "resnext101_64x4d"),
    "resnext50_32x4d": ("resnet.yaml", "resnext50_32x4d"),
    "shufflenet_v2_x0_5": ("shufflenet_v2.yaml", "x0_5"),
    "shufflenet_v2_x1_0": ("shufflenet_v2.yaml", "x1_0"),
    "shufflenet_v2_x1_5": ("shufflenet_v2.yaml", "x1_5"),
    "shufflenet_v2_x2_0": ("shufflenet_v2.yaml", "x2_0"),
    "squeezenet1_0": ("squeezenet.yaml", "1_0"),
    "squeezenet1_1": ("squeezenet.yaml", "1_1"),
    "wide_resnet101_2": ("resnet.yaml", "wide_resnet101_2"),
    "wide_resnet50_2": ("resnet.yaml", "wide_resnet50_2"),
}

#: Members whose forward pass takes too long for the default suite (hundreds of GMACs,
#: large inputs, or float64 depthwise convs, slow on a CPU); their static figures are
#: still checked by default.
SLOW = {"convnext_large", "convnext_tiny", "efficientnet_b7", "mnasnet1_0", "regnet_y_128gf"}

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
            if len(cells) >= 5 and cells[4]:  # transformers: attention's products
                rows[cells[0]]["attention_macs"] = int(cells[4].replace(",", ""))
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


#: Members sharing a fixture member's module layout: its state_dict keys, other shapes.
SAME_KEYS_AS = {
    "mnasnet0_5": "mnasnet1_0",
    "mnasnet0_75": "mnasnet1_0",
    "mnasnet1_3": "mnasnet1_0",
    "resnext101_32x8d": "resnet101",
    "resnext101_64x4d": "resnet101",
    "resnext50_32x4d": "resnet50",
    "shufflenet_v2_x0_5": "shufflenet_v2_x1_0",
    "shufflenet_v2_x1_5": "shufflenet_v2_x1_0",
    "shufflenet_v2_x2_0": "shufflenet_v2_x1_0",
    "wide_resnet101_2": "resnet101",
    "wide_resnet50_2": "resnet50",
}


@pytest.mark.parametrize("name", FIXTURES)
def test_static_summary_matches_torchvision_fixture(name):
    # Keys and shapes in order, params, MACs, and every leaf module's output shape.
    from tests.test_zoo import assert_summary_matches_torchvision

    assert_summary_matches_torchvision(summary(name), torchvision_fixture(name))


@pytest.mark.parametrize("name", list(MODELS))
def test_state_dict_shapes_add_up_to_the_params(name):
    # The summary's state_dict (the keys the generated module will have) against the
    # published parameter count, entry by entry, without torch.
    s = summary(name)
    params = [math.prod(shape) for _, shape, kind in s["state_dict"] if kind == "param"]
    assert sum(params) == papers_figures()[name]["params"]
    keys = [key for key, _, _ in s["state_dict"]]
    assert len(keys) == len(set(keys))


@pytest.mark.parametrize("name", sorted(SAME_KEYS_AS))
def test_members_without_fixture_have_their_family_keys(name):
    # One rule for every size of a family: a member without a fixture has the module
    # layout of one with a fixture (its keys in order); only its widths differ.
    fixture = torchvision_fixture(SAME_KEYS_AS[name])
    ours = [key for key, _, _ in summary(name)["state_dict"]]
    assert ours == [key for key, _, _ in fixture["state_dict"]]


def _slow_marked(names: list[str]) -> list:
    return [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in names]


@pytest.mark.parametrize("name", FIXTURES)
def test_generated_state_dict_matches_torchvision_fixture(name):
    pytest.importorskip("torch")
    from tests.test_pytorch_torchvision import assert_state_dict_equals

    spec, variant = MODELS[name]
    assert_state_dict_equals(archc.load(SPECS / spec, variant).graph, torchvision_fixture(name))


@pytest.mark.parametrize("name", _slow_marked(FIXTURES))
def test_logits_match_torchvision_fixture(name):
    pytest.importorskip("torch")
    from tests.test_pytorch_torchvision import assert_logits_equal

    spec, variant = MODELS[name]
    assert_logits_equal(archc.load(SPECS / spec, variant).graph, torchvision_fixture(name))


def assert_summary_keys_and_meta_run(spec: str, variant: str, s: dict) -> None:
    """The module torch builds has the keys and shapes the summary `s` promised, and a
    forward pass on the meta device (shapes only) gives logits."""
    torch = pytest.importorskip("torch")
    from archc.backends.pytorch import compile_module

    model = compile_module(archc.load(SPECS / spec, variant).graph, device="meta").eval()
    ours = [[k, list(v.shape)] for k, v in model.state_dict().items()]
    assert ours == [[k, shape] for k, shape, _ in s["state_dict"]]
    with torch.no_grad():
        y = model(torch.empty(2, *s["input_shape"], device="meta"))
    assert list(y.shape) == [2, 1000]


@pytest.mark.parametrize("name", list(MODELS))
def test_generated_module_has_the_summary_keys_and_runs_on_meta(name):
    # Every member, fixture or not.
    assert_summary_keys_and_meta_run(*MODELS[name], summary(name))


def _hyperparameters(text: str) -> str:
    """A module's repr without what does not change the function: in-place flags, and the
    spelling of a global pool's size (`1` and `(1, 1)`)."""
    text = re.sub(r"(, )?inplace=(True|False)", "", text)
    return text.replace("output_size=(1, 1)", "output_size=1").replace("(, ", "(")


@pytest.mark.parametrize("name", FIXTURES)
def test_leaf_modules_equal_torchvision_in_call_order(name):
    # Class, output volume and hyperparameters (BatchNorm's eps and momentum, stochastic
    # depth's p, a conv's groups and padding) of every module torchvision calls, in order.
    torch = pytest.importorskip("torch")
    from archc.backends.pytorch import compile_module

    fixture = torchvision_fixture(name)
    expected = [
        [path, cls, shape, _hyperparameters(text)]
        for path, cls, shape, text in fixture["leaf_outputs_per_image"]
    ]
    wanted = {row[0] for row in expected}
    spec, variant = MODELS[name]
    graph = archc.load(SPECS / spec, variant).graph
    model = compile_module(graph, device="meta").eval()
    calls = []

    def record(path):
        def hook(module, args, output):
            text = _hyperparameters(repr(module))
            calls.append([path, type(module).__name__, list(output.shape[1:]), text])

        return hook

    for path, module in model.named_modules():
        if path in wanted:
            module.register_forward_hook(record(path))
    with torch.no_grad():
        model(torch.empty(fixture["input_shape"], device="meta"))
    assert calls == expected


def assert_build_check_passes(spec: str, variant: str, out) -> None:
    """`archc build --check` exits 0 and reports each of its three ONNX checks ok."""
    pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    result = CliRunner().invoke(
        main,
        ["build", str(SPECS / spec), "--variant", variant, "--check", "-o", str(out)],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    for check in ("checker", "shapes", "onnxruntime"):
        assert f"onnx check {check}: ok" in result.output, result.output


@pytest.mark.parametrize("name", _slow_marked(FIXTURES))
def test_build_check_passes(name, tmp_path):
    assert_build_check_passes(*MODELS[name], tmp_path)


# --- Transformers (issue 16): ViT and Swin ---------------------------------------------------

#: papers.md's transformer rows -> (spec file, variant). Their conv + linear MACs count
#: attention's projections as linear layers; the fifth column, attention's query-key and
#: attention-value products, is archc's `attention_macs`.
TRANSFORMERS = {
    "swin_b": ("swin.yaml", "b"),
    "swin_s": ("swin.yaml", "s"),
    "swin_t": ("swin.yaml", "t"),
    "vit_b_16": ("vit.yaml", "b_16"),
    "vit_b_32": ("vit.yaml", "b_32"),
    "vit_h_14": ("vit.yaml", "h_14"),
    "vit_l_16": ("vit.yaml", "l_16"),
    "vit_l_32": ("vit.yaml", "l_32"),
}

#: Transformers whose float64 forward pass is too long for the default suite.
TRANSFORMERS_SLOW = {"vit_b_16"}

TRANSFORMER_FIXTURES = sorted(
    n for n in TRANSFORMERS if (REFERENCE / "torchvision" / f"{n}.json").exists()
)


@cache
def transformer_summary(name: str) -> dict:
    spec, variant = TRANSFORMERS[name]
    return archc.load(SPECS / spec, variant).summary()


def test_transformer_rows_are_every_vit_and_swin_of_papers_md():
    names = {n for n in papers_figures() if n.startswith(("vit_", "swin_"))}
    assert set(TRANSFORMERS) == names
    assert list(TRANSFORMERS) == sorted(TRANSFORMERS)
    assert papers_figures()["vit_b_16"]["attention_macs"] == 715_327_488


@pytest.mark.parametrize("name", list(TRANSFORMERS))
def test_transformer_params_and_both_macs_equal_torchvision(name):
    expected = papers_figures()[name]
    s = transformer_summary(name)
    assert s["input_shape"] == expected["input"]
    assert s["totals"]["params"] == expected["params"]
    assert s["totals"]["macs"] == expected["macs"]
    assert s["totals"]["attention_macs"] == expected["attention_macs"]
    params = [math.prod(shape) for _, shape, kind in s["state_dict"] if kind == "param"]
    assert sum(params) == expected["params"]


@pytest.mark.parametrize("name", TRANSFORMER_FIXTURES)
def test_transformer_summary_matches_torchvision_fixture(name):
    # Keys and shapes in order; MACs by torch's own op count (conv, linear with and without
    # bias, and the batched products of Swin's attention); every leaf module's output shape.
    s, fixture = transformer_summary(name), torchvision_fixture(name)
    assert s["state_dict"] == fixture["state_dict"]
    assert s["totals"]["params"] == fixture["total_params"]
    by_op = fixture["macs_by_aten_op_per_image"]
    linear_ops = ("aten.convolution", "aten.addmm", "aten.mm")
    assert s["totals"]["macs"] == sum(by_op.get(op, 0) for op in linear_ops)
    if "aten.bmm" in by_op:  # Swin's; ViT's fused attention is not counted on the CPU
        assert s["totals"]["attention_macs"] == by_op["aten.bmm"]
    shapes = {row["name"]: row["output_shape"] for row in s["layers"]}
    leaves = {name: shape for name, _, shape, _ in reversed(fixture["leaf_outputs_per_image"])}
    compared = [name for name in leaves if name in shapes]
    assert all(shapes[name] == leaves[name] for name in compared)
    # Every other leaf module torchvision calls is inside one of archc's layers (patch
    # merging's norm and reduction); its attention modules call their projections as
    # functions, so those are not leaves there either.
    inside = [name for name in leaves if name not in shapes]
    assert all(name.rsplit(".", 1)[0] in shapes for name in inside)


@pytest.mark.parametrize("name", list(TRANSFORMERS))
def test_transformer_module_has_the_summary_keys_and_runs_on_meta(name):
    assert_summary_keys_and_meta_run(*TRANSFORMERS[name], transformer_summary(name))


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=pytest.mark.slow) if n in TRANSFORMERS_SLOW else n
        for n in TRANSFORMER_FIXTURES
    ],
)
def test_transformer_logits_match_torchvision_fixture(name):
    pytest.importorskip("torch")
    from tests.test_pytorch_torchvision import assert_logits_equal, assert_state_dict_equals

    spec, variant = TRANSFORMERS[name]
    graph = archc.load(SPECS / spec, variant).graph
    assert_state_dict_equals(graph, torchvision_fixture(name))
    assert_logits_equal(graph, torchvision_fixture(name))


@pytest.mark.slow
@pytest.mark.parametrize("name", TRANSFORMER_FIXTURES)
def test_transformer_build_check_passes(name, tmp_path):
    assert_build_check_passes(*TRANSFORMERS[name], tmp_path)


# DenseNet, Table 1: layers per dense block (DenseNet-161: growth rate 48).
DENSENET_BLOCKS = {
    "densenet121": [6, 12, 24, 16],
    "densenet161": [6, 12, 36, 24],
    "densenet169": [6, 12, 32, 32],
    "densenet201": [6, 12, 48, 32],
}


@pytest.mark.parametrize("name", sorted(DENSENET_BLOCKS))
def test_densenet_blocks_hold_table_1s_layers(name):
    # torchvision names a block's layers denselayer1..N; each conv2 adds k maps.
    keys = [key for key, _, _ in summary(name)["state_dict"]]
    for block, count in enumerate(DENSENET_BLOCKS[name], start=1):
        prefix = f"features.denseblock{block}.denselayer"
        layers = sorted({int(k[len(prefix) :].split(".")[0]) for k in keys if k.startswith(prefix)})
        assert layers == list(range(1, count + 1))
    growth = 48 if name == "densenet161" else 32
    shapes = {key: shape for key, shape, _ in summary(name)["state_dict"]}
    assert shapes["features.denseblock1.denselayer1.conv2.weight"] == [growth, 4 * growth, 3, 3]


# --- MobileNet v1 (Howard et al. 2017): torchvision has none ----------------------------------

# The 1.0 model (issue 15, from Table 1): 4,210,088 weights in its convolutions and its FC
# layer (the FC bias included; BatchNorm not), and 568,740,352 mult-adds.
MOBILENET_V1_WEIGHTS = 4_210_088
MOBILENET_V1_MACS = 568_740_352

# Table 6 (width multiplier, at 224) and Table 7 (resolution, at width 1.0): million
# mult-adds and million parameters, as the paper rounds them.
MOBILENET_V1_TABLES = {
    "1.0": (569, 4.2),
    "0.75": (325, 2.6),
    "0.5": (149, 1.3),
    "0.25": (41, 0.5),
    "1.0-192": (418, 4.2),
    "1.0-160": (290, 4.2),
    "1.0-128": (186, 4.2),
}


@cache
def mobilenet_v1(variant: str) -> dict:
    return archc.load(SPECS / "mobilenet_v1.yaml", variant).summary()


def test_mobilenet_v1_weights_and_mult_adds_exact():
    s = mobilenet_v1("1.0")
    weights = sum(
        math.prod(shape)
        for key, shape, kind in s["state_dict"]
        if kind == "param" and (len(shape) > 1 or key.startswith("fc."))
    )
    assert weights == MOBILENET_V1_WEIGHTS
    assert s["totals"]["macs"] == MOBILENET_V1_MACS


def test_mobilenet_v1_variants_are_the_tables_rows():
    from archc.spec.loader import load_spec

    names = load_spec(SPECS / "mobilenet_v1.yaml").variant_names()
    assert sorted(names) == sorted(MOBILENET_V1_TABLES)


@pytest.mark.parametrize("variant", sorted(MOBILENET_V1_TABLES))
def test_mobilenet_v1_tables_6_and_7(variant):
    # The paper's figures are rounded (290.7 million mult-adds are printed as 290), so
    # each is held to one unit of its last digit: 0.75 and 0.5 differ by far more.
    macs, params = MOBILENET_V1_TABLES[variant]
    s = mobilenet_v1(variant)
    assert abs(s["totals"]["macs"] / 1e6 - macs) < 1
    assert abs(s["totals"]["params"] / 1e6 - params) < 0.1


def test_mobilenet_v1_layer_volumes_follow_table_1():
    # Table 1's input sizes: 112 after the first conv, then 56, 28, 14, and 7 from the
    # 12th separable conv on; 1024 channels at the end.
    s = mobilenet_v1("1.0")
    shapes = {row["name"]: row["output_shape"] for row in s["layers"]}
    assert shapes["features.0.0"] == [32, 112, 112]
    assert shapes["features.1.pointwise"] == [64, 112, 112]
    assert shapes["features.2.pointwise"] == [128, 56, 56]
    assert shapes["features.4.pointwise"] == [256, 28, 28]
    assert shapes["features.6.pointwise"] == [512, 14, 14]
    assert shapes["features.11.pointwise"] == [512, 14, 14]
    assert shapes["features.12.pointwise"] == [1024, 7, 7]
    assert shapes["features.13.pointwise"] == [1024, 7, 7]

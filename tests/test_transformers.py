"""ViT and Swin through archc's outputs: the summary's two MAC conventions and its global
receptive field, generated code that reads like torchvision's, torch.compile without graph
breaks, ONNX export with its checks, and the diagram. (tests/test_modern_families.py holds
the zoo's figures, keys and logits to torchvision; tests/test_transformer_layers.py each
kind to torch.)"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import archc
from archc.cli import main
from tests.conftest import SPECS

#: Small members of each family, for the checks that run a model: two encoder blocks of
#: width 64 at 32x32 (ViT), every Swin stage with one or two narrow blocks at 112x112.
SMALL_VIT = {"layers": 2, "hidden": 64, "heads": 4, "mlp": 128, "patch": 8, "num_classes": 10}
SMALL_SWIN = {"embed": 24, "depths": [2, 2, 2, 2], "heads": [1, 2, 3, 4], "num_classes": 10}
SMALL = {"vit": SMALL_VIT, "swin": SMALL_SWIN}


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def small_args(family: str) -> list[str]:
    args = []
    for key, value in SMALL[family].items():
        args += ["--set", f"{key}={json.dumps(value)}"]
    return args


# --- the summary ----------------------------------------------------------------------


def test_summary_shows_both_mac_conventions_and_where_the_field_becomes_global():
    result = run("summary", str(SPECS / "vit.yaml"))
    assert result.exit_code == 0, result.output
    # torchvision documents vit_b_16 at 17.56 GFLOPS: 16.85 G conv + linear, 0.72 G attention.
    assert "MACs: 16,848,500,736 (16.85G)" in result.output
    assert "attention MACs: 715,327,488 (715.33M)" in result.output
    assert "MACs with attention: 17,563,828,224 (17.56G)" in result.output
    assert (
        "receptive field: global from encoder.layers.encoder_layer_0.self_attention on"
        in result.output
    )


def test_receptive_field_is_the_patch_until_attention_then_global():
    rows = {r["name"]: r for r in archc.load(SPECS / "vit.yaml").summary()["layers"]}
    patch = {"size": [16, 16], "jump": [16, 16]}
    assert rows["conv_proj"]["receptive_field"] == patch
    assert rows["tokens"]["receptive_field"] == patch  # a token is one patch
    assert rows["encoder.layers.encoder_layer_0.ln_1"]["receptive_field"] == patch
    attention = rows["encoder.layers.encoder_layer_0.self_attention"]["receptive_field"]
    assert attention == {"size": None, "jump": [16, 16], "global": True}
    assert rows["encoder.ln"]["receptive_field"]["global"] is True
    assert rows["class_output"]["receptive_field"] is None  # a vector has no field
    table = run("summary", str(SPECS / "vit.yaml")).output
    line = next(x for x in table.splitlines() if "encoder_layer_0.self_attention " in x)
    assert line.rstrip(" │").endswith("global")


def test_swin_receptive_field_grows_by_windows():
    rows = {r["name"]: r for r in archc.load(SPECS / "swin.yaml").summary()["layers"]}
    # 4x4 patches, then each 7x7 window adds 6 tokens of 4 pixels.
    assert rows["features.0.0"]["receptive_field"]["size"] == [4, 4]
    assert rows["features.1.0.attn"]["receptive_field"]["size"] == [28, 28]
    assert rows["features.1.1.attn"]["receptive_field"]["size"] == [52, 52]


# --- generated code ---------------------------------------------------------------------


def test_vit_code_reads_like_torchvision():
    from archc.backends.pytorch import generate_source

    source = generate_source(archc.load(SPECS / "vit.yaml").graph)
    # One class for the twelve encoder blocks, torch's attention module, the class token
    # and the position embedding as parameters of their modules.
    assert source.count("class EncoderBlock(nn.Module):") == 1
    assert source.count("EncoderBlock()") == 12
    assert "self.self_attention = nn.MultiheadAttention(768, 12, batch_first=True)" in source
    assert "self.class_token = nn.Parameter(torch.zeros(1, 1, 768))" in source
    assert "nn.Parameter(torch.empty(1, 197, 768).normal_(std=0.02))" in source
    assert "need_weights=False" in source
    assert "x = x.flatten(2).transpose(1, 2)  # vit.yaml:" in source
    assert "  -> 197x768" in source
    assert "x = x[:, 0]  # vit.yaml:" in source


def test_swin_blocks_share_one_class():
    from archc.backends.pytorch import generate_source

    source = generate_source(archc.load(SPECS / "swin.yaml", "t").graph)
    assert source.count("class SwinBlock(nn.Module):") == 1
    assert "SwinBlock(3, 96, shift=3, drop=0.018181818181818184)" in source


# --- running the generated model -------------------------------------------------------


@pytest.mark.parametrize("family", ["vit", pytest.param("swin", marks=pytest.mark.slow)])
def test_torch_compile_fullgraph_matches_eager(family):
    torch = pytest.importorskip("torch")
    from archc.backends.pytorch import compile_module

    graph = archc.load(SPECS / f"{family}.yaml", params=SMALL[family]).graph
    model = compile_module(graph).eval()
    x = torch.randn(2, *graph.input_shape)
    torch._dynamo.reset()
    with torch.no_grad():
        eager = model(x)
        # fullgraph=True: any graph break is an error.
        compiled = torch.compile(model, fullgraph=True, backend="aot_eager")(x)
    torch.testing.assert_close(compiled, eager, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("family", ["vit", "swin"])
def test_build_check_passes_the_onnx_checks(family, tmp_path):
    pytest.importorskip("onnxruntime")
    spec = str(SPECS / f"{family}.yaml")
    result = run("build", spec, *small_args(family), "--check", "-o", str(tmp_path))
    assert result.exit_code == 0, result.output
    for check in ("checker", "shapes", "onnxruntime"):
        assert f"onnx check {check}: ok" in result.output, result.output


# --- the diagram and the report ---------------------------------------------------------


def test_diagram_draws_each_encoder_block_as_a_cluster_with_sequence_shapes():
    from archc.backends.graphviz import dot_text

    text = dot_text(archc.load(SPECS / "vit.yaml").graph, None, "TB")
    for k in range(12):
        assert f'subgraph "cluster_encoder.layers.encoder_layer_{k}"' in text
    assert 'label="197x768"' in text
    assert 'label="197x3072"' in text


def test_report_shows_attention_macs_and_the_global_field():
    from archc.backends.report import render_page

    page = render_page(archc.load(SPECS / "vit.yaml").graph, None, "")
    assert "attention MACs" in page
    assert "715,327,488" in page
    assert '"global"' in page

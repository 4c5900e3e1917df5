"""The transformer layer kinds against torch itself, over many random small configurations.

As tests/test_layers_vs_torch.py does for the convolutional kinds: each configuration is
run through the real torch operations (`nn.MultiheadAttention`, the token reshapes
torchvision's ViT and Swin use), never through archc's generated code, and archc's output
volume, tensors and MACs must equal torch's. Attention's query-key and attention-value
products are counted by FlopCounterMode on the unfused path (`need_weights=True`), where
they are batched matrix products.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from archc.layers.base import SELF, Tensor
from tests.test_layers_vs_torch import archc_layer, assert_tensors, torch_output

torch = pytest.importorskip("torch")
nn = torch.nn
pytestmark = pytest.mark.torch

#: The kinds this file compares with torch (tests/test_layers_vs_torch.py adds them to its
#: every-kind check).
COVERED = {
    "map_to_tokens",
    "tokens_to_map",
    "class_token",
    "pos_embedding",
    "select_token",
    "self_attention",
}

MAPS = st.tuples(st.integers(1, 8), st.integers(1, 9), st.integers(1, 9))
SEQUENCES = st.tuples(st.integers(1, 12), st.integers(1, 16))
VOLUMES = st.one_of(st.tuples(st.integers(1, 30)), SEQUENCES, MAPS)


def flop_count(run, *tensors) -> int:
    """Multiply-accumulates torch's FlopCounterMode counts for `run` (FLOPs / 2)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        run(*tensors)
    flops = counter.get_total_flops()
    assert flops % 2 == 0
    return flops // 2


@given(VOLUMES)
def test_map_to_tokens(shape):
    kind, model, out = archc_layer("map_to_tokens", {}, [shape])

    def run(x):
        if x.dim() != 4:
            raise RuntimeError("not a batch of maps")
        # torchvision's VisionTransformer._process_input
        n, c, h, w = x.shape
        return x.reshape(n, c, h * w).permute(0, 2, 1)

    assert out == torch_output(run, [shape])


@given(VOLUMES, st.one_of(st.none(), st.integers(1, 9)), st.one_of(st.none(), st.integers(1, 9)))
def test_tokens_to_map(shape, height, width):
    fields = {"height": height, "width": width}
    kind, model, out = archc_layer("tokens_to_map", fields, [shape])

    def run(x):
        if x.dim() != 3:
            raise RuntimeError("not a batch of sequences")
        tokens = x.shape[1]
        h, w = height, width
        if h is None and w is None:
            h = w = round(tokens**0.5)
        elif h is None:
            h = tokens // w
        elif w is None:
            w = tokens // h
        if h * w != tokens:
            raise RuntimeError("tokens do not fill the map")
        return x.transpose(1, 2).reshape(x.shape[0], x.shape[2], h, w)

    assert out == torch_output(run, [shape])


@given(VOLUMES)
def test_class_token(shape):
    kind, model, out = archc_layer("class_token", {}, [shape])
    token = nn.Parameter(torch.zeros(1, 1, shape[-1]))

    def run(x):
        if x.dim() != 3:
            raise RuntimeError("not a batch of sequences")
        # torchvision's VisionTransformer.forward
        return torch.cat([token.expand(x.shape[0], -1, -1), x], dim=1)

    assert out == torch_output(run, [shape])
    if out is not None:
        assert kind.tensors(model, [shape], out) == [Tensor(SELF, tuple(token.shape))]


@given(VOLUMES)
def test_pos_embedding(shape):
    kind, model, out = archc_layer("pos_embedding", {}, [shape])
    embedding = nn.Parameter(torch.zeros(1, *shape))

    def run(x):
        if x.dim() != 3:
            raise RuntimeError("not a batch of sequences")
        return x + embedding

    assert out == torch_output(run, [shape])
    if out is not None:
        assert kind.tensors(model, [shape], out) == [Tensor(SELF, tuple(embedding.shape))]


@given(VOLUMES, st.integers(-14, 14))
def test_select_token(shape, index):
    kind, model, out = archc_layer("select_token", {"index": index}, [shape])

    def run(x):
        if x.dim() != 3:
            raise RuntimeError("not a batch of sequences")
        return x[:, index]

    assert out == torch_output(run, [shape])


@given(VOLUMES, st.integers(1, 6), st.booleans(), st.sampled_from([0.0, 0.1]))
def test_self_attention(shape, heads, bias, dropout):
    fields = {"heads": heads, "bias": bias, "dropout": dropout}
    kind, model, out = archc_layer("self_attention", fields, [shape])
    if len(shape) != 2:
        assert out is None  # a map or a vector is not a sequence: archc asks for tokens
        return
    dim = shape[1]
    if dim % heads:
        assert out is None
        with pytest.raises(AssertionError):  # torch refuses too, at construction
            nn.MultiheadAttention(dim, heads, bias=bias, batch_first=True)
        return
    module = nn.MultiheadAttention(dim, heads, dropout=dropout, bias=bias, batch_first=True)
    module.eval()
    assert out == torch_output(lambda x: module(x, x, x, need_weights=False)[0], [shape])
    assert_tensors(kind, model, [shape], out, module)
    # With grad enabled torch takes the unfused path: the projections are linear layers,
    # and with need_weights the attention products are batched matrix products.
    x = torch.zeros(1, *shape)
    projections = flop_count(lambda t: module(t, t, t, need_weights=False), x)
    everything = flop_count(lambda t: module(t, t, t, need_weights=True), x)
    assert kind.macs(model, [shape], out) == projections
    assert kind.attention_macs(model, [shape], out) == everything - projections


def test_attention_macs_match_torchvision_vit_b_16_figure():
    """papers.md: vit_b_16's attention products are 715,327,488 MACs (12 layers of 197x768)."""
    kind, model, out = archc_layer("self_attention", {"heads": 12}, [(197, 768)])
    assert 12 * kind.attention_macs(model, [(197, 768)], out) == 715_327_488

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
from archc.pycode import flat
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
    "window_attention",
    "patch_merging",
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


# --------------------------------------------------------------------------- Swin


def torchvision_window_attention(x, qkv, proj, table, window, heads, shift):
    """torchvision's `shifted_window_attention` (models/swin_transformer.py, v1, no padding
    needed), step by step as it is written there, with its `relative_position_index`."""
    b, h, w, c = x.shape
    shift = [0 if window >= h else shift, 0 if window >= w else shift]
    coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij"))
    flat = torch.flatten(coords, 1)
    rel = (flat[:, :, None] - flat[:, None, :]).permute(1, 2, 0).contiguous()
    rel[:, :, 0] += window - 1
    rel[:, :, 1] += window - 1
    rel[:, :, 0] *= 2 * window - 1
    index = rel.sum(-1).flatten()
    n = window * window
    bias = table[index].view(n, n, -1).permute(2, 0, 1).contiguous().unsqueeze(0)
    if sum(shift) > 0:
        x = torch.roll(x, shifts=(-shift[0], -shift[1]), dims=(1, 2))
    num_windows = (h // window) * (w // window)
    x = x.view(b, h // window, window, w // window, window, c)
    x = x.permute(0, 1, 3, 2, 4, 5).reshape(b * num_windows, n, c)
    q, k, v = qkv(x).reshape(x.size(0), x.size(1), 3, heads, c // heads).permute(2, 0, 3, 1, 4)
    attn = (q * (c // heads) ** -0.5).matmul(k.transpose(-2, -1)) + bias
    if sum(shift) > 0:
        mask = x.new_zeros((h, w))
        h_slices = ((0, -window), (-window, -shift[0]), (-shift[0], None))
        w_slices = ((0, -window), (-window, -shift[1]), (-shift[1], None))
        count = 0
        for hs in h_slices:
            for ws in w_slices:
                mask[hs[0] : hs[1], ws[0] : ws[1]] = count
                count += 1
        mask = mask.view(h // window, window, w // window, window).permute(0, 2, 1, 3)
        mask = mask.reshape(num_windows, n)
        mask = mask.unsqueeze(1) - mask.unsqueeze(2)
        mask = mask.masked_fill(mask != 0, -100.0).masked_fill(mask == 0, 0.0)
        attn = attn.view(x.size(0) // num_windows, num_windows, heads, n, n)
        attn = (attn + mask.unsqueeze(1).unsqueeze(0)).view(-1, heads, n, n)
    x = attn.softmax(-1).matmul(v).transpose(1, 2).reshape(x.size(0), n, c)
    x = proj(x).view(b, h // window, w // window, window, window, c)
    x = x.permute(0, 1, 3, 2, 4, 5).reshape(b, h, w, c)
    if sum(shift) > 0:
        x = torch.roll(x, shifts=(shift[0], shift[1]), dims=(1, 2))
    return x, index


def helper_class(kind, name):
    """The helper class the generated code defines, executed on its own."""
    namespace = {"torch": torch, "nn": nn}
    exec(kind.torch_helpers[name], namespace)
    return namespace[name]


@given(
    st.sampled_from([1, 2, 3]),
    st.integers(1, 3),
    st.integers(1, 3),
    st.integers(1, 3),
    st.integers(0, 2),
    st.booleans(),
)
def test_window_attention(window, rows, cols, heads, shift, odd):
    h, w = rows * window + (1 if odd else 0), cols * window
    c = 2 * heads
    shift = min(shift, window - 1)
    fields = {"heads": heads, "window": window, "shift": shift}
    kind, model, out = archc_layer("window_attention", fields, [(h, w, c)])
    if odd and window > 1:
        assert out is None  # the window does not tile the map: archc refuses
        return
    assert out == (h, w, c)
    qkv, proj = nn.Linear(c, 3 * c), nn.Linear(c, c)
    table = torch.randn((2 * window - 1) ** 2, heads)
    x = torch.randn(2, h, w, c)
    with torch.no_grad():
        expected, index = torchvision_window_attention(x, qkv, proj, table, window, heads, shift)
    # The tensors torchvision's ShiftedWindowAttention holds, by name and shape.
    names = {
        "relative_position_bias_table": (tuple(table.shape), False),
        "relative_position_index": (tuple(index.shape), True),
        "qkv.weight": (tuple(qkv.weight.shape), False),
        "qkv.bias": (tuple(qkv.bias.shape), False),
        "proj.weight": (tuple(proj.weight.shape), False),
        "proj.bias": (tuple(proj.bias.shape), False),
    }
    assert {t.name: (t.shape, t.buffer) for t in kind.tensors(model, [(h, w, c)], out)} == names
    # MACs: its linear layers, and its two batched products (torchvision's aten.bmm).
    linear = flop_count(lambda t: (qkv(t), proj(t)), torch.zeros(1, h * w, c))
    assert kind.macs(model, [(h, w, c)], out) == linear
    products = flop_count(
        lambda t: torchvision_window_attention(t, qkv, proj, table, window, heads, shift),
        torch.zeros(1, h, w, c),
    )
    assert kind.attention_macs(model, [(h, w, c)], out) == products - linear
    # The generated helper computes what torchvision computes, with the same index buffer.
    code = kind.torch(model, [(h, w, c)], out)
    cls = helper_class(kind, "ShiftedWindowAttention")
    module = eval(flat(code.module), {"ShiftedWindowAttention": cls}).eval()
    with torch.no_grad():
        module.qkv.load_state_dict(qkv.state_dict())
        module.proj.load_state_dict(proj.state_dict())
        module.relative_position_bias_table.copy_(table)
        assert torch.equal(module.relative_position_index, index)
        torch.testing.assert_close(module(x), expected, rtol=1e-5, atol=1e-5)


def torchvision_patch_merging(x, norm, reduction):
    """torchvision's PatchMerging.forward (even sizes: its padding adds nothing)."""
    x0 = x[..., 0::2, 0::2, :]
    x1 = x[..., 1::2, 0::2, :]
    x2 = x[..., 0::2, 1::2, :]
    x3 = x[..., 1::2, 1::2, :]
    return reduction(norm(torch.cat([x0, x1, x2, x3], -1)))


@given(st.one_of(MAPS, SEQUENCES))
def test_patch_merging(shape):
    kind, model, out = archc_layer("patch_merging", {}, [shape])
    if len(shape) != 3 or shape[0] % 2 or shape[1] % 2:
        assert out is None
        return
    c = shape[2]
    norm, reduction = nn.LayerNorm(4 * c), nn.Linear(4 * c, 2 * c, bias=False)
    run = lambda t: torchvision_patch_merging(t, norm, reduction)  # noqa: E731
    assert out == torch_output(run, [shape])
    tensors = kind.tensors(model, [shape], out)
    theirs = [("reduction.weight", reduction.weight), ("norm.weight", norm.weight)]
    theirs.append(("norm.bias", norm.bias))
    assert [(t.name, t.shape) for t in tensors] == [(n, tuple(p.shape)) for n, p in theirs]
    assert kind.macs(model, [shape], out) == flop_count(run, torch.zeros(1, *shape))
    module = helper_class(kind, "PatchMerging")(c)
    module.reduction.load_state_dict(reduction.state_dict())
    module.norm.load_state_dict(norm.state_dict())
    x = torch.randn(2, *shape)
    with torch.no_grad():
        torch.testing.assert_close(module(x), run(x))

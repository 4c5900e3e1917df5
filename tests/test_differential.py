"""Differential testing: random valid networks, archc's static analysis against torch.

Hypothesis writes random specs (chains, residual adds, concat branches, random kernels,
strides, paddings, dilations, groups, pooling modes), archc analyses them statically, and
the module archc generates for them is run once:

- every layer's output shape (forward hooks on the generated modules) and the network's
  output equal archc's shapes;
- the state_dict (names and shapes) equals archc's tensors, and parameter and buffer
  totals equal `numel` sums;
- total MACs equal `torch.utils.flop_counter.FlopCounterMode`'s FLOPs / 2.

Any disagreement is a bug in archc's analysis or in its code generator.
"""

from __future__ import annotations

import json

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from archc.backends.summary import to_json
from archc.pipeline import load

torch = pytest.importorskip("torch")
pytorch = pytest.importorskip("archc.backends.pytorch")
if not hasattr(pytorch, "compile_module"):
    pytest.skip("the PyTorch backend has no compile_module yet", allow_module_level=True)
pytestmark = pytest.mark.torch


def out_len(size: int, k: int, s: int, p: int, d: int = 1, ceil: bool = False) -> int:
    """PyTorch's output length of a sliding window (the formula in nn.Conv2d's docs)."""
    span = d * (k - 1) + 1
    if ceil:
        out = -(-(size + 2 * p - span) // s) + 1
        if (out - 1) * s >= size + p:
            out -= 1
        return out
    return (size + 2 * p - span) // s + 1


@st.composite
def conv(draw, c: int, h: int, w: int, name: str):
    groups = draw(st.sampled_from([g for g in (1, 2, 3, 4) if c % g == 0]))
    out = groups * draw(st.integers(1, max(1, 8 // groups)))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    dilation = draw(st.integers(1, 2))
    entry = {
        "name": name,
        "type": "conv",
        "out": out,
        "kernel": [kh, kw] if kh != kw else kh,
        "bias": draw(st.booleans()),
    }
    if groups > 1:
        entry["groups"] = groups
    if dilation > 1:
        entry["dilation"] = dilation
    if draw(st.booleans()) and (dilation * (kh - 1)) % 2 == 0 and (dilation * (kw - 1)) % 2 == 0:
        entry["padding"] = "same"
        return entry, (out, h, w)
    stride, pad = draw(st.integers(1, 2)), draw(st.integers(0, 2))
    if stride > 1:
        entry["stride"] = stride
    if pad:
        entry["padding"] = pad
    oh, ow = out_len(h, kh, stride, pad, dilation), out_len(w, kw, stride, pad, dilation)
    if min(oh, ow) < 1:
        return None, None
    return entry, (out, oh, ow)


@st.composite
def pool(draw, c: int, h: int, w: int, name: str):
    kind = draw(st.sampled_from(["maxpool", "avgpool"]))
    k = draw(st.integers(1, 3))
    s = draw(st.integers(1, 3))
    p = draw(st.integers(0, k // 2))
    ceil = draw(st.booleans())
    entry = {"name": name, "type": kind, "kernel": k, "stride": s, "padding": p, "ceil_mode": ceil}
    if kind == "avgpool":
        entry["count_include_pad"] = draw(st.booleans())
    oh, ow = out_len(h, k, s, p, 1, ceil), out_len(w, k, s, p, 1, ceil)
    if min(oh, ow) < 1:
        return None, None
    return entry, (c, oh, ow)


@st.composite
def network(draw):
    c, h, w = draw(st.integers(1, 4)), draw(st.integers(6, 20)), draw(st.integers(6, 20))
    input_shape = [c, h, w]
    layers: list = []
    shape = (c, h, w)
    for i in range(draw(st.integers(1, 6))):
        c, h, w = shape
        step = draw(
            st.sampled_from(
                ["conv", "pool", "pointwise", "residual", "concat", "gate", "channels_last"]
                + ["shuffle", "norm"]
            )
        )
        name = f"l{i}"
        if step == "conv":
            entry, new = draw(conv(c, h, w, name))
        elif step == "pool":
            entry, new = draw(pool(c, h, w, name))
        elif step == "pointwise":
            entry = {
                "name": name,
                "type": draw(
                    st.sampled_from(
                        ["relu", "batchnorm", "dropout", "lrn", "sigmoid", "leaky_relu", "identity"]
                    )
                ),
            }
            new = shape
        elif step == "residual":
            # conv -> batchnorm -> add(shortcut): the conv keeps the volume.
            k = draw(st.sampled_from([1, 3, 5]))
            entry = [
                {"name": f"{name}_a", "type": "conv", "out": c, "kernel": k, "padding": k // 2},
                {"name": f"{name}_bn", "type": "batchnorm"},
                {
                    "name": name,
                    "type": "add",
                    "inputs": [f"{name}_bn", layers[-1]["name"] if layers else "input"],
                },
            ]
            new = shape
        elif step == "gate":
            # squeeze-excitation: pool, 1x1 conv, a gate, the Cx1x1 result times the input.
            source = layers[-1]["name"] if layers else "input"
            entry = [
                {"name": f"{name}_pool", "type": "adaptive_avgpool", "inputs": source},
                {"name": f"{name}_fc", "type": "conv", "out": c, "kernel": 1},
                {"name": f"{name}_gate", "type": draw(st.sampled_from(["hardsigmoid", "sigmoid"]))},
                {"name": name, "type": "multiply", "inputs": [f"{name}_gate", source]},
            ]
            new = shape
        elif step == "channels_last":
            # ConvNeXt's stretch: to HxWxC, a norm and a linear on the last axis, and back,
            # then a learned per-channel scale and stochastic depth.
            out = draw(st.integers(1, 6))
            entry = [
                {"name": f"{name}_p", "type": "permute", "dims": [0, 2, 3, 1]},
                {"name": f"{name}_ln", "type": "layernorm", "over": "last"},
                {"name": f"{name}_fc", "type": "linear", "out": out, "over": "last"},
                {"name": f"{name}_q", "type": "permute", "dims": [0, 3, 1, 2]},
                {"name": f"{name}_s", "type": "layer_scale", "over": "channels"},
                {"name": name, "type": "stochastic_depth", "p": 0.5},
            ]
            new = (out, h, w)
        elif step == "shuffle":
            # ShuffleNetV2's unit: split the channels, convolve one half, stack, shuffle.
            if c % 2:
                continue
            source = layers[-1]["name"] if layers else "input"
            entry = [
                {"name": f"{name}_a", "type": "channel_split", "index": 0, "inputs": source},
                {"name": f"{name}_b", "type": "channel_split", "index": 1, "inputs": source},
                {"name": f"{name}_conv", "type": "conv", "out": c // 2, "kernel": 1},
                {"name": f"{name}_cat", "type": "concat", "inputs": [f"{name}_a", f"{name}_conv"]},
                {"name": name, "type": "channel_shuffle", "groups": 2},
            ]
            new = shape
        elif step == "norm":
            groups = draw(st.sampled_from([g for g in (1, 2, 4) if c % g == 0]))
            entry = draw(
                st.sampled_from(
                    [
                        {"name": name, "type": "layernorm", "over": "channels"},
                        {"name": name, "type": "groupnorm", "groups": groups},
                    ]
                )
            )
            new = shape
        else:
            # two branches from the same input, stacked: 1x1 and a padded 3x3.
            source = layers[-1]["name"] if layers else "input"
            a, b = draw(st.integers(1, 6)), draw(st.integers(1, 6))
            entry = [
                {"name": f"{name}_x", "type": "conv", "out": a, "kernel": 1, "inputs": source},
                {
                    "name": f"{name}_y",
                    "type": "conv",
                    "out": b,
                    "kernel": 3,
                    "padding": 1,
                    "inputs": source,
                },
                {"name": name, "type": "concat", "inputs": [f"{name}_x", f"{name}_y"]},
            ]
            new = (a + b, h, w)
        if entry is None:
            continue
        layers.extend(entry if isinstance(entry, list) else [entry])
        shape = new
    if draw(st.booleans()):
        layers.append({"name": "gap", "type": "adaptive_avgpool", "size": draw(st.integers(1, 3))})
    layers += [
        {"name": "flat", "type": "flatten"},
        {"name": "fc", "type": "linear", "out": draw(st.integers(1, 10))},
    ]
    return {"network": "rand", "input": input_shape, "layers": layers}


def shapes_by_path(model, graph, x):
    """Run the model once; the output shape of every generated module, by path."""
    seen = {}
    hooks = []
    paths = {n.path for n in graph.layers() if n.layer is not None}
    for path, module in model.named_modules():
        if path in paths:
            hooks.append(
                module.register_forward_hook(
                    lambda mod, args, out, path=path: seen.__setitem__(path, tuple(out.shape[1:]))
                )
            )
    with torch.no_grad():
        out = model(x)
    for hook in hooks:
        hook.remove()
    return seen, tuple(out.shape[1:])


@settings(max_examples=max(10, settings().max_examples // 2))
@given(data=st.data())
def test_random_networks_match_torch(data, tmp_path_factory):
    from torch.utils.flop_counter import FlopCounterMode

    spec = data.draw(network())
    path = tmp_path_factory.mktemp("diff") / "net.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    graph = load(path)
    model = pytorch.compile_module(graph).eval()
    x = torch.zeros(1, *graph.input_shape)
    seen, out = shapes_by_path(model, graph, x)
    assert out == graph.nodes[graph.output].shape
    for node in graph.layers():
        if node.path in seen:
            assert seen[node.path] == node.shape, node.path
    state = [(k, tuple(v.shape)) for k, v in model.state_dict().items()]
    assert [(key, t.shape) for key, t in graph.state_dict()] == state
    totals = json.loads(to_json(graph))["totals"]
    params = sum(p.numel() for p in model.parameters())
    buffers = sum(b.numel() for b in model.buffers())
    macs = sum(n.counts.macs for n in graph.layers())
    assert sum(n.counts.params for n in graph.layers()) == params
    assert sum(n.counts.buffer_elements for n in graph.layers()) == buffers
    assert totals["params"] == params and totals["buffer_elements"] == buffers
    assert totals["macs"] == macs
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(x)
    assert counter.get_total_flops() == 2 * macs

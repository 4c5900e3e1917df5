"""Each layer kind's rules against torch itself, over many random small configurations.

For every configuration hypothesis draws, the test builds the real `torch.nn` layer (or the
torch operations) directly, not from archc's generated code, and compares:

- the output volume: archc's `kind.infer` against a forward pass on zeros; where archc
  refuses the input volume (ShapeError), torch must refuse it too;
- learnable parameters and buffers: `kind.tensors` (names and shapes) against the layer's
  `named_parameters()` and `named_buffers()`;
- MACs of conv and linear: `kind.macs` against `torch.utils.flop_counter.FlopCounterMode`
  (which counts 2 FLOPs per multiply-accumulate).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archc.layers import REGISTRY, ShapeError
from archc.pycode import Name, fill, flat

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional
pytestmark = pytest.mark.torch

SIZES = st.integers(1, 20)
CHANNELS = st.integers(1, 8)
VOLUME3 = st.tuples(st.integers(1, 8), st.integers(1, 6), st.integers(1, 6))


def archc_layer(type_name: str, fields: dict, inputs: list[tuple[int, ...]]):
    """(fields model, output shape or None if archc refuses the inputs)."""
    kind = REGISTRY[type_name]
    model = kind.Fields.model_validate(fields)
    try:
        return kind, model, kind.infer(model, inputs)
    except ShapeError:
        return kind, model, None


def torch_output(run, inputs: list[tuple[int, ...]]):
    """Torch's output shape (batch axis dropped) of `run` on zeros, or None if it refuses."""
    # A batch of 2: batch norm without running statistics refuses a batch of one.
    tensors = [torch.zeros(2, *shape) for shape in inputs]
    try:
        with torch.no_grad():
            out = run(*tensors)
    except (RuntimeError, ValueError, IndexError):
        return None
    return tuple(out.shape[1:])


def assert_tensors(kind, model, inputs, out, module) -> None:
    """archc's parameters and buffers equal the module's, by state_dict name and shape."""
    tensors = kind.tensors(model, inputs, out)
    ours = {t.name: t.shape for t in tensors if not t.buffer}
    theirs = {name: tuple(p.shape) for name, p in module.named_parameters()}
    assert ours == theirs
    ours = {t.name: t.shape for t in tensors if t.buffer}
    theirs = {name: tuple(b.shape) for name, b in module.named_buffers()}
    assert ours == theirs
    assert sum(t.numel for t in tensors if not t.buffer) == sum(
        p.numel() for p in module.parameters()
    )


def torch_macs(module, shape) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        module(torch.zeros(1, *shape))
    flops = counter.get_total_flops()
    assert flops % 2 == 0
    return flops // 2


SMALL = st.integers(1, 5)


def pair(strategy=SMALL):
    return st.one_of(strategy, st.tuples(strategy, strategy).map(list))


def _torch_pair(value):
    return tuple(value) if isinstance(value, list) else value


# --------------------------------------------------------------------------- conv


@st.composite
def conv_case(draw):
    groups = draw(st.integers(1, 4))
    channels = groups * draw(st.integers(1, 3))
    out = groups * draw(st.integers(1, 3))
    if draw(st.booleans()):  # sometimes channels the groups do not divide
        channels = draw(CHANNELS)
    fields = {
        "out": out,
        "kernel": draw(pair()),
        "stride": draw(pair(st.integers(1, 3))),
        "dilation": draw(pair(st.integers(1, 3))),
        "groups": groups,
        "bias": draw(st.booleans()),
    }
    padding = draw(st.one_of(pair(st.integers(0, 3)), st.sampled_from(["same", "valid"])))
    fields["padding"] = padding
    shape = (channels, draw(SIZES), draw(SIZES))
    return fields, shape


@given(conv_case())
def test_conv(case):
    fields, shape = case
    kind, model, out = archc_layer("conv", fields, [shape])
    try:
        module = nn.Conv2d(
            shape[0],
            fields["out"],
            _torch_pair(fields["kernel"]),
            stride=_torch_pair(fields["stride"]),
            padding=_torch_pair(fields["padding"]),
            dilation=_torch_pair(fields["dilation"]),
            groups=fields["groups"],
            bias=fields["bias"],
        )
    except ValueError:  # torch refuses the configuration itself (groups, 'same' + stride)
        assert out is None
        return
    assert out == torch_output(module, [shape])
    if out is None:
        return
    assert_tensors(kind, model, [shape], out, module)
    assert kind.macs(model, [shape], out) == torch_macs(module, shape)


@given(
    st.lists(
        st.lists(st.integers(0, 5), min_size=1, max_size=4, unique=True), min_size=1, max_size=5
    ),
    pair(st.integers(1, 3)),
    st.booleans(),
    st.integers(3, 12),
)
def test_conv_connection_table(table, kernel, bias, size):
    """LeNet-5's C3: each output map a convolution over the input maps its row lists."""
    shape = (6, size, size)
    kind, model, out = archc_layer(
        "conv",
        {"out": len(table), "kernel": kernel, "bias": bias, "connections": table},
        [shape],
    )
    maps = nn.ModuleDict()  # the table as torch layers: one 1-map conv per row
    convs = nn.ModuleList(nn.Conv2d(len(row), 1, _torch_pair(kernel), bias=bias) for row in table)
    maps["maps"] = convs

    def run(x):
        return torch.cat([conv(x[:, row]) for conv, row in zip(convs, table, strict=True)], 1)

    assert out == torch_output(run, [shape])
    if out is None:
        return
    assert_tensors(kind, model, [shape], out, maps)
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        run(torch.zeros(1, *shape))
    assert kind.macs(model, [shape], out) * 2 == counter.get_total_flops()


# --------------------------------------------------------------------------- pools


@st.composite
def pool_case(draw, dilation: bool):
    kernel = draw(pair(st.integers(1, 5)))
    ks = kernel if isinstance(kernel, list) else [kernel, kernel]
    fields = {
        "kernel": kernel,
        "padding": draw(st.tuples(*(st.integers(0, k // 2) for k in ks)).map(list)),
        "ceil_mode": draw(st.booleans()),
    }
    if draw(st.booleans()):
        fields["stride"] = draw(pair(st.integers(1, 4)))
    if dilation and draw(st.booleans()):
        fields["dilation"] = draw(pair(st.integers(1, 3)))
    return fields, (draw(CHANNELS), draw(SIZES), draw(SIZES))


@given(pool_case(dilation=True))
def test_maxpool(case):
    fields, shape = case
    kind, model, out = archc_layer("maxpool", fields, [shape])
    module = nn.MaxPool2d(
        _torch_pair(fields["kernel"]),
        stride=_torch_pair(fields.get("stride")),
        padding=_torch_pair(fields["padding"]),
        dilation=_torch_pair(fields.get("dilation", 1)),
        ceil_mode=fields["ceil_mode"],
    )
    theirs = torch_output(module, [shape])
    # torch may return an empty volume where archc refuses one: both mean "does not fit".
    assert out == (theirs if theirs is None or min(theirs) > 0 else None)
    if out is not None:
        assert_tensors(kind, model, [shape], out, module)
        assert kind.macs(model, [shape], out) == 0


@given(pool_case(dilation=False), st.booleans())
def test_avgpool(case, count_include_pad):
    fields, shape = case
    fields["count_include_pad"] = count_include_pad
    kind, model, out = archc_layer("avgpool", fields, [shape])
    module = nn.AvgPool2d(
        _torch_pair(fields["kernel"]),
        stride=_torch_pair(fields.get("stride")),
        padding=_torch_pair(fields["padding"]),
        ceil_mode=fields["ceil_mode"],
        count_include_pad=count_include_pad,
    )
    theirs = torch_output(module, [shape])
    assert out == (theirs if theirs is None or min(theirs) > 0 else None)
    if out is not None:
        assert_tensors(kind, model, [shape], out, module)


@given(pair(st.integers(1, 7)), CHANNELS, SIZES, SIZES)
def test_adaptive_avgpool(size, c, h, w):
    shape = (c, h, w)
    kind, model, out = archc_layer("adaptive_avgpool", {"size": size}, [shape])
    module = nn.AdaptiveAvgPool2d(_torch_pair(size))
    assert out == torch_output(module, [shape])
    assert_tensors(kind, model, [shape], out, module)


@given(st.integers(1, 4), CHANNELS, SIZES, SIZES)
def test_subsample(kernel, c, h, w):
    """LeNet-5's S2/S4: average pool times a learned coefficient plus a bias, per map."""
    shape = (c, h, w)
    kind, model, out = archc_layer("subsample", {"kernel": kernel}, [shape])
    module = nn.Module()
    module.weight = nn.Parameter(torch.ones(c))
    module.bias = nn.Parameter(torch.zeros(c))
    pool = nn.AvgPool2d(kernel)

    def run(x):
        return pool(x) * module.weight[:, None, None] + module.bias[:, None, None]

    assert out == torch_output(run, [shape])
    if out is not None:
        assert_tensors(kind, model, [shape], out, module)


# --------------------------------------------------------------------------- norms


@given(
    st.integers(1, 7),
    st.floats(1e-5, 1e-3),
    st.floats(0.5, 1.0),
    st.floats(0.5, 2.0),
    st.one_of(st.tuples(CHANNELS, SIZES, SIZES), st.tuples(st.integers(1, 50))),
)
def test_lrn(size, alpha, beta, k, shape):
    fields = {"size": size, "alpha": alpha, "beta": beta, "k": k}
    kind, model, out = archc_layer("lrn", fields, [shape])
    module = nn.LocalResponseNorm(size, alpha, beta, k)
    assert out == torch_output(module, [shape])
    if out is not None:
        assert_tensors(kind, model, [shape], out, module)


@given(
    st.booleans(),
    st.booleans(),
    st.floats(1e-6, 1e-2),
    st.one_of(st.tuples(CHANNELS, SIZES, SIZES), st.tuples(st.integers(1, 50))),
)
def test_batchnorm(affine, track, eps, shape):
    fields = {"affine": affine, "track_running_stats": track, "eps": eps}
    kind, model, out = archc_layer("batchnorm", fields, [shape])
    cls = nn.BatchNorm2d if len(shape) == 3 else nn.BatchNorm1d
    module = cls(shape[0], eps=eps, affine=affine, track_running_stats=track).eval()
    assert out == torch_output(module, [shape])
    assert_tensors(kind, model, [shape], out, module)


# --------------------------------------------------------------------------- vectors


ANY_RANK = st.one_of(
    st.tuples(st.integers(1, 64)), st.tuples(SIZES, CHANNELS), st.tuples(CHANNELS, SIZES, SIZES)
)


@given(st.integers(1, 64), st.booleans(), ANY_RANK, st.sampled_from([None, "last"]))
def test_linear(out_features, bias, shape, over):
    fields = {"out": out_features, "bias": bias, "over": over}
    kind, model, out = archc_layer("linear", fields, [shape])
    if len(shape) == 3 and over is None:
        # archc asks for a flatten (or `over: last`); nn.Linear would act on the last axis
        assert out is None
        return
    module = nn.Linear(shape[-1], out_features, bias=bias)
    assert out == torch_output(module, [shape])
    assert_tensors(kind, model, [shape], out, module)
    assert kind.macs(model, [shape], out) == torch_macs(module, shape)


def _over_module(over, shape, make):
    """A torch layer `make(n)` applied as `over` says: channels via a channels-last permute
    (torchvision's LayerNorm2d), else on the last axis; None where archc must refuse."""
    if over is None and len(shape) == 3:
        return None
    if over == "channels":
        module = make(shape[0])
        return module, lambda x: module(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
    module = make(shape[-1])
    return module, module


@given(
    ANY_RANK,
    st.sampled_from([None, "channels", "last"]),
    st.booleans(),
    st.booleans(),
    st.floats(1e-7, 1e-3),
)
def test_layernorm(shape, over, affine, bias, eps):
    fields = {"over": over, "affine": affine, "bias": bias, "eps": eps}
    kind, model, out = archc_layer("layernorm", fields, [shape])
    made = _over_module(
        over, shape, lambda n: nn.LayerNorm(n, eps=eps, elementwise_affine=affine, bias=bias)
    )
    if made is None:  # a CxHxW volume must say which axis
        assert out is None
        return
    module, run = made
    assert out == torch_output(run, [shape])
    if out is not None:
        assert_tensors(kind, model, [shape], out, module)


@given(st.integers(1, 4), st.booleans(), st.one_of(st.tuples(CHANNELS, SIZES, SIZES)))
def test_groupnorm(groups, affine, shape):
    kind, model, out = archc_layer("groupnorm", {"groups": groups, "affine": affine}, [shape])
    try:
        module = nn.GroupNorm(groups, shape[0], affine=affine)
    except ValueError:  # torch refuses groups that do not divide the channels
        assert out is None
        return
    assert out == torch_output(module, [shape])
    assert_tensors(kind, model, [shape], out, module)


@given(ANY_RANK, st.sampled_from([None, "channels", "last"]), st.floats(1e-6, 1.0))
def test_layer_scale(shape, over, value):
    """ConvNeXt's `self.layer_scale * x`: a parameter the parent holds (`SELF`), its key the
    layer's own path."""
    kind, model, out = archc_layer("layer_scale", {"over": over, "value": value}, [shape])
    if over is None and len(shape) == 3:
        assert out is None
        return
    if over == "channels" and len(shape) != 3:
        assert out is None
        return
    n = shape[0] if over == "channels" else shape[-1]
    scale = nn.Parameter(torch.full((n, 1, 1) if over == "channels" else (n,), value))
    assert out == torch_output(lambda x: scale * x, [shape])
    assert [(t.name, t.shape, t.buffer) for t in kind.tensors(model, [shape], out)] == [
        ("", tuple(scale.shape), False)
    ]


def _stochastic_depth(x, p, mode, training):
    """torchvision.ops.stochastic_depth, as its documentation defines it."""
    if not training or p == 0.0:
        return x
    size = [x.shape[0]] + [1] * (x.ndim - 1) if mode == "row" else [1] * x.ndim
    noise = torch.empty(size).bernoulli_(1 - p)
    return x * noise / (1 - p) if p < 1 else x * noise


@given(st.floats(0, 1), st.sampled_from(["row", "batch"]), ANY_RANK)
def test_stochastic_depth(p, mode, shape):
    kind, model, out = archc_layer("stochastic_depth", {"p": p, "mode": mode}, [shape])
    assert out == torch_output(lambda x: _stochastic_depth(x, p, mode, True), [shape])
    assert kind.tensors(model, [shape], out) == []


@given(ANY_RANK, st.data())
def test_permute(shape, data):
    rank = len(shape) + data.draw(st.sampled_from([1, 1, 1, 0, 2]))  # sometimes wrong
    rest = data.draw(st.permutations(list(range(1, max(rank, 1)))))
    dims = [0, *rest]
    kind, model, out = archc_layer("permute", {"dims": dims}, [shape])
    assert out == torch_output(lambda x: torch.permute(x, dims), [shape])
    if out is not None:
        assert kind.tensors(model, [shape], out) == []


def test_permute_refuses_what_is_no_order_of_axes():
    from pydantic import ValidationError

    for dims in ([0, 1, 1, 2], [1, 0, 2, 3], [0, 2, 3]):
        with pytest.raises(ValidationError):
            REGISTRY["permute"].Fields.model_validate({"dims": dims})


@given(st.integers(1, 4), st.integers(0, 4), st.one_of(st.tuples(st.integers(1, 12)), VOLUME3))
def test_channel_split(parts, index, shape):
    kind, model, out = archc_layer("channel_split", {"parts": parts, "index": index}, [shape])
    assert out == torch_output(lambda x: x.chunk(parts, 1)[index], [shape])
    if out is not None:
        code = kind.torch(model, [shape], out)
        x = torch.randn(2, *shape)
        assert torch.equal(_run_call(code.call, x), x.chunk(parts, 1)[index])


def _channel_shuffle(x, groups):
    """torchvision.models.shufflenetv2.channel_shuffle, as written there (4-D input)."""
    batchsize, num_channels, height, width = x.size()
    channels_per_group = num_channels // groups
    x = x.view(batchsize, groups, channels_per_group, height, width)
    x = torch.transpose(x, 1, 2).contiguous()
    return x.view(batchsize, num_channels, height, width)


def _run_call(call, *values):
    """A layer's forward expression (`{0}.chunk(2, 1)[0]`) evaluated on tensors."""
    names = [f"v{i}" for i in range(len(values))]
    # The tensors are globals of the evaluation, so a comprehension in the expression (the
    # channel order of channel_shuffle) sees them as it sees a forward's locals.
    scope = {"torch": torch, **dict(zip(names, values, strict=True))}
    return eval(flat(fill(call, [Name(n) for n in names], None)), scope)


@given(st.integers(1, 4), VOLUME3)
def test_channel_shuffle(groups, shape):
    kind, model, out = archc_layer("channel_shuffle", {"groups": groups}, [shape])
    assert out == torch_output(lambda x: _channel_shuffle(x, groups), [shape])
    if out is not None:
        x = torch.randn(2, *shape)
        code = kind.torch(model, [shape], out)
        assert torch.equal(_run_call(code.call, x), _channel_shuffle(x, groups))
        assert kind.tensors(model, [shape], out) == []


@given(st.one_of(st.tuples(st.integers(1, 64)), st.tuples(CHANNELS, SIZES, SIZES)))
def test_flatten(shape):
    kind, model, out = archc_layer("flatten", {}, [shape])
    module = nn.Flatten()
    assert out == torch_output(module, [shape])
    assert_tensors(kind, model, [shape], out, module)


@given(st.one_of(st.tuples(st.integers(1, 64)), st.tuples(CHANNELS, SIZES, SIZES)))
def test_softmax(shape):
    kind, model, out = archc_layer("softmax", {}, [shape])
    module = nn.Softmax(dim=1)
    assert out == torch_output(module, [shape])
    assert_tensors(kind, model, [shape], out, module)


@given(st.floats(0, 1), st.one_of(st.tuples(st.integers(1, 64)), st.tuples(CHANNELS, SIZES, SIZES)))
def test_dropout(p, shape):
    kind, model, out = archc_layer("dropout", {"p": p}, [shape])
    module = nn.Dropout(p)
    assert out == torch_output(module, [shape])
    assert_tensors(kind, model, [shape], out, module)


@given(st.integers(1, 8), st.integers(1, 40))
def test_rbf(units, features):
    """LeNet-5's output layer: squared distances to fixed centres (a buffer)."""
    shape = (features,)
    kind, model, out = archc_layer("rbf", {"out": units}, [shape])
    module = nn.Module()
    module.register_buffer("centers", torch.zeros(units, features))

    def run(x):
        return (x[:, None, :] - module.centers[None]).pow(2).sum(-1)

    assert out == torch_output(run, [shape])
    assert_tensors(kind, model, [shape], out, module)


ACTIVATIONS = {
    "relu": lambda f: nn.ReLU(),
    "relu6": lambda f: nn.ReLU6(),
    "elu": lambda f: nn.ELU(),
    "silu": lambda f: nn.SiLU(),
    "hardswish": lambda f: nn.Hardswish(),
    "hardsigmoid": lambda f: nn.Hardsigmoid(),
    "gelu": lambda f: nn.GELU(),
    "sigmoid": lambda f: nn.Sigmoid(),
    "tanh": lambda f: nn.Tanh(),
    "leaky_relu": lambda f: nn.LeakyReLU(f.get("slope", 0.01)),
    "identity": lambda f: nn.Identity(),
}


COVERED = {
    *ACTIVATIONS,
    "conv",
    "maxpool",
    "avgpool",
    "adaptive_avgpool",
    "subsample",
    "lrn",
    "batchnorm",
    "linear",
    "flatten",
    "softmax",
    "dropout",
    "rbf",
    "scaled_tanh",
    "subsample_pad",
    "add",
    "concat",
    "multiply",
    "layernorm",
    "groupnorm",
    "layer_scale",
    "stochastic_depth",
    "permute",
    "channel_split",
    "channel_shuffle",
}


def test_every_layer_kind_is_compared_with_torch():
    """A new layer kind needs its own comparison here (or in a file of its family)."""
    from tests.test_transformer_layers import COVERED as TRANSFORMER_KINDS

    assert set(REGISTRY) - COVERED - TRANSFORMER_KINDS == set()


@pytest.mark.parametrize("type_name", sorted(ACTIVATIONS))
@settings(max_examples=max(10, settings().max_examples // 4))  # these kinds share one rule
@given(
    st.one_of(st.tuples(st.integers(1, 64)), st.tuples(CHANNELS, SIZES, SIZES)),
    st.floats(0.001, 0.5),
)
def test_activation(type_name, shape, slope):
    fields = {"slope": slope} if type_name == "leaky_relu" else {}
    kind, model, out = archc_layer(type_name, fields, [shape])
    module = ACTIVATIONS[type_name](fields)
    assert out == torch_output(module, [shape])
    assert_tensors(kind, model, [shape], out, module)
    assert kind.macs(model, [shape], out) == 0


@given(st.one_of(st.tuples(st.integers(1, 64)), st.tuples(CHANNELS, SIZES, SIZES)))
def test_scaled_tanh(shape):
    """LeCun's 1.7159 tanh(2x/3): torch has no layer for it; its shape is tanh's."""
    kind, model, out = archc_layer("scaled_tanh", {}, [shape])
    assert out == torch_output(lambda x: 1.7159 * torch.tanh(x * (2 / 3)), [shape])
    assert kind.tensors(model, [shape], out) == []


# --------------------------------------------------------------------------- shortcuts, merges


@given(st.integers(1, 16), st.integers(1, 3), CHANNELS, SIZES, SIZES)
def test_subsample_pad(out_channels, stride, c, h, w):
    """The ResNet paper's option A shortcut: subsample, then zero-pad the channels."""
    shape = (c, h, w)
    kind, model, out = archc_layer(
        "subsample_pad", {"out": out_channels, "stride": stride}, [shape]
    )

    def run(x):
        if out_channels < c:
            raise ValueError("would drop channels")
        extra = out_channels - c
        x = x[:, :, ::stride, ::stride]
        return F.pad(x, (0, 0, 0, 0, extra // 2, extra - extra // 2))

    assert out == torch_output(run, [shape])
    if out is not None:
        assert kind.tensors(model, [shape], out) == []


VOLUMES = st.one_of(
    st.tuples(st.integers(1, 4), st.integers(1, 4), st.integers(1, 4)), st.tuples(st.integers(1, 6))
)


@given(st.lists(VOLUMES, min_size=2, max_size=4), st.booleans())
def test_add(shapes, same):
    if same:
        shapes = [shapes[0]] * len(shapes)
    kind, model, out = archc_layer("add", {}, shapes)

    def run(*xs):
        # torch broadcasts size-1 axes; a residual add means equal volumes, so refuse those.
        if any(x.shape != xs[0].shape for x in xs):
            raise RuntimeError("shapes differ")
        return sum(xs[1:], xs[0])

    assert out == torch_output(run, shapes)


@given(st.lists(VOLUMES, min_size=2, max_size=4), st.booleans())
def test_concat(shapes, same_size):
    if same_size:
        shapes = [(s[0], *shapes[0][1:]) if len(s) == len(shapes[0]) else s for s in shapes]
    kind, model, out = archc_layer("concat", {}, shapes)
    assert out == torch_output(lambda *xs: torch.cat(xs, 1), shapes)


@given(st.lists(VOLUMES, min_size=2, max_size=3), st.data())
def test_multiply(shapes, data):
    """Squeeze-excitation's gate: size-1 axes broadcast, ranks must agree."""
    if data.draw(st.booleans()):  # often a gate: the first volume with some axes set to 1
        base = shapes[0]
        gate = tuple(1 if data.draw(st.booleans()) else s for s in base)
        shapes = [gate, base, *shapes[2:]]
    kind, model, out = archc_layer("multiply", {}, shapes)

    def run(*xs):
        if len({x.dim() for x in xs}) != 1:
            raise RuntimeError("ranks differ")  # archc's rule: no rank broadcasting
        result = xs[0]
        for x in xs[1:]:
            result = result * x
        return result

    assert out == torch_output(run, shapes)
    if out is not None:
        values = [torch.randn(2, *s) for s in shapes]
        assert torch.equal(_run_call(kind.torch(model, shapes, out).call, *values), run(*values))

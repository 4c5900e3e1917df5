"""What each PyTorch module and function becomes in a spec: a layer entry's type and fields.

One table per source: leaf modules by class, functions and methods by what they are. A
mapper returns the entry's fields (type included), leaving out fields at archc's default
so the spec reads like one written by hand, or raises `Unmapped` with the reason, which
the importer reports at the module's path instead of guessing.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

Entry = dict[str, Any]


#: archc kinds whose PyTorch form the importer does not read back yet: tensors a module
#: holds and reads in forward (layer scale, class token, position embedding), indexing and
#: reshaping in forward (a channel split or shuffle, a token picked, tokens to a map), and
#: Swin's windows. A model using them is reported where they are (docs/import.md).
UNMAPPED_KINDS = frozenset(
    {
        "channel_split",
        "channel_shuffle",
        "layer_scale",
        "class_token",
        "pos_embedding",
        "select_token",
        "tokens_to_map",
        "window_attention",
        "patch_merging",
    }
)


class Unmapped(Exception):
    """A module or call archc has no layer kind for (or not with these arguments)."""


def _pair(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        value = tuple(int(v) for v in value)
        return value[0] if len(value) == 2 and value[0] == value[1] else list(value)
    return int(value)


def _nondefault(entry: Entry, **fields: tuple[Any, Any]) -> Entry:
    """Add each field whose value differs from its default: name=(value, default)."""
    for name, (value, default) in fields.items():
        if value != default:
            entry[name] = value
    return entry


def _conv(m: Any) -> Entry:
    if m.padding_mode != "zeros":
        raise Unmapped(f"padding_mode={m.padding_mode!r} (archc pads with zeros)")
    if len(m.kernel_size) != 2:
        raise Unmapped("only 2-d convolutions")
    padding = m.padding if isinstance(m.padding, str) else _pair(m.padding)
    entry = {"type": "conv", "out": m.out_channels, "kernel": _pair(m.kernel_size)}
    return _nondefault(
        entry,
        stride=(_pair(m.stride), 1),
        padding=(padding, 0),
        dilation=(_pair(m.dilation), 1),
        groups=(m.groups, 1),
        bias=(m.bias is not None, True),
    )


def _batchnorm(m: Any) -> Entry:
    return _nondefault(
        {"type": "batchnorm"},
        eps=(m.eps, 1e-5),
        momentum=(m.momentum, 0.1),
        affine=(m.affine, True),
        track_running_stats=(m.track_running_stats, True),
    )


def _pool(kind: str) -> Callable[[Any], Entry]:
    def mapper(m: Any) -> Entry:
        kernel = _pair(m.kernel_size)
        stride = _pair(m.stride) if m.stride is not None else kernel
        entry = _nondefault(
            {"type": kind},
            kernel=(kernel, 2),
            stride=(stride, kernel),
            padding=(_pair(m.padding), 0),
            ceil_mode=(bool(m.ceil_mode), False),
        )
        if kind == "maxpool":
            _nondefault(entry, dilation=(_pair(m.dilation), 1))
            if getattr(m, "return_indices", False):
                raise Unmapped("return_indices=True")
        else:
            _nondefault(entry, count_include_pad=(bool(m.count_include_pad), True))
            if m.divisor_override is not None:
                raise Unmapped("divisor_override")
        return entry

    return mapper


def _adaptive_avgpool(m: Any) -> Entry:
    size = m.output_size
    if isinstance(size, (tuple, list)) and None in size:
        raise Unmapped("an output size of None")
    return _nondefault({"type": "adaptive_avgpool"}, size=(_pair(size), 1))


def _linear(m: Any) -> Entry:
    return _nondefault({"type": "linear", "out": m.out_features}, bias=(m.bias is not None, True))


def _dropout(m: Any) -> Entry:
    return _nondefault({"type": "dropout"}, p=(float(m.p), 0.5))


def _flatten(m: Any) -> Entry:
    if m.start_dim != 1 or m.end_dim != -1:
        raise Unmapped(f"flatten from dim {m.start_dim} to {m.end_dim} (archc flattens 1..-1)")
    return {"type": "flatten"}


def _layernorm(m: Any) -> Entry:
    if len(m.normalized_shape) != 1:
        raise Unmapped("layer norm over more than the last axis")
    return _nondefault(
        {"type": "layernorm"},
        eps=(m.eps, 1e-5),
        affine=(m.elementwise_affine, True),
        bias=(getattr(m, "bias", True) is not None, True),
    )


def _groupnorm(m: Any) -> Entry:
    return _nondefault(
        {"type": "groupnorm", "groups": m.num_groups}, eps=(m.eps, 1e-5), affine=(m.affine, True)
    )


def _lrn(m: Any) -> Entry:
    return _nondefault(
        {"type": "lrn"},
        size=(m.size, 5),
        alpha=(m.alpha, 1e-4),
        beta=(m.beta, 0.75),
        k=(float(m.k), 2.0),
    )


def _attention(m: Any) -> Entry:
    if not m.batch_first or not m._qkv_same_embed_dim:
        raise Unmapped("attention that is not batch_first with one embedding size")
    return _nondefault(
        {"type": "self_attention", "heads": m.num_heads},
        dropout=(float(m.dropout), 0.0),
        bias=(m.in_proj_bias is not None, True),
    )


def _simple(kind: str) -> Callable[[Any], Entry]:
    return lambda m: {"type": kind}


def _leaky_relu(m: Any) -> Entry:
    return _nondefault({"type": "leaky_relu"}, slope=(m.negative_slope, 0.01))


def _gelu(m: Any) -> Entry:
    if getattr(m, "approximate", "none") != "none":
        raise Unmapped("GELU's tanh approximation")
    return {"type": "gelu"}


#: Leaf module class name (torch.nn) -> mapper.
MODULES: dict[str, Callable[[Any], Entry]] = {
    "Conv2d": _conv,
    "BatchNorm2d": _batchnorm,
    "BatchNorm1d": _batchnorm,
    "MaxPool2d": _pool("maxpool"),
    "AvgPool2d": _pool("avgpool"),
    "AdaptiveAvgPool2d": _adaptive_avgpool,
    "Linear": _linear,
    "Dropout": _dropout,
    "Flatten": _flatten,
    "Identity": _simple("identity"),
    "LayerNorm": _layernorm,
    "GroupNorm": _groupnorm,
    "LocalResponseNorm": _lrn,
    "MultiheadAttention": _attention,
    "ReLU": _simple("relu"),
    "ReLU6": _simple("relu6"),
    "SiLU": _simple("silu"),
    "GELU": _gelu,
    "Sigmoid": _simple("sigmoid"),
    "Tanh": _simple("tanh"),
    "Hardswish": _simple("hardswish"),
    "Hardsigmoid": _simple("hardsigmoid"),
    "ELU": _simple("elu"),
    "LeakyReLU": _leaky_relu,
    "Softmax": _simple("softmax"),
}


def map_module(module: Any) -> Entry:
    """The entry for a leaf module; Unmapped if archc has no kind for it."""
    mapper = MODULES.get(type(module).__name__)
    if mapper is None or type(module).__module__.split(".")[0] != "torch":
        raise Unmapped(f"module {type(module).__module__}.{type(module).__qualname__}")
    return mapper(module)


# --- functions and methods --------------------------------------------------------------


def _activation_function(kind: str):
    def mapper(args: tuple, kwargs: dict) -> Entry:
        return {"type": kind}

    return mapper


def _flatten_call(args: tuple, kwargs: dict) -> Entry:
    start = args[1] if len(args) > 1 else kwargs.get("start_dim", 0)
    end = args[2] if len(args) > 2 else kwargs.get("end_dim", -1)
    if start != 1 or end != -1:
        raise Unmapped(f"flatten from dim {start} to {end} (archc flattens 1..-1)")
    return {"type": "flatten"}


def _adaptive_call(args: tuple, kwargs: dict) -> Entry:
    size = args[1] if len(args) > 1 else kwargs.get("output_size")
    return _nondefault({"type": "adaptive_avgpool"}, size=(_pair(size), 1))


def _cat(args: tuple, kwargs: dict) -> Entry:
    dim = args[1] if len(args) > 1 else kwargs.get("dim", 0)
    if dim not in (1, -3):
        raise Unmapped(f"concatenation along dim {dim} (archc concatenates channels)")
    return {"type": "concat"}


def _dropout_call(args: tuple, kwargs: dict) -> Entry:
    p = args[1] if len(args) > 1 else kwargs.get("p", 0.5)
    return _nondefault({"type": "dropout"}, p=(float(p), 0.5))


def _tokens(args: tuple, kwargs: dict) -> Entry:
    # Only reached after `x.flatten(2)` (trace.py folds the pair): a map to tokens.
    if tuple(args[1:3]) != (1, 2):
        raise Unmapped(f"transpose of dims {args[1:3]}")
    return {"type": "map_to_tokens"}


def _merge(kind: str):
    def mapper(args: tuple, kwargs: dict) -> Entry:
        # Tensors arrive as None (see trace._concrete); a number is a constant operand.
        if sum(a is None for a in args[:2]) < 2:
            raise Unmapped(f"{kind} with a constant (archc's {kind} takes two volumes)")
        return {"type": kind}

    return mapper


#: Names of functions and tensor methods -> mapper(args, kwargs).
FUNCTIONS: dict[str, Callable[[tuple, dict], Entry]] = {
    "add": _merge("add"),
    "iadd": _merge("add"),
    "mul": _merge("multiply"),
    "imul": _merge("multiply"),
    "cat": _cat,
    "flatten": _flatten_call,
    "relu": _activation_function("relu"),
    "relu_": _activation_function("relu"),
    "relu6": _activation_function("relu6"),
    "silu": _activation_function("silu"),
    "gelu": _activation_function("gelu"),
    "sigmoid": _activation_function("sigmoid"),
    "tanh": _activation_function("tanh"),
    "hardswish": _activation_function("hardswish"),
    "hardsigmoid": _activation_function("hardsigmoid"),
    "adaptive_avg_pool2d": _adaptive_call,
    "transpose": _tokens,
    "dropout": _dropout_call,
}

#: Python operators fx records as functions.
OPERATORS = {operator.add: "add", operator.iadd: "iadd", operator.mul: "mul", operator.imul: "imul"}


def function_name(target: Any) -> str:
    """The name a function, method or operator is known by in FUNCTIONS."""
    if target in OPERATORS:
        return OPERATORS[target]
    if isinstance(target, str):
        return target
    return getattr(target, "__name__", str(target))


def map_function(target: Any, args: tuple, kwargs: dict) -> Entry:
    """The entry for a call of a function or method; Unmapped if archc has no kind."""
    name = function_name(target)
    mapper = FUNCTIONS.get(name)
    if mapper is None:
        raise Unmapped(f"function {name}")
    return mapper(args, kwargs)

"""What a layer kind is: its fields, its shape rule, its counts, and what backends need.

A layer kind is a subclass of `LayerKind` with a `type` (its YAML name) and a pydantic
`Fields` model; defining the subclass registers it. Everything archc knows about a kind
lives in its one file under `archc/layers/`: the schema, the docs, the analysis and the
code generators all ask the registry, and nothing outside `layers/` branches on a type name.
"""

from __future__ import annotations

import math
import re
import types
import typing
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, model_validator

from archc.pycode import LAYER, Call, Expr, Input, from_source

Shape = tuple[int, ...]

REGISTRY: dict[str, LayerKind] = {}


class ShapeError(Exception):
    """A layer cannot take the volume it is given; `field` names the key at fault, if any."""

    def __init__(self, message: str, field: str | None = None, code: str = "E-SHAPE"):
        super().__init__(message)
        self.message = message
        self.field = field
        self.code = code


class NumbersNotBooleans(BaseModel):
    """A model whose number fields refuse `true` and `false`.

    pydantic's lax mode reads a boolean as 1 or 0, so `dropout: {p: true}` would be a
    probability of 1 and `out: true` one channel: a typo passed silently. Refused here,
    for every number field of every model built on this one.
    """

    @model_validator(mode="before")
    @classmethod
    def _refuse_booleans(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name in _number_fields(cls):
                if isinstance(data.get(name), bool):
                    raise ValueError(
                        f"{name} must be a number, not {str(data[name]).lower()} "
                        "(a boolean is not 1 or 0 in a spec)"
                    )
        return data


def _number_fields(model: type[BaseModel]) -> tuple[str, ...]:
    """The fields of a model that take numbers (and not booleans), cached per model."""
    cached = model.__dict__.get("_archc_number_fields")
    if cached is None:
        cached = tuple(
            name
            for name, field in model.model_fields.items()
            if _takes_number(field.annotation) and not _takes_bool(field.annotation)
        )
        model._archc_number_fields = cached
    return cached


def _members(annotation: Any) -> tuple[Any, ...]:
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _members(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return tuple(m for arg in typing.get_args(annotation) for m in _members(arg))
    return (annotation,)


def _takes_number(annotation: Any) -> bool:
    return any(m in (int, float) for m in _members(annotation))


def _takes_bool(annotation: Any) -> bool:
    return any(m is bool for m in _members(annotation))


class FieldsModel(NumbersNotBooleans):
    """Base of every layer's fields: unknown keys are errors, values are checked strictly."""

    # defer_build: a kind's validator is built when a spec first uses it, not at import; every
    # command imports all kinds, and building them all cost a third of `archc check`'s start.
    # allow_inf_nan=False: `.inf` and `.nan` are YAML numbers, but no layer has a use for
    # them, and PyTorch would take them silently.
    model_config = ConfigDict(
        extra="forbid", frozen=True, validate_default=True, defer_build=True, allow_inf_nan=False
    )


def _to_pair(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("expected a number or a [height, width] pair, not a boolean")
    if isinstance(value, int):
        return (value, value)
    if isinstance(value, (list, tuple)) and len(value) == 2:
        if all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            return tuple(value)
    if isinstance(value, (list, tuple)):
        raise ValueError(f"expected one number or a [height, width] pair, got {list(value)}")
    return value


# json_schema_input_type: what a spec may write (an int or a pair), for `archc schema`.
Pair = Annotated[
    tuple[int, int], BeforeValidator(_to_pair, json_schema_input_type=int | tuple[int, int])
]
"""An int for both axes, or [height, width]."""


#: The name of a tensor that is the layer itself rather than one of its module's: the
#: parent module holds it as a plain attribute under the layer's own name, as torchvision
#: holds `class_token`, `encoder.pos_embedding` or ConvNeXt's `layer_scale`. PyTorch lists a
#: module's own tensors before its children's, and `tensor_key` / `state_dict_order` in
#: archc.ir.graph follow it.
SELF = ""


@dataclass(frozen=True)
class Tensor:
    """A learnable parameter or a buffer of a layer, named as in PyTorch's state_dict.

    `name` is relative to the layer's module (`weight`, `out_proj.bias`), or `SELF` for a
    tensor that is the layer itself, held by its parent under the layer's name.
    """

    name: str
    shape: Shape
    buffer: bool = False
    #: How its elements are stored: "float32" or "int64" (counters, index tables).
    dtype: str = "float32"

    @property
    def numel(self) -> int:
        """Number of elements."""
        return math.prod(self.shape)

    @property
    def itemsize(self) -> int:
        """Bytes per element."""
        return 8 if self.dtype == "int64" else 4


def tensor_key(path: str, name: str) -> str:
    """The state_dict key of tensor `name` of the layer at `path`."""
    if name == SELF:
        return path
    return f"{path}.{name}" if path else name


@dataclass(frozen=True)
class Window:
    """A sliding window per spatial axis, for the receptive field pass."""

    kernel: tuple[int, int]
    stride: tuple[int, int]
    dilation: tuple[int, int] = (1, 1)


@dataclass(frozen=True)
class Saved:
    """A tensor autograd keeps from a layer's forward pass for its backward (training mode),
    following torch's derivative rules (tools/autograd/derivatives.yaml).

    `of` is "input" (input number `index`) or "output" for a tensor that already exists, so
    that a tensor saved by two layers counts once; None for a tensor the layer makes (pooling
    indices, dropout masks, normalisation statistics, intermediates of a composite layer):
    `per_example` elements for each example of the batch plus `fixed` elements.
    `dtype` says how its elements are stored: "activation" (the activations' dtype),
    "float32" (always, such as batch statistics), "int64" (indices) or "mask" (dropout's:
    float32 on the CPU, bool on CUDA).
    """

    of: str | None = None
    index: int = 0
    per_example: int = 0
    fixed: int = 0
    dtype: str = "activation"
    #: Elements kept only at batch size 1, where torch can view what it otherwise copies
    #: (a reshape across a batch axis of size 1), keeping a larger tensor alive.
    at_batch_one: int = 0


SAVES_INPUT = (Saved("input"),)
SAVES_OUTPUT = (Saved("output"),)
SAVES_NOTHING: tuple[Saved, ...] = ()


@dataclass
class TorchCode:
    """What the PyTorch backend writes for one layer, as expression trees (archc.pycode).

    `module` is a constructor (`call("nn.Conv2d", 3, 64, 3)`), or None for work done in
    `forward` by `call` alone (merges). `call` is how forward uses it, over the holes
    `Input(0)`, `Input(1)` ... and `LAYER` (the module attribute); the default calls the
    module. `helpers` names helper classes (from `torch_helpers`) the code needs. A kind may
    also write any of the three as Python source over numbers (`"nn.ReLU({inplace})"`,
    `"torch.flatten({0}, 1)"`): it is parsed here and held to what generated code may
    contain (pycode.from_source), so text never reaches model.py as text.
    """

    module: Expr | str | None
    call: Expr | str = field(default_factory=lambda: Call(LAYER, [Input(0)]))
    #: A functional form (`torch.flatten({0}, 1)`) the backend may prefer outside Sequentials.
    functional: Expr | str | None = None
    helpers: tuple[str, ...] = ()
    #: Whether `module` holds an `INPLACE` keyword the backend fills where in-place is safe.
    inplace: bool = False
    #: Autograd keeps this layer's output for its backward (ReLU, sigmoid, softmax), so the
    #: next layer must not overwrite it in place.
    saves_output: bool = False
    #: The output may share memory with the input (flatten, identity, eval-mode dropout), so
    #: overwriting it in place would overwrite the input too.
    view: bool = False

    def __post_init__(self) -> None:
        names = {"nn", "torch", *self.helpers}
        if isinstance(self.module, str):
            self.module = from_source(self.module, names)
        if isinstance(self.call, str):
            self.call = from_source(self.call, names)
        if isinstance(self.functional, str):
            self.functional = from_source(self.functional, names)


class LayerKind:
    """Base class of layer kinds; subclasses register themselves by their `type`.

    A tensor held by the parent module. Some networks keep a learned tensor directly on a
    module, not in a child module: ConvNeXt's block multiplies by `self.layer_scale =
    nn.Parameter(...)` (key `features.1.0.layer_scale`), ViT holds `class_token` and its
    encoder `pos_embedding`. Such a kind's `tensors()` returns one Tensor named `SELF`;
    its `torch()` returns a TorchCode whose `module` builds it (`nn.Parameter(...)`, or
    `nn.Buffer(...)` for a buffer), assigned as `self.<layer name> = ...`, and whose `call`
    uses it (`{self} * {0}`). The layer's name is then the attribute and its path the
    state_dict key (`tensor_key`); `Graph.state_dict` lists it before the parent's child
    modules, as PyTorch does, and the parent is a generated class, never an nn.Sequential.
    """

    type: ClassVar[str] = ""
    Fields: ClassVar[type[BaseModel]] = FieldsModel
    summary: ClassVar[str] = ""
    #: Accepted numbers of inputs (merges take two or more).
    min_inputs: ClassVar[int] = 1
    max_inputs: ClassVar[int | None] = 1
    #: False for layers that make no new tensor (in-place activations, views, eval dropout):
    #: they are left out of activation_elements (CS231n's convention).
    makes_tensor: ClassVar[bool] = True
    #: The output is a view of input 0 (flatten, identity): it shares its memory.
    aliases_input: ClassVar[bool] = False
    #: A tensor held by the parent module (see above), not a module: unnamed inside a
    #: numbered Sequential it takes its kind's name (`layer_scale`), as torchvision's
    #: blocks do, and the modules after it are numbered as if it were not there.
    held_by_parent: ClassVar[bool] = False
    #: Paper notation that stands for this kind: regex -> fields (strings name regex groups).
    notation: ClassVar[dict[str, dict[str, Any]]] = {}
    #: The Graphviz colour family of the kind (conv, pool, norm, act, fc, merge, gate, other).
    family: ClassVar[str] = "other"
    #: Helper classes the generated PyTorch code may need, by name: standalone source.
    torch_helpers: ClassVar[dict[str, str]] = {}
    #: The output volume as a formula, for docs/language.md (C, H, W: the input's).
    shape_rule: ClassVar[str] = "the input's volume, unchanged"
    #: The learnable parameters (and buffers) as a formula, for docs/language.md.
    param_rule: ClassVar[str] = "none"
    #: Whether every output position sees every input position (self-attention): the
    #: receptive field is then the whole input, not a window's span.
    global_field: ClassVar[bool] = False
    #: What the network's output means when this kind produces it, for training code:
    #: "logits" (higher wins), "penalties" (lower wins: RBF distances) or "probabilities".
    output_scores: ClassVar[str] = "logits"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.type:
            REGISTRY[cls.type] = cls()

    # --- analysis -------------------------------------------------------------------
    def infer(self, f: Any, inputs: list[Shape]) -> Shape:
        """The output volume for these input volumes; raise ShapeError if impossible."""
        return inputs[0]

    def tensors(self, f: Any, inputs: list[Shape], out: Shape) -> list[Tensor]:
        """Learnable parameters and buffers, in PyTorch's state_dict order."""
        return []

    def macs(self, f: Any, inputs: list[Shape], out: Shape) -> int:
        """Multiply-accumulates of one example (conv and linear only, by convention)."""
        return 0

    def attention_macs(self, f: Any, inputs: list[Shape], out: Shape) -> int:
        """Multiply-accumulates of attention's query-key and attention-value products, which
        the conv + linear convention leaves out (torchvision's GFLOPS add them)."""
        return 0

    def connections(self, f: Any, inputs: list[Shape], out: Shape) -> int:
        """Connections in LeCun's sense: input-to-output links including the bias."""
        return 0

    def saved(self, f: Any, inputs: list[Shape], out: Shape) -> tuple[Saved, ...]:
        """What autograd keeps for this layer's backward in training mode (torch's rules).

        Most layers with weights keep their input (a convolution's or a linear layer's
        backward multiplies the output gradient by it), the default.
        """
        return SAVES_INPUT

    def torchinfo_leaves(self, f: Any, inputs: list[Shape], out: Shape) -> list[tuple[int, int]]:
        """(output elements per example, parameters) of each leaf module torchinfo's hooks
        see for this layer: by default the layer's module itself, holding its parameters
        (none when it holds none, or they belong to its parent). Layers made of child
        modules list those children instead."""
        params = sum(t.numel for t in self.tensors(f, inputs, out) if not t.buffer and t.name)
        return [(math.prod(out), params)] if params else []

    def aliases(self, f: Any) -> bool:
        """Whether the output shares input 0's memory in training mode (a view)."""
        return self.aliases_input

    def window(self, f: Any, inputs: list[Shape]) -> Window | None:
        """The sliding window, for the receptive field; None if the layer is pointwise."""
        return None

    def uneven(self, f: Any, inputs: list[Shape]) -> str | None:
        """A description of input pixels the window never covers, or None."""
        return None

    def channels_last(self, f: Any, inputs: list[bool]) -> bool:
        """Whether the output map is held channels last (H, W, C), given which inputs are:
        most kinds keep their first input's layout; permute and the Swin kinds say."""
        return bool(inputs) and inputs[0]

    def describe(self, f: Any) -> str:
        """Key hyperparameters in a few characters (`11x11/4, 96`)."""
        return ""

    # --- backends -------------------------------------------------------------------
    def torch(self, f: Any, inputs: list[Shape], out: Shape) -> TorchCode:
        """What the PyTorch backend writes for this layer."""
        raise NotImplementedError(f"layer kind '{self.type}' has no PyTorch form")

    def first_line(self) -> str:
        """The kind's one-line description (its docstring's first line)."""
        return (self.__doc__ or "").strip().splitlines()[0] if self.__doc__ else ""


def _notation_number(digits: str) -> int | str:
    """A number written in notation; past 18 digits it stays text, which the field's
    validation refuses with a located message (int() refuses 4,300 digits with an
    exception, and no size is near 10^18)."""
    return int(digits) if len(digits) <= 18 else digits


def match_notation(text: str) -> tuple[LayerKind, dict[str, Any]] | None:
    """The layer kind and fields that paper notation such as `conv3-64` stands for."""
    for kind in REGISTRY.values():
        for pattern, template in kind.notation.items():
            match = re.fullmatch(pattern, text, flags=re.IGNORECASE)
            if match:
                groups = match.groupdict()
                fields = {
                    key: (
                        _notation_number(groups[value[1:]])
                        if isinstance(value, str) and value.startswith("$")
                        else value
                    )
                    for key, value in template.items()
                }
                return kind, fields
    return None


# --- shared arithmetic ----------------------------------------------------------------


def spatial(shape: Shape, layer: str) -> tuple[int, int, int]:
    """Unpack a [C, H, W] volume, or explain that the layer needs one."""
    if len(shape) == 2:
        raise ShapeError(
            f"{layer} needs a CxHxW map, got the token sequence {fmt_shape(shape)} "
            "(tokens x dim); turn it back into a map with tokens_to_map first",
            code="E-SHAPE-RANK",
        )
    if len(shape) != 3:
        raise ShapeError(
            f"{layer} needs a CxHxW volume, got {fmt_shape(shape)} "
            "(a flattened vector cannot be convolved or pooled)",
            code="E-SHAPE-RANK",
        )
    return shape  # type: ignore[return-value]


def sequence(shape: Shape, layer: str) -> tuple[int, int]:
    """Unpack a [T, D] token sequence (tokens x dim), or explain that the layer needs one."""
    if len(shape) != 2:
        what = "the map" if len(shape) == 3 else "the vector"
        hint = "; turn a map into tokens with map_to_tokens first" if len(shape) == 3 else ""
        raise ShapeError(
            f"{layer} needs a token sequence (tokens x dim), got {what} {fmt_shape(shape)}" + hint,
            code="E-SHAPE-RANK",
        )
    return shape  # type: ignore[return-value]


def heads_of(dim: int, heads: int, shape: Shape) -> int:
    """The width of one attention head, or explain that `dim` does not split into heads."""
    if dim % heads:
        raise ShapeError(
            f"input {fmt_shape(shape)} has dim {dim}, which does not divide into "
            f"{heads} heads ({dim} / {heads} = {dim / heads:g})",
            "heads",
            code="E-SHAPE-HEADS",
        )
    return dim // heads


def window_out(size: int, kernel: int, stride: int, pad: int, dilation: int, ceil: bool) -> int:
    """PyTorch's output length of a window over one axis (floor or ceil mode)."""
    span = dilation * (kernel - 1) + 1
    numerator = size + 2 * pad - span
    if not ceil:
        return numerator // stride + 1 if numerator >= 0 else 0
    # Ceil mode keeps a window that hangs over the end, even one wider than the whole
    # padded input (a 2x2 pool of a 1x1 volume gives 1x1 in PyTorch).
    out = -(-numerator // stride) + 1
    # PyTorch drops a last window that would start inside the right padding only.
    if (out - 1) * stride >= size + pad:
        out -= 1
    return out


def uncovered(size: int, out: int, kernel: int, stride: int, pad: int, dilation: int) -> int:
    """How many trailing input pixels no window covers."""
    last = (out - 1) * stride - pad + dilation * (kernel - 1)
    return max(0, size - 1 - last)


def describe_uneven(
    axis_sizes: tuple[int, int], outs: tuple[int, int], f: Any, pad: tuple[int, int]
) -> str | None:
    """Explain which trailing input rows/columns a window never uses, as the lecture's
    (227-11)/4+1 check does; None when the window tiles its input.

    A window narrower than its stride (a strided 1x1 projection) skips pixels everywhere
    by design, so only windows at least as wide as their stride are held to tiling.
    """
    found = []
    for axis, name in ((0, "row"), (1, "column")):
        size, out = axis_sizes[axis], outs[axis]
        k, s, d = f.kernel[axis], f.stride[axis], getattr(f, "dilation", (1, 1))[axis]
        span = d * (k - 1) + 1
        left = uncovered(size, out, k, s, pad[axis], d)
        if left and span >= s:
            exact = (size + 2 * pad[axis] - span) / s + 1
            found.append((f"({size}+2*{pad[axis]}-{span})/{s}+1 = {exact:g}", left, name))
    if len(found) == 2 and found[0][:2] == found[1][:2]:
        formula, left, _ = found[0]
        return f"{formula}, so the last {left} input row(s) and column(s) are never used"
    return (
        "; ".join(
            f"{formula}, so the last {left} input {name}(s) are never used"
            for formula, left, name in found
        )
        or None
    )


#: Which axis a per-feature layer acts on (see `feature_size`): `channels`, `last`, or
#: unset for vectors and sequences.
Over = Literal["channels", "last"] | None


def feature_size(shape: Shape, over: str | None, layer: str) -> int:
    """The size of the axis a per-feature layer acts on (layer norm, a channels-last linear).

    `over: channels` is C of a CxHxW volume (torchvision's LayerNorm2d); `over: last` is
    the last axis of any volume (nn.LayerNorm, nn.Linear: W of a CxHxW volume, C of a
    channels-last HxWxC one after a permute). Unset, a vector's or a sequence's last axis;
    on a CxHxW volume the choice must be written, since either one is a common intent.
    """
    if over == "channels":
        if len(shape) != 3:
            raise ShapeError(
                f"{layer} over channels needs a CxHxW volume, got {fmt_shape(shape)}",
                "over",
                code="E-SHAPE-RANK",
            )
        return shape[0]
    if over is None and len(shape) >= 3:
        raise ShapeError(
            f"{layer} on the volume {fmt_shape(shape)} must say which axis it acts on: "
            "`over: channels` (C at every pixel) or `over: last` (the last axis, as torch "
            "does: channels-last after a permute); or flatten first",
            "over",
            code="E-SHAPE-RANK",
        )
    return shape[-1]


def fmt_shape(shape: Shape, channels_last: bool = False) -> str:
    """A volume in the lecture's notation: 55x55x96 (H x W x C), or 4096 for a vector.

    Shapes are positional, channels first (C, H, W); `channels_last`: this one is a map
    held as (H, W, C) after a permute, already in the order it is written."""
    if len(shape) == 3 and not channels_last:
        c, h, w = shape
        return f"{h}x{w}x{c}"
    return "x".join(str(s) for s in shape)


def fmt_pair(pair: tuple[int, int]) -> str:
    """`3` for a square pair, `1x7` otherwise."""
    return str(pair[0]) if pair[0] == pair[1] else f"{pair[0]}x{pair[1]}"


def pair_value(pair: tuple[int, int]) -> int | tuple[int, int]:
    """A pair as PyTorch takes it: `3` when square, `(1, 7)` otherwise."""
    return pair[0] if pair[0] == pair[1] else (pair[0], pair[1])


# The helpers below write code as source, for kinds that describe their PyTorch form as
# text (parsed and held to the vocabulary by archc.pycode.from_source).


def torch_pair(pair: tuple[int, int]) -> str:
    """A pair as PyTorch code: `3` when square, `(1, 7)` otherwise."""
    return str(pair[0]) if pair[0] == pair[1] else f"({pair[0]}, {pair[1]})"


def torch_tuple(values: tuple[int, ...]) -> str:
    """A tuple as PyTorch code: `(96, 1, 1)`, `(96,)`."""
    return f"({values[0]},)" if len(values) == 1 else f"({', '.join(map(str, values))})"


def kwargs(**items: Any) -> str:
    """Keyword arguments as code, skipping items whose value is None."""
    return ", ".join(f"{k}={v}" for k, v in items.items() if v is not None)

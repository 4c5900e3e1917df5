"""conv: 2-D convolution, with groups, dilation, `same` padding and connection tables."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, PositiveInt, model_validator

from archc.layers.base import (
    SAVES_INPUT,
    FieldsModel,
    LayerKind,
    Pair,
    Saved,
    Shape,
    ShapeError,
    Tensor,
    TorchCode,
    Window,
    describe_uneven,
    fmt_pair,
    pair_value,
    spatial,
    window_out,
)
from archc.pycode import call


def _to_padding(value: Any) -> Any:
    if isinstance(value, str):
        return value.lower()
    if isinstance(value, int) and not isinstance(value, bool):
        return (value, value)
    if isinstance(value, (list, tuple)):
        return tuple(value)
    return value


Padding = Annotated[
    tuple[int, int] | Literal["same", "valid"],
    BeforeValidator(
        _to_padding, json_schema_input_type=int | tuple[int, int] | Literal["same", "valid"]
    ),
]


class ConvFields(FieldsModel):
    """Fields of `conv`.

    ```yaml
    - {type: conv, out: 96, kernel: 11, stride: 4}
    - {type: conv, out: 192, kernel: [1, 7], padding: [0, 3], bias: false}
    ```
    """

    out: PositiveInt = Field(description="number of output channels (filters)")
    kernel: Pair = Field(description="kernel size: an int or [height, width]")
    stride: Pair = Field(1, description="stride: an int or [height, width]")
    padding: Padding = Field(
        (0, 0), description="zero padding: an int, [height, width], 'same' or 'valid'"
    )
    dilation: Pair = Field(1, description="spacing between kernel taps")
    groups: PositiveInt = Field(1, description="channel groups (AlexNet's towers: 2)")
    bias: bool = Field(True, description="learn a bias per output channel")
    connections: list[list[int]] | None = Field(
        None,
        description="connection table: for each output map, the input maps it sees "
        "(LeNet-5's C3); replaces full connectivity",
    )

    @model_validator(mode="after")
    def _positive(self) -> ConvFields:
        for name in ("kernel", "stride", "dilation"):
            if min(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1, got {list(getattr(self, name))}")
        if isinstance(self.padding, tuple) and min(self.padding) < 0:
            raise ValueError(f"padding cannot be negative, got {list(self.padding)}")
        return self


def resolve_padding(f: ConvFields) -> tuple[int, int] | Literal["same"]:
    """Explicit pads for `same`/`valid` where PyTorch's result is symmetric."""
    if f.padding == "valid":
        return (0, 0)
    if f.padding == "same":
        total = [d * (k - 1) for k, d in zip(f.kernel, f.dilation, strict=True)]
        if all(t % 2 == 0 for t in total):
            return (total[0] // 2, total[1] // 2)
        return "same"
    return f.padding


class Conv(LayerKind):
    """2-D convolution (`nn.Conv2d`): filters slid over a CxHxW volume."""

    type = "conv"
    Fields = ConvFields
    family = "conv"
    shape_rule = (
        "out x H' x W', with H' = floor((H + 2*pad - dilation*(kernel-1) - 1) / stride) + 1 "
        "(likewise W'); `same` keeps H x W"
    )
    param_rule = (
        "out * (C / groups) * kh * kw weights + out biases; with a connection table, "
        "the sum over output maps of len(row) * kh * kw (+ 1 bias each)"
    )
    torch_helpers = {
        "ConnectionTableConv2d": '''
class ConnectionTableConv2d(nn.Module):
    """A convolution whose output maps each see only some input maps (LeNet-5's C3)."""

    def __init__(self, table, kernel_size, **kwargs):
        super().__init__()
        self.table = [list(maps) for maps in table]
        self.maps = nn.ModuleList(
            nn.Conv2d(len(maps), 1, kernel_size, **kwargs) for maps in self.table
        )

    def forward(self, x):
        outputs = [conv(x[:, maps]) for conv, maps in zip(self.maps, self.table, strict=True)]
        return torch.cat(outputs, 1)
''',
    }
    notation = {
        # VGG Table 1: conv3-64 is 64 3x3 filters, stride 1, padded to keep the size.
        r"conv(?P<k>\d+)-(?P<n>\d+)": {"kernel": "$k", "out": "$n", "padding": "same"},
    }

    def infer(self, f: ConvFields, inputs: list[Shape]) -> Shape:
        c, h, w = spatial(inputs[0], "conv")
        # PyTorch takes `same` with any kernel, even one larger than its input (it pads
        # dilation * (kernel - 1) in all, the odd one after), so the volume is H x W
        # whatever the kernel; it refuses any stride (tests/test_conv_same.py).
        if f.padding == "same" and max(f.stride) > 1:
            raise ShapeError("padding 'same' needs stride 1 (as in PyTorch)", "padding")
        if f.connections is not None:
            self._check_table(f, c)
        else:
            for name, value in (("input", c), ("output", f.out)):
                if value % f.groups:
                    raise ShapeError(
                        f"{name} channels ({value}) are not divisible by groups={f.groups}",
                        "groups",
                    )
        pad = resolve_padding(f)
        if pad == "same":
            return (f.out, h, w)
        outs = tuple(
            window_out(size, k, s, p, d, False)
            for size, k, s, p, d in zip((h, w), f.kernel, f.stride, pad, f.dilation, strict=True)
        )
        if min(outs) < 1:
            span = [d * (k - 1) + 1 for k, d in zip(f.kernel, f.dilation, strict=True)]
            raise ShapeError(
                f"kernel {fmt_pair(f.kernel)} (spanning {span[0]}x{span[1]}) is larger than "
                f"its padded input {h + 2 * pad[0]}x{w + 2 * pad[1]}",
                "kernel",
                code="E-SHAPE-KERNEL",
            )
        return (f.out, *outs)

    def _check_table(self, f: ConvFields, channels: int) -> None:
        if len(f.connections) != f.out:
            raise ShapeError(
                f"connection table has {len(f.connections)} rows but out is {f.out}",
                "connections",
            )
        if f.groups != 1:
            raise ShapeError("a connection table cannot be combined with groups", "groups")
        for row, maps in enumerate(f.connections):
            bad = [m for m in maps if not 0 <= m < channels]
            if not maps or bad or len(set(maps)) != len(maps):
                raise ShapeError(
                    f"connection table row {row} ({maps}) must list distinct input maps "
                    f"0..{channels - 1}",
                    "connections",
                )

    def tensors(self, f: ConvFields, inputs: list[Shape], out: Shape) -> list[Tensor]:
        kh, kw = f.kernel
        if f.connections is not None:
            result = []
            for j, maps in enumerate(f.connections):
                result.append(Tensor(f"maps.{j}.weight", (1, len(maps), kh, kw)))
                if f.bias:
                    result.append(Tensor(f"maps.{j}.bias", (1,)))
            return result
        result = [Tensor("weight", (f.out, inputs[0][0] // f.groups, kh, kw))]
        if f.bias:
            result.append(Tensor("bias", (f.out,)))
        return result

    def _links_per_output(self, f: ConvFields, inputs: list[Shape]) -> list[int]:
        kh, kw = f.kernel
        if f.connections is not None:
            return [len(maps) * kh * kw for maps in f.connections]
        return [inputs[0][0] // f.groups * kh * kw] * f.out

    def macs(self, f: ConvFields, inputs: list[Shape], out: Shape) -> int:
        return sum(self._links_per_output(f, inputs)) * out[1] * out[2]

    def connections(self, f: ConvFields, inputs: list[Shape], out: Shape) -> int:
        links = sum(self._links_per_output(f, inputs)) + (f.out if f.bias else 0)
        return links * out[1] * out[2]

    def window(self, f: ConvFields, inputs: list[Shape]) -> Window:
        return Window(f.kernel, f.stride, f.dilation)

    def uneven(self, f: ConvFields, inputs: list[Shape]) -> str | None:
        pad = resolve_padding(f)
        if pad == "same":
            return None
        _, h, w = inputs[0]
        out = self.infer(f, inputs)
        return describe_uneven((h, w), out[1:], f, pad)

    def saved(self, f: ConvFields, inputs: list[Shape], out: Shape) -> tuple[Saved, ...]:
        if f.connections is None:
            return SAVES_INPUT
        # A connection table picks each output map's input maps (`x[:, maps]`): the
        # indexing keeps the map numbers (int64) and each map's convolution its own copy.
        _, h, w = inputs[0]
        return tuple(
            saved
            for maps in f.connections
            for saved in (
                Saved(fixed=len(maps), dtype="int64"),
                Saved(per_example=len(maps) * h * w),
            )
        )

    def describe(self, f: ConvFields) -> str:
        text = f"{f.kernel[0]}x{f.kernel[1]}"
        if max(f.stride) > 1:
            text += f"/{fmt_pair(f.stride)}"
        text += f", {f.out}"
        if f.groups > 1:
            text += f", groups {f.groups}"
        if max(f.dilation) > 1:
            text += f", dilation {fmt_pair(f.dilation)}"
        if f.connections is not None:
            text += ", table"
        return text

    def torch(self, f: ConvFields, inputs: list[Shape], out: Shape) -> TorchCode:
        pad = resolve_padding(f)
        common = {
            "stride": pair_value(f.stride) if max(f.stride) > 1 else None,
            "padding": "same" if pad == "same" else (pair_value(pad) if max(pad) else None),
            "dilation": pair_value(f.dilation) if max(f.dilation) > 1 else None,
        }
        bias = None if f.bias else False
        if f.connections is not None:
            table = tuple(tuple(maps) for maps in f.connections)
            code = call("ConnectionTableConv2d", table, pair_value(f.kernel), **common, bias=bias)
            return TorchCode(code, helpers=("ConnectionTableConv2d",))
        groups = f.groups if f.groups > 1 else None
        return TorchCode(
            call(
                "nn.Conv2d",
                inputs[0][0],
                f.out,
                pair_value(f.kernel),
                **common,
                groups=groups,
                bias=bias,
            )
        )

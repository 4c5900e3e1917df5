"""linear: a fully connected layer ("FC"), over a vector or the last axis of a volume."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field, PositiveInt

from archc.layers.base import (
    FieldsModel,
    LayerKind,
    Shape,
    ShapeError,
    Tensor,
    TorchCode,
    feature_size,
    fmt_shape,
)
from archc.pycode import call


class LinearFields(FieldsModel):
    """Fields of `linear`; the input size comes from the input's last axis.

    ```yaml
    - {type: linear, out: 4096}
    - FC-4096                    # the VGG paper's notation
    - {type: linear, out: 384, over: last}   # ConvNeXt: a channels-last HxWxC volume
    ```
    """

    out: PositiveInt = Field(description="number of output features")
    bias: bool = Field(True, description="learn a bias per output feature")
    over: Literal["last"] | None = Field(
        None,
        description="`last`: act on the last axis of a volume of any rank (nn.Linear's "
        "rule; ConvNeXt's channels-last HxWxC); vectors and sequences need no value",
    )


class Linear(LayerKind):
    """Fully connected layer (`nn.Linear`) over a vector, or over the last axis of a volume.

    a volume's other axes are kept: each position is mapped alike, with shared weights.
    """

    type = "linear"
    Fields = LinearFields
    family = "fc"
    shape_rule = (
        "the vector `out` for a vector of N features; for a volume, the last axis (N) "
        "becomes `out` and the others stay (a CxHxW volume needs `over: last`, else flatten)"
    )
    param_rule = "N * out weights + out biases"
    notation = {r"fc-?(?P<n>\d+)": {"out": "$n"}}

    def infer(self, f: LinearFields, inputs: list[Shape]) -> Shape:
        if f.over is None and len(inputs[0]) == 3:
            raise ShapeError(
                f"linear needs a flat vector, got the volume {fmt_shape(inputs[0])}; "
                "add a flatten layer (or a global pool and flatten) before it, or write "
                "`over: last` to map the last axis at every position (channels-last)",
                code="E-SHAPE-RANK",
            )
        feature_size(inputs[0], f.over, "linear")
        return (*inputs[0][:-1], f.out)

    def tensors(self, f: LinearFields, inputs: list[Shape], out: Shape) -> list[Tensor]:
        result = [Tensor("weight", (f.out, inputs[0][-1]))]
        if f.bias:
            result.append(Tensor("bias", (f.out,)))
        return result

    def macs(self, f: LinearFields, inputs: list[Shape], out: Shape) -> int:
        return math.prod(inputs[0]) * f.out

    def connections(self, f: LinearFields, inputs: list[Shape], out: Shape) -> int:
        positions = math.prod(inputs[0][:-1])
        return (inputs[0][-1] + (1 if f.bias else 0)) * f.out * positions

    def describe(self, f: LinearFields) -> str:
        return str(f.out)

    def torch(self, f: LinearFields, inputs: list[Shape], out: Shape) -> TorchCode:
        bias = None if f.bias else False
        return TorchCode(call("nn.Linear", inputs[0][-1], f.out, bias=bias))

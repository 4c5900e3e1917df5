"""linear: a fully connected layer ("FC")."""

from __future__ import annotations

from pydantic import Field, PositiveInt

from archc.layers.base import (
    FieldsModel,
    LayerKind,
    Shape,
    ShapeError,
    Tensor,
    TorchCode,
    fmt_shape,
)


class LinearFields(FieldsModel):
    """Fields of `linear`; the input size comes from the (flattened) input.

    ```yaml
    - {type: linear, out: 4096}
    - FC-4096                    # the VGG paper's notation
    ```
    """

    out: PositiveInt = Field(description="number of output features")
    bias: bool = Field(True, description="learn a bias per output feature")


class Linear(LayerKind):
    """Fully connected layer (`nn.Linear`) over a flat vector."""

    type = "linear"
    Fields = LinearFields
    family = "fc"
    shape_rule = "the vector `out`; the input must be a vector of N features (flatten first)"
    param_rule = "N * out weights + out biases"
    notation = {r"fc-?(?P<n>\d+)": {"out": "$n"}}

    def infer(self, f: LinearFields, inputs: list[Shape]) -> Shape:
        if len(inputs[0]) != 1:
            raise ShapeError(
                f"linear needs a flat vector, got the volume {fmt_shape(inputs[0])}; "
                "add a flatten layer (or a global pool and flatten) before it",
                code="E-SHAPE-RANK",
            )
        return (f.out,)

    def tensors(self, f: LinearFields, inputs: list[Shape], out: Shape) -> list[Tensor]:
        result = [Tensor("weight", (f.out, inputs[0][0]))]
        if f.bias:
            result.append(Tensor("bias", (f.out,)))
        return result

    def macs(self, f: LinearFields, inputs: list[Shape], out: Shape) -> int:
        return inputs[0][0] * f.out

    def connections(self, f: LinearFields, inputs: list[Shape], out: Shape) -> int:
        return (inputs[0][0] + (1 if f.bias else 0)) * f.out

    def describe(self, f: LinearFields) -> str:
        return str(f.out)

    def torch(self, f: LinearFields, inputs: list[Shape], out: Shape) -> TorchCode:
        bias = "" if f.bias else ", bias=False"
        return TorchCode(f"nn.Linear({inputs[0][0]}, {f.out}{bias})")

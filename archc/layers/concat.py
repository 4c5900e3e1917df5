"""concat: volumes stacked along the channel axis (inception modules)."""

from __future__ import annotations

from archc.layers.base import (
    SAVES_NOTHING,
    FieldsModel,
    LayerKind,
    Saved,
    Shape,
    ShapeError,
    TorchCode,
    fmt_shape,
)
from archc.pycode import Input, call


class ConcatFields(FieldsModel):
    """`concat` takes no fields; name its inputs in the order their channels are stacked.

    ```yaml
    - {type: concat, inputs: [branch1, branch2, branch3, branch4]}
    ```
    """


class Concat(LayerKind):
    """Channel-wise concatenation (`torch.cat(..., 1)`) of volumes of equal height and width."""

    type = "concat"
    Fields = ConcatFields
    family = "merge"
    shape_rule = "(C1 + C2 + ...) x H x W: the inputs must agree in H and W"
    min_inputs = 2
    max_inputs = None

    def infer(self, f: ConcatFields, inputs: list[Shape]) -> Shape:
        ranks = {len(s) for s in inputs}
        if ranks != {3} and ranks != {1}:
            shapes = ", ".join(fmt_shape(s) for s in inputs)
            raise ShapeError(f"cannot stack {shapes}", "inputs", code="E-SHAPE-CONCAT")
        if any(s[1:] != inputs[0][1:] for s in inputs[1:]):
            shapes = ", ".join(fmt_shape(s) for s in inputs)
            raise ShapeError(
                f"inputs {shapes} differ in height or width", "inputs", code="E-SHAPE-CONCAT"
            )
        return (sum(s[0] for s in inputs), *inputs[0][1:])

    def saved(self, f, inputs: list[Shape], out: Shape) -> tuple[Saved, ...]:
        return SAVES_NOTHING  # the gradient is split by the inputs' sizes

    def describe(self, f: ConcatFields) -> str:
        return "concat"

    def torch(self, f: ConcatFields, inputs: list[Shape], out: Shape) -> TorchCode:
        return TorchCode(None, call=call("torch.cat", [Input(k) for k in range(len(inputs))], 1))

"""add: elementwise sum of volumes of the same shape (residual shortcuts)."""

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
from archc.pycode import BinOp, Expr, Input


class AddFields(FieldsModel):
    """`add` takes no fields; name its inputs.

    ```yaml
    - {type: add, inputs: [bn2, downsample]}
    ```
    """


class Add(LayerKind):
    """Elementwise sum of two or more volumes of equal shape (a residual merge)."""

    type = "add"
    Fields = AddFields
    family = "merge"
    shape_rule = "the inputs' common volume: every input must have the same shape"
    min_inputs = 2
    max_inputs = None

    def infer(self, f: AddFields, inputs: list[Shape]) -> Shape:
        if any(shape != inputs[0] for shape in inputs[1:]):
            shapes = " and ".join(fmt_shape(s) for s in inputs)
            raise ShapeError(f"inputs {shapes} differ", "inputs", code="E-SHAPE-ADD")
        return inputs[0]

    def saved(self, f: AddFields, inputs: list[Shape], out: Shape) -> tuple[Saved, ...]:
        return SAVES_NOTHING  # the gradient passes through unchanged

    def describe(self, f: AddFields) -> str:
        return "+"

    def torch(self, f: AddFields, inputs: list[Shape], out: Shape) -> TorchCode:
        total: Expr = Input(0)
        for k in range(1, len(inputs)):
            total = BinOp(total, "+", Input(k))
        return TorchCode(None, call=total)

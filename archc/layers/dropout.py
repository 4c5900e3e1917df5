"""dropout: randomly zero features while training (identity at inference)."""

from __future__ import annotations

import math

from pydantic import Field

from archc.layers.base import SAVES_NOTHING, FieldsModel, LayerKind, Saved, Shape, TorchCode
from archc.pycode import call


class DropoutFields(FieldsModel):
    """Fields of `dropout`.

    ```yaml
    - {type: dropout, p: 0.5}
    ```
    """

    p: float = Field(0.5, ge=0, le=1, description="probability of zeroing an element")


class Dropout(LayerKind):
    """Dropout (`nn.Dropout`); counted as in-place, since it is the identity at inference."""

    type = "dropout"
    Fields = DropoutFields
    makes_tensor = False
    notation = {r"dropout": {}}

    def saved(self, f: DropoutFields, inputs: list[Shape], out: Shape) -> tuple[Saved, ...]:
        # Training keeps the mask of kept elements; p = 0 returns the input untouched.
        if f.p == 0:
            return SAVES_NOTHING
        return (Saved(per_example=math.prod(out), dtype="mask"),)

    def aliases(self, f: DropoutFields) -> bool:
        return f.p == 0

    def describe(self, f: DropoutFields) -> str:
        return f"p {f.p:g}"

    def torch(self, f: DropoutFields, inputs: list[Shape], out: Shape) -> TorchCode:
        return TorchCode(call("nn.Dropout", p=None if f.p == 0.5 else f.p), view=True)

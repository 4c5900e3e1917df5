"""flatten: a CxHxW volume viewed as one vector of C*H*W features."""

from __future__ import annotations

import math

from archc.layers.base import SAVES_NOTHING, FieldsModel, LayerKind, Saved, Shape, TorchCode
from archc.pycode import Input, call


class FlattenFields(FieldsModel):
    """`flatten` takes no fields.

    ```yaml
    - flatten
    ```
    """


class Flatten(LayerKind):
    """Flatten to a vector (`torch.flatten(x, 1)`): a view, no new tensor."""

    type = "flatten"
    Fields = FlattenFields
    shape_rule = "the vector C*H*W"
    makes_tensor = False
    aliases_input = True

    def infer(self, f: FlattenFields, inputs: list[Shape]) -> Shape:
        return (math.prod(inputs[0]),)

    def saved(self, f, inputs: list[Shape], out: Shape) -> tuple[Saved, ...]:
        return SAVES_NOTHING

    def torch(self, f: FlattenFields, inputs: list[Shape], out: Shape) -> TorchCode:
        return TorchCode(
            call("nn.Flatten"), functional=call("torch.flatten", Input(0), 1), view=True
        )

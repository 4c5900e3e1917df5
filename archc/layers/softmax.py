"""softmax: class scores to probabilities."""

from __future__ import annotations

from archc.layers.base import SAVES_OUTPUT, FieldsModel, LayerKind, Saved, Shape, TorchCode
from archc.pycode import call


class SoftmaxFields(FieldsModel):
    """`softmax` takes no fields; it normalizes over channels (dimension 1).

    ```yaml
    - soft-max
    ```
    """


class Softmax(LayerKind):
    """Softmax over the channel or feature axis (`nn.Softmax(dim=1)`)."""

    type = "softmax"
    Fields = SoftmaxFields
    family = "act"
    notation = {r"soft-?max": {}}
    output_scores = "probabilities"

    def saved(self, f, inputs: list[Shape], out: Shape) -> tuple[Saved, ...]:
        return SAVES_OUTPUT

    def torch(self, f: SoftmaxFields, inputs: list[Shape], out: Shape) -> TorchCode:
        return TorchCode(call("nn.Softmax", dim=1), saves_output=True)

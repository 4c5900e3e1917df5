"""class_token: a learned token prepended to the sequence (ViT's [class] token)."""

from __future__ import annotations

from archc.layers.base import (
    SAVES_NOTHING,
    SELF,
    FieldsModel,
    LayerKind,
    Saved,
    Shape,
    Tensor,
    TorchCode,
    sequence,
)
from archc.pycode import LAYER, Attr, Input, call, index, method


class ClassTokenFields(FieldsModel):
    """`class_token` takes no fields. The token is a parameter of the enclosing module, under
    the entry's name (torchvision's key `class_token`).

    ```yaml
    - {name: class_token, type: class_token}   # 196x768 -> 197x768
    ```
    """


class ClassToken(LayerKind):
    """Learned class token, prepended to every sequence (`torch.cat([token, x], 1)`)."""

    type = "class_token"
    held_by_parent = True
    Fields = ClassTokenFields
    family = "other"
    shape_rule = "(T + 1) x D: the token first, then the input's T tokens"
    param_rule = "D (a 1 x 1 x D parameter held by the enclosing module, named after the entry)"

    def infer(self, f: ClassTokenFields, inputs: list[Shape]) -> Shape:
        tokens, dim = sequence(inputs[0], "class_token")
        return (tokens + 1, dim)

    def tensors(self, f: ClassTokenFields, inputs: list[Shape], out: Shape) -> list[Tensor]:
        return [Tensor(SELF, (1, 1, out[1]))]

    def describe(self, f: ClassTokenFields) -> str:
        return "+1 token"

    def saved(self, f, inputs: list[Shape], out: Shape) -> tuple[Saved, ...]:
        return SAVES_NOTHING  # a concatenation needs only sizes

    def torch(self, f: ClassTokenFields, inputs: list[Shape], out: Shape) -> TorchCode:
        # torchvision starts the token at zero; expand() makes one view per example.
        x = Input(0)
        batch = index(Attr(x, "shape"), 0)
        return TorchCode(
            call("nn.Parameter", call("torch.zeros", 1, 1, out[1])),
            call=call("torch.cat", [method(LAYER, "expand", batch, -1, -1), x], dim=1),
        )

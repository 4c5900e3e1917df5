"""dropout: randomly zero features while training (identity at inference)."""

from __future__ import annotations

from pydantic import Field

from archc.layers.base import FieldsModel, LayerKind, Shape, TorchCode


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

    def describe(self, f: DropoutFields) -> str:
        return f"p {f.p:g}"

    def torch(self, f: DropoutFields, inputs: list[Shape], out: Shape) -> TorchCode:
        module = "nn.Dropout()" if f.p == 0.5 else f"nn.Dropout(p={f.p!r})"
        return TorchCode(module, view=True)

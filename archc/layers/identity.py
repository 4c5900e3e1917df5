"""identity: passes its input through unchanged."""

from __future__ import annotations

from archc.layers.base import SAVES_NOTHING, FieldsModel, LayerKind, Saved, Shape, TorchCode
from archc.pycode import call


class IdentityFields(FieldsModel):
    """`identity` takes no fields.

    ```yaml
    - identity
    ```
    """


class Identity(LayerKind):
    """The identity (`nn.Identity`): a named placeholder, no computation, no new tensor."""

    type = "identity"
    Fields = IdentityFields
    makes_tensor = False
    aliases_input = True

    def saved(self, f, inputs: list[Shape], out: Shape) -> tuple[Saved, ...]:
        return SAVES_NOTHING

    def torch(self, f: IdentityFields, inputs: list[Shape], out: Shape) -> TorchCode:
        return TorchCode(call("nn.Identity"), view=True)

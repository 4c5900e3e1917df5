"""identity: passes its input through unchanged."""

from __future__ import annotations

from archc.layers.base import FieldsModel, LayerKind, Shape, TorchCode


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

    def torch(self, f: IdentityFields, inputs: list[Shape], out: Shape) -> TorchCode:
        return TorchCode("nn.Identity()", view=True)

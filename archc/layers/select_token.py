"""select_token: one token of the sequence, as a vector (ViT's class token output)."""

from __future__ import annotations

from pydantic import Field

from archc.layers.base import (
    SAVES_NOTHING,
    FieldsModel,
    LayerKind,
    Saved,
    Shape,
    ShapeError,
    TorchCode,
    sequence,
)
from archc.pycode import Input, Slice, index


class SelectTokenFields(FieldsModel):
    """Fields of `select_token`.

    ```yaml
    - {type: select_token, index: 0}   # 197x768 -> 768: the class token's output
    ```
    """

    index: int = Field(0, description="which token (0 is the first; negative counts from the end)")


class SelectToken(LayerKind):
    """Select one token (`x[:, index]`): the sequence's vector at that position."""

    type = "select_token"
    Fields = SelectTokenFields
    shape_rule = "the vector D of token `index`"
    makes_tensor = False

    def infer(self, f: SelectTokenFields, inputs: list[Shape]) -> Shape:
        tokens, dim = sequence(inputs[0], "select_token")
        if not -tokens <= f.index < tokens:
            raise ShapeError(
                f"index {f.index} is outside the {tokens} tokens of its input {tokens}x{dim}",
                "index",
            )
        return (dim,)

    def describe(self, f: SelectTokenFields) -> str:
        return f"token {f.index}"

    def saved(self, f, inputs: list[Shape], out: Shape) -> tuple[Saved, ...]:
        return SAVES_NOTHING  # a view: the gradient fills its token

    def aliases(self, f) -> bool:
        return True

    def torch(self, f: SelectTokenFields, inputs: list[Shape], out: Shape) -> TorchCode:
        return TorchCode(None, call=index(Input(0), Slice(), int(f.index)), view=True)

"""tokens_to_map: a sequence of H*W tokens laid back out as a CxHxW map (hybrids)."""

from __future__ import annotations

import math

from pydantic import Field, PositiveInt

from archc.layers.base import (
    SAVES_NOTHING,
    FieldsModel,
    LayerKind,
    Saved,
    Shape,
    ShapeError,
    TorchCode,
    fmt_shape,
    sequence,
)
from archc.pycode import Input, method


class TokensToMapFields(FieldsModel):
    """Fields of `tokens_to_map`; without them the map is square.

    ```yaml
    - tokens_to_map                               # 196x768 -> 14x14x768
    - {type: tokens_to_map, height: 7, width: 28}
    ```
    """

    height: PositiveInt | None = Field(None, description="rows of the map (default: square)")
    width: PositiveInt | None = Field(None, description="columns of the map (default: square)")


class TokensToMap(LayerKind):
    """Tokens to map (`x.transpose(1, 2).reshape(...)`): the inverse of `map_to_tokens`."""

    type = "tokens_to_map"
    Fields = TokensToMapFields
    shape_rule = "the map D x height x width, with height * width = T (square by default)"

    def _size(self, f: TokensToMapFields, tokens: int) -> tuple[int, int] | None:
        if f.height is None and f.width is None:
            side = math.isqrt(tokens)
            return (side, side) if side * side == tokens else None
        if f.height is not None and f.width is not None:
            return (f.height, f.width) if f.height * f.width == tokens else None
        given = f.height or f.width
        if tokens % given:
            return None
        other = tokens // given
        return (given, other) if f.height is not None else (other, given)

    def infer(self, f: TokensToMapFields, inputs: list[Shape]) -> Shape:
        tokens, dim = sequence(inputs[0], "tokens_to_map")
        size = self._size(f, tokens)
        if size is None:
            wanted = (
                "a square number of tokens"
                if f.height is None and f.width is None
                else f"height x width = {f.height or '?'} x {f.width or '?'}"
            )
            raise ShapeError(
                f"the {tokens} tokens of {fmt_shape(inputs[0])} cannot be laid out as {wanted}",
                "height" if f.height is not None else None,
            )
        return (dim, *size)

    def describe(self, f: TokensToMapFields) -> str:
        return "D x H x W"

    def saved(self, f, inputs: list[Shape], out: Shape) -> tuple[Saved, ...]:
        return SAVES_NOTHING  # a transpose and a copy need only sizes

    def torch(self, f: TokensToMapFields, inputs: list[Shape], out: Shape) -> TorchCode:
        d, h, w = out
        tokens = method(Input(0), "transpose", 1, 2)
        return TorchCode(None, call=method(tokens, "reshape", -1, d, h, w))

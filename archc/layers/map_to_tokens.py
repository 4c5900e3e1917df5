"""map_to_tokens: a CxHxW map read as a sequence of H*W tokens of C features (ViT's patches)."""

from __future__ import annotations

from archc.layers.base import (
    SAVES_NOTHING,
    FieldsModel,
    LayerKind,
    Saved,
    Shape,
    TorchCode,
    spatial,
)
from archc.pycode import Input, method


class MapToTokensFields(FieldsModel):
    """`map_to_tokens` takes no fields; after a patch convolution it makes ViT's tokens.

    ```yaml
    - {name: conv_proj, type: conv, out: 768, kernel: 16, stride: 16}   # 14x14x768
    - map_to_tokens                                                     # 196x768
    ```
    """


class MapToTokens(LayerKind):
    """Map to tokens (`x.flatten(2).transpose(1, 2)`): one token per pixel, row by row."""

    type = "map_to_tokens"
    Fields = MapToTokensFields
    shape_rule = "the sequence (H*W) x C: one token of C features per pixel, row-major"
    # A transposed view of the map: no new tensor.
    makes_tensor = False

    def infer(self, f: MapToTokensFields, inputs: list[Shape]) -> Shape:
        c, h, w = spatial(inputs[0], "map_to_tokens")
        return (h * w, c)

    def describe(self, f: MapToTokensFields) -> str:
        return "HW x C"

    def saved(self, f, inputs: list[Shape], out: Shape) -> tuple[Saved, ...]:
        return SAVES_NOTHING  # views (flatten, transpose)

    def aliases(self, f) -> bool:
        return True

    def torch(self, f: MapToTokensFields, inputs: list[Shape], out: Shape) -> TorchCode:
        tokens = method(method(Input(0), "flatten", 2), "transpose", 1, 2)
        return TorchCode(None, call=tokens, view=True)

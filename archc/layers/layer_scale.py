"""layer_scale: a learned scale per channel, a parameter held by the enclosing module."""

from __future__ import annotations

from pydantic import Field

from archc.layers.base import (
    SELF,
    FieldsModel,
    LayerKind,
    Over,
    Shape,
    Tensor,
    TorchCode,
    feature_size,
    torch_tuple,
)


class LayerScaleFields(FieldsModel):
    """Fields of `layer_scale`; the channel count comes from the input.

    ```yaml
    - {type: layer_scale, over: channels, value: 1.0e-6}   # ConvNeXt: key `layer_scale`
    ```
    """

    over: Over = Field(
        None,
        description="`channels`: one scale per channel of a CxHxW volume, shape (C, 1, 1); "
        "`last`: one per entry of the last axis, shape (N,); vectors and sequences need "
        "no value",
    )
    value: float = Field(1e-6, description="the initial value of every scale")


class LayerScale(LayerKind):
    """Learned per-channel scale (Touvron et al., 2021), a parameter held by the enclosing
    module under the layer's name, as ConvNeXt's `layer_scale` is.

    it multiplies its input; its state_dict key is the layer's own path
    (`features.1.0.layer_scale`), since it is a tensor, not a module.
    """

    type = "layer_scale"
    held_by_parent = True
    Fields = LayerScaleFields
    family = "norm"
    param_rule = "C (one scale per channel), or N over the last axis"

    def infer(self, f: LayerScaleFields, inputs: list[Shape]) -> Shape:
        feature_size(inputs[0], f.over, "layer_scale")
        return inputs[0]

    def _shape(self, f: LayerScaleFields, shape: Shape) -> Shape:
        n = feature_size(shape, f.over, "layer_scale")
        return (n, 1, 1) if f.over == "channels" else (n,)

    def tensors(self, f: LayerScaleFields, inputs: list[Shape], out: Shape) -> list[Tensor]:
        return [Tensor(SELF, self._shape(f, inputs[0]))]

    def describe(self, f: LayerScaleFields) -> str:
        return f"x {f.value:g}"

    def torch(self, f: LayerScaleFields, inputs: list[Shape], out: Shape) -> TorchCode:
        shape = torch_tuple(self._shape(f, inputs[0]))
        return TorchCode(f"nn.Parameter(torch.full({shape}, {f.value!r}))", call="{self} * {0}")

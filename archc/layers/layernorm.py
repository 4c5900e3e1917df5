"""layernorm: layer normalization over the channels of a map, or over a volume's last axis."""

from __future__ import annotations

import math

from pydantic import Field, PositiveFloat

from archc.layers.base import (
    FieldsModel,
    LayerKind,
    Over,
    Saved,
    Shape,
    Tensor,
    TorchCode,
    feature_size,
)

_LAYER_NORM_2D = '''
class LayerNorm2d(nn.LayerNorm):
    """Layer norm over the channels of an NCHW map, at every pixel (torchvision's)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)
        x = nn.functional.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)
'''


class LayerNormFields(FieldsModel):
    """Fields of `layernorm`; the normalized size comes from the input.

    ```yaml
    - {type: layernorm, over: channels, eps: 1.0e-6}   # ConvNeXt's LayerNorm2d on a map
    - {type: layernorm, over: last, eps: 1.0e-6}       # channels-last block, or a sequence
    ```
    """

    over: Over = Field(
        None,
        description="`channels`: C of a CxHxW volume at every pixel (torchvision's "
        "LayerNorm2d); `last`: the last axis (nn.LayerNorm); vectors and sequences need "
        "no value",
    )
    eps: PositiveFloat = Field(1e-5, description="added to the variance for stability")
    affine: bool = Field(True, description="learn a scale (`weight`) per normalized feature")
    bias: bool = Field(True, description="learn a shift (`bias`) per normalized feature")


class LayerNorm(LayerKind):
    """Layer normalization (`nn.LayerNorm`; torchvision's `LayerNorm2d` over channels).

    each example is normalized over one axis: the channels at every pixel, or the last axis.
    """

    type = "layernorm"
    Fields = LayerNormFields
    family = "norm"
    param_rule = "2 * N, N the size of the normalized axis (scale and shift, if `affine`)"
    notation = {r"ln|layer-?norm": {}}

    def infer(self, f: LayerNormFields, inputs: list[Shape]) -> Shape:
        feature_size(inputs[0], f.over, "layernorm")
        return inputs[0]

    def tensors(self, f: LayerNormFields, inputs: list[Shape], out: Shape) -> list[Tensor]:
        n = feature_size(inputs[0], f.over, "layernorm")
        if not f.affine:
            return []
        return [Tensor("weight", (n,))] + ([Tensor("bias", (n,))] if f.bias else [])

    def describe(self, f: LayerNormFields) -> str:
        parts = [f"over {f.over}" if f.over else "", "" if f.eps == 1e-5 else f"eps {f.eps:g}"]
        return ", ".join(p for p in parts if p)

    def saved(self, f: LayerNormFields, inputs: list[Shape], out: Shape) -> tuple[Saved, ...]:
        # The input, and a mean and an inverse deviation (float32) per normalized position.
        positions = math.prod(inputs[0]) // feature_size(inputs[0], f.over, "layernorm")
        return (Saved("input"), Saved(per_example=2 * positions, dtype="float32"))

    def torch(self, f: LayerNormFields, inputs: list[Shape], out: Shape) -> TorchCode:
        args = [str(feature_size(inputs[0], f.over, "layernorm"))]
        if f.eps != 1e-5:
            args.append(f"eps={f.eps!r}")
        if not f.affine:
            args.append("elementwise_affine=False")
        elif not f.bias:
            args.append("bias=False")
        if f.over == "channels":
            return TorchCode(f"LayerNorm2d({', '.join(args)})", helpers=("LayerNorm2d",))
        return TorchCode(f"nn.LayerNorm({', '.join(args)})")

    torch_helpers = {"LayerNorm2d": _LAYER_NORM_2D}

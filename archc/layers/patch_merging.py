"""patch_merging: Swin's downsampling between stages (2x2 tokens -> one token of 2C)."""

from __future__ import annotations

from pydantic import Field, PositiveFloat

from archc.layers.base import (
    FieldsModel,
    LayerKind,
    Saved,
    Shape,
    ShapeError,
    Tensor,
    TorchCode,
    Window,
)
from archc.layers.window_attention import channels_last


class PatchMergingFields(FieldsModel):
    """Fields of `patch_merging`; the input is a channels-last map H x W x C with H and W even.

    ```yaml
    - {type: patch_merging}   # 56x56x96 -> 28x28x192
    ```
    """

    eps: PositiveFloat = Field(1e-5, description="the layer norm's epsilon")


class PatchMerging(LayerKind):
    """Patch merging (torchvision's PatchMerging): the four tokens of each 2x2 patch side by
    side (4C), layer-normalized, then a linear map to 2C without bias."""

    type = "patch_merging"
    Fields = PatchMergingFields
    family = "fc"
    shape_rule = "the channels-last map H/2 x W/2 x 2C (H and W must be even)"
    param_rule = "4C * 2C reduction weights (no bias), 4C + 4C norm scale and shift"
    torch_helpers = {
        "PatchMerging": '''
class PatchMerging(nn.Module):
    """Swin's patch merging: each 2x2 patch of a channels-last map becomes one token, its four
    tokens side by side, layer-normalized and reduced to twice the width."""

    def __init__(self, dim, eps=1e-5):
        super().__init__()
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm(4 * dim, eps=eps)

    def forward(self, x):
        corners = [x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]]
        return self.reduction(self.norm(torch.cat(corners, -1)))
''',
    }

    def channels_last(self, f: PatchMergingFields, inputs: list[bool]) -> bool:
        return True  # it takes and gives Swin's channels-last map

    def infer(self, f: PatchMergingFields, inputs: list[Shape]) -> Shape:
        h, w, c = channels_last(inputs[0], "patch_merging")
        if h % 2 or w % 2:
            raise ShapeError(
                f"2x2 patches do not tile the {h}x{w} map of its input (height x width x "
                f"channels {h}x{w}x{c}): height and width must be even",
                code="E-SHAPE-WINDOW",
            )
        return (h // 2, w // 2, 2 * c)

    def saved(self, f: PatchMergingFields, inputs: list[Shape], out: Shape) -> tuple[Saved, ...]:
        # The norm keeps the concatenated corners and a mean and inverse deviation per
        # position (float32); the reduction keeps the norm's output.
        h, w, c = inputs[0]
        positions = (h // 2) * (w // 2)
        return (
            Saved(per_example=2 * 4 * c * positions),
            Saved(per_example=2 * positions, dtype="float32"),
        )

    def torchinfo_leaves(
        self, f: PatchMergingFields, inputs: list[Shape], out: Shape
    ) -> list[tuple[int, int]]:
        # Its children are the leaves: the norm (4C wide) and the reduction (4C to 2C).
        c = inputs[0][2]
        positions = out[0] * out[1]
        return [(positions * 4 * c, 8 * c), (positions * 2 * c, 8 * c * c)]

    def tensors(self, f: PatchMergingFields, inputs: list[Shape], out: Shape) -> list[Tensor]:
        c = inputs[0][2]
        # torchvision creates the reduction before the norm: that is the state_dict order.
        return [
            Tensor("reduction.weight", (2 * c, 4 * c)),
            Tensor("norm.weight", (4 * c,)),
            Tensor("norm.bias", (4 * c,)),
        ]

    def macs(self, f: PatchMergingFields, inputs: list[Shape], out: Shape) -> int:
        h, w, c2 = out
        return h * w * 2 * c2 * c2

    def connections(self, f: PatchMergingFields, inputs: list[Shape], out: Shape) -> int:
        return self.macs(f, inputs, out)

    def window(self, f: PatchMergingFields, inputs: list[Shape]) -> Window:
        return Window((2, 2), (2, 2))

    def describe(self, f: PatchMergingFields) -> str:
        return "2x2 -> 2C"

    def torch(self, f: PatchMergingFields, inputs: list[Shape], out: Shape) -> TorchCode:
        eps = "" if f.eps == 1e-5 else f", eps={f.eps!r}"
        return TorchCode(f"PatchMerging({inputs[0][2]}{eps})", helpers=("PatchMerging",))

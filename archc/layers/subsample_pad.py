"""subsample_pad: the parameter-free shortcut of CIFAR ResNets ("option A")."""

from __future__ import annotations

from pydantic import Field, PositiveInt

from archc.layers.base import (
    SAVES_NOTHING,
    FieldsModel,
    LayerKind,
    Saved,
    Shape,
    ShapeError,
    TorchCode,
    Window,
    spatial,
)
from archc.pycode import call


class SubsamplePadFields(FieldsModel):
    """Fields of `subsample_pad`: take every `stride`-th pixel, then pad channels with zeros.

    ```yaml
    - {type: subsample_pad, out: 32, stride: 2}
    ```
    """

    out: PositiveInt = Field(description="output channels (zeros fill the extra ones)")
    stride: PositiveInt = Field(1, description="keep every stride-th row and column")


class SubsamplePad(LayerKind):
    """Identity shortcut with subsampling and zero-padded channels (He et al., 2015, option A)."""

    type = "subsample_pad"
    Fields = SubsamplePadFields
    family = "other"
    shape_rule = "out x ceil(H / stride) x ceil(W / stride); out must be at least C"
    torch_helpers = {
        "SubsamplePad": '''
class SubsamplePad(nn.Module):
    """Shortcut without parameters: subsample by `stride`, zero-pad the new channels."""

    def __init__(self, extra_channels, stride):
        super().__init__()
        self.extra_channels = extra_channels
        self.stride = stride

    def forward(self, x):
        x = x[:, :, :: self.stride, :: self.stride]
        half = self.extra_channels // 2
        return nn.functional.pad(x, (0, 0, 0, 0, half, self.extra_channels - half))
'''
    }

    def infer(self, f: SubsamplePadFields, inputs: list[Shape]) -> Shape:
        c, h, w = spatial(inputs[0], "subsample_pad")
        if f.out < c:
            raise ShapeError(f"out ({f.out}) is fewer than the input's {c} channels", "out")
        return (f.out, -(-h // f.stride), -(-w // f.stride))

    def window(self, f: SubsamplePadFields, inputs: list[Shape]) -> Window:
        return Window((1, 1), (f.stride, f.stride))

    def describe(self, f: SubsamplePadFields) -> str:
        return f"/{f.stride}, pad to {f.out}"

    def saved(self, f: SubsamplePadFields, inputs: list[Shape], out: Shape) -> tuple[Saved, ...]:
        return SAVES_NOTHING  # slicing and zero padding need only the sizes

    def torch(self, f: SubsamplePadFields, inputs: list[Shape], out: Shape) -> TorchCode:
        extra = f.out - inputs[0][0]
        return TorchCode(call("SubsamplePad", extra, f.stride), helpers=("SubsamplePad",))

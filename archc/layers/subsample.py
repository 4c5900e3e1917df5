"""subsample: LeNet-5's trainable subsampling (S2, S4)."""

from __future__ import annotations

import math

from pydantic import Field, PositiveInt

from archc.layers.base import (
    FieldsModel,
    LayerKind,
    Saved,
    Shape,
    ShapeError,
    Tensor,
    TorchCode,
    Window,
    spatial,
)
from archc.pycode import call


class SubsampleFields(FieldsModel):
    """Fields of `subsample`: sum each non-overlapping window, times a learned coefficient,
    plus a learned bias, per map (LeCun et al., 1998, section II.B).

    ```yaml
    - {type: subsample, kernel: 2}
    ```
    """

    kernel: PositiveInt = Field(2, description="window size and stride")


class Subsample(LayerKind):
    """Trainable subsampling: one coefficient and one bias per map; no squashing included."""

    type = "subsample"
    Fields = SubsampleFields
    family = "pool"
    shape_rule = "C x floor(H / kernel) x floor(W / kernel)"
    param_rule = "2 * C (a coefficient and a bias per map)"
    torch_helpers = {
        "Subsample": '''
class Subsample(nn.Module):
    """LeNet-5 subsampling: window sums times a coefficient, plus a bias, per map."""

    def __init__(self, channels, kernel_size):
        super().__init__()
        self.kernel_size = kernel_size
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x):
        area = self.kernel_size * self.kernel_size
        sums = nn.functional.avg_pool2d(x, self.kernel_size) * area
        return sums * self.weight[:, None, None] + self.bias[:, None, None]
'''
    }

    def infer(self, f: SubsampleFields, inputs: list[Shape]) -> Shape:
        c, h, w = spatial(inputs[0], "subsample")
        if h < f.kernel or w < f.kernel:
            raise ShapeError(
                f"window {f.kernel} is larger than {h}x{w}", "kernel", code="E-SHAPE-KERNEL"
            )
        return (c, h // f.kernel, w // f.kernel)

    def tensors(self, f: SubsampleFields, inputs: list[Shape], out: Shape) -> list[Tensor]:
        c = inputs[0][0]
        return [Tensor("weight", (c,)), Tensor("bias", (c,))]

    def connections(self, f: SubsampleFields, inputs: list[Shape], out: Shape) -> int:
        c, h, w = out
        return c * h * w * (f.kernel * f.kernel + 1)

    def window(self, f: SubsampleFields, inputs: list[Shape]) -> Window:
        return Window((f.kernel, f.kernel), (f.kernel, f.kernel))

    def saved(self, f: SubsampleFields, inputs: list[Shape], out: Shape) -> tuple[Saved, ...]:
        # The pooling keeps its input; the product with the coefficients keeps the sums.
        return (Saved("input"), Saved(per_example=math.prod(out)))

    def describe(self, f: SubsampleFields) -> str:
        return f"{f.kernel}x{f.kernel}/{f.kernel}"

    def torch(self, f: SubsampleFields, inputs: list[Shape], out: Shape) -> TorchCode:
        return TorchCode(call("Subsample", inputs[0][0], f.kernel), helpers=("Subsample",))

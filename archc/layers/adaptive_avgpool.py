"""adaptive_avgpool: average pooling to a fixed output size (global average pooling)."""

from __future__ import annotations

from pydantic import Field, model_validator

from archc.layers.base import (
    SAVES_INPUT,
    SAVES_NOTHING,
    FieldsModel,
    LayerKind,
    Pair,
    Saved,
    Shape,
    TorchCode,
    Window,
    fmt_pair,
    pair_value,
    spatial,
)
from archc.pycode import call


class AdaptiveAvgPoolFields(FieldsModel):
    """Fields of `adaptive_avgpool`.

    ```yaml
    - {type: adaptive_avgpool}          # global average pooling to 1x1
    - {type: adaptive_avgpool, size: 6} # AlexNet (torchvision)
    ```
    """

    size: Pair = Field(1, description="output height and width")

    @model_validator(mode="after")
    def _positive(self) -> AdaptiveAvgPoolFields:
        if min(self.size) < 1:
            raise ValueError(f"size must be at least 1, got {list(self.size)}")
        return self


class AdaptiveAvgPool(LayerKind):
    """Adaptive average pooling (`nn.AdaptiveAvgPool2d`): any input to a fixed size."""

    type = "adaptive_avgpool"
    Fields = AdaptiveAvgPoolFields
    family = "pool"
    shape_rule = "C x size x size (C x h x w for size [h, w]), whatever H and W are"
    notation = {r"(global[-_ ]?)?avg[-_ ]?pool[-_ ]?global|global[-_ ]?avg[-_ ]?pool": {}}

    def infer(self, f: AdaptiveAvgPoolFields, inputs: list[Shape]) -> Shape:
        c, _, _ = spatial(inputs[0], "adaptive_avgpool")
        return (c, *f.size)

    def window(self, f: AdaptiveAvgPoolFields, inputs: list[Shape]) -> Window:
        # PyTorch's bins are ceil(in/out) wide and start every in/out pixels; where the
        # output divides the input this is an ordinary pool, and a fair bound otherwise.
        _, h, w = inputs[0]
        kernel = tuple(-(-size // out) for size, out in zip((h, w), f.size, strict=True))
        stride = tuple(max(1, size // out) for size, out in zip((h, w), f.size, strict=True))
        return Window(kernel, stride)

    def saved(self, f: AdaptiveAvgPoolFields, inputs: list[Shape], out: Shape) -> tuple[Saved, ...]:
        # torch pools to 1x1 with a mean, whose gradient needs only the input's size.
        return SAVES_NOTHING if out[1:] == (1, 1) else SAVES_INPUT

    def describe(self, f: AdaptiveAvgPoolFields) -> str:
        return "global" if f.size == (1, 1) else f"to {fmt_pair(f.size)}"

    def torch(self, f: AdaptiveAvgPoolFields, inputs: list[Shape], out: Shape) -> TorchCode:
        # torchvision writes the global pool as (1, 1).
        size = (1, 1) if f.size == (1, 1) else pair_value(f.size)
        return TorchCode(call("nn.AdaptiveAvgPool2d", size))

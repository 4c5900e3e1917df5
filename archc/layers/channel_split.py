"""channel_split: one of the equal parts of a volume's channels (ShuffleNetV2's `x.chunk`)."""

from __future__ import annotations

from pydantic import Field, NonNegativeInt, PositiveInt

from archc.layers.base import (
    SAVES_NOTHING,
    FieldsModel,
    LayerKind,
    Saved,
    Shape,
    ShapeError,
    TorchCode,
)


class ChannelSplitFields(FieldsModel):
    """Fields of `channel_split`: which part of `x.chunk(parts, dim=1)` this layer takes.

    ```yaml
    - {name: x1, type: channel_split, index: 0, inputs: input}   # the first half
    - {name: x2, type: channel_split, index: 1, inputs: input}   # the second half
    ```
    """

    parts: PositiveInt = Field(2, description="number of parts the channels are cut into")
    index: NonNegativeInt = Field(description="which part, from 0")


class ChannelSplit(LayerKind):
    """A part of the channels (`x.chunk(parts, 1)[index]`), done in forward with no module;
    a view, no new tensor. Parts hold ceil(C / parts) channels, the last one what is left."""

    type = "channel_split"
    Fields = ChannelSplitFields
    makes_tensor = False
    shape_rule = "ceil(C / parts) x H x W (the last part: what is left)"

    def infer(self, f: ChannelSplitFields, inputs: list[Shape]) -> Shape:
        c = inputs[0][0]
        size = -(-c // f.parts)
        start = f.index * size
        if start >= c:
            raise ShapeError(
                f"part {f.index} of {c} channels cut into parts of {size} is empty "
                f"(torch's chunk gives {-(-c // size)} parts)",
                "index",
            )
        return (min(size, c - start), *inputs[0][1:])

    def describe(self, f: ChannelSplitFields) -> str:
        return f"part {f.index}/{f.parts}"

    def saved(self, f, inputs: list[Shape], out: Shape) -> tuple[Saved, ...]:
        return SAVES_NOTHING  # a view: the gradient fills its part

    def aliases(self, f) -> bool:
        return True

    def torch(self, f: ChannelSplitFields, inputs: list[Shape], out: Shape) -> TorchCode:
        # x.split(ceil(C / parts), 1) makes the parts x.chunk(parts, 1) makes. The ONNX
        # exporter writes a split of a size read from the tensor as a Split of constant
        # sizes, but `chunk(...)[i]` as a Slice of computed bounds, after which ONNX shape
        # inference (and `build --check`) loses every volume.
        p = f.parts
        return TorchCode(
            None, call=f"{{0}}.split(({{0}}.shape[1] + {p - 1}) // {p}, 1)[{f.index}]", view=True
        )

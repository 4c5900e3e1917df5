"""channel_shuffle: interleave the channels of groups (ShuffleNet), done in forward."""

from __future__ import annotations

from pydantic import Field, PositiveInt

from archc.layers.base import (
    FieldsModel,
    LayerKind,
    Saved,
    Shape,
    ShapeError,
    TorchCode,
)


class ChannelShuffleFields(FieldsModel):
    """Fields of `channel_shuffle`.

    ```yaml
    - {type: channel_shuffle, groups: 2}   # ShuffleNetV2, after its concat
    ```
    """

    groups: PositiveInt = Field(description="number of groups whose channels are interleaved")


class ChannelShuffle(LayerKind):
    """Channel shuffle (Zhang et al., 2018): channels [a0 a1 b0 b1] become [a0 b0 a1 b1];
    torchvision's `channel_shuffle` function, written in forward with no module."""

    type = "channel_shuffle"
    Fields = ChannelShuffleFields
    shape_rule = "the input's volume, unchanged; `groups` must divide C"

    def infer(self, f: ChannelShuffleFields, inputs: list[Shape]) -> Shape:
        if inputs[0][0] % f.groups:
            raise ShapeError(f"{f.groups} groups do not divide {inputs[0][0]} channels", "groups")
        return inputs[0]

    def describe(self, f: ChannelShuffleFields) -> str:
        return f"{f.groups} groups"

    def saved(self, f, inputs: list[Shape], out: Shape) -> tuple[Saved, ...]:
        # Indexing the channels in their new order keeps the order (int64, one per channel).
        return (Saved(fixed=inputs[0][0], dtype="int64"),)

    def torch(self, f: ChannelShuffleFields, inputs: list[Shape], out: Shape) -> TorchCode:
        # Output channel i is input channel (i % groups) * (C / groups) + i // groups: the
        # order torchvision's view / transpose / view gives. Written as indexing with that
        # order, because the ONNX exporter turns a reshape of a size read from the tensor
        # into shapes ONNX shape inference cannot follow (and `build --check` fails), while
        # indexing exports as a Gather of constant indices, whose output volume is known.
        g = f.groups
        order = f"[i % {g} * ({{0}}.shape[1] // {g}) + i // {g} for i in range({{0}}.shape[1])]"
        return TorchCode(None, call=f"{{0}}[:, {order}]")

"""groupnorm: group normalization, channels normalized in groups per example."""

from __future__ import annotations

from pydantic import Field, PositiveFloat, PositiveInt

from archc.layers.base import FieldsModel, LayerKind, Saved, Shape, ShapeError, Tensor, TorchCode


class GroupNormFields(FieldsModel):
    """Fields of `groupnorm`; the channel count comes from the input.

    ```yaml
    - {type: groupnorm, groups: 32}
    ```
    """

    groups: PositiveInt = Field(description="number of channel groups; must divide C")
    eps: PositiveFloat = Field(1e-5, description="added to the variance for stability")
    affine: bool = Field(True, description="learn a scale and shift per channel")


class GroupNorm(LayerKind):
    """Group normalization (`nn.GroupNorm`): each group of C / groups channels normalized.

    the statistics are per example (Wu & He, 2018), so the batch size does not matter.
    """

    type = "groupnorm"
    Fields = GroupNormFields
    family = "norm"
    shape_rule = "the input's volume, unchanged; `groups` must divide C"
    param_rule = "2 * C (scale and shift, if `affine`)"
    notation = {r"gn|group-?norm": {}}

    def infer(self, f: GroupNormFields, inputs: list[Shape]) -> Shape:
        c = inputs[0][0]
        if c % f.groups:
            raise ShapeError(f"{f.groups} groups do not divide {c} channels", "groups")
        return inputs[0]

    def tensors(self, f: GroupNormFields, inputs: list[Shape], out: Shape) -> list[Tensor]:
        c = inputs[0][0]
        return [Tensor("weight", (c,)), Tensor("bias", (c,))] if f.affine else []

    def describe(self, f: GroupNormFields) -> str:
        return f"{f.groups} groups"

    def saved(self, f, inputs: list[Shape], out: Shape) -> tuple[Saved, ...]:
        # The input, and a mean and an inverse deviation (float32) per group.
        return (Saved("input"), Saved(per_example=2 * f.groups, dtype="float32"))

    def torch(self, f: GroupNormFields, inputs: list[Shape], out: Shape) -> TorchCode:
        args = [str(f.groups), str(inputs[0][0])]
        if f.eps != 1e-5:
            args.append(f"eps={f.eps!r}")
        if not f.affine:
            args.append("affine=False")
        return TorchCode(f"nn.GroupNorm({', '.join(args)})")

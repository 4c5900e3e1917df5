"""permute: reorder a volume's axes (ConvNeXt's channels-last stretch between two permutes)."""

from __future__ import annotations

from pydantic import Field, field_validator

from archc.layers.base import (
    SAVES_NOTHING,
    FieldsModel,
    LayerKind,
    Saved,
    Shape,
    ShapeError,
    TorchCode,
    fmt_shape,
)

_PERMUTE = '''
class Permute(nn.Module):
    """Reorder the axes of the input (`torch.permute`), the batch axis included."""

    def __init__(self, dims: list[int]) -> None:
        super().__init__()
        self.dims = dims

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.permute(x, self.dims)
'''


class PermuteFields(FieldsModel):
    """Fields of `permute`: the new order of the axes, the batch axis 0 included and first,
    as torchvision writes `Permute([0, 2, 3, 1])`.

    ```yaml
    - {type: permute, dims: [0, 2, 3, 1]}   # CxHxW -> HxWxC (channels last)
    - {type: permute, dims: [0, 3, 1, 2]}   # and back
    ```
    """

    dims: list[int] = Field(description="the input axis each output axis takes, batch first")

    @field_validator("dims")
    @classmethod
    def _permutation(cls, dims: list[int]) -> list[int]:
        if sorted(dims) != list(range(len(dims))):
            raise ValueError(f"{dims} is not an order of the axes 0..{len(dims) - 1}")
        if dims[0] != 0:
            raise ValueError("the batch axis 0 must stay first")
        return dims


class Permute(LayerKind):
    """Axes reordered (`torch.permute`, as torchvision's `Permute` module): a view, no new
    tensor. Volumes are positional, so after [0, 2, 3, 1] a CxHxW volume is (H, W, C)."""

    type = "permute"
    Fields = PermuteFields
    makes_tensor = False
    shape_rule = "the input's axes in the order `dims` gives (without the batch axis)"
    torch_helpers = {"Permute": _PERMUTE}

    def infer(self, f: PermuteFields, inputs: list[Shape]) -> Shape:
        shape = inputs[0]
        if len(f.dims) != len(shape) + 1:
            raise ShapeError(
                f"dims {f.dims} order {len(f.dims)} axes, but the input {fmt_shape(shape)} has "
                f"{len(shape) + 1} with the batch axis",
                "dims",
                code="E-SHAPE-RANK",
            )
        return tuple(shape[d - 1] for d in f.dims[1:])

    def channels_last(self, f: PermuteFields, inputs: list[bool]) -> bool:
        if len(f.dims) != 4:
            return False
        channels = 3 if inputs[0] else 1  # the channel axis, counted with the batch axis
        return f.dims.index(channels) == 3

    def describe(self, f: PermuteFields) -> str:
        return str(f.dims)

    def saved(self, f, inputs: list[Shape], out: Shape) -> tuple[Saved, ...]:
        return SAVES_NOTHING  # a view: the gradient is permuted back

    def aliases(self, f) -> bool:
        return True

    def torch(self, f: PermuteFields, inputs: list[Shape], out: Shape) -> TorchCode:
        return TorchCode(f"Permute({f.dims})", helpers=("Permute",), view=True)

"""rbf: LeNet-5's output layer of fixed Euclidean radial basis function units."""

from __future__ import annotations

from pydantic import Field, PositiveInt

from archc.layers.base import (
    FieldsModel,
    LayerKind,
    Saved,
    Shape,
    ShapeError,
    Tensor,
    TorchCode,
    fmt_shape,
)
from archc.pycode import call


class RBFFields(FieldsModel):
    """Fields of `rbf`: one unit per class, each the squared distance to a fixed centre.

    ```yaml
    - {type: rbf, out: 10}
    ```
    """

    out: PositiveInt = Field(description="number of units (classes)")


class RBF(LayerKind):
    """Euclidean RBF units with fixed centres (buffers, not trained): y_i = sum (x_j - w_ij)^2."""

    type = "rbf"
    Fields = RBFFields
    family = "fc"
    shape_rule = "the vector `out`; the input must be a vector of N features"
    param_rule = "none; buffers: out * N fixed centres"
    # The paper's loss (eq. 9) is cross-entropy over the negated penalties (plus a constant
    # "rubbish class"), so training code reads -y as class scores.
    output_scores = "penalties"
    torch_helpers = {
        "RBF": '''
class RBF(nn.Module):
    """Euclidean radial basis units with fixed centres (LeNet-5's output layer)."""

    def __init__(self, in_features, out_features):
        super().__init__()
        # LeNet-5's centres were stylized +1/-1 bitmaps of the characters (7x12 = 84
        # pixels); any fixed +-1 codes that differ between classes keep the layer's role,
        # and checkpoints overwrite them. A seeded generator keeps the codes deterministic.
        generator = torch.Generator().manual_seed(1998)
        bits = torch.randint(0, 2, (out_features, in_features), generator=generator)
        self.register_buffer("centers", (bits * 2 - 1).float())

    def forward(self, x):
        return (x[:, None, :] - self.centers[None]).pow(2).sum(-1)
'''
    }

    def infer(self, f: RBFFields, inputs: list[Shape]) -> Shape:
        if len(inputs[0]) != 1:
            raise ShapeError(
                f"rbf needs a flat vector, got {fmt_shape(inputs[0])}", code="E-SHAPE-RANK"
            )
        return (f.out,)

    def tensors(self, f: RBFFields, inputs: list[Shape], out: Shape) -> list[Tensor]:
        return [Tensor("centers", (f.out, inputs[0][0]), buffer=True)]

    def connections(self, f: RBFFields, inputs: list[Shape], out: Shape) -> int:
        return f.out * inputs[0][0]

    def saved(self, f: RBFFields, inputs: list[Shape], out: Shape) -> tuple[Saved, ...]:
        # pow(2) keeps the differences to every centre: classes x features per example.
        return (Saved(per_example=f.out * inputs[0][0]),)

    def describe(self, f: RBFFields) -> str:
        return f"{f.out} fixed"

    def torch(self, f: RBFFields, inputs: list[Shape], out: Shape) -> TorchCode:
        return TorchCode(call("RBF", inputs[0][0], f.out), helpers=("RBF",))

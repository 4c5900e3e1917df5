"""lrn: local response normalization across neighbouring channels (AlexNet, GoogLeNet)."""

from __future__ import annotations

from pydantic import Field, PositiveFloat, PositiveInt

from archc.layers.base import FieldsModel, LayerKind, Saved, Shape, TorchCode, spatial
from archc.pycode import call


class LRNFields(FieldsModel):
    """Fields of `lrn`; the defaults are AlexNet's (Krizhevsky et al., 2012, section 3.3).

    ```yaml
    - {type: lrn, size: 5, alpha: 0.0001, beta: 0.75, k: 2}
    ```
    """

    size: PositiveInt = Field(5, description="number of neighbouring channels summed")
    alpha: float = Field(1e-4, description="scale of the sum of squares")
    beta: float = Field(0.75, description="exponent")
    k: PositiveFloat = Field(2.0, description="additive constant")


class LRN(LayerKind):
    """Local response normalization (`nn.LocalResponseNorm`): no learned parameters."""

    type = "lrn"
    Fields = LRNFields
    family = "norm"
    notation = {r"lrn|norm": {}}

    def infer(self, f: LRNFields, inputs: list[Shape]) -> Shape:
        spatial(inputs[0], "lrn")
        return inputs[0]

    def describe(self, f: LRNFields) -> str:
        return f"size {f.size}"

    def saved(self, f: LRNFields, inputs: list[Shape], out: Shape) -> tuple[Saved, ...]:
        # torch computes it from primitives (F.local_response_norm): the input (for the
        # square and the division), the squares zero-padded by size - 1 channels (for the
        # channel-window average), and the scaled sum and its power (for pow).
        c, h, w = inputs[0]
        padded = (c + f.size - 1) * h * w
        return (
            Saved("input"),
            Saved(per_example=padded),
            Saved(per_example=c * h * w),
            Saved(per_example=c * h * w),
        )

    def torch(self, f: LRNFields, inputs: list[Shape], out: Shape) -> TorchCode:
        return TorchCode(call("nn.LocalResponseNorm", f.size, alpha=f.alpha, beta=f.beta, k=f.k))

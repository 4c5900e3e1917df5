"""batchnorm: batch normalization of each channel (or feature)."""

from __future__ import annotations

from pydantic import Field, PositiveFloat

from archc.layers.base import FieldsModel, LayerKind, Saved, Shape, Tensor, TorchCode
from archc.pycode import call


class BatchNormFields(FieldsModel):
    """Fields of `batchnorm`; the channel count comes from the input.

    ```yaml
    - {type: batchnorm}
    - {type: batchnorm, eps: 0.001}   # torchvision's GoogLeNet and Inception v3
    ```
    """

    eps: PositiveFloat = Field(1e-5, description="added to the variance for stability")
    momentum: float = Field(0.1, ge=0, le=1, description="running statistics update rate")
    affine: bool = Field(True, description="learn a scale and shift per channel")
    track_running_stats: bool = Field(True, description="keep running mean and variance")


class BatchNorm(LayerKind):
    """Batch normalization (`nn.BatchNorm2d`, or `BatchNorm1d` after flattening)."""

    type = "batchnorm"
    Fields = BatchNormFields
    family = "norm"
    param_rule = (
        "2 * C (scale and shift, if `affine`); buffers: 2 * C + 1 (running mean, running "
        "variance, batch counter, if `track_running_stats`)"
    )
    notation = {r"bn|batch-?norm": {}}

    def saved(self, f: BatchNormFields, inputs: list[Shape], out: Shape) -> tuple[Saved, ...]:
        # The input, and the batch's mean and inverse standard deviation per channel.
        return (Saved("input"), Saved(fixed=2 * inputs[0][0], dtype="float32"))

    def tensors(self, f: BatchNormFields, inputs: list[Shape], out: Shape) -> list[Tensor]:
        c = inputs[0][0]
        result = []
        if f.affine:
            result += [Tensor("weight", (c,)), Tensor("bias", (c,))]
        if f.track_running_stats:
            result += [
                Tensor("running_mean", (c,), buffer=True),
                Tensor("running_var", (c,), buffer=True),
                Tensor("num_batches_tracked", (), buffer=True, dtype="int64"),
            ]
        return result

    def describe(self, f: BatchNormFields) -> str:
        return "" if f.eps == 1e-5 else f"eps {f.eps:g}"

    def torch(self, f: BatchNormFields, inputs: list[Shape], out: Shape) -> TorchCode:
        cls = "nn.BatchNorm2d" if len(inputs[0]) == 3 else "nn.BatchNorm1d"
        return TorchCode(
            call(
                cls,
                inputs[0][0],
                eps=f.eps if f.eps != 1e-5 else None,
                momentum=f.momentum if f.momentum != 0.1 else None,
                affine=None if f.affine else False,
                track_running_stats=None if f.track_running_stats else False,
            )
        )

"""maxpool: max pooling over a sliding window."""

from __future__ import annotations

import math

from pydantic import Field

from archc.layers._pool import PoolFields, WindowPool
from archc.layers.base import Pair, Saved, Shape, TorchCode, pair_value
from archc.pycode import call


class MaxPoolFields(PoolFields):
    """Fields of `maxpool`.

    ```yaml
    - {type: maxpool, kernel: 3, stride: 2}
    - {type: maxpool, kernel: 3, stride: 2, ceil_mode: true}
    ```
    """

    dilation: Pair = Field(1, description="spacing between window taps")


class MaxPool(WindowPool):
    """Max pooling (`nn.MaxPool2d`): the largest value in each window, per channel."""

    type = "maxpool"
    Fields = MaxPoolFields
    # VGG Table 1's "maxpool" is 2x2 with stride 2; "pool" alone means the same.
    notation = {r"max-?pool": {"kernel": 2, "stride": 2}}

    def saved(self, f: PoolFields, inputs: list[Shape], out: Shape) -> tuple[Saved, ...]:
        # The input, and where each maximum came from (int64, one per output element).
        return (Saved("input"), Saved(per_example=math.prod(out), dtype="int64"))

    def torch(self, f: MaxPoolFields, inputs: list[Shape], out: Shape) -> TorchCode:
        dilation = pair_value(f.dilation) if max(f.dilation) > 1 else None
        return TorchCode(
            call("nn.MaxPool2d", pair_value(f.kernel), **self._torch_kwargs(f), dilation=dilation)
        )

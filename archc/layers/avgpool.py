"""avgpool: average pooling over a sliding window."""

from __future__ import annotations

from pydantic import Field

from archc.layers._pool import PoolFields, WindowPool
from archc.layers.base import Shape, TorchCode, pair_value
from archc.pycode import call


class AvgPoolFields(PoolFields):
    """Fields of `avgpool`.

    ```yaml
    - {type: avgpool, kernel: 3, stride: 1, padding: 1}
    ```
    """

    count_include_pad: bool = Field(True, description="count padding zeros in the average")


class AvgPool(WindowPool):
    """Average pooling (`nn.AvgPool2d`): the mean of each window, per channel."""

    type = "avgpool"
    Fields = AvgPoolFields
    notation = {r"avg-?pool": {"kernel": 2, "stride": 2}}

    def torch(self, f: AvgPoolFields, inputs: list[Shape], out: Shape) -> TorchCode:
        extra = False if not f.count_include_pad else None
        return TorchCode(
            call(
                "nn.AvgPool2d",
                pair_value(f.kernel),
                **self._torch_kwargs(f),
                count_include_pad=extra,
            )
        )

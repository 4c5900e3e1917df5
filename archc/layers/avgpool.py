"""avgpool: average pooling over a sliding window."""

from __future__ import annotations

from pydantic import Field

from archc.layers._pool import PoolFields, WindowPool
from archc.layers.base import Shape, TorchCode


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
        args = self._torch_args(f)
        if not f.count_include_pad:
            args.append("count_include_pad=False")
        return TorchCode(f"nn.AvgPool2d({', '.join(args)})")

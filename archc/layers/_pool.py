"""Shared fields and arithmetic of the sliding-window pools (not a layer kind itself)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from archc.layers.base import (
    FieldsModel,
    LayerKind,
    Pair,
    Shape,
    ShapeError,
    Window,
    describe_uneven,
    fmt_pair,
    pair_value,
    spatial,
    window_out,
)


class PoolFields(FieldsModel):
    """Fields shared by `maxpool` and `avgpool`."""

    kernel: Pair = Field(2, description="window size: an int or [height, width]")
    stride: Pair | None = Field(None, description="step; defaults to the window size")
    padding: Pair = Field(0, description="implicit padding on each side")
    ceil_mode: bool = Field(False, description="round the output size up (GoogLeNet)")

    @model_validator(mode="after")
    def _check(self) -> PoolFields:
        if self.stride is None:
            object.__setattr__(self, "stride", self.kernel)
        for name in ("kernel", "stride"):
            if min(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1, got {list(getattr(self, name))}")
        if min(self.padding) < 0:
            raise ValueError(f"padding cannot be negative, got {list(self.padding)}")
        for p, k in zip(self.padding, self.kernel, strict=True):
            if p > k // 2:
                raise ValueError(
                    f"padding {fmt_pair(self.padding)} is more than half the window "
                    f"{fmt_pair(self.kernel)} (PyTorch refuses it)"
                )
        return self


class WindowPool(LayerKind):
    """Base of the pools: PyTorch's pooling arithmetic, floor or ceil."""

    family = "pool"
    shape_rule = (
        "C x H' x W', with H' = floor((H + 2*pad - kernel) / stride) + 1 (ceil with "
        "`ceil_mode`, dropping a last window that starts in the padding; likewise W')"
    )

    def _dilation(self, f: PoolFields) -> tuple[int, int]:
        return getattr(f, "dilation", (1, 1))

    def infer(self, f: PoolFields, inputs: list[Shape]) -> Shape:
        c, h, w = spatial(inputs[0], self.type)
        dilation = self._dilation(f)
        outs = tuple(
            window_out(size, k, s, p, d, f.ceil_mode)
            for size, k, s, p, d in zip(
                (h, w), f.kernel, f.stride, f.padding, dilation, strict=True
            )
        )
        if min(outs) < 1:
            raise ShapeError(
                f"window {fmt_pair(f.kernel)} is larger than its padded input "
                f"{h + 2 * f.padding[0]}x{w + 2 * f.padding[1]}",
                "kernel",
                code="E-SHAPE-KERNEL",
            )
        return (c, *outs)

    def window(self, f: PoolFields, inputs: list[Shape]) -> Window:
        return Window(f.kernel, f.stride, self._dilation(f))

    def uneven(self, f: PoolFields, inputs: list[Shape]) -> str | None:
        if f.ceil_mode:
            return None
        _, h, w = inputs[0]
        out = self.infer(f, inputs)
        return describe_uneven((h, w), out[1:], f, f.padding)

    def describe(self, f: PoolFields) -> str:
        text = f"{f.kernel[0]}x{f.kernel[1]}"
        if f.stride != (1, 1):
            text += f"/{fmt_pair(f.stride)}"
        if max(f.padding):
            text += f", pad {fmt_pair(f.padding)}"
        if f.ceil_mode:
            text += ", ceil"
        return text

    def _torch_kwargs(self, f: PoolFields) -> dict[str, Any]:
        """The keywords the pools share (None: PyTorch's default, left out)."""
        return {
            "stride": pair_value(f.stride) if f.stride != f.kernel else None,
            "padding": pair_value(f.padding) if max(f.padding) else None,
            "ceil_mode": True if f.ceil_mode else None,
        }

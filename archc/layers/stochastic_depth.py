"""stochastic_depth: drop a residual branch at random while training; identity in eval."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from archc.layers.base import SAVES_NOTHING, FieldsModel, LayerKind, Saved, Shape, TorchCode

_STOCHASTIC_DEPTH = '''
class StochasticDepth(nn.Module):
    """Zero the input at random while training, per example ("row") or for the whole batch,
    and scale what is kept by 1 / (1 - p) (Huang et al., 2016); the identity in eval."""

    def __init__(self, p: float, mode: str) -> None:
        super().__init__()
        self.p = p
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        size = [x.shape[0]] + [1] * (x.dim() - 1) if self.mode == "row" else [1] * x.dim()
        noise = torch.empty(size, dtype=x.dtype, device=x.device).bernoulli_(keep)
        if keep > 0.0:
            noise.div_(keep)
        return x * noise

    def extra_repr(self) -> str:
        return f"p={self.p}, mode={self.mode}"
'''


class StochasticDepthFields(FieldsModel):
    """Fields of `stochastic_depth`.

    ```yaml
    - {type: stochastic_depth, p: 0.1}   # torchvision's child `stochastic_depth`
    ```
    """

    p: float = Field(ge=0, le=1, description="probability of dropping the branch")
    mode: Literal["row", "batch"] = Field(
        "row", description="`row`: each example on its own; `batch`: the whole batch at once"
    )


class StochasticDepth(LayerKind):
    """Stochastic depth (torchvision's `StochasticDepth`): drops a residual branch at random
    while training; no parameters, and the identity at inference (no new tensor)."""

    type = "stochastic_depth"
    Fields = StochasticDepthFields
    makes_tensor = False
    torch_helpers = {"StochasticDepth": _STOCHASTIC_DEPTH}

    def describe(self, f: StochasticDepthFields) -> str:
        return f"p {f.p:g}" + ("" if f.mode == "row" else ", batch")

    def saved(self, f, inputs: list[Shape], out: Shape) -> tuple[Saved, ...]:
        # Training multiplies by a kept/dropped factor per example ("row") or per batch.
        if f.p == 0:
            return SAVES_NOTHING
        if f.mode == "row":
            return (Saved(per_example=1),)
        return (Saved(fixed=1),)

    def aliases(self, f) -> bool:
        return f.p == 0

    def torch(self, f: StochasticDepthFields, inputs: list[Shape], out: Shape) -> TorchCode:
        return TorchCode(
            f'StochasticDepth({f.p!r}, "{f.mode}")', helpers=("StochasticDepth",), view=True
        )

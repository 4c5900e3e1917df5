"""Activation functions: relu, relu6, leaky_relu, elu, gelu, silu, hardswish, hardsigmoid, ...

The exception to one-file-per-kind: these kinds differ only in a name, a PyTorch class and
an optional slope, so one table defines them all (each is still its own registered kind).
"""

from __future__ import annotations

import math

from pydantic import Field

from archc.layers.base import (
    SAVES_INPUT,
    SAVES_OUTPUT,
    FieldsModel,
    LayerKind,
    Saved,
    Shape,
    TorchCode,
)
from archc.pycode import INPLACE, call


class ActivationFields(FieldsModel):
    """Activations take no fields.

    ```yaml
    - relu
    - {type: relu}
    ```
    """


class LeakyReLUFields(FieldsModel):
    """Fields of `leaky_relu`.

    ```yaml
    - {type: leaky_relu, slope: 0.1}
    ```
    """

    slope: float = Field(0.01, description="slope for negative inputs")


class Activation(LayerKind):
    """Base of the elementwise activations."""

    family = "act"
    torch_class = ""
    #: Whether PyTorch can apply it in place (then it makes no new tensor).
    can_inplace = False
    #: What its backward needs: the output (ReLU, sigmoid, tanh) or the input (GELU, SiLU,
    #: hardswish, ...). In place, torch keeps the result or a copy of the input instead,
    #: which is the same number of bytes (archc applies it in place only where nothing
    #: else reads the input).
    keeps = SAVES_INPUT

    def saved(self, f: FieldsModel, inputs: list[Shape], out: Shape) -> tuple[Saved, ...]:
        return self.keeps

    def torch(self, f: FieldsModel, inputs: list[Shape], out: Shape) -> TorchCode:
        inplace = {"inplace": INPLACE} if self.can_inplace else {}
        code = call(self.torch_class, *self._torch_args(f), **inplace)
        return TorchCode(code, inplace=self.can_inplace, saves_output=True)

    def _torch_args(self, f: FieldsModel) -> list[float]:
        return []


def _activation(type_name: str, torch_class: str, doc: str, inplace: bool, **extra) -> type:
    attrs = {
        "type": type_name,
        "Fields": extra.pop("fields", ActivationFields),
        "torch_class": torch_class,
        "can_inplace": inplace,
        "makes_tensor": not inplace,
        "keeps": extra.pop("keeps", SAVES_INPUT),
        "__doc__": doc,
        "notation": extra.pop("notation", {type_name.replace("_", "-?_?"): {}}),
        **extra,
    }
    return type(type_name.title().replace("_", ""), (Activation,), attrs)


ReLU = _activation(
    "relu", "nn.ReLU", "Rectified linear unit, max(0, x) (`nn.ReLU`).", True, keeps=SAVES_OUTPUT
)
ReLU6 = _activation("relu6", "nn.ReLU6", "ReLU capped at 6 (`nn.ReLU6`).", True)
ELU = _activation("elu", "nn.ELU", "Exponential linear unit (`nn.ELU`).", True)
SiLU = _activation("silu", "nn.SiLU", "Sigmoid-weighted linear unit, swish (`nn.SiLU`).", True)
Hardswish = _activation("hardswish", "nn.Hardswish", "Hard swish (`nn.Hardswish`).", True)
GELU = _activation("gelu", "nn.GELU", "Gaussian error linear unit (`nn.GELU`).", False)
Hardsigmoid = _activation(
    "hardsigmoid",
    "nn.Hardsigmoid",
    "Hard sigmoid, relu6(x + 3) / 6 (`nn.Hardsigmoid`): MobileNetV3's gate.",
    True,
)
Sigmoid = _activation(
    "sigmoid", "nn.Sigmoid", "Logistic sigmoid (`nn.Sigmoid`).", False, keeps=SAVES_OUTPUT
)
Tanh = _activation("tanh", "nn.Tanh", "Hyperbolic tangent (`nn.Tanh`).", False, keeps=SAVES_OUTPUT)


class LeakyReLU(Activation):
    """Leaky ReLU: x for x > 0, slope * x otherwise (`nn.LeakyReLU`)."""

    type = "leaky_relu"
    Fields = LeakyReLUFields
    torch_class = "nn.LeakyReLU"
    can_inplace = True
    makes_tensor = False

    def _torch_args(self, f: LeakyReLUFields) -> list[float]:
        return [] if f.slope == 0.01 else [f.slope]

    def describe(self, f: LeakyReLUFields) -> str:
        return f"slope {f.slope:g}"


class ScaledTanh(Activation):
    """LeNet-5's squashing function, 1.7159 * tanh(2x / 3) (LeCun et al., 1998, appendix A)."""

    type = "scaled_tanh"
    Fields = ActivationFields
    torch_class = "ScaledTanh"
    torch_helpers = {
        "ScaledTanh": '''
class ScaledTanh(nn.Module):
    """LeNet-5's squashing function: 1.7159 * tanh(2x / 3)."""

    def forward(self, x):
        return 1.7159 * torch.tanh(x * (2.0 / 3.0))
'''
    }

    def saved(self, f: ActivationFields, inputs: list[Shape], out: Shape) -> tuple[Saved, ...]:
        # tanh keeps its result, an intermediate: the scalings before and after keep nothing.
        return (Saved(per_example=math.prod(out)),)

    def torch(self, f: ActivationFields, inputs: list[Shape], out: Shape) -> TorchCode:
        return TorchCode(call("ScaledTanh"), helpers=("ScaledTanh",))

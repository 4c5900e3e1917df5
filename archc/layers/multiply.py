"""multiply: elementwise product of volumes, broadcasting size-1 axes (a gate, as in SE)."""

from __future__ import annotations

from archc.layers.base import FieldsModel, LayerKind, Saved, Shape, ShapeError, TorchCode, fmt_shape


class MultiplyFields(FieldsModel):
    """`multiply` takes no fields; name its inputs (a Cx1x1 gate scales a CxHxW volume).

    ```yaml
    - {type: multiply, inputs: [scale_activation, input]}   # squeeze-excitation
    ```
    """


class Multiply(LayerKind):
    """Elementwise product of volumes of one rank (`a * b`); an axis of size 1 is broadcast.

    squeeze-excitation's gate: a Cx1x1 volume of per-channel weights scales every pixel of
    a CxHxW volume. Not a MAC by the convention that counts convolutions and linear layers.
    """

    type = "multiply"
    Fields = MultiplyFields
    family = "gate"
    shape_rule = (
        "the inputs' broadcast volume: each axis is equal in every input or 1 in some "
        "(Cx1x1 times CxHxW gives CxHxW)"
    )
    min_inputs = 2
    max_inputs = None

    def infer(self, f: MultiplyFields, inputs: list[Shape]) -> Shape:
        shapes = " and ".join(fmt_shape(s) for s in inputs)
        if len({len(s) for s in inputs}) != 1:
            raise ShapeError(
                f"inputs {shapes} differ in rank; only axes of size 1 are broadcast",
                "inputs",
                code="E-SHAPE-MULTIPLY",
            )
        result = []
        for sizes in zip(*inputs, strict=True):
            wide = {s for s in sizes if s != 1}
            if len(wide) > 1:
                raise ShapeError(
                    f"inputs {shapes} differ in an axis where neither is 1, so they cannot be "
                    "broadcast (a gate must be Cx1x1 with the volume's C)",
                    "inputs",
                    code="E-SHAPE-MULTIPLY",
                )
            result.append(wide.pop() if wide else 1)
        return tuple(result)

    def describe(self, f: MultiplyFields) -> str:
        return "*"

    def saved(self, f, inputs: list[Shape], out: Shape) -> tuple[Saved, ...]:
        # Each factor's gradient is the output's times the other factors.
        return tuple(Saved("input", i) for i in range(len(inputs)))

    def torch(self, f: MultiplyFields, inputs: list[Shape], out: Shape) -> TorchCode:
        return TorchCode(None, call=" * ".join(f"{{{i}}}" for i in range(len(inputs))))

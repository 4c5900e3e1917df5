"""pos_embedding: a learned position embedding added to the sequence (ViT)."""

from __future__ import annotations

from archc.layers.base import (
    SAVES_NOTHING,
    SELF,
    FieldsModel,
    LayerKind,
    Saved,
    Shape,
    Tensor,
    TorchCode,
    sequence,
)
from archc.pycode import LAYER, BinOp, Input, call, method


class PosEmbeddingFields(FieldsModel):
    """`pos_embedding` takes no fields. The embedding is a parameter of the enclosing module,
    under the entry's name (torchvision's key `encoder.pos_embedding`).

    ```yaml
    - {name: pos_embedding, type: pos_embedding}   # 197x768, plus a 1x197x768 parameter
    ```
    """


class PosEmbedding(LayerKind):
    """Learned position embedding, one vector per token, added to the sequence."""

    type = "pos_embedding"
    held_by_parent = True
    Fields = PosEmbeddingFields
    shape_rule = "the input's sequence T x D, unchanged"
    param_rule = "T * D (a 1 x T x D parameter held by the enclosing module, named after the entry)"

    def infer(self, f: PosEmbeddingFields, inputs: list[Shape]) -> Shape:
        sequence(inputs[0], "pos_embedding")
        return inputs[0]

    def tensors(self, f: PosEmbeddingFields, inputs: list[Shape], out: Shape) -> list[Tensor]:
        return [Tensor(SELF, (1, *out))]

    def describe(self, f: PosEmbeddingFields) -> str:
        return "+ learned"

    def saved(self, f, inputs: list[Shape], out: Shape) -> tuple[Saved, ...]:
        return SAVES_NOTHING  # an add passes the gradient through

    def torch(self, f: PosEmbeddingFields, inputs: list[Shape], out: Shape) -> TorchCode:
        tokens, dim = out
        # torchvision's initialization: normal with standard deviation 0.02.
        start = method(call("torch.empty", 1, tokens, dim), "normal_", std=0.02)
        return TorchCode(call("nn.Parameter", start), call=BinOp(Input(0), "+", LAYER))

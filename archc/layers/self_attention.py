"""self_attention: multi-head self-attention over a token sequence (`nn.MultiheadAttention`)."""

from __future__ import annotations

from pydantic import Field, PositiveInt

from archc.layers.base import (
    FieldsModel,
    LayerKind,
    Saved,
    Shape,
    Tensor,
    TorchCode,
    heads_of,
    sequence,
)
from archc.pycode import LAYER, Input, call, index


class SelfAttentionFields(FieldsModel):
    """Fields of `self_attention`; the width D comes from the input sequence.

    ```yaml
    - {name: self_attention, type: self_attention, heads: 12}
    ```
    """

    heads: PositiveInt = Field(description="attention heads; D must divide into them")
    dropout: float = Field(0.0, ge=0, le=1, description="dropout on the attention weights")
    bias: bool = Field(True, description="learn biases in the input and output projections")


class SelfAttention(LayerKind):
    """Multi-head self-attention (`nn.MultiheadAttention`, batch first): every token attends
    to every token, through torch's fused attention."""

    type = "self_attention"
    Fields = SelfAttentionFields
    family = "fc"
    global_field = True
    shape_rule = "the input's sequence T x D, unchanged (D must be divisible by `heads`)"
    param_rule = (
        "3 * D * D query-key-value weights + D * D output weights, and 3 * D + D biases "
        "(`in_proj_weight`, `in_proj_bias`, `out_proj.weight`, `out_proj.bias`)"
    )

    def infer(self, f: SelfAttentionFields, inputs: list[Shape]) -> Shape:
        _, dim = sequence(inputs[0], "self_attention")
        heads_of(dim, f.heads, inputs[0])
        return inputs[0]

    def tensors(self, f: SelfAttentionFields, inputs: list[Shape], out: Shape) -> list[Tensor]:
        dim = out[1]
        result = [Tensor("in_proj_weight", (3 * dim, dim))]
        if f.bias:
            result.append(Tensor("in_proj_bias", (3 * dim,)))
        result.append(Tensor("out_proj.weight", (dim, dim)))
        if f.bias:
            result.append(Tensor("out_proj.bias", (dim,)))
        return result

    def macs(self, f: SelfAttentionFields, inputs: list[Shape], out: Shape) -> int:
        # The projections are linear layers: queries, keys and values, then the output.
        tokens, dim = out
        return tokens * dim * 3 * dim + tokens * dim * dim

    def attention_macs(self, f: SelfAttentionFields, inputs: list[Shape], out: Shape) -> int:
        # Per head, Q K^T is T x T x D/heads and the weights times V the same again.
        tokens, dim = out
        return 2 * tokens * tokens * dim

    def connections(self, f: SelfAttentionFields, inputs: list[Shape], out: Shape) -> int:
        tokens, dim = out
        return tokens * (dim + (1 if f.bias else 0)) * 4 * dim

    def describe(self, f: SelfAttentionFields) -> str:
        return f"{f.heads} heads"

    def torchinfo_leaves(self, f, inputs: list[Shape], out: Shape) -> list[tuple[int, int]]:
        # nn.MultiheadAttention has a child (out_proj) it never calls: no leaf to see.
        return []

    def saved(self, f: SelfAttentionFields, inputs: list[Shape], out: Shape) -> tuple[Saved, ...]:
        # The input projection keeps its input; fused attention keeps the projected queries,
        # keys and values, its output (the output projection's input) and a log-sum-exp
        # (float32) per head and token.
        tokens, dim = out
        return (
            Saved("input"),
            Saved(per_example=3 * tokens * dim),
            Saved(per_example=f.heads * tokens, dtype="float32"),
            Saved(per_example=tokens * dim),
        )

    def torch(self, f: SelfAttentionFields, inputs: list[Shape], out: Shape) -> TorchCode:
        module = call(
            "nn.MultiheadAttention",
            out[1],
            f.heads,
            dropout=f.dropout if f.dropout else None,
            bias=None if f.bias else False,
            batch_first=True,
        )
        x = Input(0)
        # need_weights=False lets torch take its fused scaled-dot-product path.
        return TorchCode(module, call=index(call(LAYER, x, x, x, need_weights=False), 0))

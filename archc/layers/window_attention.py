"""window_attention: Swin's (shifted) window self-attention with relative position bias."""

from __future__ import annotations

from pydantic import Field, NonNegativeInt, PositiveInt, model_validator

from archc.layers.base import (
    FieldsModel,
    LayerKind,
    Saved,
    Shape,
    ShapeError,
    Tensor,
    TorchCode,
    Window,
    heads_of,
    kwargs,
)


class WindowAttentionFields(FieldsModel):
    """Fields of `window_attention`; the input is a channels-last map H x W x C (Swin's
    layout, after a `permute`), and the window must tile it.

    ```yaml
    - {name: attn, type: window_attention, heads: 3, window: 7}
    - {name: attn, type: window_attention, heads: 3, window: 7, shift: 3}   # shifted windows
    ```
    """

    heads: PositiveInt = Field(description="attention heads; C must divide into them")
    window: PositiveInt = Field(7, description="side of the square windows, in tokens")
    shift: NonNegativeInt = Field(
        0,
        description="cyclic shift of the map before partitioning (Swin: window // 2 in odd "
        "blocks); none along an axis that one window covers, as in torchvision",
    )
    attention_dropout: float = Field(0.0, ge=0, le=1, description="dropout on attention weights")
    dropout: float = Field(0.0, ge=0, le=1, description="dropout on the output projection")

    @model_validator(mode="after")
    def _shift_inside_window(self) -> WindowAttentionFields:
        if self.shift >= self.window:
            raise ValueError(f"shift ({self.shift}) must be smaller than window ({self.window})")
        return self


def channels_last(shape: Shape, layer: str) -> tuple[int, int, int]:
    """Unpack a channels-last map [H, W, C], or explain that the layer needs one."""
    if len(shape) != 3:
        raise ShapeError(
            f"{layer} needs a channels-last map (height x width x channels, after a "
            f"permute), got the {'sequence' if len(shape) == 2 else 'vector'} "
            f"{'x'.join(map(str, shape))}",
            code="E-SHAPE-RANK",
        )
    return shape  # type: ignore[return-value]


def effective_shift(f: WindowAttentionFields, shape: Shape) -> tuple[int, int]:
    """The shift along each axis: none where one window covers the axis (torchvision)."""
    h, w = shape[0], shape[1]
    return (0 if f.window >= h else f.shift, 0 if f.window >= w else f.shift)


class WindowAttention(LayerKind):
    """Shifted-window multi-head self-attention (Swin, torchvision's ShiftedWindowAttention):
    attention inside each window, with a learned relative position bias."""

    type = "window_attention"
    Fields = WindowAttentionFields
    family = "fc"
    shape_rule = (
        "the input's channels-last map H x W x C, unchanged (window must divide H and W, "
        "heads must divide C)"
    )
    param_rule = (
        "(2*window - 1)^2 * heads bias-table entries, 3 * C * C + 3 * C query-key-value "
        "weights and biases, C * C + C output weights and biases; the index of window^4 "
        "integers is a buffer"
    )
    torch_helpers = {
        "ShiftedWindowAttention": '''
class ShiftedWindowAttention(nn.Module):
    """Swin's window attention: self-attention inside each window of a channels-last map,
    after a cyclic shift, with a learned bias per relative position (as torchvision's)."""

    def __init__(self, dim, heads, window, shift, attention_dropout=0.0, dropout=0.0):
        super().__init__()
        self.heads, self.window = heads, window
        # One shift for both axes, or (rows, columns): none along an axis one window covers.
        self.shift = (shift, shift) if isinstance(shift, int) else tuple(shift)
        self.attention_dropout, self.dropout = attention_dropout, dropout
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, heads))
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        # Each pair of positions in a window reads the table at its (dy, dx) offset.
        axis = torch.arange(window)
        coords = torch.stack(torch.meshgrid(axis, axis, indexing="ij")).flatten(1)
        offsets = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (window - 1)
        index = (offsets[:, :, 0] * (2 * window - 1) + offsets[:, :, 1]).flatten()
        self.register_buffer("relative_position_index", index)

    def forward(self, x):
        h, w, dim = x.shape[1], x.shape[2], x.shape[3]
        window, heads, tokens = self.window, self.heads, self.window * self.window
        shift = self.shift
        if any(shift):
            x = torch.roll(x, shifts=(-shift[0], -shift[1]), dims=(1, 2))
        x = self._windows(x, h, w).reshape(-1, tokens, dim)
        qkv = self.qkv(x).reshape(-1, tokens, 3, heads, dim // heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attention = (q * (dim // heads) ** -0.5) @ k.transpose(-2, -1)
        bias = self.relative_position_bias_table[self.relative_position_index]
        attention = attention + bias.view(tokens, tokens, heads).permute(2, 0, 1)
        if any(shift):
            mask = self._mask(h, w, shift, x)
            attention = attention.view(-1, mask.shape[0], heads, tokens, tokens) + mask[:, None]
            attention = attention.view(-1, heads, tokens, tokens)
        attention = attention.softmax(-1)
        attention = nn.functional.dropout(attention, self.attention_dropout, self.training)
        x = (attention @ v).transpose(1, 2).reshape(-1, tokens, dim)
        x = nn.functional.dropout(self.proj(x), self.dropout, self.training)
        # The windows back into the map.
        x = x.view(-1, h // window, w // window, window, window, dim).transpose(2, 3)
        x = x.reshape(-1, h, w, dim)
        if any(shift):
            x = torch.roll(x, shifts=shift, dims=(1, 2))
        return x

    def _windows(self, x, h, w):
        """(..., h, w, C) -> (..., windows, window * window, C), window by window."""
        window = self.window
        x = x.view(*x.shape[:-3], h // window, window, w // window, window, x.shape[-1])
        x = x.transpose(-4, -3)
        return x.reshape(*x.shape[:-5], -1, window * window, x.shape[-1])

    def _mask(self, h, w, shift, x):
        """-100 between the tokens of a window that the shift brought from apart, else 0:
        each axis has three bands (the wrapped-around tail, the window before it, the rest)."""
        rows = torch.arange(h, device=x.device)
        cols = torch.arange(w, device=x.device)
        row_band = (rows >= h - self.window).long() + (rows >= h - shift[0]).long()
        col_band = (cols >= w - self.window).long() + (cols >= w - shift[1]).long()
        region = (3 * row_band[:, None] + col_band[None, :])[..., None]
        region = self._windows(region, h, w)[..., 0]
        apart = region[:, None, :] != region[:, :, None]
        return apart.to(x.dtype) * -100.0
''',
    }

    def channels_last(self, f: WindowAttentionFields, inputs: list[bool]) -> bool:
        return True  # it takes and gives Swin's channels-last map

    def infer(self, f: WindowAttentionFields, inputs: list[Shape]) -> Shape:
        h, w, c = channels_last(inputs[0], "window_attention")
        heads_of(c, f.heads, inputs[0])
        if h % f.window or w % f.window:
            raise ShapeError(
                f"window {f.window} does not tile the {h}x{w} map of its input "
                f"(height x width x channels {h}x{w}x{c}): {h} / {f.window} = "
                f"{h / f.window:g}, {w} / {f.window} = {w / f.window:g}",
                "window",
                code="E-SHAPE-WINDOW",
            )
        return inputs[0]

    def saved(self, f: WindowAttentionFields, inputs: list[Shape], out: Shape) -> tuple[Saved, ...]:
        # Attention computed step by step keeps: the windows (qkv's input), the scaled
        # queries, copies of the keys (transposed) and values for the two products, the
        # softmax (heads x tokens x tokens per window) and the output projection's input;
        # a dropout at work keeps its mask too.
        h, w, c = out
        volume = h * w * c
        scores = h * w * f.heads * f.window * f.window
        kept = [Saved(per_example=5 * volume), Saved(per_example=scores)]
        if h == f.window and w == f.window:
            # One window per image: at batch 1 the keys and values are views of the whole
            # query-key-value output instead of copies (3 volumes kept, not 2).
            kept.append(Saved(at_batch_one=volume))
        if f.attention_dropout:
            kept.append(Saved(per_example=scores, dtype="mask"))
        if f.dropout:
            kept.append(Saved(per_example=volume, dtype="mask"))
        return tuple(kept)

    def torchinfo_leaves(
        self, f: WindowAttentionFields, inputs: list[Shape], out: Shape
    ) -> list[tuple[int, int]]:
        # The module's children qkv and proj are the leaves; the bias table is its own.
        h, w, c = out
        return [(h * w * 3 * c, 3 * c * c + 3 * c), (h * w * c, c * c + c)]

    def tensors(self, f: WindowAttentionFields, inputs: list[Shape], out: Shape) -> list[Tensor]:
        c = out[2]
        side = 2 * f.window - 1
        return [
            Tensor("relative_position_bias_table", (side * side, f.heads)),
            Tensor("relative_position_index", (f.window**4,), buffer=True),
            Tensor("qkv.weight", (3 * c, c)),
            Tensor("qkv.bias", (3 * c,)),
            Tensor("proj.weight", (c, c)),
            Tensor("proj.bias", (c,)),
        ]

    def macs(self, f: WindowAttentionFields, inputs: list[Shape], out: Shape) -> int:
        h, w, c = out
        return h * w * c * 3 * c + h * w * c * c

    def attention_macs(self, f: WindowAttentionFields, inputs: list[Shape], out: Shape) -> int:
        # Each token attends to the window*window tokens of its window, in every head.
        h, w, c = out
        return 2 * h * w * f.window * f.window * c

    def connections(self, f: WindowAttentionFields, inputs: list[Shape], out: Shape) -> int:
        h, w, c = out
        return h * w * (c + 1) * 4 * c

    def window(self, f: WindowAttentionFields, inputs: list[Shape]) -> Window:
        # A token sees the tokens of its own window: at most window - 1 away on each axis.
        return Window((f.window, f.window), (1, 1))

    def describe(self, f: WindowAttentionFields) -> str:
        text = f"{f.window}x{f.window}, {f.heads} heads"
        return text + (f", shift {f.shift}" if f.shift else "")

    def torch(self, f: WindowAttentionFields, inputs: list[Shape], out: Shape) -> TorchCode:
        extra = kwargs(
            attention_dropout=repr(f.attention_dropout) if f.attention_dropout else None,
            dropout=repr(f.dropout) if f.dropout else None,
        )
        # The shift always written, so that blocks with and without one share a class.
        shift = effective_shift(f, out)
        written = str(shift[0]) if shift[0] == shift[1] else f"({shift[0]}, {shift[1]})"
        args = f"{out[2]}, {f.heads}, {f.window}, {written}" + (f", {extra}" if extra else "")
        return TorchCode(f"ShiftedWindowAttention({args})", helpers=("ShiftedWindowAttention",))

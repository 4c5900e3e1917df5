"""Weight initialization and frozen layers in generated code, from `init:` and `trainable:`.

A scheme applies to layers whose weight has two or more dimensions (convolutions, linear
layers) and zeroes their biases; other layers (BatchNorm: weight 1, bias 0) keep PyTorch's
own initialization under every scheme. `default` is PyTorch's own initialization.
"""

from __future__ import annotations

from archc.backends.pytorch_code import comment_text, source_location
from archc.ir.graph import Graph, Node
from archc.layers.base import SELF
from archc.passes.init_check import scheme
from archc.pycode import Attr, Expr, Name, call, dotted, flat, self_attribute

_WEIGHT_LOOP = '''
def {name}(module: nn.Module) -> None:
    """{doc}"""
    for layer in module.modules():
        weight = getattr(layer, "weight", None)
        if isinstance(weight, nn.Parameter) and weight.dim() > 1:
            {call}
            if getattr(layer, "bias", None) is not None:
                nn.init.zeros_(layer.bias)
'''

_DEFAULT = '''
def default_init(module: nn.Module) -> None:
    """PyTorch's own initialization of every layer (its `reset_parameters`)."""
    for layer in module.modules():
        if hasattr(layer, "reset_parameters"):
            layer.reset_parameters()
'''

#: scheme -> (function name, docstring, weight call)
_SCHEMES = {
    "he": (
        "he_init",
        "He (MSRA) initialization: normal weights, fan_out, ReLU gain; zero biases.",
        'nn.init.kaiming_normal_(weight, mode="fan_out", nonlinearity="relu")',
    ),
    "xavier": (
        "xavier_init",
        "Xavier (Glorot) initialization: uniform weights; zero biases.",
        "nn.init.xavier_uniform_(weight)",
    ),
    "normal": (
        "normal_init",
        "Normal weights with standard deviation 0.01; zero biases.",
        "nn.init.normal_(weight, 0.0, 0.01)",
    ),
    "zeros": ("zeros_init", "Zero weights and biases.", "nn.init.zeros_(weight)"),
}

FUNCTION_NAMES = {"default_init", *(v[0] for v in _SCHEMES.values())}


def _function(name: str) -> str:
    return "default_init" if name == "default" else _SCHEMES[name][0]


def module_ref(path: str, tensor: bool = False) -> Expr:
    """The expression that reaches the module (or a bare parameter) at a dotted path from
    `self`."""
    if all(isinstance(self_attribute(part), Attr) for part in path.split(".")):
        return dotted("self." + path)
    return call("self.get_parameter" if tensor else "self.get_submodule", path)


def _held(node: Node) -> bool:
    """Whether the layer is a tensor its parent holds (`SELF`), not a module."""
    return any(t.name == SELF for t in node.tensors)


def init_plan(graph: Graph) -> tuple[list[str], list[str]]:
    """(helper function sources, lines for the end of the root's __init__)."""
    base = scheme(graph.init)
    lines: list[str] = []
    used: list[str] = []
    if base != "default":
        used.append(base)
        lines.append(
            f"        # Weight initialization: `init: {comment_text(graph.init)}` for every layer"
        )
        lines.append(f"        {flat(call(_function(base), Name('self')))}")
    for node in graph.layers():
        params = [t for t in node.tensors if not t.buffer]
        # A tensor the parent holds (layer scale, class token) is no layer with a weight.
        if node.init is None or not params or scheme(node.init) == base or _held(node):
            continue
        own = scheme(node.init)
        if own not in used:
            used.append(own)
        where = source_location(node.span)
        lines.append(f"        {flat(call(_function(own), module_ref(node.path)))}  # {where}")
    frozen = [n for n in graph.layers() if not n.trainable and any(not t.buffer for t in n.tensors)]
    if frozen:
        lines.append("        # Frozen layers (`trainable: false`)")
    for node in frozen:
        ref = module_ref(node.path, tensor=_held(node))
        lines.append(f"        {flat(call(Attr(ref, 'requires_grad_'), False))}")
    sources = []
    for name in sorted(used):
        if name == "default":
            sources.append(_DEFAULT)
        else:
            function, doc, weight_call = _SCHEMES[name]
            sources.append(_WEIGHT_LOOP.format(name=function, doc=doc, call=weight_call))
    return sources, lines

"""Python expressions as typed trees: the only material generated code is made of.

Generated model.py is built from these nodes, never from text: an identifier is a `Name`
or an attribute name checked against one rule as the node is made (a plain ASCII
identifier, not a keyword), a value is a `Const` that holds a number, a boolean, None, a
string or a tuple of them, and an operator is one of a fixed few. A string from a spec can
therefore only ever be a `Const` (printed escaped by `python_literal`) or an identifier that
passed the rule: it cannot become a call, a statement or a comment's end.

Layers describe their PyTorch form with these nodes (`call("nn.Conv2d", 3, 64, 3)`), with
`Input(k)` and `LAYER` as holes the backend fills with the forward's variables and the
layer's attribute, and `INPLACE` as a keyword value it fills where in-place is safe.

This module sits below `layers` in the import order (it imports nothing of archc), like
`diagnostics`, so that layers and backends share it.
"""

from __future__ import annotations

import ast
import keyword
import math
from dataclasses import dataclass, field
from typing import Any

#: Binary operators generated code may use, with their precedence (higher binds tighter).
OPERATORS = {"+": 1, "-": 1, "*": 2, "//": 2, "/": 2, "%": 2}


class CodeError(ValueError):
    """An identifier or value that cannot stand in generated code (an archc bug: spec
    names are checked when the spec is loaded)."""


def check_identifier(name: object) -> str:
    """`name`, if it may stand in generated code as an identifier; raise CodeError."""
    if not isinstance(name, str) or not name.isascii() or not name.isidentifier():
        raise CodeError(f"{name!r} is not an identifier")
    if keyword.iskeyword(name) and name not in ("None", "True", "False"):
        raise CodeError(f"{name!r} is a Python keyword")
    return name


def _check_value(value: object) -> None:
    if value is None or isinstance(value, (bool, int, float, str)):
        return
    if isinstance(value, tuple):
        for item in value:
            _check_value(item)
        return
    raise CodeError(f"a {type(value).__name__} cannot be a constant in generated code")


@dataclass(frozen=True)
class Const:
    """A constant: None, a boolean, a number, a string, or a tuple of constants."""

    value: Any

    def __post_init__(self) -> None:
        _check_value(self.value)


@dataclass(frozen=True)
class Name:
    """A bare identifier (`nn`, `planes`, `x`)."""

    id: str

    def __post_init__(self) -> None:
        check_identifier(self.id)


@dataclass(frozen=True)
class Attr:
    """`value.attr`."""

    value: Expr
    attr: str

    def __post_init__(self) -> None:
        check_identifier(self.attr)


@dataclass
class Call:
    """`func(args, name=value)`; `exploded` forces one item per line (Sequentials)."""

    func: Expr
    args: list[Expr] = field(default_factory=list)
    kwargs: list[tuple[str, Expr]] = field(default_factory=list)
    exploded: bool = False
    #: A trailing comment per positional argument (the spec line of a Sequential's item).
    comments: list[str | None] = field(default_factory=list)
    #: Comment text to put above each positional argument (the item's `doc:`).
    notes: list[str | None] = field(default_factory=list)

    def __post_init__(self) -> None:
        for key, _ in self.kwargs:
            check_identifier(key)


@dataclass
class Seq:
    """A tuple (`open="("`) or list (`open="["`) display."""

    open: str
    items: list[Expr]

    def __post_init__(self) -> None:
        if self.open not in ("(", "["):
            raise CodeError(f"no sequence opens with {self.open!r}")


@dataclass(frozen=True)
class BinOp:
    """`left op right`, with op one of OPERATORS."""

    left: Expr
    op: str
    right: Expr

    def __post_init__(self) -> None:
        if self.op not in OPERATORS:
            raise CodeError(f"operator {self.op!r} is not one generated code uses")


@dataclass(frozen=True)
class IfExp:
    """`body if test else orelse`."""

    body: Expr
    test: Expr
    orelse: Expr


@dataclass(frozen=True)
class IsNone:
    """`value is None`."""

    value: Expr


@dataclass(frozen=True)
class Slice:
    """`lower:upper:step` inside a subscript (None parts left out: `:`)."""

    lower: Expr | None = None
    upper: Expr | None = None
    step: Expr | None = None


@dataclass(frozen=True)
class Subscript:
    """`value[index, ...]`."""

    value: Expr
    index: tuple[Expr | Slice, ...]


@dataclass(frozen=True)
class ListComp:
    """`[element for var in source]`: one loop, no condition (an index order)."""

    element: Expr
    var: str
    source: Expr

    def __post_init__(self) -> None:
        check_identifier(self.var)


@dataclass(frozen=True)
class Input:
    """Hole: the layer's k-th input, filled with a forward variable."""

    index: int


@dataclass(frozen=True)
class _Hole:
    what: str


#: Hole: the layer itself as forward reaches it (`self.conv1`), in a `call` form.
LAYER = _Hole("layer")
#: Keyword value: `inplace=True` where the backend finds in-place safe, else left out.
INPLACE = _Hole("inplace")

Expr = (
    Const | Name | Attr | Call | Seq | BinOp | IfExp | IsNone | Subscript | ListComp | Input | _Hole
)
_NODES = (Const, Name, Attr, Call, Seq, BinOp, IfExp, IsNone, Subscript, ListComp, Input, _Hole)


def dotted(path: str) -> Name | Attr:
    """`nn.Conv2d` as a Name with attributes, each part checked."""
    first, *rest = path.split(".")
    node: Name | Attr = Name(first)
    for part in rest:
        node = Attr(node, part)
    return node


def value(item: Any) -> Expr:
    """A Python value (or an expression already) as an expression: tuples and lists become
    displays, so that long ones are laid out item by item."""
    if isinstance(item, _NODES):
        return item
    if isinstance(item, (list, tuple)):
        return Seq("[" if isinstance(item, list) else "(", [value(i) for i in item])
    return Const(item)


def call(func: str | Expr, *args: Any, **kwargs: Any) -> Call:
    """`func(*args, **kwargs)`, leaving out keywords whose value is None."""
    target = dotted(func) if isinstance(func, str) else func
    return Call(
        target,
        [value(a) for a in args],
        [(k, value(v)) for k, v in kwargs.items() if v is not None],
    )


def method(obj: Expr, name: str, *args: Any, **kwargs: Any) -> Call:
    """`obj.name(*args, **kwargs)`."""
    return call(Attr(obj, name), *args, **kwargs)


def index(obj: Expr, *items: Expr | Slice | int) -> Subscript:
    """`obj[item, ...]`; ints become constants."""
    return Subscript(obj, tuple(i if isinstance(i, (Slice, *_NODES)) else Const(i) for i in items))


def _escape(char: str, quote: str) -> str:
    """One character inside a double-quoted literal: printable ASCII as itself, every
    other character as an escape (so the source stays ASCII: no bidirectional override, line
    separator or lone surrogate can change how it reads)."""
    if char in (quote, "\\"):
        return "\\" + char
    code = ord(char)
    if 0x20 <= code < 0x7F:
        return char
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def python_literal(item: object) -> str:
    """The source of a constant: the one way a value from a spec becomes code.

    Numbers, booleans and None print as Python does, except the floats that have no
    literal (`float("inf")`, `float("nan")`); text is a double-quoted string with every
    quote, backslash and control character escaped; tuples and lists recurse. Anything else
    is refused, so no object's own `repr` can put arbitrary text into the source.
    """
    if item is None or isinstance(item, (bool, int)):
        return repr(item)
    if isinstance(item, float):
        if math.isfinite(item):
            return repr(item)
        if math.isnan(item):
            return 'float("nan")'
        return 'float("inf")' if item > 0 else '-float("inf")'
    if isinstance(item, str):
        # ruff format's choice: double quotes, unless single ones need fewer escapes.
        quote = "'" if item.count('"') > item.count("'") else '"'
        return quote + "".join(_escape(c, quote) for c in item) + quote
    if isinstance(item, tuple):
        items = [python_literal(v) for v in item]
        return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
    if isinstance(item, list):
        return "[" + ", ".join(python_literal(v) for v in item) + "]"
    raise CodeError(f"no Python literal for a {type(item).__name__}")


def fill(expr: Expr, inputs: list[Expr], self_ref: Expr | None, inplace: bool = False) -> Expr:
    """The expression with its holes filled: inputs, the layer's attribute, in-place."""
    if isinstance(expr, Input):
        return inputs[expr.index]
    if expr is LAYER:
        if self_ref is None:
            raise CodeError("a module call form used without a module")
        return self_ref
    if isinstance(expr, Call):
        kwargs = []
        for key, item in expr.kwargs:
            if item is INPLACE:
                if inplace:
                    kwargs.append((key, Const(True)))
                continue
            kwargs.append((key, fill(item, inputs, self_ref, inplace)))
        return Call(
            fill(expr.func, inputs, self_ref, inplace),
            [fill(a, inputs, self_ref, inplace) for a in expr.args],
            kwargs,
            expr.exploded,
            list(expr.comments),
            list(expr.notes),
        )
    if isinstance(expr, Seq):
        return Seq(expr.open, [fill(i, inputs, self_ref, inplace) for i in expr.items])
    if isinstance(expr, Attr):
        return Attr(fill(expr.value, inputs, self_ref, inplace), expr.attr)
    if isinstance(expr, BinOp):
        return BinOp(
            fill(expr.left, inputs, self_ref, inplace),
            expr.op,
            fill(expr.right, inputs, self_ref, inplace),
        )
    if isinstance(expr, IfExp):
        return IfExp(
            *(fill(e, inputs, self_ref, inplace) for e in (expr.body, expr.test, expr.orelse))
        )
    if isinstance(expr, IsNone):
        return IsNone(fill(expr.value, inputs, self_ref, inplace))
    if isinstance(expr, ListComp):
        return ListComp(
            fill(expr.element, inputs, self_ref, inplace),
            expr.var,
            fill(expr.source, inputs, self_ref, inplace),
        )
    if isinstance(expr, Subscript):
        return Subscript(
            fill(expr.value, inputs, self_ref, inplace),
            tuple(_fill_index(i, inputs, self_ref, inplace) for i in expr.index),
        )
    return expr


def _fill_index(item: Expr | Slice, inputs, self_ref, inplace) -> Expr | Slice:
    if isinstance(item, Slice):
        parts = (item.lower, item.upper, item.step)
        return Slice(*(None if p is None else fill(p, inputs, self_ref, inplace) for p in parts))
    return fill(item, inputs, self_ref, inplace)


def names_in(expr: Expr) -> set[str]:
    """Every bare name the expression uses."""
    if isinstance(expr, Name):
        return {expr.id}
    if isinstance(expr, Attr):
        return names_in(expr.value)
    if isinstance(expr, Call):
        found = names_in(expr.func)
        for item in (*expr.args, *(v for _, v in expr.kwargs)):
            found |= names_in(item)
        return found
    if isinstance(expr, Seq):
        return set().union(*(names_in(i) for i in expr.items)) if expr.items else set()
    if isinstance(expr, BinOp):
        return names_in(expr.left) | names_in(expr.right)
    if isinstance(expr, IfExp):
        return names_in(expr.body) | names_in(expr.test) | names_in(expr.orelse)
    if isinstance(expr, IsNone):
        return names_in(expr.value)
    if isinstance(expr, ListComp):
        return (names_in(expr.element) - {expr.var}) | names_in(expr.source)
    if isinstance(expr, Subscript):
        found = names_in(expr.value)
        for item in expr.index:
            parts = (item.lower, item.upper, item.step) if isinstance(item, Slice) else (item,)
            for part in parts:
                found |= names_in(part) if part is not None else set()
        return found
    return set()


def flat(expr: Expr) -> str:
    """The expression's source on one line."""
    if isinstance(expr, Const):
        return python_literal(expr.value)
    if isinstance(expr, Name):
        return expr.id
    if isinstance(expr, Attr):
        return f"{atom(expr.value)}.{expr.attr}"
    if isinstance(expr, Seq):
        inner = ", ".join(flat(i) for i in expr.items)
        if expr.open == "(" and len(expr.items) == 1:
            inner += ","
        return f"{expr.open}{inner}{closing(expr.open)}"
    if isinstance(expr, Call):
        return f"{atom(expr.func)}({call_contents(expr)})"
    if isinstance(expr, BinOp):
        rank = OPERATORS[expr.op]
        left = flat(expr.left)
        if _rank(expr.left) < rank:
            left = f"({left})"
        right = flat(expr.right)
        if _rank(expr.right) <= rank:  # left-associative: a - (b - c) keeps its brackets
            right = f"({right})"
        return f"{left} {expr.op} {right}"
    if isinstance(expr, IfExp):
        body = flat(expr.body) if _rank(expr.body) > 0 else f"({flat(expr.body)})"
        return f"{body} if {flat(expr.test)} else {flat(expr.orelse)}"
    if isinstance(expr, IsNone):
        return f"{flat(expr.value)} is None"
    if isinstance(expr, Subscript):
        return f"{atom(expr.value)}[{index_text(expr.index)}]"
    if isinstance(expr, ListComp):
        return f"[{flat(expr.element)} for {expr.var} in {flat(expr.source)}]"
    raise CodeError(f"unfilled hole {expr!r} in generated code")


def _rank(expr: Expr) -> int:
    """Precedence of the expression's outermost operator (atoms bind tightest)."""
    if isinstance(expr, BinOp):
        return OPERATORS[expr.op]
    if isinstance(expr, (IfExp, IsNone)):
        return 0
    if (
        isinstance(expr, Const)
        and isinstance(expr.value, (int, float))
        and not isinstance(expr.value, bool)
    ):
        # A negative number or float("inf") is a unary expression, not an atom.
        return 9 if python_literal(expr.value)[0].isdigit() else 3
    return 9


def index_text(index: tuple[Expr | Slice, ...]) -> str:
    """What stands between a subscript's brackets."""
    parts = []
    for item in index:
        if isinstance(item, Slice):
            bounds = [flat(p) if p is not None else "" for p in (item.lower, item.upper)]
            text = ":".join(bounds)
            if item.step is not None:
                text += f":{flat(item.step)}"
            parts.append(text)
        else:
            parts.append(flat(item))
    return ", ".join(parts)


def atom(expr: Expr) -> str:
    """The expression where an attribute, a call or an index follows it."""
    text = flat(expr)
    if isinstance(expr, (Name, Attr, Call, Subscript)):
        return text
    return f"({text})"


def call_contents(call_: Call) -> str:
    """A call's arguments on one line."""
    parts = [flat(a) for a in call_.args]
    parts += [f"{k}={flat(v)}" for k, v in call_.kwargs]
    return ", ".join(parts)


def closing(opening: str) -> str:
    """The bracket that closes `opening`."""
    return {"(": ")", "[": "]"}[opening]


def self_attribute(name: str) -> Expr:
    """`self.name`, or `getattr(self, "0")` for a Sequential's numbered child."""
    if name.isascii() and name.isidentifier() and not keyword.iskeyword(name):
        return Attr(Name("self"), name)
    return Call(Name("getattr"), [Name("self"), Const(name)])


_HOLES = {"__archc_self__": LAYER, "__archc_inplace__": INPLACE}
_UNARY = {ast.USub: -1, ast.UAdd: 1}
_BINARY = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.FloorDiv: "//",
    ast.Div: "/",
    ast.Mod: "%",
}


def from_source(text: str, names: frozenset[str] | set[str]) -> Expr:
    """An expression a layer kind wrote as Python source over numbers
    (`"nn.LeakyReLU(0.2, {inplace})"`, `"torch.cat([{0}, {1}], 1)"`), as a tree.

    The text is archc's own, never a spec's; even so it is held to what generated code may
    contain: calls, attributes, constants, tuples and lists, the operators above, the holes
    `{self}`, `{0}`, `{1}`... and `{inplace}`, and no bare name but those in `names` (`nn`,
    `torch`, the layer's helper classes). Anything else raises CodeError.
    """
    source = text.replace("{self}", "__archc_self__").replace(
        "{inplace}", "inplace=__archc_inplace__"
    )
    for k in range(text.count("{")):
        source = source.replace(f"{{{k}}}", f"__archc_input_{k}__")
    try:
        tree = ast.parse(source.strip(), mode="eval").body
    except SyntaxError as exc:
        raise CodeError(f"layer code {text!r} is not a Python expression") from exc
    return _from_ast(tree, frozenset(names), text)


def _from_ast(node: ast.AST, names: frozenset[str], text: str) -> Expr:
    def convert(item: ast.AST) -> Expr:
        return _from_ast(item, names, text)

    if isinstance(node, ast.Name):
        if node.id in _HOLES:
            return _HOLES[node.id]
        if node.id.startswith("__archc_input_"):
            return Input(int(node.id.removeprefix("__archc_input_").removesuffix("__")))
        if node.id in names or node.id in ("None", "True", "False"):
            return Name(node.id)
        raise CodeError(f"layer code {text!r} uses the name {node.id!r}")
    if isinstance(node, ast.Attribute):
        return Attr(convert(node.value), node.attr)
    if isinstance(node, ast.Call):
        if any(k.arg is None for k in node.keywords) or any(
            isinstance(a, ast.Starred) for a in node.args
        ):
            raise CodeError(f"layer code {text!r} unpacks arguments")
        return Call(
            convert(node.func),
            [convert(a) for a in node.args],
            [(k.arg, convert(k.value)) for k in node.keywords],
        )
    if isinstance(node, ast.Constant):
        return Const(node.value)
    if isinstance(node, (ast.Tuple, ast.List)):
        items = [convert(e) for e in node.elts]
        return Seq("(" if isinstance(node, ast.Tuple) else "[", items)
    if isinstance(node, ast.ListComp) and len(node.generators) == 1:
        loop = node.generators[0]
        counts = (
            isinstance(loop.iter, ast.Call)
            and isinstance(loop.iter.func, ast.Name)
            and loop.iter.func.id == "range"
        )
        if isinstance(loop.target, ast.Name) and counts and not loop.ifs and not loop.is_async:
            # The loop variable is a name within the element only; the source may call range.
            inner = names | {loop.target.id}
            return ListComp(
                _from_ast(node.elt, inner, text),
                loop.target.id,
                _from_ast(loop.iter, names | {"range"}, text),
            )
    if isinstance(node, ast.Subscript):
        items = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        index = []
        for item in items:
            if isinstance(item, ast.Slice):
                parts = (item.lower, item.upper, item.step)
                index.append(Slice(*(None if p is None else convert(p) for p in parts)))
            else:
                index.append(convert(item))
        return Subscript(convert(node.value), tuple(index))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        operand = convert(node.operand)
        if isinstance(operand, Const) and isinstance(operand.value, (int, float)):
            return Const(_UNARY[type(node.op)] * operand.value)
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        return BinOp(convert(node.left), _BINARY[type(node.op)], convert(node.right))
    raise CodeError(f"layer code {text!r} holds {ast.unparse(node)!r}, which archc does not emit")

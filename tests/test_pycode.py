"""archc.pycode: the typed trees generated code is made of (torch-free).

Every identifier is checked as its node is made, every value is a constant printed by one
function, and the layer code a kind may still write as source is held to the vocabulary.
"""

from __future__ import annotations

import ast
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from archc.pycode import (
    INPLACE,
    LAYER,
    Attr,
    BinOp,
    Call,
    CodeError,
    Const,
    IfExp,
    Input,
    IsNone,
    Name,
    Slice,
    call,
    fill,
    flat,
    from_source,
    index,
    python_literal,
    self_attribute,
)

VOCABULARY = {"nn", "torch", "RBF"}


@pytest.mark.parametrize(
    "name", ["a b", "x;y", "__import__('os')", "a\nb", "class", "lambda", "conv\u0430", "", "1x"]
)
def test_identifiers_are_checked_as_nodes_are_made(name):
    with pytest.raises(CodeError):
        Name(name)
    with pytest.raises(CodeError):
        Attr(Name("self"), name)
    with pytest.raises(CodeError):
        Call(Name("f"), [], [(name, Const(1))])


def test_constants_hold_values_only():
    for bad in (object(), {"a": 1}, [1, 2], Name):
        with pytest.raises(CodeError):
            Const(bad)


@given(
    st.recursive(
        st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text()),
        lambda inner: st.lists(inner, max_size=3).map(tuple),
        max_leaves=8,
    )
)
def test_every_constant_prints_as_python_that_evaluates_to_it(item):
    source = python_literal(item)
    tree = ast.parse(source, mode="eval")
    # Only constants, tuples, a minus sign and `float("inf")`/`float("nan")`: nothing runs.
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            assert ast.unparse(node) in (
                'float("inf")',
                'float("nan")',
                "float('inf')",
                "float('nan')",
            )
    value = eval(compile(tree, "<const>", "eval"), {"float": float})
    assert _same(value, item)


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, tuple):
        return isinstance(b, tuple) and len(a) == len(b) and all(map(_same, a, b))
    return a == b and type(a) is type(b)


def test_the_printer_brackets_by_precedence():
    a, b, c = Name("a"), Name("b"), Name("c")
    assert flat(BinOp(a, "-", BinOp(b, "-", c))) == "a - (b - c)"
    assert flat(BinOp(BinOp(a, "-", b), "-", c)) == "a - b - c"
    assert flat(BinOp(BinOp(a, "+", b), "*", Const(4))) == "(a + b) * 4"
    assert flat(IfExp(a, IsNone(b), call(b, a))) == "a if b is None else b(a)"
    assert flat(index(Attr(a, "shape"), 0)) == "a.shape[0]"
    assert flat(index(a, Slice(), -1)) == "a[:, -1]"


def test_holes_are_filled_and_an_unfilled_one_cannot_print():
    form = call(Attr(LAYER, "forward"), Input(1), Input(0), inplace=INPLACE)
    assert flat(fill(form, [Name("x"), Name("y")], self_attribute("conv"), True)) == (
        "self.conv.forward(y, x, inplace=True)"
    )
    assert flat(fill(form, [Name("x"), Name("y")], self_attribute("0"))) == (
        'getattr(self, "0").forward(y, x)'
    )
    with pytest.raises(CodeError):
        flat(form)


def test_layer_source_is_held_to_the_vocabulary():
    ok = from_source("nn.LeakyReLU(0.2, {inplace})", VOCABULARY)
    assert flat(fill(ok, [], None, True)) == "nn.LeakyReLU(0.2, inplace=True)"
    form = from_source("torch.cat([{self}.expand({0}.shape[0], -1, -1), {0}], dim=1)", VOCABULARY)
    assert flat(fill(form, [Name("x")], self_attribute("token"))) == (
        "torch.cat([self.token.expand(x.shape[0], -1, -1), x], dim=1)"
    )
    order = from_source(
        "{0}[:, [i % 2 * ({0}.shape[1] // 2) + i // 2 for i in range(8)]]", VOCABULARY
    )
    assert flat(fill(order, [Name("x")], None)) == (
        "x[:, [i % 2 * (x.shape[1] // 2) + i // 2 for i in range(8)]]"
    )
    for text in (
        "[i for i in os.listdir()]",
        "[j for i in range(2)]",
        "[i for i in range(2) if i]",
        "__import__('os').system('x')",
        "os.system('x')",
        "nn.Conv2d(*args)",
        "nn.Conv2d(**kwargs)",
        "(lambda: 0)()",
        "[x for x in nn]",
        "nn.ReLU() if True else None",
        "eval('1')",
        "nn.ReLU(); import os",
    ):
        with pytest.raises(CodeError):
            from_source(text, VOCABULARY)

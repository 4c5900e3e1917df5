"""The safe expression evaluator: arithmetic works, everything else is refused."""

from __future__ import annotations

import pytest

from archc.spec.expr import ExprError, evaluate


@pytest.mark.parametrize(
    ("text", "scope", "expected"),
    [
        ("4 * planes", {"planes": 64}, 256),
        ("planes // 2 + 1", {"planes": 64}, 33),
        ("2 if index == 0 else 1", {"index": 0}, 2),
        ("2 if index == 0 else 1", {"index": 3}, 1),
        (
            "stride != 1 or in_channels != 4 * planes",
            {"stride": 1, "in_channels": 256, "planes": 64},
            False,
        ),
        ("blocks[2]", {"blocks": [3, 4, 6, 3]}, 6),
        ("sum(blocks) * 3 + 2", {"blocks": [3, 4, 6, 3]}, 50),
        ("max(1, width // 4)", {"width": 2}, 1),
        ("not batch_norm", {"batch_norm": False}, True),
        ("-k", {"k": 3}, -3),
        ("2 ** 10", {}, 1024),
        ("[1, 2] + [3]", {}, [1, 2, 3]),
        ("sum(depths[:i])", {"depths": [3, 3, 27, 3], "i": 2}, 6),
        ("depths[1:-1]", {"depths": [3, 3, 27, 3]}, [3, 27]),
        ("depths[::-2]", {"depths": [3, 3, 27, 3]}, [3, 3]),
        ("depths[5:]", {"depths": [3, 3, 27, 3]}, []),
        ("'abc'[1:]", {}, "bc"),
    ],
)
def test_arithmetic(text, scope, expected):
    assert evaluate(text, scope) == expected


@pytest.mark.parametrize(
    ("text", "code", "words"),
    [
        ("planes / 0", "E-EXPR-DIVISION", "division by zero"),
        ("plane * 4", "E-EXPR-NAME", "unknown name 'plane'"),
        ("__import__('os')", "E-EXPR", "not allowed"),
        ("().__class__", "E-EXPR", "not allowed"),
        ("open('x')", "E-EXPR", "not allowed"),
        ("[x for x in y]", "E-EXPR", "not allowed"),
        ("lambda: 1", "E-EXPR", "not allowed"),
        ("10 ** 10 ** 10", "E-LIMIT-EXPR", "too large"),
        ("[0] * 1000000000", "E-LIMIT-EXPR", "too large"),
        ("4 *", "E-EXPR", "cannot parse"),
        ("x" * 600, "E-EXPR", "longer than"),
    ],
)
def test_refusals(text, code, words):
    with pytest.raises(ExprError) as info:
        evaluate(text, {"planes": 64})
    assert info.value.code == code
    assert words in str(info.value)


# --------------------------------------------------------------------------- bounds

import time  # noqa: E402
import tracemalloc  # noqa: E402

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from archc.spec import expr  # noqa: E402


@pytest.mark.parametrize(
    ("text", "code", "words"),
    [
        ("[[[0]*10000]*10000]*10000", "E-LIMIT-EXPR", "more than 10,000 elements"),
        ("[0]*10000*10000", "E-LIMIT-EXPR", "more than 10,000 elements"),
        ("[[]] * 10001", "E-LIMIT-EXPR", "more than 10,000 elements"),
        ("[0] * 5000 + [0] * 5001", "E-LIMIT-EXPR", "more than 10,000 elements"),
        ("1e15 ** 64", "E-LIMIT-EXPR", "too large"),
        ("1e300 * 1e300", "E-LIMIT-EXPR", "larger than"),
        ("10 ** 16", "E-LIMIT-EXPR", "larger than"),
        ("(-8) ** 0.5", "E-EXPR", "not a value"),
        ("[1] + 5", "E-EXPR", "lists can be joined"),
        ("5 + [1]", "E-EXPR", "lists can be joined"),
        ("[1] * 2.5", "E-EXPR", "lists can be joined"),
        ("[1] * True", "E-EXPR", "lists can be joined"),
        ("-" * 498 + "1", "E-LIMIT-EXPR", "nests more than 50 levels"),
        ("[" * 60 + "]" * 60, "E-LIMIT-EXPR", "nests more than"),
        ("~5", "E-EXPR", "'~'"),
        ("True + 1", "E-EXPR", "needs numbers"),
        ("abs(True)", "E-EXPR", "needs a number"),
        ("sum([[1]])", "E-EXPR", "needs a list of numbers"),
        ("sum([[1]], [])", "E-EXPR", "sum()"),
        ("round(5, -1000000000000000)", "E-EXPR", "digits must be"),
        ("max([1] * 5000, [2] * 5000)", "E-EXPR", "needs a list of numbers"),
        ("[1, 2][True]", "E-EXPR", "cannot index"),
        ("[1, 2][1.5:]", "E-EXPR", "cannot slice"),
        ("[1, 2][:True]", "E-EXPR", "cannot slice"),
        ("planes[1:]", "E-EXPR", "cannot slice"),
        ("[1, 2][::0]", "E-EXPR", "step cannot be 0"),
        ("[1, 2][:10 ** 16]", "E-LIMIT-EXPR", "larger than"),
        ("([0] * 6000)[:] + ([0] * 6000)[1000:]", "E-LIMIT-EXPR", "more than 10,000 elements"),
        ("'a\x00b'", "E-EXPR", "cannot parse"),
    ],
)
def test_bounds(text, code, words):
    started = time.monotonic()
    with pytest.raises(expr.ExprError) as info:
        expr.evaluate(text, {"planes": 64})
    assert time.monotonic() - started < 2
    assert (info.value.code, words in str(info.value)) == (code, True), str(info.value)
    assert len(str(info.value)) < 400


def test_values_in_messages_are_cut():
    with pytest.raises(expr.ExprError) as info:
        expr.evaluate("x < 1", {"x": [0] * 9000})
    assert "(9,000 items)" in str(info.value) and len(str(info.value)) < 200


def test_the_budget_is_shared_by_every_evaluation_inside_it():
    with expr.budget(10_000) as shared:
        for _ in range(5):
            expr.evaluate("sum([1] * 1000)", {})  # about 2 x 126 steps each
        with pytest.raises(expr.BudgetExceeded):
            for _ in range(200):
                expr.evaluate("sum([1] * 1000)", {})
        assert shared.exhausted
        with pytest.raises(expr.BudgetExceeded):  # spent: even the cheapest fails now
            expr.evaluate("1", {})
    assert expr.evaluate("1", {}) == 1  # outside, each call has a budget of its own


def _steps(text: str, scope: dict) -> int:
    with expr.budget() as used:
        expr.evaluate(text, scope)
    return used.steps - used.left


def test_a_slice_is_paid_for_like_the_list_it_makes():
    scope = {"flat": [0] * 9000, "nested": [[0] * 4000, [0] * 4000]}
    # Naming a list pays for it once; the slice then pays for the elements it copies.
    assert _steps("flat[:]", scope) - _steps("flat[:1]", scope) >= 9000 // 8
    assert _steps("nested[:]", scope) - _steps("nested[:1]", scope) >= 4000 // 8
    with expr.budget(2_000):  # naming flat: 1,125 steps; copying it all: 1,125 more
        assert expr.evaluate("flat[:1]", scope) == [0]
    with expr.budget(2_000), pytest.raises(expr.BudgetExceeded):
        expr.evaluate("flat[:]", scope)


def test_a_cheap_expression_repeated_ten_thousand_times_is_stopped_once(tmp_path):
    from archc.diagnostics import SpecError
    from archc.pipeline import load

    spec = tmp_path / "net.yaml"
    spec.write_text(
        "network: t\ninput: [3, 8, 8]\nlayers:\n"
        "  - {type: dropout, repeat: 10000, p: 'sum([index] * 10000) * 0'}\n"
    )
    started = time.monotonic()
    with pytest.raises(SpecError) as info:
        load(spec)
    assert time.monotonic() - started < 60
    assert [(d.code, d.span.line) for d in info.value.diagnostics] == [("E-LIMIT-EXPR-COST", 4)]


def test_the_zoo_spends_little_of_the_budget(monkeypatch):
    """The budget is sized against real specs: GoogLeNet, the zoo's costliest, spends under
    1,000 of its 3,000,000 steps (a network needs this to pass, not archc's own figure)."""
    import glob
    from contextlib import contextmanager

    from archc.passes import expand
    from archc.pipeline import analyse
    from archc.spec.loader import load_spec

    spent = []

    @contextmanager
    def recording(steps=expr.MAX_STEPS):
        with expr.budget(steps) as used:
            yield used
        spent.append(used.steps - used.left)

    monkeypatch.setattr(expand, "expression_budget", recording)
    for path in sorted(glob.glob("specs/*.yaml")):
        spec = load_spec(path)
        for variant in spec.variant_names()[:2]:
            analyse(spec, variant)
    assert spent and max(spent) < expr.MAX_STEPS // 100


def _tree(draw, depth: int) -> str:
    """A random expression over numbers, lists and the operators and functions allowed."""
    leaf = st.one_of(
        st.integers(-(10**20), 10**20).map(str),
        st.floats(allow_nan=False, allow_infinity=False).map(repr),
        st.sampled_from(["a", "big", "nested", "True", "'t'", "[]", "[0]"]),
    )
    if depth <= 0:
        return draw(leaf)
    sub = lambda: _tree(draw, depth - 1)  # noqa: E731
    shape = draw(st.integers(0, 7))
    if shape == 0:
        return draw(leaf)
    if shape == 1:
        op = draw(st.sampled_from(["+", "-", "*", "/", "//", "%", "**"]))
        return f"({sub()} {op} {sub()})"
    if shape == 2:
        op = draw(st.sampled_from(["==", "!=", "<", ">=", "in", "not in"]))
        return f"({sub()} {op} {sub()})"
    if shape == 3:
        return f"[{', '.join(sub() for _ in range(draw(st.integers(0, 3))))}]"
    if shape == 4:
        func = draw(st.sampled_from(sorted(expr.FUNCTIONS)))
        return f"{func}({', '.join(sub() for _ in range(draw(st.integers(1, 2))))})"
    if shape == 5:
        return f"({sub()} if {sub()} else {sub()})"
    if shape == 6:
        return draw(st.sampled_from(["-", "not ", "~", "+"])) + sub()
    return f"{sub()}[{sub()}]"


@st.composite
def expressions(draw) -> str:
    return _tree(draw, draw(st.integers(1, 4)))


SCOPE = {"a": 3, "big": [7] * 9000, "nested": [[1, 2]] * 100}


@given(expressions())
def test_any_expression_is_bounded_in_time_memory_and_size(text):
    """Whatever an expression says, evaluating it returns a bounded value or raises
    ExprError, within a bounded time and memory, and its message is short."""
    started = time.monotonic()
    tracemalloc.start()
    try:
        with expr.budget(200_000):
            value = expr.evaluate(text, SCOPE)
    except expr.ExprError as exc:
        assert len(str(exc)) < 2_100
    else:
        assert expr.size_of(value) <= expr.MAX_ITEMS
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            assert abs(value) <= expr.MAX_MAGNITUDE
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert time.monotonic() - started < 5
    assert peak < 64 * 2**20


@given(expressions())
def test_any_expression_in_a_spec_gives_a_located_diagnostic_or_a_network(text):
    import tempfile
    from pathlib import Path

    from archc.diagnostics import SpecError
    from archc.pipeline import load

    body = (
        "network: t\ninput: [3, 8, 8]\n"
        f"params: {{a: 3, big: {[7] * 50}, nested: [[1, 2]]}}\n"
        f"layers:\n  - {{type: relu, when: {text!r}}}\n"
    )
    with tempfile.TemporaryDirectory() as folder:
        spec = Path(folder) / "net.yaml"
        spec.write_text(body)
        try:
            load(spec)
        except SpecError as exc:
            assert exc.diagnostics
            for diagnostic in exc.diagnostics:
                assert diagnostic.span.file == str(spec)
                assert diagnostic.span.line == 5, diagnostic.format()
                assert len(diagnostic.message) < 2_100

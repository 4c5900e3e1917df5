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

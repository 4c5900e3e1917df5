"""Parameter values: expressions over the other parameters, or a word taken as text.

A spec's top-level params (and a variant's, and `--set`'s) are evaluated like a block's:
`width: 32 * multiplier` is a number, and a parameter may use parameters written before or
after it (cycles are refused). A value that is one of the words a spec uses as text (a
layer kind, a block, a field's word such as `same`; `block: bottleneck`, `act: relu6`) or
paper notation (`conv3-64`), and names no parameter, is that text as written, so a kind or
a block is chosen by parameter without quotes; any other unknown word is a misspelt name.
Lists and mappings are kept as written; the strings inside them are expressions where
they are used (a list of layers, `layers: $config`).
"""

from __future__ import annotations

import re
from typing import Any

from archc.diagnostics import Reporter, Span
from archc.layers import match_notation
from archc.spec.expr import ExprError, evaluate

WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

#: The note on a top-level parameter that could not be evaluated.
EXPRESSION_NOTE = (
    "params are expressions over the other params (`width: 32 * multiplier`); a layer kind, "
    "a block or a field's word is text as written, other text is quoted: \"'my text'\""
)


def is_text(text: str, scope: dict[str, Any], words: set[str]) -> bool:
    """Whether a parameter's string value is text as written rather than an expression:
    one of `words` or paper notation, naming nothing in scope."""
    text = text.strip()
    if text.isidentifier():
        return text in words and text not in scope
    return (
        " " not in text
        and match_notation(text) is not None
        and not any(word in scope for word in WORD.findall(text))
    )


def resolve(
    raw: dict[str, Any],
    spans: dict[str, Span],
    reporter: Reporter,
    functions: dict[str, Any],
    words: set[str],
) -> dict[str, Any]:
    """Every parameter's value, each string evaluated over the others; a parameter that
    fails (reported) is left out, and so is any that depends on it (not reported again)."""
    done: dict[str, Any] = {}
    failed: set[str] = set()
    pending: list[str] = []

    def visit(name: str) -> None:
        if name in done or name in failed:
            return
        if name in pending:
            chain = " -> ".join([*pending[pending.index(name) :], name])
            reporter.error(
                "E-PARAM-CYCLE", f"params refer to each other in a cycle: {chain}", spans[name]
            )
            failed.update(pending[pending.index(name) :])
            return
        value = raw[name]
        if not isinstance(value, str) or value.strip().startswith("$"):
            done[name] = value
            return
        pending.append(name)
        for word in dict.fromkeys(WORD.findall(value)):
            if word in raw:
                visit(word)
        pending.pop()
        if name in failed:
            return
        if any(word in failed for word in WORD.findall(value)):
            failed.add(name)  # its own mistake is reported where it is
            return
        if is_text(value, {**raw, **functions}, words):
            done[name] = value
            return
        # Every parameter it reads is done by now; the others are in scope only so that a
        # misspelt name is matched against all of them.
        scope = {**{k: v for k, v in raw.items() if k not in failed}, **done}
        try:
            done[name] = evaluate(value, scope, functions)
        except ExprError as exc:
            reporter.error(exc.code, f"params: {name}: {exc}", spans[name], EXPRESSION_NOTE)
            failed.add(name)

    for name in raw:
        visit(name)
    return {name: done[name] for name in raw if name in done}

"""Functions written in a spec (`functions:`), called from any expression.

torchvision's MobileNets and EfficientNet round every width with `_make_divisible`; a spec
defines it once and calls it where it needs it:

    functions:
      make_divisible:
        params: {v: ~, divisor: 8, min_value: 0}
        let:
          rounded: "max(min_value or divisor, int(v + divisor / 2) // divisor * divisor)"
        return: "rounded + divisor if rounded < 0.9 * v else rounded"

A function is arithmetic only: its parameters, then `let` names in order, then the value
of `return`, each an expression over what is bound before it (and other functions). Its
body is walked by the evaluator of the calling expression (archc.spec.expr), so the limits
on expressions bound it too; calls nest at most MAX_CALL_DEPTH deep (recursion must end).
"""

from __future__ import annotations

import ast
import keyword
from dataclasses import dataclass
from typing import Any

from archc.diagnostics import Reporter
from archc.spec.expr import FUNCTIONS, ExprError, parsed
from archc.spec.source import LocDict

MAX_CALL_DEPTH = 16
_REQUIRED = None


@dataclass(frozen=True)
class SpecFunction:
    """One function of `functions:`: parameters with defaults, `let` names, a result."""

    name: str
    params: tuple[tuple[str, Any], ...]  # (name, default; None: required)
    let: tuple[tuple[str, Any], ...]  # (name, expression text or a constant)
    result: Any

    def call(self, evaluator: Any, node: ast.Call) -> Any:
        """Evaluate a call of this function (`node`) in the caller's evaluator."""
        names = [name for name, _ in self.params]
        if len(node.args) > len(names):
            raise ExprError(
                f"{self.name}() takes {len(names)} argument(s) "
                f"({', '.join(names) or 'none'}), got {len(node.args)}"
            )
        bound = dict(zip(names, (evaluator.visit(a) for a in node.args), strict=False))
        for named in node.keywords:
            if named.arg not in names:
                raise ExprError(f"{self.name}() has no parameter '{named.arg}'")
            if named.arg in bound:
                raise ExprError(f"{self.name}() got '{named.arg}' twice")
            bound[named.arg] = evaluator.visit(named.value)
        missing = [n for n, default in self.params if default is _REQUIRED and n not in bound]
        if missing:
            raise ExprError(f"{self.name}() needs a value for '{missing[0]}'")
        if evaluator.depth >= MAX_CALL_DEPTH:
            raise ExprError(
                f"{self.name}(): calls nest more than {MAX_CALL_DEPTH} deep (does a function "
                "call itself without end?)",
                "E-LIMIT-EXPR",
            )
        saved, local = evaluator.scope, {}
        evaluator.scope = local
        evaluator.depth += 1
        try:
            for name, default in self.params:
                local[name] = bound[name] if name in bound else _value(evaluator, default)
            for name, value in self.let:
                local[name] = _value(evaluator, value)
            return _value(evaluator, self.result)
        except ExprError as exc:
            raise ExprError(f"in {self.name}(): {exc}", exc.code) from None
        finally:
            evaluator.scope = saved
            evaluator.depth -= 1


def _name_problem(name: object) -> str | None:
    """Why `name` cannot name a function, a parameter or a `let` name (they live only in
    expressions, so any identifier that is not a Python keyword will do), or None."""
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
        return f"name {name!r} is not a plain identifier (letters, digits and _)"
    return None


def _value(evaluator: Any, value: Any) -> Any:
    return evaluator.visit(parsed(value)) if isinstance(value, str) else value


def load_functions(raw: LocDict, reporter: Reporter) -> dict[str, SpecFunction]:
    """The spec's functions, each checked: legal names, and expressions that parse."""
    section = raw.get("functions")
    if not isinstance(section, LocDict):
        return {}
    result = {}
    for name, body in section.items():
        where = section.key_span(name)
        problem = _name_problem(name)
        if problem is None and name in FUNCTIONS:
            problem = f"'{name}' is a built-in function of expressions"
        if problem:
            reporter.error("E-NAME-INVALID", f"function {problem}", where)
            continue
        # The structure (keys, types) is checked by the SpecFile model before this runs.
        params = body.get("params") or LocDict(where)
        let = body.get("let") or LocDict(where)
        ok = True
        for group, label in ((params, "parameter"), (let, "let name")):
            for key in group:
                problem = _name_problem(key)
                if problem:
                    message = f"function '{name}': {label} {problem}"
                    reporter.error("E-NAME-INVALID", message, group.key_span(key))
                    ok = False
        texts = [(params, k) for k in params] + [(let, k) for k in let] + [(body, "return")]
        for group, key in texts:
            if isinstance(group[key], str):
                try:
                    parsed(group[key])
                except ExprError as exc:
                    reporter.error(exc.code, f"function '{name}': {exc}", group.value_span(key))
                    ok = False
        if ok:
            result[name] = SpecFunction(
                name, tuple(params.items()), tuple(let.items()), body["return"]
            )
    return result

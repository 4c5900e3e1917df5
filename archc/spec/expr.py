"""A small, safe evaluator for arithmetic on block and spec parameters (`4 * planes`).

Expressions are parsed with Python's `ast` module and walked here node by node against a
short allow-list: numbers, strings, booleans, lists, names of parameters, arithmetic,
comparisons, `and`/`or`/`not`, `x if c else y`, subscripts, and a handful of pure
functions. Nothing reaches `eval`; attribute access, calls to anything else, lambdas and
comprehensions are refused. Results are bounded so that `10 ** 10 ** 10` cannot hang.
"""

from __future__ import annotations

import ast
import difflib
import functools
import math
import operator
from collections.abc import Mapping

MAX_EXPRESSION_LENGTH = 500
MAX_MAGNITUDE = 10**15


class ExprError(Exception):
    """An expression could not be evaluated; the message says why, in the user's terms."""

    def __init__(self, message: str, code: str = "E-EXPR"):
        super().__init__(message)
        self.code = code


_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_COMPARE = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}


def _as_int(value: object) -> int:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, (int, float)):
        return int(value)
    raise ExprError(f"int() needs a number, not {value!r}")


FUNCTIONS = {
    "min": min,
    "max": max,
    "abs": abs,
    "int": _as_int,
    "round": round,
    "len": len,
    "sum": sum,
    "ceil": math.ceil,
    "floor": math.floor,
}


def evaluate(
    text: str, scope: Mapping[str, object], functions: Mapping[str, object] | None = None
) -> object:
    """Evaluate an expression against named values; raise ExprError on any problem.

    `functions` are the spec's own (archc.spec.functions.SpecFunction, by name): their
    bodies run in this same evaluator, so every limit on an expression applies to them.
    """
    return _Evaluator(scope, functions or {}).visit(parsed(text))


def parsed(text: str) -> ast.expr:
    """The syntax tree of an expression's body; raise ExprError if it does not parse."""
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise ExprError(f"expression is longer than {MAX_EXPRESSION_LENGTH} characters")
    tree = _parse(text.strip())
    if isinstance(tree, str):
        raise ExprError(f"cannot parse expression '{text}': {tree}") from None
    return tree.body


@functools.lru_cache(maxsize=4096)
def _parse(text: str) -> ast.Expression | str:
    """The parsed expression, or the parser's complaint.

    Cached because a spec evaluates the same few expressions once per block instance:
    parsing was a tenth of analysing ResNet-152. The evaluator only reads the tree.
    """
    try:
        return ast.parse(text, mode="eval")
    except SyntaxError as exc:
        return exc.msg


class _Evaluator:
    def __init__(self, scope: Mapping[str, object], functions: Mapping[str, object]):
        self.scope = scope
        self.functions = functions
        #: Calls of spec functions in progress (their bodies are walked by this evaluator).
        self.depth = 0

    def visit(self, node: ast.AST) -> object:
        method = getattr(self, f"visit_{type(node).__name__}", None)
        if method is None:
            raise ExprError(f"'{ast.unparse(node)}' is not allowed in an expression")
        return _bounded(method(node))

    def visit_Constant(self, node: ast.Constant) -> object:
        if isinstance(node.value, (int, float, str, bool)) or node.value is None:
            return node.value
        raise ExprError(f"constant {node.value!r} is not allowed")

    def visit_Name(self, node: ast.Name) -> object:
        if node.id in self.scope:
            return self.scope[node.id]
        if node.id in ("true", "false"):
            return node.id == "true"
        names = sorted(k for k in self.scope if not k.startswith("_"))
        close = difflib.get_close_matches(node.id, names, n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise ExprError(
            f"unknown name '{node.id}' ({hint}known here: {', '.join(names) or 'none'})",
            "E-EXPR-NAME",
        )

    def visit_List(self, node: ast.List) -> object:
        return [self.visit(item) for item in node.elts]

    visit_Tuple = visit_List

    def visit_UnaryOp(self, node: ast.UnaryOp) -> object:
        value = self.visit(node.operand)
        if isinstance(node.op, ast.Not):
            return not value
        _need_number(value, node)
        return -value if isinstance(node.op, ast.USub) else +value

    def visit_BinOp(self, node: ast.BinOp) -> object:
        op = _BINARY.get(type(node.op))
        if op is None:
            raise ExprError(f"operator in '{ast.unparse(node)}' is not allowed")
        left, right = self.visit(node.left), self.visit(node.right)
        if isinstance(node.op, (ast.Add, ast.Mult)) and isinstance(left, list):
            if isinstance(node.op, ast.Mult) and isinstance(right, int) and right > 10_000:
                raise ExprError(f"list repetition by {right} is too large", "E-LIMIT-EXPR")
            if isinstance(right, (list, int)):
                return op(left, right)
        _need_number(left, node)
        _need_number(right, node)
        if isinstance(node.op, ast.Pow) and (abs(right) > 64 or abs(left) > MAX_MAGNITUDE):
            raise ExprError(f"'{ast.unparse(node)}' is too large", "E-LIMIT-EXPR")
        try:
            return op(left, right)
        except ZeroDivisionError:
            raise ExprError(
                f"division by zero in '{ast.unparse(node)}'", "E-EXPR-DIVISION"
            ) from None

    def visit_BoolOp(self, node: ast.BoolOp) -> object:
        is_and = isinstance(node.op, ast.And)
        value: object = is_and
        for item in node.values:
            value = self.visit(item)
            if bool(value) != is_and:
                return value
        return value

    def visit_Compare(self, node: ast.Compare) -> object:
        left = self.visit(node.left)
        for op_node, right_node in zip(node.ops, node.comparators, strict=True):
            right = self.visit(right_node)
            op = _COMPARE.get(type(op_node))
            if op is None:
                raise ExprError(f"comparison in '{ast.unparse(node)}' is not allowed")
            try:
                if not op(left, right):
                    return False
            except TypeError:
                raise ExprError(f"cannot compare {left!r} with {right!r}") from None
            left = right
        return True

    def visit_IfExp(self, node: ast.IfExp) -> object:
        return self.visit(node.body) if self.visit(node.test) else self.visit(node.orelse)

    def visit_Subscript(self, node: ast.Subscript) -> object:
        container = self.visit(node.value)
        index = self.visit(node.slice)
        if not isinstance(container, (list, str)) or not isinstance(index, int):
            raise ExprError(f"cannot index {container!r} with {index!r}")
        try:
            return container[index]
        except IndexError:
            raise ExprError(
                f"index {index} is out of range for a list of {len(container)}"
            ) from None

    def visit_Call(self, node: ast.Call) -> object:
        if isinstance(node.func, ast.Name) and node.func.id in self.functions:
            return self.functions[node.func.id].call(self, node)
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            allowed = ", ".join(sorted([*FUNCTIONS, *self.functions]))
            raise ExprError(f"call '{ast.unparse(node.func)}' is not allowed (allowed: {allowed})")
        if node.keywords:
            raise ExprError("keyword arguments are not allowed in expressions")
        args = [self.visit(arg) for arg in node.args]
        try:
            return FUNCTIONS[node.func.id](*args)
        except (TypeError, ValueError) as exc:
            raise ExprError(f"{node.func.id}(): {exc}") from None


def _need_number(value: object, node: ast.AST) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ExprError(f"'{ast.unparse(node)}' needs numbers, got {value!r}")


def _bounded(value: object) -> object:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if isinstance(value, float) and not math.isfinite(value):
            raise ExprError("expression is not a finite number")
        if abs(value) > MAX_MAGNITUDE:
            raise ExprError(f"value {value:.3g} is larger than {MAX_MAGNITUDE:.0e}", "E-LIMIT-EXPR")
    return value

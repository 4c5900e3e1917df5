"""A small, safe evaluator for arithmetic on block and spec parameters (`4 * planes`).

Expressions are parsed with Python's `ast` module and walked here node by node against a
short allow-list: numbers, strings, booleans, lists, names of parameters, arithmetic,
comparisons, `and`/`or`/`not`, `x if c else y`, subscripts, and a handful of pure
functions. Nothing reaches `eval`; attribute access, calls to anything else, lambdas and
comprehensions are refused.

Every evaluation is bounded in the evaluator's core, not per operator, so whatever is added
to the language later is bounded too:
- a value's size: numbers up to 10^15 in magnitude, lists of at most MAX_ITEMS elements
  counted through every level of nesting (checked before a list is made, so
  `[[[0]*10000]*10000]*10000` costs nothing), and a syntax tree at most MAX_NESTING deep;
- its cost: each node visited is one step, and each MAX_ITEMS_PER_STEP elements an
  operation touches (`==`, `in`, `sum`, repetition) one more. Steps are drawn from a
  `Budget`: one per analysis while `budget()` is open (archc.pipeline opens it), so a
  cheap expression repeated by `repeat: 10000` is bounded as a whole; otherwise each call
  has a budget of its own.
"""

from __future__ import annotations

import ast
import contextvars
import difflib
import functools
import math
import operator
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

from archc.diagnostics import quote

MAX_EXPRESSION_LENGTH = 500
MAX_MAGNITUDE = 10**15
#: The most elements of one value, nested lists counted in full (LeNet-5's connection
#: table, the largest list in the zoo, has 96).
MAX_ITEMS = 10_000
#: The deepest syntax tree (`-(-(-x))` nests once per sign).
MAX_NESTING = 50
#: The deepest walk, through the bodies of spec functions calling each other: two Python
#: frames a level keeps it well inside Python's stack of 1,000.
MAX_DEPTH = 200
#: Steps of one analysis: a step takes one to two microseconds, so the whole budget takes
#: seconds; the zoo needs under 1,000 (GoogLeNet), a network of 99,000 layers that each
#: evaluate a small expression about 1,000,000.
MAX_STEPS = 3_000_000
#: Elements an operation touches (or makes) per step it costs. Touching is ~50x faster
#: than visiting a node; 8 bounds the memory lists can hold, should every one be kept, to
#: 8 x 8 bytes per step: about 200 MB for the whole budget.
MAX_ITEMS_PER_STEP = 8


class ExprError(Exception):
    """An expression could not be evaluated; the message says why, in the user's terms."""

    def __init__(self, message: str, code: str = "E-EXPR"):
        super().__init__(message)
        self.code = code


class BudgetExceeded(ExprError):
    """The expressions of one analysis took more steps than MAX_STEPS."""

    def __init__(self, steps: int):
        super().__init__(
            f"the spec's expressions take more than {steps:,} steps to evaluate; archc "
            "stops here so that a spec cannot keep it busy",
            "E-LIMIT-EXPR-COST",
        )


class Budget:
    """Steps left to spend on evaluating expressions."""

    def __init__(self, steps: int = MAX_STEPS):
        self.steps = steps
        self.left = steps

    def charge(self, steps: int) -> None:
        """Spend `steps`; raise BudgetExceeded when none are left."""
        self.left -= steps
        if self.left < 0:
            raise BudgetExceeded(self.steps)

    def charge_items(self, items: int) -> None:
        """Spend the steps of an operation that touches `items` elements."""
        self.charge(1 + items // MAX_ITEMS_PER_STEP)

    @property
    def exhausted(self) -> bool:
        """Whether the budget has run out (every later evaluation fails at once)."""
        return self.left < 0


_budget: contextvars.ContextVar[Budget | None] = contextvars.ContextVar("archc_expr_budget")


@contextmanager
def budget(steps: int = MAX_STEPS) -> Iterator[Budget]:
    """Evaluate every expression inside the block from one budget of `steps`."""
    current = Budget(steps)
    token = _budget.set(current)
    try:
        yield current
    finally:
        _budget.reset(token)


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


def is_number(value: object) -> bool:
    """An int or float, and not a boolean (`true` is not 1 in a spec)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _number(value: object, what: str) -> int | float:
    if not is_number(value):
        raise ExprError(f"{what} needs a number, not {quote(value)}")
    return value


def _numbers(values: object, what: str) -> list:
    if not isinstance(values, list) or not all(is_number(v) for v in values):
        raise ExprError(f"{what} needs a list of numbers, not {quote(values)}")
    return values


def _as_int(value: object) -> int:
    return int(_number(value, "int()"))


def _round(value: object, digits: object = None) -> int | float:
    _number(value, "round()")
    if digits is None:
        return round(value)
    if not isinstance(digits, int) or isinstance(digits, bool) or abs(digits) > 15:
        raise ExprError(
            f"round(): digits must be a whole number from -15 to 15, not {quote(digits)}"
        )
    return round(value, digits)


def _extreme(pick: Callable, name: str) -> Callable:
    def function(*args: object) -> object:
        items = args[0] if len(args) == 1 and isinstance(args[0], list) else list(args)
        if not items:
            raise ExprError(f"{name}() of nothing")
        return pick(_numbers(items, f"{name}()"))

    return function


def _len(value: object) -> int:
    if not isinstance(value, (list, str)):
        raise ExprError(f"len() needs a list or text, not {quote(value)}")
    return len(value)


FUNCTIONS: dict[str, Callable] = {
    "min": _extreme(min, "min"),
    "max": _extreme(max, "max"),
    "abs": lambda value: abs(_number(value, "abs()")),
    "int": _as_int,
    "round": _round,
    "len": _len,
    "sum": lambda values: sum(_numbers(values, "sum()")),
    "ceil": lambda value: math.ceil(_number(value, "ceil()")),
    "floor": lambda value: math.floor(_number(value, "floor()")),
}


def evaluate(
    text: str, scope: Mapping[str, object], functions: Mapping[str, object] | None = None
) -> object:
    """Evaluate an expression against named values; raise ExprError on any problem.

    `functions` are the spec's own (archc.spec.functions.SpecFunction, by name): their
    bodies run in this same evaluator, so every limit on an expression applies to them.
    """
    current = _budget.get(None) or Budget()
    current.charge(1)
    evaluator = _Evaluator(scope, functions or {}, current)
    try:
        return evaluator.visit(parsed(text))
    except RecursionError:  # a backstop: MAX_DEPTH keeps the walk well inside the stack
        raise ExprError(_too_deep(text), "E-LIMIT-EXPR") from None


def parsed(text: str) -> ast.expr:
    """The syntax tree of an expression's body; raise ExprError if it does not parse."""
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise ExprError(f"expression is longer than {MAX_EXPRESSION_LENGTH} characters")
    tree = _parse(text.strip())
    if isinstance(tree, tuple):
        raise ExprError(*tree) from None
    return tree.body


def _too_deep(text: str) -> str:
    return f"expression {quote(text, 100)} nests more than {MAX_NESTING} levels deep"


@functools.lru_cache(maxsize=4096)
def _parse(text: str) -> ast.Expression | tuple[str, str]:
    """The parsed expression, or why it cannot be evaluated (and the code to report).

    Cached because a spec evaluates the same few expressions once per block instance:
    parsing was a tenth of analysing ResNet-152. The evaluator only reads the tree.
    """
    shown = quote(text, 100)
    too_deep = (_too_deep(text), "E-LIMIT-EXPR")
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError) as exc:  # ValueError: a NUL character
        return f"cannot parse expression {shown}: {getattr(exc, 'msg', exc)}", "E-EXPR"
    except (RecursionError, MemoryError):  # nesting deeper than CPython parses
        return too_deep
    return too_deep if _depth(tree.body) > MAX_NESTING else tree


def _depth(root: ast.AST) -> int:
    """The depth of a syntax tree, found without recursion."""
    deepest, stack = 0, [(root, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth <= MAX_NESTING:
            stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return deepest


def size_of(value: object, limit: int = MAX_ITEMS) -> int:
    """The elements of a value, nested lists counted in full (a scalar is 1); counting
    stops as soon as it passes `limit`."""
    total, stack = 0, [value]
    while stack and total <= limit:
        item = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, (list, tuple)):
            total += len(item)
            stack.extend(child for child in item if isinstance(child, (list, tuple, dict)))
        elif isinstance(item, str):
            total += len(item)
        else:
            total += 1
    return total


class _Evaluator:
    def __init__(
        self, scope: Mapping[str, object], functions: Mapping[str, object], budget: Budget
    ):
        self.scope = scope
        self.functions = functions
        self.budget = budget
        #: Calls of spec functions in progress (their bodies are walked by this evaluator).
        self.depth = 0
        #: Nodes being visited, through every function body: Python's stack bounds it.
        self.nesting = 0

    def visit(self, node: ast.AST) -> object:
        """The value of a node: every node of every expression and function body is
        visited here, so the budget, the nesting bound and the value bounds hold for all."""
        self.budget.charge(1)
        method = getattr(self, f"visit_{type(node).__name__}", None)
        if method is None:
            raise ExprError(f"'{_text(node)}' is not allowed in an expression")
        if self.nesting >= MAX_DEPTH:
            raise ExprError(
                f"expressions and the functions they call nest more than {MAX_DEPTH} levels deep",
                "E-LIMIT-EXPR",
            )
        self.nesting += 1
        try:
            return self._bounded(method(node), node)
        finally:
            self.nesting -= 1

    def _bounded(self, value: object, node: ast.AST) -> object:
        """The value, if it is of a kind and size an expression may make."""
        if is_number(value):
            if isinstance(value, float) and not math.isfinite(value):
                raise ExprError(f"'{_text(node)}' is not a finite number", "E-LIMIT-EXPR")
            if abs(value) > MAX_MAGNITUDE:
                raise ExprError(
                    f"'{_text(node)}' is larger than {MAX_MAGNITUDE:.0e}", "E-LIMIT-EXPR"
                )
        elif isinstance(value, (list, tuple, str, dict)):  # a dict: a layer entry parameter
            self._check_size(size_of(value), node)
        elif not (isinstance(value, bool) or value is None):
            raise ExprError(f"'{_text(node)}' makes a {type(value).__name__}, not a value")
        return value

    def _check_size(self, items: int, node: ast.AST) -> None:
        self.budget.charge_items(min(items, MAX_ITEMS))
        if items > MAX_ITEMS:
            raise ExprError(
                f"'{_text(node)}' is too large: a value of more than {MAX_ITEMS:,} elements",
                "E-LIMIT-EXPR",
            )

    def visit_Constant(self, node: ast.Constant) -> object:
        if isinstance(node.value, (int, float, str, bool)) or node.value is None:
            return node.value
        raise ExprError(f"constant {quote(node.value)} is not allowed")

    def visit_Name(self, node: ast.Name) -> object:
        if node.id in self.scope:
            return self.scope[node.id]
        if node.id in ("true", "false"):
            return node.id == "true"
        names = sorted(k for k in self.scope if not k.startswith("_"))
        close = difflib.get_close_matches(node.id, names, n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'? " if close else ""
        known = ", ".join(names[:20]) + (f" and {len(names) - 20} more" if len(names) > 20 else "")
        raise ExprError(
            f"unknown name {quote(node.id)} ({hint}known here: {known or 'none'})",
            "E-EXPR-NAME",
        )

    def visit_List(self, node: ast.List) -> object:
        return [self.visit(item) for item in node.elts]

    visit_Tuple = visit_List

    def visit_UnaryOp(self, node: ast.UnaryOp) -> object:
        value = self.visit(node.operand)
        if isinstance(node.op, ast.Not):
            return not value
        if isinstance(node.op, ast.Invert):
            raise ExprError(f"'~' (bitwise not) in '{_text(node)}' is not allowed")
        _need_number(value, node)
        return -value if isinstance(node.op, ast.USub) else +value

    def visit_BinOp(self, node: ast.BinOp) -> object:
        op = _BINARY.get(type(node.op))
        if op is None:
            raise ExprError(f"operator in '{_text(node)}' is not allowed")
        left, right = self.visit(node.left), self.visit(node.right)
        if isinstance(left, list) or isinstance(right, list):
            return self._list_op(node, left, right)
        _need_number(left, node)
        _need_number(right, node)
        if isinstance(node.op, ast.Pow) and _power_too_large(left, right):
            raise ExprError(f"'{_text(node)}' is too large", "E-LIMIT-EXPR")
        try:
            return op(left, right)
        except ZeroDivisionError:
            raise ExprError(f"division by zero in '{_text(node)}'", "E-EXPR-DIVISION") from None
        except (OverflowError, ValueError):  # a float past 1e308, a fractional power of < 0
            raise ExprError(f"'{_text(node)}' has no finite real value", "E-LIMIT-EXPR") from None

    def _list_op(self, node: ast.BinOp, left: object, right: object) -> list:
        """`list + list` and `list * count`: sized before they are made."""
        if isinstance(node.op, ast.Add) and isinstance(left, list) and isinstance(right, list):
            self._check_size(size_of(left) + size_of(right), node)
            return left + right
        if isinstance(node.op, ast.Mult):
            items, count = (left, right) if isinstance(left, list) else (right, left)
            if isinstance(count, int) and not isinstance(count, bool):
                self._check_size(size_of(items) * max(count, 0), node)
                return items * count
        raise ExprError(
            f"'{_text(node)}': lists can be joined (list + list) or repeated (list * count), "
            f"not combined with {quote(right if isinstance(left, list) else left)}"
        )

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
                raise ExprError(f"comparison in '{_text(node)}' is not allowed")
            self.budget.charge_items(size_of(left) + size_of(right))
            try:
                if not op(left, right):
                    return False
            except TypeError:
                raise ExprError(f"cannot compare {quote(left)} with {quote(right)}") from None
            left = right
        return True

    def visit_IfExp(self, node: ast.IfExp) -> object:
        return self.visit(node.body) if self.visit(node.test) else self.visit(node.orelse)

    def visit_Subscript(self, node: ast.Subscript) -> object:
        container = self.visit(node.value)
        if isinstance(node.slice, ast.Slice):
            return self._slice(node, container, node.slice)
        index = self.visit(node.slice)
        if (
            not isinstance(container, (list, str))
            or not isinstance(index, int)
            or isinstance(index, bool)
        ):
            raise ExprError(f"cannot index {quote(container)} with {quote(index)}")
        try:
            return container[index]
        except IndexError:
            raise ExprError(
                f"index {index} is out of range for a list of {len(container)}"
            ) from None

    def _slice(self, node: ast.Subscript, container: object, part: ast.Slice) -> object:
        """`values[start:stop:step]`: the elements it copies are paid for before it is made,
        like any list an expression makes."""
        bounds = [
            None if item is None else self.visit(item)
            for item in (part.lower, part.upper, part.step)
        ]
        if not isinstance(container, (list, str)) or not all(
            bound is None or (isinstance(bound, int) and not isinstance(bound, bool))
            for bound in bounds
        ):
            shown = ", ".join(quote(bound) for bound in bounds)
            raise ExprError(f"cannot slice {quote(container)} with ({shown})")
        if bounds[2] == 0:
            raise ExprError(f"'{_text(node)}': a slice's step cannot be 0")
        chosen = slice(*bounds)
        taken = range(*chosen.indices(len(container)))
        nested = (container[index] for index in taken if isinstance(container[index], list))
        self._check_size(len(taken) + sum(size_of(item) for item in nested), node)
        return container[chosen]

    def visit_Call(self, node: ast.Call) -> object:
        if isinstance(node.func, ast.Name) and node.func.id in self.functions:
            return self.functions[node.func.id].call(self, node)
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            allowed = ", ".join(sorted([*FUNCTIONS, *self.functions]))
            raise ExprError(f"call '{_text(node.func)}' is not allowed (allowed: {allowed})")
        if node.keywords:
            raise ExprError("keyword arguments are not allowed in expressions")
        args = [self.visit(arg) for arg in node.args]
        self.budget.charge_items(sum(size_of(arg) for arg in args))
        try:
            return FUNCTIONS[node.func.id](*args)
        except (TypeError, ValueError, OverflowError) as exc:
            raise ExprError(f"{node.func.id}(): {quote(str(exc), 200)}") from None


def _power_too_large(base: float, exponent: float) -> bool:
    """Whether `base ** exponent` would pass MAX_MAGNITUDE (decided before computing it)."""
    if base == 0 or abs(base) == 1:
        return False
    if abs(exponent) > 64:
        return True
    return exponent * math.log10(abs(base)) > math.log10(MAX_MAGNITUDE) + 1


def _text(node: ast.AST) -> str:
    """The source of a node, as a message quotes it (one line, cut when long)."""
    text = ast.unparse(node)
    return text if len(text) <= 80 else text[:80] + "..."


def _need_number(value: object, node: ast.AST) -> None:
    if not is_number(value):
        raise ExprError(f"'{_text(node)}' needs numbers, got {quote(value)}")

"""Fold the constructor expressions of several block instances into one parameterized form.

Instances of one block differ in numbers (channels, strides) and in keywords the layer
omits at their default (`stride=2` here, nothing there). Unifying their expression trees
leaves a `Slot` wherever the instances disagree; `resolve` then writes each slot as an
expression over the class's parameters (`in_channels`, `planes * 4`, `stride`), the way
torchvision's Bottleneck takes (inplanes, planes, stride).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

from archc.pycode import BinOp, Call, CodeError, Const, Expr, Name, Seq, flat, names_in


@dataclass
class Slot:
    """A place where instances disagree: instance index -> literal value."""

    values: dict[int, Any]


class Mismatch(Exception):
    """The instances differ in structure, not just in numbers."""


def torch_defaults(func: str) -> dict[str, Expr] | None:
    """Keyword defaults of a torch.nn class named like `nn.Conv2d`, as constants."""
    if not func.startswith("nn."):
        return None
    import torch.nn as nn

    cls = getattr(nn, func[3:], None)
    if cls is None:
        return None
    params = inspect.signature(cls).parameters.values()
    result = {}
    for p in params:
        if p.default is inspect.Parameter.empty or p.name in ("device", "dtype"):
            continue
        try:
            result[p.name] = Const(p.default)
        except CodeError:
            continue  # not a constant; instances that omit it cannot be unified on it
    return result


def unify(exprs: dict[int, Expr], defaults: dict[str, dict[str, Expr]]) -> Expr | Slot:
    """One tree for the instances' trees (instance index -> tree); raise Mismatch."""
    first = next(iter(exprs.values()))
    if all(e == first for e in exprs.values()):
        return first
    if all(isinstance(e, (Const, Seq)) for e in exprs.values()):
        # Numbers, pairs like (1, 7), tables: one slot for the whole literal.
        return Slot({i: _constant(e) for i, e in exprs.items()})
    if not all(isinstance(e, Call) for e in exprs.values()):
        raise Mismatch("different kinds of expression")
    if len({(flat(e.func), len(e.args)) for e in exprs.values()}) != 1:
        raise Mismatch("different calls")
    func = flat(first.func)
    known = defaults.get(func)
    if known is None:
        known = torch_defaults(func) or {}
        defaults[func] = known
    order = list(known)
    names: list[str] = []
    for e in exprs.values():
        for key, _ in e.kwargs:
            if key not in names:
                names.append(key)
    seen = list(names)
    names.sort(key=lambda k: (order.index(k) if k in order else len(order), seen.index(k)))
    args = [
        unify({i: e.args[k] for i, e in exprs.items()}, defaults) for k in range(len(first.args))
    ]
    kwargs = []
    for key in names:
        values = {}
        for i, e in exprs.items():
            given = dict(e.kwargs)
            if key in given:
                values[i] = given[key]
            elif key in known:
                values[i] = known[key]
            else:
                raise Mismatch(f"no default known for {func}({key}=...)")
        kwargs.append((key, unify(values, defaults)))
    comments = _merge_comments([e.comments for e in exprs.values()])
    return Call(first.func, args, kwargs, first.exploded, comments)


def _constant(expr: Expr) -> Any:
    """The value of a constant or of a tuple or list of constants; raise Mismatch."""
    if isinstance(expr, Const):
        return expr.value
    if isinstance(expr, Seq):
        return tuple(_constant(item) for item in expr.items)
    raise Mismatch(f"{flat(expr)} is not a constant")


def _merge_comments(all_comments: list[list[str | None]]) -> list[str | None]:
    """Join per-instance item comments `file:line  -> shape` into `-> shape1, shape2`."""
    width = max((len(c) for c in all_comments), default=0)
    merged: list[str | None] = []
    for k in range(width):
        location, shapes = None, []
        for comments in all_comments:
            if k < len(comments) and comments[k]:
                loc, _, shape = comments[k].partition("  -> ")
                location = location or loc
                for s in shape.split(", "):
                    if s and s not in shapes:
                        shapes.append(s)
        merged.append(f"{location}  -> {', '.join(shapes)}" if location else None)
    return merged


def contains_slot(expr: Expr | Slot) -> bool:
    """Whether any place in the tree still varies between instances."""
    if isinstance(expr, Slot):
        return True
    if isinstance(expr, Seq):
        return any(contains_slot(i) for i in expr.items)
    if isinstance(expr, Call):
        return any(contains_slot(a) for a in expr.args) or any(
            contains_slot(v) for _, v in expr.kwargs
        )
    return False


def resolve(expr: Expr | Slot, params: dict[int, dict[str, Any]], used: set[str]) -> Expr:
    """Replace each slot by an expression over the instances' parameters; raise Mismatch."""
    if isinstance(expr, Slot):
        found = _express(expr.values, params)
        if found is None:
            raise Mismatch(f"no parameter explains the values {list(expr.values.values())}")
        used.update(names_in(found) & set(params[next(iter(params))]))
        return found
    if isinstance(expr, Seq):
        return Seq(expr.open, [resolve(i, params, used) for i in expr.items])
    if isinstance(expr, Call):
        return Call(
            expr.func,
            [resolve(a, params, used) for a in expr.args],
            [(k, resolve(v, params, used)) for k, v in expr.kwargs],
            expr.exploded,
            expr.comments,
        )
    return expr


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _express(values: dict[int, Any], params: dict[int, dict[str, Any]]) -> Expr | None:
    """The simplest expression over the parameters that gives each instance its value."""
    names = list(params[next(iter(values))])

    def fits(function) -> bool:
        try:
            return all(
                function(params[i]) == v and type(function(params[i])) is type(v)
                for i, v in values.items()
            )
        except (KeyError, TypeError, ZeroDivisionError):
            return False

    for name in names:
        if fits(lambda p, n=name: p[n]):
            return Name(name)
    ints = [n for n in names if all(_is_int(params[i][n]) for i in values)]
    if not all(_is_int(v) for v in values.values()):
        return None
    for name in ints:
        for k in (2, 3, 4, 6, 8):
            if fits(lambda p, n=name, k=k: p[n] * k):
                return BinOp(Name(name), "*", Const(k))
            if fits(lambda p, n=name, k=k: p[n] // k):
                return BinOp(Name(name), "//", Const(k))
    for a in ints:
        for b in ints:
            if a != b and fits(lambda p, a=a, b=b: p[a] - p[b]):
                return BinOp(Name(a), "-", Name(b))
            if a < b and fits(lambda p, a=a, b=b: p[a] + p[b]):
                return BinOp(Name(a), "+", Name(b))
    return None

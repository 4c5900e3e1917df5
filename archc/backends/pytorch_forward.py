"""The body of one generated `forward`: statements over local variables, named for reading.

Values are graph node ids; each child of a container (a layer, a Sequential, a block)
produces one. Variables are chosen the way a person writes them: the main chain keeps
reusing one name (`x`, or `out` while the input is still needed for a shortcut), a
branch that feeds a merge is named after its child (`branch1`, `downsample`), and a merge
that ends the container is returned directly (`return torch.cat([...], 1)`).
"""

from __future__ import annotations

import keyword
from dataclasses import dataclass

from archc.backends.pytorch_code import Stmt
from archc.ir.graph import MERGE, Module, Node
from archc.pycode import LAYER, Call, Expr, Input, Name, fill, self_attribute
from archc.spec.names import CODE_NAMES

#: Names generated code uses for itself; variables never take them.
TAKEN = CODE_NAMES


@dataclass
class Step:
    """One child of a container, as forward sees it."""

    name: str  # the child's attribute name
    inputs: list[int]  # value ids read
    output: int  # value id produced
    merge: bool  # a merge is written inline (no module attribute)
    call: Expr  # over the holes LAYER and Input(0), Input(1), ...
    attr: bool  # whether LAYER is a module attribute (False for functional forms)


@dataclass
class Statement:
    """One line of forward: `code`, the step it runs (None for `return var`), its value."""

    code: Stmt
    step: int | None
    value: int


def steps_of(container: Module, codes: dict[int, object]) -> list[Step]:
    """The container's children as steps (inputs, output, how they are called)."""
    result = []
    for child in container.children:
        if isinstance(child, Node):
            code = codes[child.id]
            functional = code.functional is not None and not child.tensors
            call = code.functional if functional else code.call
            result.append(
                Step(
                    child.name,
                    list(child.inputs),
                    child.id,
                    child.kind == MERGE or code.module is None,
                    call,
                    not functional and code.module is not None,
                )
            )
        else:
            result.append(Step(child.name, [child.input], child.output, False, MODULE_CALL, True))
    return result


#: How forward uses a module: it calls it on its one input.
MODULE_CALL = Call(LAYER, [Input(0)])


def forward_statements(steps: list[Step], source: int, result: int) -> list[Statement]:
    """The statements of forward for these steps, reading `x` and returning `result`."""
    last_use: dict[int, int] = {}
    merge_inputs: dict[int, int] = {}  # value -> position among some merge's inputs
    for k, step in enumerate(steps):
        for position, value in enumerate(step.inputs):
            last_use[value] = k
            if step.merge:
                merge_inputs[value] = max(merge_inputs.get(value, 0), position)
    end = len(steps)
    last_use[result] = end
    names: dict[int, str] = {source: "x"}
    live: dict[str, int] = {"x": source}
    lines: list[Statement] = []
    for k, step in enumerate(steps):
        args: list[Expr] = [Name(names[v]) for v in step.inputs]
        expr = fill(step.call, args, self_attribute(step.name) if step.attr else None)
        first = step.inputs[0] if step.inputs else None
        first_dies = first is not None and last_use.get(first) == k
        side = merge_inputs.get(step.output, 0) > 0
        if step.merge and step.output == result and k == end - 1:
            lines.append(Statement(Stmt(expr, returns=True), k, step.output))
            return lines
        if step.output not in last_use:
            lines.append(Statement(Stmt(expr), k, step.output))  # nothing reads it
            continue
        if first_dies and (step.merge or not side):
            name = names[first]
        else:
            wanted = step.name if (step.output in merge_inputs or side) else "out"
            name = _fresh(wanted, live, step.name)
        for value in step.inputs:
            if last_use.get(value) == k and live.get(names[value]) == value:
                del live[names[value]]
        names[step.output] = name
        live[name] = step.output
        lines.append(Statement(Stmt(expr, target=name), k, step.output))
    lines.append(Statement(Stmt(Name(names[result]), returns=True), None, result))
    return lines


def _fresh(wanted: str, live: dict[str, int], fallback: str) -> str:
    for candidate in (wanted, fallback):
        if _identifier(candidate) and candidate not in live and candidate not in TAKEN:
            return candidate
    base = fallback if _identifier(fallback) else "out"
    n = 2
    while f"{base}_{n}" in live or f"{base}_{n}" in TAKEN:
        n += 1
    return f"{base}_{n}"


def _identifier(name: str) -> bool:
    return name.isascii() and name.isidentifier() and not keyword.iskeyword(name)

"""Python expressions as small trees, and a printer that lays them out as `ruff format` does.

The generated source must pass `ruff format --check` without depending on ruff at build
time, so the backend prints code itself. It only ever prints calls, tuples, lists and atoms,
and for those ruff's rule is simple: keep an expression on one line if it fits; otherwise
put the bracket's contents on one indented line if they fit; otherwise one item per line
with a trailing comma (which ruff then keeps exploded).
"""

from __future__ import annotations

import ast
import json
import math
import textwrap
from dataclasses import dataclass, field
from pathlib import PurePath

LINE_LENGTH = 100
INDENT = "    "


@dataclass
class Lit:
    """An atom, printed as written (`64`, `planes * 4`, `self.conv1`)."""

    text: str


@dataclass
class Call:
    """`func(args, name=value)`; `exploded` forces one item per line (Sequentials)."""

    func: str
    args: list[Expr] = field(default_factory=list)
    kwargs: list[tuple[str, Expr]] = field(default_factory=list)
    exploded: bool = False
    #: A trailing comment per positional argument (the spec line of a Sequential's item).
    comments: list[str | None] = field(default_factory=list)
    #: Comment text to put above each positional argument (the item's `doc:`).
    notes: list[str | None] = field(default_factory=list)
    #: An index after the closing bracket (`[0]` of `attention(x, x, x)[0]`).
    suffix: str = ""


@dataclass
class Seq:
    """A tuple or list literal."""

    open: str
    items: list[Expr]


Expr = Lit | Call | Seq


def parse(source: str) -> Expr:
    """Parse a Python expression (a layer's constructor or call) into a tree."""
    return _convert(ast.parse(source.strip(), mode="eval").body)


def _convert(node: ast.expr) -> Expr:
    if isinstance(node, ast.Call):
        func = node.func
        return Call(
            flat(_convert(func)) if isinstance(func, ast.Call) else ast.unparse(func),
            [_convert(a) for a in node.args],
            [(k.arg or "**", _convert(k.value)) for k in node.keywords],
        )
    if (
        isinstance(node, ast.Subscript)
        and isinstance(node.value, ast.Call)
        and isinstance(node.slice, ast.Constant)
    ):
        # ruff splits the call's brackets and keeps the index after them.
        call = _convert(node.value)
        call.suffix = f"[{ast.unparse(node.slice)}]"
        return call
    if isinstance(node, (ast.Tuple, ast.List)):
        return Seq("(" if isinstance(node, ast.Tuple) else "[", [_convert(e) for e in node.elts])
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        # ruff prefers double quotes; ast.unparse writes single ones.
        return Lit(json.dumps(node.value))
    return Lit(ast.unparse(node))


def python_literal(value: object) -> str:
    """The source of a constant: the one way a value from a spec becomes code.

    Numbers, booleans and None print as Python does, except the floats that have no
    literal (`float("inf")`, `float("nan")`); text is a double-quoted string with every
    quote, backslash and control character escaped; tuples and lists recurse. Anything else
    is refused, so no object's own `repr` can put arbitrary text into the source.
    """
    if value is None or isinstance(value, (bool, int)):
        return repr(value)
    if isinstance(value, float):
        if math.isfinite(value):
            return repr(value)
        if math.isnan(value):
            return 'float("nan")'
        return 'float("inf")' if value > 0 else '-float("inf")'
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, tuple):
        items = [python_literal(v) for v in value]
        return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
    if isinstance(value, list):
        return "[" + ", ".join(python_literal(v) for v in value) + "]"
    raise TypeError(f"no Python literal for a {type(value).__name__}")


def flat(expr: Expr) -> str:
    """The expression on one line."""
    if isinstance(expr, Lit):
        return expr.text
    if isinstance(expr, Seq):
        inner = ", ".join(flat(i) for i in expr.items)
        if expr.open == "(" and len(expr.items) == 1:
            inner += ","
        return f"{expr.open}{inner}{_close(expr.open)}"
    return f"{expr.func}({_contents(expr)}){expr.suffix}"


def _contents(call: Call) -> str:
    parts = [flat(a) for a in call.args]
    parts += [f"**{flat(v)}" if k == "**" else f"{k}={flat(v)}" for k, v in call.kwargs]
    return ", ".join(parts)


def _close(opening: str) -> str:
    return {"(": ")", "[": "]"}[opening]


def _items(expr: Call | Seq) -> list[tuple[str, Expr, str | None]]:
    """(prefix, item, comment) for each item of a bracketed expression."""
    if isinstance(expr, Seq):
        return [("", item, None) for item in expr.items]
    comments = list(expr.comments) + [None] * (len(expr.args) - len(expr.comments))
    result = [("", a, c) for a, c in zip(expr.args, comments[: len(expr.args)], strict=True)]
    result += [("**" if k == "**" else f"{k}=", v, None) for k, v in expr.kwargs]
    return result


def render(expr: Expr, indent: str, head: str = "", tail: str = "") -> list[str]:
    """Lines of `head + expr + tail` at `indent`, laid out as ruff format would."""
    exploded = isinstance(expr, Call) and (expr.exploded or any(expr.comments) or any(expr.notes))
    one = f"{indent}{head}{flat(expr)}{tail}"
    if not exploded and len(one) <= LINE_LENGTH:
        return [one]
    if isinstance(expr, Lit):
        if head and not tail:
            # ruff wraps a long right-hand side without brackets in parentheses, and splits
            # it at its operators if it still does not fit.
            inner = indent + INDENT
            parts = [expr.text] if len(inner + expr.text) <= LINE_LENGTH else _split(expr.text)
            return [f"{indent}{head}(", *(inner + p for p in parts), f"{indent})"]
        return [one]
    opening = f"{expr.func}(" if isinstance(expr, Call) else expr.open
    closing = f"){expr.suffix}" if isinstance(expr, Call) else _close(expr.open)
    inner = indent + INDENT
    items = _items(expr)
    if not exploded:
        contents = _contents(expr) if isinstance(expr, Call) else flat(expr)[1:-1]
        # A one-item tuple keeps its comma, which would make ruff explode it.
        if len(inner + contents) <= LINE_LENGTH and not (
            isinstance(expr, Seq) and len(expr.items) == 1 and expr.open == "("
        ):
            return [f"{indent}{head}{opening}", inner + contents, f"{indent}{closing}{tail}"]
    lines = [f"{indent}{head}{opening}"]
    notes = expr.notes if isinstance(expr, Call) else []
    for k, (prefix, item, comment) in enumerate(items):
        body = render(item, inner, prefix, ",")
        if comment:
            _attach(body, comment, inner)
        if k < len(notes) and notes[k]:
            lines += comment_block(notes[k], inner)
        lines += body
    lines.append(f"{indent}{closing}{tail}")
    return lines


def _split(text: str) -> list[str]:
    """A conditional expression or a sum, one operand per line (as ruff splits them)."""
    node = ast.parse(text, mode="eval").body
    if isinstance(node, ast.IfExp):
        return [
            ast.unparse(node.body),
            f"if {ast.unparse(node.test)}",
            f"else {ast.unparse(node.orelse)}",
        ]
    terms = []
    while isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        terms.append(ast.unparse(node.right))
        node = node.left
    if not terms:
        return [text]
    terms.append(ast.unparse(node))
    terms.reverse()
    return [terms[0], *(f"+ {t}" for t in terms[1:])]


def statement(code: str, indent: str, comment: str | None = None) -> list[str]:
    """A forward statement `target = expr` with its spec comment, within the line length."""
    target, sep, value = code.partition(" = ")
    if sep and not value.startswith("="):
        lines = render(parse(value), indent, f"{target} = ")
    elif code.startswith("return "):
        lines = render(parse(code[len("return ") :]), indent, "return ")
    else:
        lines = render(parse(code), indent)
    if comment:
        _attach(lines, comment, indent)
    return lines


def comment_block(text: str, indent: str) -> list[str]:
    """Free text as `# ` comment lines wrapped to the line length (a spec's `doc:`)."""
    width = max(LINE_LENGTH - len(indent) - 2, 20)
    lines = []
    for paragraph in text.strip().split("\n\n"):
        if lines:
            lines.append(f"{indent}#")
        words = printable(" ".join(paragraph.split()))
        wrapped = textwrap.wrap(words, width, break_long_words=False, break_on_hyphens=False)
        lines += [f"{indent}# {line}" for line in wrapped]
    return lines


def printable(text: str) -> str:
    """The text with control characters and lone surrogates escaped, so that it can stand in
    a UTF-8 source file (a NUL byte there is a syntax error)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c == " " else ascii(c)[1:-1] for c in text)


def comment_text(text: str) -> str:
    """Free text made safe as (part of) a `#` comment: one line, every run of white space
    (line breaks included: newline, carriage return, form feed, U+2028) one space, and
    control characters shown escaped, so nothing after the `#` can start a new line."""
    return printable(" ".join(text.split()))


def source_location(span) -> str:
    """`vgg.yaml:14`: where a line of generated code comes from, as comment text (a file
    name may hold any character, a newline included)."""
    return f"{comment_text(PurePath(span.file).name)}:{span.line}"


def doc_text(text: str) -> str:
    """Free text made safe inside a docstring, on one line: backslashes and quotes cannot
    end or change it, and control characters are shown escaped."""
    text = comment_text(text).replace("\\", "\\\\").replace('"""', "'''")
    # A quote just before the closing quotes would end the docstring early.
    return text[:-1] + '\\"' if text.endswith('"') else text


def _attach(lines: list[str], comment: str, indent: str) -> None:
    """Put a comment after a one-line statement, or on its own line above it."""
    if len(lines) == 1:
        inline = fit(comment, LINE_LENGTH - len(lines[0]) - 4)
        if inline is not None:
            lines[0] = f"{lines[0]}  # {inline}"
            return
    room = LINE_LENGTH - len(indent) - 2
    lines.insert(0, f"{indent}# {fit(comment, room) or comment.partition('  -> ')[0]}")


def fit(comment: str, room: int) -> str | None:
    """`file:line  -> shape, shape, ...` cut to `room` characters (None if nothing fits).

    A line of a block class runs once per instance; it lists their volumes, and as many as
    fit when they are many.
    """
    if len(comment) <= room:
        return comment
    location, _, shapes = comment.partition("  -> ")
    parts = shapes.split(", ")
    for k in range(len(parts) - 1, 0, -1):
        shorter = f"{location}  -> {', '.join(parts[:k])}, ..."
        if len(shorter) <= room:
            return shorter
    return None

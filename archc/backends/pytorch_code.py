"""Generated Python laid out as `ruff format` does: expressions, statements, comments.

The code itself is made of the typed trees of archc.pycode (identifiers checked, values
constants); this module only lays them out. The generated source must pass
`ruff format --check` without depending on ruff at build time, so the backend prints code
itself. It only ever prints calls, tuples, lists and atoms, and for those ruff's rule is
simple: keep an expression on one line if it fits; otherwise put the bracket's contents on
one indented line if they fit; otherwise one item per line with a trailing comma (which
ruff then keeps exploded). Free text (a spec's docs, descriptions and file names) only
ever reaches a comment or a docstring, through `comment_text` and `doc_text`.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import PurePath

from archc.pycode import (
    BinOp,
    Call,
    Expr,
    IfExp,
    Seq,
    Subscript,
    atom,
    call_contents,
    check_identifier,
    closing,
    flat,
    index_text,
)

LINE_LENGTH = 100
INDENT = "    "


@dataclass
class Stmt:
    """One statement of a generated function: `target = value`, `return value`, or `value`."""

    value: Expr
    target: str | None = None
    returns: bool = False

    def __post_init__(self) -> None:
        if self.target is not None:
            check_identifier(self.target)

    def head(self) -> str:
        """What stands before the value."""
        if self.target is not None:
            return f"{self.target} = "
        return "return " if self.returns else ""

    def text(self) -> str:
        """The statement on one line."""
        return self.head() + flat(self.value)


def _items(expr: Call | Seq) -> list[tuple[str, Expr, str | None]]:
    """(prefix, item, comment) for each item of a bracketed expression."""
    if isinstance(expr, Seq):
        return [("", item, None) for item in expr.items]
    comments = list(expr.comments) + [None] * (len(expr.args) - len(expr.comments))
    result = [("", a, c) for a, c in zip(expr.args, comments[: len(expr.args)], strict=True)]
    result += [(f"{k}=", v, None) for k, v in expr.kwargs]
    return result


def render(expr: Expr, indent: str, head: str = "", tail: str = "") -> list[str]:
    """Lines of `head + expr + tail` at `indent`, laid out as ruff format would."""
    if isinstance(expr, Subscript) and isinstance(expr.value, Call):
        # ruff splits the call's brackets and keeps the index after them.
        return render(expr.value, indent, head, f"[{index_text(expr.index)}]{tail}")
    exploded = isinstance(expr, Call) and (expr.exploded or any(expr.comments) or any(expr.notes))
    one = f"{indent}{head}{flat(expr)}{tail}"
    if not exploded and len(one) <= LINE_LENGTH:
        return [one]
    if isinstance(expr, Subscript):
        # ruff splits a long index inside its brackets.
        inner = indent + INDENT + index_text(expr.index)
        if len(inner) <= LINE_LENGTH:
            return [f"{indent}{head}{atom(expr.value)}[", inner, f"{indent}]{tail}"]
    if not isinstance(expr, (Call, Seq)):
        if head and not tail:
            # ruff wraps a long right-hand side without brackets in parentheses, and splits
            # it at its operators if it still does not fit.
            inner = indent + INDENT
            text = flat(expr)
            parts = [text] if len(inner + text) <= LINE_LENGTH else _split(expr)
            return [f"{indent}{head}(", *(inner + p for p in parts), f"{indent})"]
        return [one]
    opening = f"{atom(expr.func)}(" if isinstance(expr, Call) else expr.open
    close = ")" if isinstance(expr, Call) else closing(expr.open)
    inner = indent + INDENT
    items = _items(expr)
    if not exploded:
        contents = call_contents(expr) if isinstance(expr, Call) else flat(expr)[1:-1]
        # A one-item tuple keeps its comma, which would make ruff explode it.
        if len(inner + contents) <= LINE_LENGTH and not (
            isinstance(expr, Seq) and len(expr.items) == 1 and expr.open == "("
        ):
            return [f"{indent}{head}{opening}", inner + contents, f"{indent}{close}{tail}"]
    lines = [f"{indent}{head}{opening}"]
    notes = expr.notes if isinstance(expr, Call) else []
    for k, (prefix, item, comment) in enumerate(items):
        body = render(item, inner, prefix, ",")
        if comment:
            _attach(body, comment, inner)
        if k < len(notes) and notes[k]:
            lines += comment_block(notes[k], inner)
        lines += body
    lines.append(f"{indent}{close}{tail}")
    return lines


def _split(expr: Expr) -> list[str]:
    """A conditional expression or a sum, one operand per line (as ruff splits them)."""
    if isinstance(expr, IfExp):
        return [flat(expr.body), f"if {flat(expr.test)}", f"else {flat(expr.orelse)}"]
    terms = []
    node = expr
    while isinstance(node, BinOp) and node.op == "+":
        terms.append(node.right)
        node = node.left
    if not terms:
        return [flat(expr)]
    terms.append(node)
    terms.reverse()
    return [flat(terms[0]), *(f"+ {flat(t)}" for t in terms[1:])]


def statement(stmt: Stmt, indent: str, comment: str | None = None) -> list[str]:
    """A statement with its spec comment, within the line length."""
    lines = render(stmt.value, indent, stmt.head())
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
        words = comment_text(paragraph)
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

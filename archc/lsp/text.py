"""Positions in a buffer: archc's (code points, 0-based here) and the protocol's (UTF-16).

YAML marks count code points; LSP clients count UTF-16 code units by default. The server
converts at its edge, so everything inside works in code points.
"""

from __future__ import annotations

from typing import NamedTuple

#: Characters that end a plain YAML scalar in flow style (`{name: conv1, type: conv}`).
_SCALAR_END = set(",]}#")
_CLOSING = {"{": "}", "[": "]", '"': '"', "'": "'"}


class Position(NamedTuple):
    """A 0-based line and character (code points); tuples compare in reading order."""

    line: int
    character: int


class Range(NamedTuple):
    """A half-open range of a buffer."""

    start: Position
    end: Position


def token_range(lines: list[str], line: int, character: int) -> Range:
    """The range of the YAML token that starts at (line, character): a quoted string or a
    bracketed flow collection up to its closing mark on the same line, else a plain scalar
    up to the next flow indicator; at least one character wide."""
    if not 0 <= line < len(lines):
        return Range(Position(0, 0), Position(0, 1))
    text = lines[line]
    start = min(max(character, 0), len(text))
    end = start
    opening = text[start] if start < len(text) else ""
    if opening in _CLOSING:
        closing = text.find(_CLOSING[opening], start + 1)
        end = closing + 1 if closing >= 0 else len(text)
    else:
        while end < len(text) and text[end] not in _SCALAR_END:
            if text.startswith(": ", end) or (text[end] == ":" and end == len(text) - 1):
                break
            end += 1
        while end > start and text[end - 1] == " ":
            end -= 1
    if end == start:
        end = start + 1
    return Range(Position(line, start), Position(line, end))


def word_at(lines: list[str], position: Position) -> tuple[str, Range] | None:
    """The name under the cursor (letters, digits, `_`, `-`, `.`) and its range."""
    if not 0 <= position.line < len(lines):
        return None
    text = lines[position.line]
    if not text:
        return None
    i = min(position.character, len(text))

    def part(c: str) -> bool:
        return c.isalnum() or c in "_-."

    start = i
    while start > 0 and part(text[start - 1]):
        start -= 1
    end = i
    while end < len(text) and part(text[end]):
        end += 1
    if start == end:
        return None
    return text[start:end], Range(Position(position.line, start), Position(position.line, end))


def to_utf16(lines: list[str], position: Position) -> int:
    """The UTF-16 column of a code-point position."""
    if not 0 <= position.line < len(lines):
        return position.character
    prefix = lines[position.line][: position.character]
    return len(prefix.encode("utf-16-le", "surrogatepass")) // 2


def from_utf16(lines: list[str], line: int, column: int) -> Position:
    """The code-point position of a UTF-16 column."""
    if not 0 <= line < len(lines):
        return Position(line, column)
    text = lines[line]
    units = 0
    for i, c in enumerate(text):
        if units >= column:
            return Position(line, i)
        units += 2 if ord(c) > 0xFFFF else 1
    return Position(line, len(text))

"""Diagnostics: located, coded messages about a spec, and the printer that shows them.

Every problem archc finds in a spec becomes a `Diagnostic`; nothing in the pipeline raises
a Python exception at the user for a problem in their input. Stages collect diagnostics in a
`Reporter` and stop (with `SpecError`) only at the end of a stage, so the user sees all
problems at once, not just the first.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TextIO

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True, order=True)
class Span:
    """A place in a spec file: 1-based line and column."""

    file: str
    line: int = 1
    col: int = 1

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True)
class Diagnostic:
    """One problem (or warning) about a spec, at a place, with a stable code."""

    code: str
    severity: str
    message: str
    span: Span
    notes: tuple[str, ...] = ()

    def format(self) -> str:
        """Render as `FILE:LINE:COL: severity[CODE]: message`, notes indented below, the
        last one naming the command that explains the code (`archc explain E-CODE`, the
        section of docs/errors.md, shipped with archc so it works offline)."""
        # A file name (from the command line, or an import) may hold control characters too.
        head = f"{one_line(str(self.span))}: {self.severity}[{self.code}]: {self.message}"
        notes = [*self.notes, f"`archc explain {self.code}` explains this code"]
        return "\n".join([head, *(f"    note: {note}" for note in notes)])


class SpecError(Exception):
    """Raised when a stage ends with errors; carries every diagnostic collected so far."""

    def __init__(self, diagnostics: Iterable[Diagnostic]):
        self.diagnostics = list(diagnostics)
        super().__init__("\n".join(d.format() for d in self.diagnostics))


@dataclass
class Reporter:
    """Collects diagnostics for one run; `check()` ends a stage if any error was seen."""

    diagnostics: list[Diagnostic] = field(default_factory=list)
    limit: int = 500

    def error(self, code: str, message: str, span: Span, *notes: str) -> None:
        """Record an error."""
        self._add(
            Diagnostic(code, ERROR, one_line(message), span, tuple(one_line(n) for n in notes if n))
        )

    def warning(self, code: str, message: str, span: Span, *notes: str) -> None:
        """Record a warning."""
        self._add(
            Diagnostic(
                code, WARNING, one_line(message), span, tuple(one_line(n) for n in notes if n)
            )
        )

    def _add(self, diagnostic: Diagnostic) -> None:
        # A spec with thousands of repeated blocks can repeat one mistake thousands of times;
        # past the limit the rest add nothing the user can act on.
        if diagnostic not in self.diagnostics and len(self.diagnostics) < self.limit:
            self.diagnostics.append(diagnostic)

    @property
    def errors(self) -> list[Diagnostic]:
        """The errors collected so far."""
        return [d for d in self.diagnostics if d.severity == ERROR]

    @property
    def warnings(self) -> list[Diagnostic]:
        """The warnings collected so far."""
        return [d for d in self.diagnostics if d.severity == WARNING]

    def check(self) -> None:
        """Raise SpecError if any error has been recorded."""
        if self.errors:
            raise SpecError(self.diagnostics)


#: Control characters (C0, DEL, C1), line and paragraph separators and the bidirectional
#: overrides that reorder what a terminal shows, as escapes (`\n`, `\x1b`, `\u202e`).
_BREAKS = {
    c: ascii(chr(c))[1:-1]
    for c in (*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029, *range(0x202A, 0x202F))
    + (*range(0x2066, 0x206A), 0xFEFF, 0xFFFE, 0xFFFF)
}

#: The most characters of a value a message quotes: a list of a million zeros, or a whole
#: file read by mistake, is shown by its start and its length.
QUOTE_LIMIT = 60
#: The longest message: text from a spec should reach one only through `quote`; this is
#: the backstop.
MESSAGE_LIMIT = 2000


def one_line(text: str) -> str:
    """Text from a spec (a key, a name) may hold line breaks or terminal escapes; shown
    escaped, a diagnostic stays one plain line."""
    text = text.translate(_BREAKS)
    if len(text) > MESSAGE_LIMIT:
        text = f"{text[: MESSAGE_LIMIT - 40]}... ({len(text):,} characters in all)"
    return text


def quote(value: object, limit: int = QUOTE_LIMIT) -> str:
    """A value as a message quotes it: its repr, escaped, cut to about `limit` characters
    and then told by its size ("... (1,000,000 items)").

    Only the part shown is ever rendered, so quoting a huge value costs no more than
    quoting a small one.
    """
    parts: list[str] = []
    _render(value, parts, [limit])
    text = "".join(parts).translate(_BREAKS)
    if len(text) > limit:
        text = text[:limit] + "..."
    size = _size_note(value)
    return f"{text} ({size})" if size and text.endswith("...") else text


def _render(value: object, parts: list[str], left: list[int]) -> None:
    """Append the repr of `value` to `parts` until `left[0]` characters are spent."""
    if left[0] <= 0:
        return
    if isinstance(value, (list, tuple)):
        parts.append("[")
        left[0] -= 1
        for i, item in enumerate(value):
            if left[0] <= 0:
                parts.append("...")
                return
            if i:
                parts.append(", ")
                left[0] -= 2
            _render(item, parts, left)
        parts.append("]")
        left[0] -= 1
        return
    if isinstance(value, dict):
        parts.append("{")
        left[0] -= 1
        for i, (key, item) in enumerate(value.items()):
            if left[0] <= 0:
                parts.append("...")
                return
            if i:
                parts.append(", ")
                left[0] -= 2
            _render(key, parts, left)
            parts.append(": ")
            left[0] -= 2
            _render(item, parts, left)
        parts.append("}")
        left[0] -= 1
        return
    if isinstance(value, str):
        text = repr(value[: left[0] + 1])
    elif isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        text = f"<an integer of about {int(value.bit_length() * 0.30103):,} digits>"
    elif isinstance(value, (int, float, bool)) or value is None:
        text = repr(value)
    else:
        text = f"<{type(value).__name__}>"
    parts.append(text)
    left[0] -= len(text)


def _size_note(value: object) -> str:
    if isinstance(value, (list, tuple, dict)):
        return f"{len(value):,} items"
    if isinstance(value, str):
        return f"{len(value):,} characters"
    return ""


def terminal_text(text: str, style: str = "") -> Any:
    """Text from a spec (or a checkpoint) as rich shows it: never read as markup (a variant
    named `[/bold]` is just that), control characters and terminal escapes shown escaped."""
    from rich.text import Text

    return Text(one_line(str(text)), style=style)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A 'did you mean' note for a misspelled word, or '' when nothing is close."""
    import difflib  # here, not at the top: only a failing spec needs it

    close = difflib.get_close_matches(str(word), sorted(set(choices)), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else ""


def print_diagnostics(
    diagnostics: Iterable[Diagnostic], stream: TextIO, sources: dict[str, str] | None = None
) -> None:
    """Print diagnostics (sorted by place), each with its source line and a caret under the
    column, then a count line. `sources` gives the text of files not on disk (stdin)."""
    items = sorted(diagnostics, key=lambda d: (d.span, d.severity != ERROR, d.code))
    texts = dict(sources or {})
    for diagnostic in items:
        head, *notes = diagnostic.format().split("\n")
        print(head, file=stream)
        for line in excerpt(diagnostic.span, texts):
            print(line, file=stream)
        for note in notes:
            print(note, file=stream)
    errors = sum(d.severity == ERROR for d in items)
    warnings = len(items) - errors
    if items:
        print(f"{_plural(errors, 'error')}, {_plural(warnings, 'warning')}", file=stream)


#: Characters that reorder or hide what a terminal shows (bidirectional overrides and
#: isolates, the byte-order mark) and the non-characters YAML refuses.
_HIDDEN = frozenset(
    map(chr, (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0xFEFF, 0xFFFE, 0xFFFF))
)

#: Source lines longer than this are shown as a window around the column.
_EXCERPT_WIDTH = 100
#: Files larger than this are not read for an excerpt (archc refuses them anyway).
_EXCERPT_MAX_BYTES = 1 << 20


def excerpt(span: Span, texts: dict[str, str]) -> list[str]:
    """The span's source line and a caret under its column, as two indented lines (none
    when the file cannot be read). `texts` caches file contents by path."""
    if span.file not in texts:
        texts[span.file] = _read_source(span.file)
    lines = texts[span.file].splitlines()
    if not 0 < span.line <= len(lines):
        return []
    # One character per character, so the caret stays under its column: a tab is a space,
    # other control characters (a terminal escape in a hostile file) are shown as '?'.
    text = "".join(
        " " if c == "\t" else "?" if c < " " or "\x7f" <= c <= "\x9f" or c in _HIDDEN else c
        for c in lines[span.line - 1]
    )
    col = min(max(span.col, 1), len(text) + 1)
    start = 0
    if len(text) > _EXCERPT_WIDTH:
        start = max(0, min(col - 1 - _EXCERPT_WIDTH // 2, len(text) - _EXCERPT_WIDTH))
        text = text[start : start + _EXCERPT_WIDTH]
        text = (
            ("..." if start else "")
            + text
            + ("..." if start + _EXCERPT_WIDTH < len(lines[span.line - 1]) else "")
        )
        start -= 3 if start else 0
    number = str(span.line)
    return [
        f"    {number} | {text.rstrip()}",
        f"    {' ' * len(number)} | {' ' * (col - 1 - start)}^",
    ]


def _read_source(path: str) -> str:
    from pathlib import Path

    from archc.reading import ReadError, read_bounded

    try:  # bounded, regular files only: the span may name a FIFO or a device by now
        return read_bounded(Path(path), _EXCERPT_MAX_BYTES).decode("utf-8", errors="replace")
    except ReadError:
        return ""


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")

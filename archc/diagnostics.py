"""Diagnostics: located, coded messages about a spec, and the printer that shows them.

Every problem archc finds in a spec becomes a `Diagnostic`; nothing in the pipeline raises
a Python exception at the user for a problem in their input. Stages collect diagnostics in a
`Reporter` and stop (with `SpecError`) only at the end of a stage, so the user sees all
problems at once, not just the first.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TextIO

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
        head = f"{self.span}: {self.severity}[{self.code}]: {self.message}"
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


#: Line breaks and other control characters, as escapes (`\n`).
_BREAKS = {c: repr(chr(c))[1:-1] for c in (*range(0x20), 0x7F, 0x85, 0x2028, 0x2029)}


def one_line(text: str) -> str:
    """Text from a spec (a key, a name) may hold line breaks; a diagnostic stays one line."""
    return text.translate(_BREAKS)


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
        " " if c == "\t" else "?" if c < " " or "\x7f" <= c <= "\x9f" else c
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

    try:
        file = Path(path)
        if not file.is_file() or file.stat().st_size > _EXCERPT_MAX_BYTES:
            return ""
        return file.read_bytes().decode("utf-8", errors="replace")
    except (OSError, ValueError):
        return ""


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")

"""Spec text made fit for an output file: printable, on one line, of bounded length.

A spec's free text (`doc:`, descriptions, variant names) reaches diagrams, tooltips and the
report page. There it must neither break the format (a control character is not allowed in
XML, so one in a tooltip makes graph.svg unreadable) nor multiply the output (a doc inside
a repeated block is shown once per layer). Every output therefore passes such text through
here, and each says how much of it it keeps.
"""

from __future__ import annotations

import re

ELLIPSIS = "\u2026"
#: Characters no output keeps as they are: C0 and C1 controls and DEL (not allowed in XML
#: 1.0, or escape sequences on a terminal), lone surrogates, the noncharacters U+FFFE and
#: U+FFFF, and the bidirectional marks, overrides and isolates that can make text read
#: differently from what it holds. (U+2028 and U+2029 are valid XML; `one_line` makes
#: them spaces.)
UNPRINTABLE = re.compile(
    "[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """`text` with every character of UNPRINTABLE written as its escape (`\\x07`)."""
    return UNPRINTABLE.sub(_escape, text)


def one_line(text: str, limit: int) -> str:
    """`text` on one printable line, runs of white space made one space, cut to at most
    `limit` characters (the last one then an ellipsis)."""
    return clip(printable(" ".join(text.split())), limit)


def clip(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, ending in an ellipsis when cut."""
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + ELLIPSIS


def size_text(size: int) -> str:
    """A size for a message: `12.3 MiB`, or bytes below a tenth of a MiB."""
    return f"{size / 2**20:.1f} MiB" if size >= 2**20 / 10 else f"{size:,} bytes"

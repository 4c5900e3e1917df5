"""Fill the generated blocks of hand-written pages (README.md, docs/tutorial.md).

A page marks what it shows with an HTML comment on the line before a fenced block:

    <!-- include: docs/examples/tiny_resnet.yaml -->   the block shows that file
    <!-- output: archc summary docs/examples/x.yaml --> the block shows `$ command` and the
                                                        real terminal output of running it

The prose around the blocks is the page's own; only the blocks are regenerated, so a page
cannot show a spec or an output that differs from the real one.
"""

from __future__ import annotations

import re
from pathlib import Path

from docrun import REPO, run_shown

MARKER = re.compile(r"^<!-- (include|output): (.+?) -->$")
PAGES = ["README.md", "docs/tutorial.md"]


def _block(kind: str, arg: str, root: Path) -> str:
    if kind == "include":
        path = root / arg
        lang = {".yaml": "yaml", ".yml": "yaml", ".json": "json", ".py": "python"}.get(
            path.suffix, "text"
        )
        return f"```{lang}\n{path.read_text()}```"
    _, output = run_shown(arg, root, root)
    return f"```console\n$ {arg}\n{output}\n```".replace("\n\n```", "\n```")


def fill(text: str, root: Path = REPO) -> str:
    """The page with every marked block regenerated."""
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        out.append(line)
        i += 1
        match = MARKER.match(line)
        if not match:
            continue
        if i < len(lines) and lines[i].startswith("```"):
            end = i + 1
            while end < len(lines) and lines[end] != "```":
                end += 1
            i = end + 1
        out.extend(_block(match.group(1), match.group(2), root).split("\n"))
    return "\n".join(out)


def marked_commands(text: str) -> list[str]:
    """The commands a page shows the output of, in order."""
    return [
        m.group(2)
        for line in text.split("\n")
        if (m := MARKER.match(line)) and m.group(1) == "output"
    ]

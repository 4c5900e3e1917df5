"""The `summary` build target: summary.json and summary.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from archc.backends.summary import to_json, to_markdown
from archc.ir.graph import Graph


def write_target(graph: Graph, folder: Path, options: dict[str, Any]) -> None:
    """Write summary.json and summary.md into the staging folder."""
    (folder / "summary.json").write_text(to_json(graph))
    (folder / "summary.md").write_text(to_markdown(graph))

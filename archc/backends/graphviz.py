"""Graphviz backend: write `graph.dot` and render it with Graphviz's `dot` (SVG, PNG, PDF).

The DOT text comes from `archc.backends.graphviz_dot`; this module only runs `dot` and
writes files. `dot` is called as a subprocess rather than through the `graphviz` Python
package: one executable, stdin to stdout, nothing else to install, and the file is then
written atomically like every other archc output. Without `dot` on PATH the `.dot` file is
still written, with a note on how to install Graphviz.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from archc.backends.bounded_text import size_text
from archc.backends.graphviz_dot import DiagramTooLarge, fitting_dot
from archc.ir.graph import Graph

FORMATS = ("svg", "png", "pdf")
INSTALL_HINT = (
    "Graphviz's `dot` is not installed, so only the .dot file was written; install Graphviz "
    "(`apt-get install graphviz`, `brew install graphviz`, or https://graphviz.org/download/) "
    "and run again, or render it yourself with `dot -Tsvg FILE.dot -o FILE.svg`"
)
#: Generous: a whole ResNet-152 without collapsing renders in seconds.
RENDER_TIMEOUT_S = 300
#: The largest rendering archc keeps: dot's SVG of the largest graph.dot archc writes
#: (graphviz_dot.MAX_DOT_BYTES) is about this size.
MAX_RENDERED_BYTES = 64 * 2**20


class RenderError(Exception):
    """`dot` failed or timed out, or the diagram is too large to draw."""


def dot_text(graph: Graph, collapse: int | None, direction: str) -> str:
    """The DOT text to draw, bounded (graphviz_dot.fitting_dot), with a note on stderr when
    blocks had to be collapsed to fit; RenderError when nothing fits."""
    try:
        text, level = fitting_dot(graph, collapse, direction)
    except DiagramTooLarge as exc:
        raise RenderError(str(exc)) from exc
    if level != collapse:
        print(
            f"note: the whole diagram is too large to draw; blocks nested deeper than level "
            f"{level} are collapsed (as with --collapse {level})",
            file=sys.stderr,
        )
    return text


def _bounded(size: int) -> None:
    if size > MAX_RENDERED_BYTES:
        raise RenderError(
            f"`dot` drew {size_text(size)}, over archc's limit of "
            f"{size_text(MAX_RENDERED_BYTES)}; draw it with --collapse"
        )


def dot_executable() -> str | None:
    """The path of Graphviz's `dot`, or None when it is not installed."""
    return shutil.which("dot")


def render(dot_text: str, fmt: str, dot: str | None = None) -> bytes:
    """Run `dot -T<fmt>` over the DOT text and return the rendered bytes."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    dot = dot or dot_executable()
    if dot is None:
        raise RenderError("Graphviz's `dot` is not installed")
    try:
        done = subprocess.run(
            [dot, f"-T{fmt}"],
            input=dot_text.encode(),
            capture_output=True,
            timeout=RENDER_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise RenderError(f"`dot` took longer than {RENDER_TIMEOUT_S} s") from exc
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip()
        raise RenderError(f"`dot -T{fmt}` failed (exit {done.returncode}): {message}")
    _bounded(len(done.stdout))
    return done.stdout


class Rendering:
    """`dot` rendering a .dot file into an output file as a background process."""

    def __init__(self, dot: str, source: Path, out: Path) -> None:
        self.out = out
        self.fmt = out.suffix.lstrip(".")
        # A file, not a pipe, for its messages: a chatty `dot` never blocks on a full pipe.
        self.messages = tempfile.TemporaryFile()
        try:
            self.process: subprocess.Popen | None = subprocess.Popen(
                [dot, f"-T{self.fmt}", str(source), "-o", str(out)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=self.messages,
            )
        except BaseException:
            self.messages.close()
            raise

    def finish(self) -> Path:
        """Wait for `dot` and return the rendered file; raise RenderError if it failed."""
        if self.process is None:
            raise RenderError("`dot` was stopped")
        try:
            code = self.process.wait(timeout=RENDER_TIMEOUT_S)
        except subprocess.TimeoutExpired as exc:
            self.cancel()
            raise RenderError(f"`dot` took longer than {RENDER_TIMEOUT_S} s") from exc
        self.process = None
        self.messages.seek(0)
        message = self.messages.read().decode(errors="replace").strip()
        self.messages.close()
        if code != 0:
            raise RenderError(f"`dot -T{self.fmt}` failed (exit {code}): {message}")
        _bounded(self.out.stat().st_size)
        return self.out

    def cancel(self) -> None:
        """Stop `dot` if it still runs (a build that failed elsewhere); safe to repeat."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None
        self.messages.close()


def write_files(
    graph: Graph, out: Path, collapse: int | None = None, direction: str = "TB"
) -> tuple[Path, Path | None]:
    """Write OUT's .dot beside it and render OUT (unless OUT is the .dot itself).

    Returns (dot path, rendered path or None when `dot` is missing).
    """
    from archc.build import atomic_write

    fmt = out.suffix.lower().lstrip(".")
    text = dot_text(graph, collapse, direction)
    dot_path = out.with_suffix(".dot")
    atomic_write(dot_path, text)
    if fmt == "dot":
        return dot_path, None
    dot = dot_executable()
    if dot is None:
        return dot_path, None
    atomic_write(out, render(text, fmt, dot))
    return dot_path, out


def draw_command(
    graph: Graph, out: str | None, collapse: int | None = None, direction: str = "TB"
) -> int:
    """`archc graph`: write the diagram, print where it went; return the exit status."""
    from archc.build import BuildError, refuse_links
    from archc.spec.loader import folder_name

    path = (
        Path(out)
        if out
        else Path("build") / folder_name(graph.network, graph.variant) / "graph.svg"
    )
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in FORMATS + ("dot",):
        print(
            f"error: cannot draw to {path}: the file name must end in .svg, .png, .pdf or .dot",
            file=sys.stderr,
        )
        return 2
    if collapse is not None and collapse < 0:
        print("error: --collapse takes a level of 0 or more", file=sys.stderr)
        return 2
    try:
        if not out:  # the build folder: not written through a link, as `archc build` does
            refuse_links(path.parent.parent, path.parent)
        dot_path, rendered = write_files(graph, path, collapse, direction)
    except (RenderError, OSError, BuildError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if rendered is None and fmt != "dot":
        print(f"wrote {dot_path}", file=sys.stderr)
        print(f"note: {INSTALL_HINT}", file=sys.stderr)
        return 0
    print(f"wrote {rendered} and {dot_path}" if rendered else f"wrote {dot_path}", file=sys.stderr)
    return 0


def start_target(graph: Graph, staging: Path, options: dict[str, Any]) -> Rendering | None:
    """Write graph.dot into the staging folder and start `dot` on it in the background (the
    build runs it beside the PyTorch and ONNX targets); None when `dot` is not installed."""
    from archc.build import BuildError

    dot = dot_executable()
    try:
        text = dot_text(graph, options.get("collapse"), options.get("direction", "TB"))
    except RenderError as exc:
        raise BuildError(f"graphviz: {exc}") from exc
    (staging / "graph.dot").write_text(text)
    return Rendering(dot, staging / "graph.dot", staging / "graph.svg") if dot else None


def write_target(graph: Graph, staging: Path, options: dict[str, Any]) -> None:
    """Build target `graphviz`: graph.dot and graph.svg in the staging folder (collected
    from `options["started"]`, what start_target began, when the build started it)."""
    from archc.build import BuildError

    try:
        if "started" in options:
            rendering = options["started"]
            rendered = rendering.finish() if rendering is not None else None
        else:
            _, rendered = write_files(
                graph,
                staging / "graph.svg",
                options.get("collapse"),
                options.get("direction", "TB"),
            )
    except RenderError as exc:
        raise BuildError(f"graphviz: {exc}") from exc
    if rendered is None:
        print(f"note: {INSTALL_HINT}", file=sys.stderr)

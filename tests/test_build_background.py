"""`archc build` runs Graphviz's `dot` in the background, beside the other targets.

The diagram must be the same bytes `archc graph` renders through a pipe, a failing `dot`
must give the graphviz target's usual error, and a build that fails elsewhere must stop
`dot` and write nothing.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

import archc.build
from archc.backends import graphviz
from archc.backends.graphviz_dot import to_dot
from archc.backends.report import report_html
from archc.build import BuildError, build_graph
from archc.pipeline import load
from tests.conftest import SPECS


def fake_dot(tmp_path: Path, monkeypatch, script: str) -> None:
    """Put a shell script named `dot` first on PATH."""
    folder = tmp_path / "bin"
    folder.mkdir()
    dot = folder / "dot"
    dot.write_text("#!/bin/sh\n" + script + "\n")
    dot.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}:/usr/bin:/bin")


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_background_render_gives_the_same_bytes_as_the_pipe(tmp_path):
    graph = load(SPECS / "alexnet.yaml", "lecture")
    folder = build_graph(graph, tmp_path, ["graphviz", "report"])
    assert (folder / "graph.dot").read_text() == to_dot(graph)
    assert (folder / "graph.svg").read_bytes() == graphviz.render(to_dot(graph), "svg")
    # The report inlines that diagram: the page is the one it draws for itself.
    assert (folder / "report.html").read_text(encoding="utf-8") == report_html(graph)


def test_a_failing_dot_is_the_graphviz_targets_error(tmp_path, monkeypatch):
    fake_dot(tmp_path, monkeypatch, 'echo "Error: syntax error in line 1" >&2; exit 1')
    graph = load(SPECS / "lenet5.yaml", "paper")
    with pytest.raises(BuildError, match=r"graphviz: `dot -Tsvg` failed \(exit 1\): Error: synt"):
        build_graph(graph, tmp_path / "out", ["graphviz", "summary"])
    assert [p.name for p in (tmp_path / "out").iterdir()] == []


def test_a_build_that_fails_elsewhere_stops_dot_and_writes_nothing(tmp_path, monkeypatch):
    fake_dot(tmp_path, monkeypatch, "exec sleep 60")
    started: list[graphviz.Rendering] = []
    start = graphviz.start_target

    def recording(graph, staging, options):
        rendering = start(graph, staging, options)
        started.append(rendering)
        return rendering

    def failing(graph, staging, options):
        raise BuildError("pytorch: generation failed")

    real = archc.build._target
    monkeypatch.setattr(graphviz, "start_target", recording)
    monkeypatch.setattr(archc.build, "_target", lambda n: failing if n == "pytorch" else real(n))
    graph = load(SPECS / "lenet5.yaml", "paper")
    begin = time.monotonic()
    with pytest.raises(BuildError, match="generation failed"):
        build_graph(graph, tmp_path / "out", ["pytorch", "graphviz"])
    assert time.monotonic() - begin < 30  # did not wait for the sleeping `dot`
    (rendering,) = started
    assert rendering.process is None  # killed and reaped
    assert [p.name for p in (tmp_path / "out").iterdir()] == []

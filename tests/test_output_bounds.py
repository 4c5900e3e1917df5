"""Outputs are bounded, not just inputs: free text from a spec can neither break a diagram
or a page nor multiply it.

The attack this guards against: a `doc:` over 16 KB, with control characters, inside a
block repeated hundreds of times. Before, every layer's tooltip copied the whole doc (a
100 KB spec gave a 1 GB graph.dot, and `archc serve` sent a 100 MB page), Graphviz refused
strings over 16 KB, and a control character made graph.svg invalid XML. Each test feeds
such a spec through a command that reaches the output (`archc graph`, `archc build`'s
graphviz and report targets, the page `archc serve` sends) and holds the size to a bound
that does not grow with the doc, and the text to what XML and DOT allow.
"""

from __future__ import annotations

import json
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archc.backends import graphviz, graphviz_dot, report
from archc.backends.bounded_text import ELLIPSIS, one_line, printable
from archc.backends.graphviz_dot import MAX_TOOLTIP_DOC, fitting_dot, to_dot
from archc.cli import main
from archc.pipeline import load
from archc.serve import LiveSpec
from tests.conftest import SPECS

needs_dot = pytest.mark.skipif(
    shutil.which("dot") is None, reason="Graphviz's dot is not installed (.ci/run installs it)"
)
#: What XML 1.0 forbids, plus the controls no output should carry (bounded_text).
FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff\u202e]")
#: A doc of 20 KB (Graphviz's limit for one string is 16 KB) ending in control characters,
#: a terminal escape, a bidi override, markup and DOT syntax.
DOC = "A" * 20_000 + "\x01\x1b[31m\u202e<b>&</b>\"'\\N\\G ]; } digraph x {"
VARIANT = "v\x07\x1b[2J<x>"
REPEAT = 300


def hostile_spec(doc: str = DOC, repeat: int = REPEAT) -> str:
    text = json.dumps(doc)
    return f"""\
network: big
description: {text}
input: [4, 8, 8]
blocks:
  unit:
    description: {text}
    layers:
      - {{type: conv, out: 4, kernel: 3, padding: 1, doc: {text}}}
      - {{type: relu, doc: {text}}}
layers:
  - {{name: body, type: unit, repeat: {repeat}, doc: {text}}}
  - {{name: pool, type: adaptive_avgpool}}
  - flatten
  - {{name: fc, type: linear, out: 2, doc: {text}}}
variants:
  {json.dumps(VARIANT)}: {{}}
"""


@pytest.fixture(scope="module")
def spec_path(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("bounds") / "big.yaml"
    path.write_text(hostile_spec())
    return path


@pytest.fixture(scope="module")
def graph(spec_path):
    return load(spec_path)


def per_layer_bound(graph, each: int) -> int:
    """A bound proportional to the layers, independent of the doc's length."""
    return len(graph.nodes) * each


def assert_clean(text: str) -> None:
    bad = FORBIDDEN.search(text)
    assert bad is None, f"{bad.group()!r} at {bad.start()}: {text[bad.start() - 40 : bad.end()]!r}"


def test_the_doc_is_long_and_repeated(graph):
    """The premise: 2 x 300 documented layers, each with the same 20 KB doc."""
    documented = [n for n in graph.nodes if n.doc == DOC]
    assert len(documented) == 2 * REPEAT + 1
    assert len(DOC) * len(documented) > 12_000_000


def test_graph_dot_is_bounded_and_printable(graph):
    text = to_dot(graph)
    assert len(text.encode()) < per_layer_bound(graph, 1000)  # 12 MB before, unbounded
    assert_clean(text)
    # Each tooltip keeps one line of the doc; no string comes near Graphviz's 16 KB.
    assert "A" * MAX_TOOLTIP_DOC not in text
    assert text.count("A" * (MAX_TOOLTIP_DOC - 60) + "A") > 0
    assert max(len(s) for s in re.findall(r'"(?:[^"\\]|\\.)*"', text)) < 1000
    assert "\\x07" in text  # the variant's BEL, written as an escape in the title


@needs_dot
def test_graph_svg_is_xml_and_bounded(graph, tmp_path):
    result = CliRunner().invoke(
        main, ["graph", str(graph.spec_path), "-o", str(tmp_path / "g.svg")]
    )
    assert result.exit_code == 0, result.output
    svg = (tmp_path / "g.svg").read_text(encoding="utf-8")
    ET.fromstring(svg)  # well-formed: no control character reached it
    assert_clean(svg)
    assert len(svg.encode()) < per_layer_bound(graph, 4000)


def test_report_page_is_bounded_and_holds_each_doc_once(graph):
    page = report.render_page(graph, None, "no diagram")
    assert len(page.encode()) < 2_000_000 + per_layer_bound(graph, 1500)
    assert_clean(page)
    data = json.loads(re.search(r'id="archc-data">(.*?)</script>', page).group(1))
    # One copy of the doc (cut to MAX_DOC) for all 602 layers and modules that have it.
    assert len(data["docs"]) == 1
    assert data["docs"][0] == printable(DOC)[: report.MAX_DOC - 1] + ELLIPSIS
    # That copy, and the header's description (cut to MAX_DESCRIPTION): nothing else.
    copies = page.count("A" * 1000)
    assert copies == (report.MAX_DOC - 1) // 1000 + (report.MAX_DESCRIPTION - 1) // 1000


def test_serve_sends_the_same_bounded_page(spec_path, graph):
    live = LiveSpec(str(spec_path))
    page = live.page(None)
    assert 'id="archc-table"' in page
    assert len(page.encode()) < 2_000_000 + per_layer_bound(graph, 6000)
    assert_clean(page)


def test_build_outputs_are_bounded(spec_path, graph, tmp_path):
    result = CliRunner().invoke(
        main, ["build", str(spec_path), "-o", str(tmp_path), "--target", "graphviz,report"]
    )
    assert result.exit_code == 0, result.output
    (folder,) = tmp_path.iterdir()
    for name in ("graph.dot", "report.html") + (("graph.svg",) if shutil.which("dot") else ()):
        data = (folder / name).read_text(encoding="utf-8")
        assert_clean(data)
        assert len(data.encode()) < 2_000_000 + per_layer_bound(graph, 6000), name


def test_a_100_kb_spec_stays_small(tmp_path):
    """The issue's case: a 90 KB doc in a block repeated 2,000 times."""
    path = tmp_path / "huge.yaml"
    path.write_text(hostile_spec("B" * 90_000, repeat=2000))
    assert 90_000 < path.stat().st_size < 1_048_576
    graph = load(path)
    dot = to_dot(graph)
    assert len(dot.encode()) < 4_000_000  # was 2 x 2,000 x 90 KB: over 360 MB
    page = report.render_page(graph, None, "no diagram")
    assert len(page.encode()) < 8_000_000


# --- the caps -----------------------------------------------------------------------------


def test_a_diagram_over_the_cap_is_drawn_collapsed(monkeypatch, tmp_path):
    graph = load(SPECS / "resnet.yaml", variant="18")
    full, level1, level0 = (len(to_dot(graph, c).encode()) for c in (None, 1, 0))
    assert level0 < level1 < full
    monkeypatch.setattr(graphviz_dot, "MAX_DOT_BYTES", level1)
    text, level = fitting_dot(graph)
    assert level == 1 and text == to_dot(graph, 1)
    out = tmp_path / "g.dot"
    result = CliRunner().invoke(
        main, ["graph", str(SPECS / "resnet.yaml"), "-v", "18", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "blocks nested deeper than level 1 are collapsed" in result.stderr
    assert out.read_text() == to_dot(graph, 1)
    # Asked for in full detail with --collapse, it is refused rather than cut.
    result = CliRunner().invoke(
        main, ["graph", str(SPECS / "resnet.yaml"), "-v", "18", "-o", str(out), "--collapse", "2"]
    )
    assert result.exit_code == 1
    assert "over archc's limit of" in result.stderr


def test_a_diagram_too_large_at_every_level_is_refused(monkeypatch, tmp_path):
    monkeypatch.setattr(graphviz_dot, "MAX_DOT_BYTES", 1000)
    spec = str(SPECS / "resnet.yaml")
    result = CliRunner().invoke(main, ["graph", spec, "-v", "18", "-o", str(tmp_path / "g.svg")])
    assert result.exit_code == 1
    assert "even with every block collapsed" in result.stderr
    assert not (tmp_path / "g.svg").exists() and not (tmp_path / "g.dot").exists()
    result = CliRunner().invoke(main, ["build", spec, "-v", "18", "-o", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "graphviz: the diagram would be" in " ".join(result.stderr.split())
    assert "Traceback" not in result.output
    assert not (tmp_path / "out" / "resnet_18").exists()


@needs_dot
def test_a_rendering_over_the_cap_is_refused(monkeypatch):
    graph = load(SPECS / "lenet5.yaml")
    monkeypatch.setattr(graphviz, "MAX_RENDERED_BYTES", 1000)
    with pytest.raises(graphviz.RenderError, match="over archc's limit"):
        graphviz.render(to_dot(graph), "svg")


def test_a_page_over_the_cap_leaves_out_the_diagram_then_is_refused(monkeypatch, tmp_path):
    graph = load(SPECS / "resnet.yaml", variant="18")
    svg = "<svg>" + "<g/>" * 200_000 + "</svg>"
    without = len(report.render_page(graph, None, "x").encode())
    monkeypatch.setattr(report, "MAX_PAGE_BYTES", without + 1000)
    page = report.render_page(graph, svg, "")
    assert "<g/>" not in page and "The diagram is left out of this page" in page
    monkeypatch.setattr(report, "MAX_PAGE_BYTES", 10_000)
    with pytest.raises(report.ReportTooLarge, match="even without its diagram"):
        report.render_page(graph, svg, "")
    # The build says so and writes nothing; serve sends a page that says so.
    spec = str(SPECS / "resnet.yaml")
    result = CliRunner().invoke(
        main, ["build", spec, "-v", "18", "-o", str(tmp_path), "--target", "report"]
    )
    assert result.exit_code == 1
    assert "report: the report page would be" in " ".join(result.stderr.split())
    assert list(tmp_path.iterdir()) == []
    page = LiveSpec(spec, "18").page("18")
    assert "No report for this network: the report page would be" in page
    assert len(page) < 100_000


# --- any text -----------------------------------------------------------------------------


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=st.text(min_size=1, max_size=300))
def test_any_doc_or_variant_gives_clean_outputs(text, tmp_path_factory):
    """Whatever a doc, description or variant name holds, the DOT text and the page carry
    only printable text, and `dot` (where installed) reads the DOT and writes valid XML."""
    folder = tmp_path_factory.mktemp("any")
    path = folder / "any.yaml"
    path.write_text(hostile_spec(text, repeat=2).replace(json.dumps(VARIANT), json.dumps(text)))
    try:
        graph = load(path)
    except Exception:  # noqa: BLE001 - text the loader refuses never reaches an output
        return
    dot = to_dot(graph)
    assert_clean(dot)
    page = report.render_page(graph, None, "x")
    assert_clean(page)
    data = json.loads(re.search(r'id="archc-data">(.*?)</script>', page).group(1))
    if text.strip():
        assert data["docs"] == [printable(text.strip())[: report.MAX_DOC]]
    if shutil.which("dot"):
        ET.fromstring(graphviz.render(dot, "svg").decode())


def test_one_line_is_printable_and_bounded():
    assert one_line("a\nb\t\x07c " * 100, 20) == "a b \\x07c a b \\x07c…"
    assert len(one_line("x" * 10_000, 240)) == 240
    assert printable("\u202eevil\x00") == "\\u202eevil\\x00"


def test_a_diagram_with_too_many_boxes_is_drawn_collapsed(monkeypatch):
    """`dot`'s time grows faster than the boxes it lays out: past MAX_DOT_NODES the
    diagram collapses blocks, as it does past MAX_DOT_BYTES."""
    graph = load(SPECS / "resnet.yaml", variant="18")
    boxes = [len(set(graphviz_dot._view(graph, c).rep.values())) for c in (None, 1, 0)]
    assert boxes[2] < boxes[1] < boxes[0]
    monkeypatch.setattr(graphviz_dot, "MAX_DOT_NODES", boxes[1])
    text, level = fitting_dot(graph)
    assert level == 1 and text == to_dot(graph, 1)
    monkeypatch.setattr(graphviz_dot, "MAX_DOT_NODES", boxes[2] - 1)
    with pytest.raises(graphviz_dot.DiagramTooLarge, match="boxes, over archc's limit"):
        fitting_dot(graph)


def test_a_spec_file_name_with_control_characters_reaches_no_page_raw(tmp_path):
    path = tmp_path / "net\x1b[2J\x07.yaml"
    path.write_text(hostile_spec("doc", repeat=1))
    graph = load(path)
    page = report.render_page(graph, None, "x")
    assert_clean(page)
    assert "net\\x1b[2J\\x07.yaml" in page
    assert_clean(report.waiting_page(str(path), {"version": "", "variants": []}))

"""The `report` target: one self-contained HTML page, checked against torchvision's figures.

These tests read the page as text and XML; tests/test_browser.py runs it in Chromium.
"""

from __future__ import annotations

import html
import json
import re
import shutil
from xml.etree import ElementTree

import pytest
from click.testing import CliRunner

from archc.backends import report
from archc.cli import main
from archc.layers.base import fmt_shape
from archc.pipeline import load
from tests.conftest import SPECS, torchvision_fixture

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is missing")
SVG = "{http://www.w3.org/2000/svg}"


def _embedded(page: str, element_id: str):
    match = re.search(
        rf'<script type="application/json" id="{element_id}">(.*?)</script>', page, re.S
    )
    assert match, f"no #{element_id} in the page"
    return json.loads(match.group(1))


def _svg(page: str) -> ElementTree.Element:
    match = re.search(r"<svg\b.*?</svg>", page, re.S)
    assert match, "no inline SVG in the page"
    return ElementTree.fromstring(match.group(0))


@pytest.fixture(scope="module")
def resnet18_page(tmp_path_factory):
    out = tmp_path_factory.mktemp("build")
    result = CliRunner().invoke(
        main,
        ["build", str(SPECS / "resnet.yaml"), "-v", "18", "--target", "report", "-o", str(out)],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    folder = out / "resnet_18"
    assert sorted(p.name for p in folder.iterdir()) == ["report.html"]
    return (folder / "report.html").read_text(encoding="utf-8")


def test_report_is_self_contained(resnet18_page):
    page = resnet18_page
    # Nothing is fetched: no external script, stylesheet, image, frame, font or import.
    assert not re.search(r"<(script|img|iframe|link|object|embed)\b[^>]*\b(src|href)=", page)
    assert "@import" not in page and "url(" not in page
    assert not re.search(r"https?://(?!www\.w3\.org/)", page)
    # ...and a content security policy forbids fetching anything, should anything try.
    assert "connect-src 'none'" in page and "default-src 'none'" in page


def test_report_table_matches_torchvision(resnet18_page):
    reference = torchvision_fixture("resnet18")
    data = _embedded(resnet18_page, "archc-data")
    rows = {n["name"]: n for n in data["nodes"]}
    for name, _kind, shape, _repr in reference["leaf_outputs_per_image"]:
        assert rows[name]["out"] == fmt_shape(tuple(shape)), name
    params = {}
    for key, shape, _kind in reference["state_dict"]:
        if _kind == "param":
            module = key.rsplit(".", 1)[0]
            count = 1
            for size in shape:
                count *= size
            params[module] = params.get(module, 0) + count
    for module, count in params.items():
        assert rows[module]["params"] == count, module
    assert data["summary"]["totals"]["params"] == reference["total_params"]
    assert data["summary"]["totals"]["macs"] == reference["macs_conv_linear_per_image"]
    # The lecture's volume notation and the totals, as text on the page.
    assert "<td>112x112x64</td>" in resnet18_page
    assert "11,689,512" in resnet18_page and "1,814,073,344" in resnet18_page


def test_report_rows_name_their_spec_line(resnet18_page):
    data = _embedded(resnet18_page, "archc-data")
    lines = (SPECS / "resnet.yaml").read_text().splitlines()
    fc = next(n for n in data["nodes"] if n["name"] == "fc")
    assert "name: fc" in lines[fc["line"] - 1]
    conv = next(n for n in data["nodes"] if n["name"] == "layer1.0.conv1")
    assert "name: conv1" in lines[conv["line"] - 1]
    assert conv["in"] == ["56x56x64"] and conv["hyper"]


@needs_dot
def test_report_diagram_has_every_layer(resnet18_page):
    svg = _svg(resnet18_page)
    ids = {g.get("id") for g in svg.iter(SVG + "g") if "node" in (g.get("class") or "")}
    data = _embedded(resnet18_page, "archc-data")
    assert {n["name"] for n in data["nodes"]} <= ids
    assert {leaf[0] for leaf in torchvision_fixture("resnet18")["leaf_outputs_per_image"]} <= ids
    clusters = {g.get("id") for g in svg.iter(SVG + "g") if g.get("class") == "cluster"}
    assert {"cluster_layer1", "cluster_layer1.0", "cluster_layer4.1"} <= clusters
    # dot's own tooltips are removed: the details panel shows more.
    assert "xlink:title" not in resnet18_page


def test_report_without_dot_explains(monkeypatch):
    import archc.backends.graphviz as graphviz

    monkeypatch.setattr(graphviz, "dot_executable", lambda: None)
    page = report.report_html(load(SPECS / "resnet.yaml", variant="18"))
    # No diagram: the page's only drawing is the memory chart, which needs no Graphviz.
    assert 'id="archc-canvas" class="canvas empty"' in page
    assert page.count("<svg") == page.count('class="memory-chart"') == 1
    assert "Graphviz&#x27;s dot is not installed" in page
    assert 'id="archc-table"' in page and "11,689,512" in page


HOSTILE = "</script><script>alert(1)</script><!-- <img src=x onerror=alert(2)> & \u2028"


def test_spec_text_is_escaped(write_spec):
    path = write_spec(
        f"""\
network: tiny
description: {json.dumps(HOSTILE)}
input: [3, 8, 8]
default: {json.dumps(HOSTILE)}
variants:
  {json.dumps(HOSTILE)}: {{description: {json.dumps(HOSTILE)}}}
layers:
  - {{name: conv, type: conv, out: 4, kernel: 3, doc: {json.dumps(HOSTILE)}}}
  - flatten
  - {{name: fc, type: linear, out: 2}}
"""
    )
    graph = load(path)
    assert graph.variant == HOSTILE
    page = report.report_html(graph, live={"variant": graph.variant, "version": "x"})
    assert HOSTILE not in page
    assert "alert(1)</script>" not in page and "<img" not in page
    assert page.count("<script") == page.count("</script>") == 3
    assert html.escape(graph.variant) in page
    data = _embedded(page, "archc-data")
    assert data["summary"]["variant"] == HOSTILE
    assert _embedded(page, "archc-live")["variant"] == HOSTILE


def test_script_json_round_trips():
    value = {"a": "</script><!--x-->&\u2028\u2029", "b": [1, None]}
    text = report.script_json(value)
    assert "<" not in text and ">" not in text and "&" not in text
    assert "\u2028" not in text and "\u2029" not in text
    assert json.loads(text) == value


@needs_dot
def test_report_is_deterministic():
    graph = load(SPECS / "resnet.yaml", variant="18")
    assert report.report_html(graph) == report.report_html(graph)


@needs_dot
def test_large_networks_fit_in_one_page():
    """ResNet-152 and Inception-v3: every layer in the SVG, page small enough to open."""
    for spec, variant, fixture in (
        ("resnet.yaml", "152", "resnet152"),
        ("inception_v3.yaml", None, "inception_v3"),
    ):
        page = report.report_html(load(SPECS / spec, variant=variant))
        ids = {g.get("id") for g in _svg(page).iter(SVG + "g")}
        leaves = {leaf[0] for leaf in torchvision_fixture(fixture)["leaf_outputs_per_image"]}
        assert leaves <= ids, sorted(leaves - ids)[:5]
        assert len(page) < 4_000_000


@needs_dot
def test_report_reuses_the_graphviz_targets_svg(tmp_path):
    from archc.build import build_graph

    graph = load(SPECS / "resnet.yaml", variant="18")
    both = build_graph(graph, tmp_path / "both", ["graphviz", "report"])
    alone = build_graph(graph, tmp_path / "alone", ["report"])
    assert sorted(p.name for p in both.iterdir()) == ["graph.dot", "graph.svg", "report.html"]
    assert (both / "report.html").read_bytes() == (alone / "report.html").read_bytes()


def test_docs_reach_the_details_panel_data(resnet18_page):
    # resnet.yaml documents the projection shortcut with `doc:`; the page carries it for the
    # details panel of each downsample, and no doc for layers the spec leaves undocumented.
    data = _embedded(resnet18_page, "archc-data")
    # Each distinct doc is embedded once; modules and layers refer to it by index.
    docs = {
        m["path"]: None if m["doc"] is None else data["docs"][m["doc"]] for m in data["modules"]
    }
    spec = (SPECS / "resnet.yaml").read_text()
    assert "doc: >-\n          The projection shortcut" in spec
    shortcuts = [path for path in docs if path.endswith(".downsample")]
    assert shortcuts == ["layer2.0.downsample", "layer3.0.downsample", "layer4.0.downsample"]
    assert all(docs[path].startswith("The projection shortcut") for path in shortcuts)
    assert {docs[path] for path in docs if path not in shortcuts} == {None}
    assert {n["doc"] for n in data["nodes"]} == {None}
    # The three shortcuts share one doc, so the page holds it once.
    assert len({m["doc"] for m in data["modules"] if m["path"] in shortcuts}) == 1
    assert len(data["docs"]) == 1

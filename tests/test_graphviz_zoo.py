"""Every zoo variant draws: the SVG parses and holds a node for every layer, and every
elementwise merge (residual sum) gets exactly one shortcut edge."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET

import pytest

from archc.backends.graphviz import render
from archc.backends.graphviz_dot import to_dot
from archc.ir.graph import MERGE
from archc.pipeline import analyse
from archc.spec.loader import load_spec
from tests.conftest import SPECS

SVG = "{http://www.w3.org/2000/svg}"
#: Above this many nodes `dot` needs tens of seconds (ResNet-1202: 15 s of CPU): slow suite.
QUICK_NODES = 1000


def zoo_variants() -> list[tuple[str, str]]:
    """(spec file, variant) for every variant of every spec in specs/."""
    found = []
    for path in sorted(SPECS.glob("*.yaml")):
        found.extend((path.name, name) for name in load_spec(path).variant_names())
    return found


def analysed(spec: str, variant: str):
    return analyse(load_spec(SPECS / spec), variant)


def check_svg(graph) -> None:
    root = ET.fromstring(render(to_dot(graph), "svg"))
    titles = {"node": set(), "edge": []}
    skips = []
    for group in root.iter(f"{SVG}g"):
        classes = (group.get("class") or "").split()
        title = group.find(f"{SVG}title")
        if "node" in classes:
            titles["node"].add(title.text)
        elif "edge" in classes:
            titles["edge"].append(title.text)
            if "skip" in classes:
                skips.append(title.text)
    assert {n.path for n in graph.nodes} <= titles["node"]
    edges = {tuple(t.split("->")) for t in titles["edge"]}
    for node in graph.nodes:
        for source in node.inputs:
            assert (graph.nodes[source].path, node.path) in edges
    for node in graph.nodes:
        if node.kind == MERGE and all(graph.nodes[i].shape == node.shape for i in node.inputs):
            into = [t for t in skips if t.endswith(f"->{node.path}")]
            assert len(into) == 1, (node.path, into)


needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is missing")


def _params():
    quick, slow = [], []
    for spec, variant in zoo_variants():
        size = len(analysed(spec, variant).nodes)
        (quick if size < QUICK_NODES else slow).append((spec, variant))
    return quick, slow


QUICK, SLOW = _params()


@needs_dot
@pytest.mark.parametrize("spec, variant", QUICK)
def test_zoo_variant_draws(spec, variant):
    check_svg(analysed(spec, variant))


@needs_dot
@pytest.mark.slow
@pytest.mark.parametrize("spec, variant", SLOW)
def test_big_zoo_variant_draws(spec, variant):
    check_svg(analysed(spec, variant))


@pytest.mark.parametrize("spec, variant", SLOW)
def test_big_zoo_variant_collapsed_dot(spec, variant):
    graph = analysed(spec, variant)
    text = to_dot(graph, collapse=1)
    # Collapsed to blocks, the 1,000-layer CIFAR ResNets fit on a page.
    assert text.count('shape="box3d"') < 1000 < len(graph.nodes)

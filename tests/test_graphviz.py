"""Graphviz diagrams: rendered with the real `dot`, read back from the SVG (it is XML).

Figures in the pictures are held against torchvision's fixtures and the lecture's table
(tests/reference), never against archc's own output.
"""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from archc.backends import graphviz as backend
from archc.backends.graphviz_dot import esc, quote, to_dot
from archc.build import build_graph
from archc.cli import main
from archc.ir.graph import MERGE
from archc.pipeline import load
from tests.conftest import SPECS, torchvision_fixture

SVG = "{http://www.w3.org/2000/svg}"
needs_dot = pytest.mark.skipif(
    shutil.which("dot") is None, reason="Graphviz's dot is not installed (.ci/run installs it)"
)


def svg_of(graph, tmp_path: Path, **options) -> ET.Element:
    out = tmp_path / "graph.svg"
    backend.write_files(graph, out, **options)
    return ET.parse(out).getroot()


def items(root: ET.Element, cls: str) -> dict[str, ET.Element]:
    """SVG groups of one class (node, edge, cluster) by their <title>."""
    found = {}
    for group in root.iter(f"{SVG}g"):
        if cls in (group.get("class") or "").split():
            found[group.find(f"{SVG}title").text] = group
    return found


def text_of(group: ET.Element) -> str:
    return " | ".join(t.text or "" for t in group.iter(f"{SVG}text"))


def lecture_volume(chw: list[int]) -> str:
    """torchvision's [C, H, W] written as the lecture writes it: HxWxC."""
    return f"{chw[1]}x{chw[2]}x{chw[0]}" if len(chw) == 3 else "x".join(map(str, chw))


@pytest.fixture(scope="module")
def resnet18():
    return load(SPECS / "resnet.yaml", "18")


@pytest.fixture(scope="module")
def resnet18_svg(resnet18, tmp_path_factory):
    if shutil.which("dot") is None:
        pytest.skip("Graphviz's dot is not installed")
    return svg_of(resnet18, tmp_path_factory.mktemp("r18"))


@needs_dot
def test_every_torchvision_module_has_a_node_with_its_volume_and_params(resnet18_svg):
    fixture = torchvision_fixture("resnet18")
    nodes = items(resnet18_svg, "node")
    params: dict[str, int] = {}
    for key, shape, kind in fixture["state_dict"]:
        if kind == "param":
            module = key.rsplit(".", 1)[0]
            count = 1
            for size in shape:
                count *= size
            params[module] = params.get(module, 0) + count
    for name, _cls, shape, _repr in fixture["leaf_outputs_per_image"]:
        assert name in nodes, f"no node for torchvision module {name}"
        text = text_of(nodes[name])
        assert lecture_volume(shape) in text, (name, text)
        if params.get(name):
            assert f"{params[name]:,} params" in text, (name, text)
        else:
            assert "params" not in text, (name, text)


@needs_dot
def test_every_layer_has_a_node_titled_by_its_path(resnet18, resnet18_svg):
    nodes = items(resnet18_svg, "node")
    for node in resnet18.nodes:
        assert node.path in nodes
        # The SVG element's id is the path too, for links and scripts.
        assert nodes[node.path].get("id") == node.path


@needs_dot
def test_resnet18_adds_have_two_inputs_and_one_shortcut(resnet18_svg):
    edges = items(resnet18_svg, "edge")
    into: dict[str, list[tuple[str, bool]]] = {}
    for title, group in edges.items():
        src, dst = title.split("->")
        into.setdefault(dst, []).append((src, "skip" in group.get("class").split()))
    adds = sorted(d for d in into if d.endswith(".add"))
    # torchvision's ResNet-18: 2 BasicBlocks in each of 4 stages, one sum per block.
    assert len(adds) == 8
    projected = {
        k.rsplit(".downsample", 1)[0]
        for k, _, _ in torchvision_fixture("resnet18")["state_dict"]
        if ".downsample." in k
    }
    assert projected == {"layer2.0", "layer3.0", "layer4.0"}
    for add in adds:
        block = add.rsplit(".", 1)[0]
        sources = into[add]
        assert len(sources) == 2, add
        shortcuts = [src for src, skip in sources if skip]
        assert len(shortcuts) == 1, (add, sources)
        if block in projected:
            # The projection branch is drawn as the shortcut, all the way from the fork.
            assert shortcuts == [f"{block}.downsample.1"]
            assert "skip" in edges[f"{block}.downsample.0->{block}.downsample.1"].get("class")
        else:
            assert shortcuts[0] != f"{block}.bn2"
    skip_edges = [t for t, g in edges.items() if "skip" in g.get("class").split()]
    assert len(skip_edges) == 5 + 3 * 3  # identity edges, projection branches of 3 edges


@needs_dot
def test_blocks_are_labelled_clusters(resnet18, resnet18_svg):
    clusters = items(resnet18_svg, "cluster")
    for stage in ("layer1", "layer2", "layer3", "layer4"):
        for index in (0, 1):
            title = f"cluster_{stage}.{index}"
            assert title in clusters
            assert f"{stage}.{index}" in text_of(clusters[title])
        assert f"cluster_{stage}" in clusters


@needs_dot
def test_alexnet_conv1_reads_like_the_lecture(tmp_path):
    root = svg_of(load(SPECS / "alexnet.yaml", "lecture"), tmp_path)
    text = text_of(items(root, "node")["conv1"])
    # CS231n: CONV1 96 11x11 filters at stride 4 -> 55x55x96, 34,944 parameters.
    for expected in ("11x11/4, 96", "55x55x96", "34,944 params"):
        assert expected in text
    edges = items(root, "edge")
    assert text_of(edges["input->conv1"]) == "227x227x3"
    assert text_of(edges["conv1->relu"]) == "55x55x96"


@needs_dot
def test_inception_branches_fan_out_and_meet_in_a_concat(tmp_path):
    graph = load(SPECS / "googlenet.yaml", "paper")
    root = svg_of(graph, tmp_path)
    edges = items(root, "edge")
    concats = [n for n in graph.nodes if n.kind == MERGE and n.path.startswith("inception3a.")]
    assert len(concats) == 1
    into = [t for t in edges if t.endswith(f"->{concats[0].path}")]
    # GoogLeNet (Szegedy et al., Fig. 2b): four branches per inception module.
    assert len(into) == 4
    assert not any("skip" in edges[t].get("class").split() for t in into)
    clusters = items(root, "cluster")
    for branch in ("branch1", "branch2", "branch3", "branch4"):
        assert f"cluster_inception3a.{branch}" in clusters
    # The concat's volume: 64 + 128 + 32 + 32 = 256 maps at 28x28 (paper, Table 1).
    assert "28x28x256" in text_of(items(root, "node")[concats[0].path])


@needs_dot
@pytest.mark.parametrize(
    "level, expected",
    [
        # The ResNet paper's Table 1: 3, 8, 36, 3 bottleneck blocks for ResNet-152.
        (
            1,
            [f"layer1.{i}" for i in range(3)]
            + [f"layer2.{i}" for i in range(8)]
            + [f"layer3.{i}" for i in range(36)]
            + [f"layer4.{i}" for i in range(3)],
        ),
        (0, ["layer1", "layer2", "layer3", "layer4"]),
    ],
)
def test_collapse_draws_each_block_as_one_node(tmp_path, level, expected):
    graph = load(SPECS / "resnet.yaml", "152")
    root = svg_of(graph, tmp_path, collapse=level)
    blocks = {t for t, g in items(root, "node").items() if "block" in g.get("class").split()}
    assert blocks == set(expected)
    nodes = items(root, "node")
    assert not any(t.startswith("layer") and t not in blocks for t in nodes)
    # The stem and head stay as layers.
    assert {"conv1", "bn1", "maxpool", "fc"} <= set(nodes)
    # torchvision's layer4 of ResNet-152 outputs 2048 maps at 7x7.
    if level == 0:
        assert "7x7x2048" in text_of(nodes["layer4"])
        assert "3 x bottleneck" in text_of(nodes["layer4"])
    edges = items(root, "edge")
    for src, dst in zip(expected, expected[1:], strict=False):
        if src.split(".")[0] == dst.split(".")[0] or level == 0:
            assert f"{src}->{dst}" in edges
    assert not any("skip" in g.get("class").split() for g in edges.values())


def test_no_collapse_keeps_every_layer(resnet18):
    text = to_dot(resnet18)
    for node in resnet18.layers():
        assert f'"{node.path}" [id="{node.path}"' in text


def test_direction_and_determinism(resnet18):
    assert 'rankdir="LR"' in to_dot(resnet18, direction="LR")
    assert 'rankdir="TB"' in to_dot(resnet18)
    assert to_dot(resnet18, collapse=1) == to_dot(load(SPECS / "resnet.yaml", "18"), collapse=1)
    with pytest.raises(ValueError):
        to_dot(resnet18, direction="RL")


@needs_dot
def test_rendering_is_deterministic(resnet18, tmp_path):
    a, b = tmp_path / "a.svg", tmp_path / "b.svg"
    backend.write_files(resnet18, a)
    backend.write_files(resnet18, b)
    assert a.read_bytes() == b.read_bytes()
    assert (tmp_path / "a.dot").read_bytes() == (tmp_path / "b.dot").read_bytes()


def test_labels_are_escaped(tmp_path):
    assert esc('<b>&"') == "&lt;b&gt;&amp;&quot;"
    assert quote('a"b\\c') == '"a\\"b\\\\c"'
    graph = load(SPECS / "alexnet.yaml", "lecture")
    graph.variant = 'x<&>"y'
    graph.class_name = 'Net"<b>'
    text = to_dot(graph)
    assert 'x<&>"y' not in text
    if shutil.which("dot"):
        root = svg_of(graph, tmp_path)  # parses: the markup stayed text
        title = " ".join(t.text or "" for t in root.iter(f"{SVG}text"))
        assert 'x<&>"y' in title


@needs_dot
@pytest.mark.parametrize(
    "suffix, magic", [(".png", b"\x89PNG"), (".pdf", b"%PDF"), (".svg", b"<?xml")]
)
def test_cli_graph_formats(tmp_path, suffix, magic):
    out = tmp_path / f"net{suffix}"
    result = CliRunner().invoke(main, ["graph", str(SPECS / "alexnet.yaml"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(magic)
    assert (tmp_path / "net.dot").read_text().startswith('digraph "AlexNetLecture"')


def test_cli_graph_dot_only_and_bad_suffix(tmp_path):
    out = tmp_path / "net.dot"
    result = CliRunner().invoke(
        main,
        [
            "graph",
            str(SPECS / "alexnet.yaml"),
            "-o",
            str(out),
            "--collapse",
            "0",
            "--direction",
            "LR",
        ],
    )
    assert result.exit_code == 0
    assert 'rankdir="LR"' in out.read_text()
    assert list(tmp_path.iterdir()) == [out]
    bad = CliRunner().invoke(
        main, ["graph", str(SPECS / "alexnet.yaml"), "-o", str(tmp_path / "net.jpg")]
    )
    assert bad.exit_code == 2
    assert ".svg, .png, .pdf or .dot" in bad.output


def test_cli_graph_default_output_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["graph", str(SPECS / "alexnet.yaml")])
    assert result.exit_code == 0
    assert (tmp_path / "build" / "alexnet_lecture" / "graph.dot").is_file()


def test_without_dot_writes_the_dot_file_and_says_how_to_install(tmp_path, monkeypatch):
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    out = tmp_path / "net.svg"
    result = CliRunner().invoke(main, ["graph", str(SPECS / "alexnet.yaml"), "-o", str(out)])
    assert result.exit_code == 0
    assert not out.exists()
    assert (tmp_path / "net.dot").read_text().startswith("digraph")
    assert "apt-get install graphviz" in result.output
    assert "brew install graphviz" in result.output


def test_build_target_writes_dot_and_svg(tmp_path, capsys):
    graph = load(SPECS / "lenet5.yaml", "paper")
    folder = build_graph(graph, tmp_path, ["graphviz"])
    assert sorted(p.name for p in folder.iterdir()) == (
        ["graph.dot", "graph.svg"] if shutil.which("dot") else ["graph.dot"]
    )
    if shutil.which("dot"):
        nodes = items(ET.parse(folder / "graph.svg").getroot(), "node")
        # LeNet-5 (LeCun et al. 1998): C1 is 6 maps of 28x28 with 156 trainable parameters.
        assert "28x28x6" in text_of(nodes["c1"]) and "156 params" in text_of(nodes["c1"])


def test_build_target_without_dot_keeps_the_dot_file(tmp_path, monkeypatch, capsys):
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    folder = build_graph(load(SPECS / "lenet5.yaml", "paper"), tmp_path / "out", ["graphviz"])
    assert sorted(p.name for p in folder.iterdir()) == ["graph.dot"]
    assert "apt-get install graphviz" in capsys.readouterr().err


@needs_dot
def test_doc_is_the_hover_text_of_its_layer(tmp_path):
    spec = tmp_path / "doc.yaml"
    spec.write_text(
        "network: doc\ninput: [3, 8, 8]\nlayers:\n"
        '  - {name: conv, type: conv, out: 4, kernel: 3, doc: "Reads \\"edges\\",\\n  first."}\n'
        "  - {name: block, layers: [relu, flatten], doc: A chain.}\n"
        "  - {name: fc, type: linear, out: 2}\n"
    )
    graph = load(spec)
    root = svg_of(graph, tmp_path)
    titles = {
        a.get("{http://www.w3.org/1999/xlink}title")
        for a in root.iter(f"{SVG}a")
        if a.get("{http://www.w3.org/1999/xlink}title")
    }
    # The doc follows the layer's place, on one line, with its quotes kept.
    assert 'conv (spec line 4): Reads "edges", first.' in titles
    assert "fc (spec line 6)" in titles
    # A block's doc stays out of the drawing: its outline must stay a direct child of the
    # cluster, which the report styles and hits (see report.css); the report shows the doc.
    cluster = items(root, "cluster")["cluster_block"]
    assert cluster.find(f"{SVG}path") is not None or cluster.find(f"{SVG}polygon") is not None
    collapsed = svg_of(graph, tmp_path, collapse=0)
    assert "block: A chain." in {
        a.get("{http://www.w3.org/1999/xlink}title") for a in collapsed.iter(f"{SVG}a")
    }

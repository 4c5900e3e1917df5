"""The summary as people read it: the table at any width, folded by depth, and a Network
shown in Python and Jupyter (issue 18, items 5 and 8)."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import pytest
from click.testing import CliRunner

import archc
from archc.backends.summary import human, render_table
from archc.cli import main
from tests.conftest import SPECS, torchvision_fixture


@pytest.fixture(scope="module")
def resnet152():
    return archc.load(SPECS / "resnet.yaml", variant="152")


def test_repr_is_one_short_line(resnet152):
    """repr() of a loaded network was 660,053 characters (the whole graph, recursively)."""
    text = repr(resnet152)
    assert len(text) < 200 and "\n" not in text
    assert "resnet / 152" in text and "515 layers" in text
    assert len(repr(resnet152.graph)) < 200
    assert len(repr(resnet152.graph.nodes[5])) < 200
    assert len(repr(resnet152.graph.root)) < 200


def test_print_shows_the_table(resnet152):
    """print(net) prints the table of `archc summary`: every layer, its figures whole."""
    text = str(resnet152)
    # ResNet-152's parameter count, as torchvision's resnet152 has it.
    fixture = torchvision_fixture("resnet152")
    assert f"params: {human(fixture['total_params'])}" in text
    for layer in resnet152.summary()["layers"]:
        assert f" {layer['name']} " in text
    assert "…" not in text


def test_table_at_80_columns_cuts_no_figure(resnet152):
    """At 80 columns the table fits, loses whole secondary columns (named in a note), and
    shows every parameter and MAC count in full; no figure is cut with an ellipsis."""
    text = render_table(resnet152.graph, width=80)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "…" not in text
    assert "left out at 80 columns:" in text
    rows = {line.split()[0]: line for line in lines if line.strip()}
    for layer in resnet152.summary()["layers"]:
        row = rows[layer["name"]]
        for key in ("params", "macs"):
            if layer[key]:
                assert human(layer[key]) in row.split(), (layer["name"], key)


def test_piped_summary_is_never_cut():
    """Piped into a log (no terminal), the table widens to fit: formerly 374 cells of a
    deep network were cut with '…' at 120 columns."""
    runner = CliRunner()
    done = runner.invoke(main, ["summary", str(SPECS / "resnet.yaml"), "-v", "152"])
    assert done.exit_code == 0, done.output
    assert "…" not in done.output
    macs = [line.split("│")[6].strip() for line in done.output.splitlines() if "│" in line]
    assert "115,605,504" in macs  # layer1.0.conv2: 3x3, 64 -> 64 at 56x56


def _leaf_output(fixture: dict, prefix: str) -> list[int]:
    return [
        shape
        for name, _, shape, _ in fixture["leaf_outputs_per_image"]
        if name.startswith(prefix + ".")
    ][-1]


def test_depth_folds_blocks_as_torchvision_counts_them():
    """`--depth 1` gives ResNet-50 one row per stage, whose parameters are the sums of
    torchvision's state_dict under that stage and whose output is its last layer's."""
    fixture = torchvision_fixture("resnet50")
    net = archc.load(SPECS / "resnet.yaml", variant="50")
    runner = CliRunner()
    done = runner.invoke(
        main, ["summary", str(SPECS / "resnet.yaml"), "-v", "50", "--depth", "1", "--json"]
    )
    assert done.exit_code == 0, done.output
    document = json.loads(done.output)
    assert document["layers"] == net.summary()["layers"]  # the CONTRACT's list, intact
    folded = {row["name"]: row for row in document["folded"]}
    assert list(folded) == [
        "input", "conv1", "bn1", "relu", "maxpool",
        "layer1", "layer2", "layer3", "layer4", "avgpool", "flatten", "fc",
    ]  # fmt: skip
    for stage in ("layer1", "layer2", "layer3", "layer4"):
        expected = sum(
            _numel(shape)
            for key, shape, role in fixture["state_dict"]
            if key.startswith(stage + ".") and role == "param"
        )
        assert folded[stage]["params"] == expected
        assert folded[stage]["output_shape"] == _leaf_output(fixture, stage)
    table = net.table(depth=1)
    assert "layer3" in table and "layer3.0" not in table
    assert human(folded["layer3"]["params"]) in table
    markdown = runner.invoke(
        main, ["summary", str(SPECS / "resnet.yaml"), "--depth", "2", "--markdown"]
    ).output
    assert "| layer3.5 | bottleneck |" in markdown and "layer3.5.conv1" not in markdown


def _numel(shape: list[int]) -> int:
    total = 1
    for size in shape:
        total *= size
    return total


class _Cells(HTMLParser):
    def __init__(self):
        super().__init__()
        self.rows: list[list[str]] = []
        self.cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            self.rows[-1].append("".join(self.cell))
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def test_jupyter_gets_an_html_table():
    """Jupyter calls _repr_html_: a table with a row per layer, text escaped."""
    net = archc.load(SPECS / "vgg.yaml", variant="D")
    parser = _Cells()
    parser.feed(net._repr_html_())
    header, *rows = parser.rows
    assert header[0] == "layer" and header[4] == "params"
    assert len(rows) == len(net.graph.nodes)
    # VGG-16's first convolution, as torchvision's vgg16 has it: 3*64*9 + 64.
    first = next(r for r in rows if r[1] == "conv")
    assert first[4] == "1,792"
    assert "138,357,544" in net._repr_html_()


def test_every_totals_line_is_explained():
    """The docs said nothing of `connections:`, `buffers:` or the empty activation cells;
    the tutorial's "Reading the summary" names each line the table ends with, and its
    LeNet-5 figure is the paper's (tests/reference/papers.md: C1, 122,304 connections)."""
    from tests.conftest import ROOT

    page = (ROOT / "docs" / "tutorial.md").read_text()
    section = page.split("### Reading the summary", 1)[1].split("\n#", 1)[0]
    net = archc.load(SPECS / "lenet5.yaml", variant="paper")
    lines = str(net).splitlines()
    labels = {line.split(":")[0] for line in lines if ": " in line and "│" not in line}
    assert {"buffers", "connections", "weights"} <= labels
    for label in labels - {"params", "MACs", "activations"}:  # named in the columns' intro
        assert f"`{label}:`" in section, label
    assert "empty activations cell" in section.lower()
    c1 = next(layer for layer in net.summary()["layers"] if layer["name"] == "c1")
    assert c1["connections"] == 122_304 and "122,304" in section

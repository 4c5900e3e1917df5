"""Channels-last maps (ConvNeXt's and Swin's stretch between two permutes) are written
H x W x C like every other map, while the JSON keeps their positional shapes."""

from __future__ import annotations

import json

import pytest

from archc.backends.graphviz_dot import to_dot
from archc.backends.pytorch import generate_source
from archc.backends.summary import render_table, to_json, to_markdown
from archc.pipeline import load

torch = pytest.importorskip("torch")

SPEC = """\
archc: 1
network: channels_last
input: [3, 16, 12]
layers:
  - {name: stem, type: conv, out: 24, kernel: 4, stride: 4}
  - {name: to_last, type: permute, dims: [0, 2, 3, 1]}
  - {name: norm, type: layernorm, over: last}
  - {name: wide, type: linear, out: 40, over: last}
  - {name: to_first, type: permute, dims: [0, 3, 1, 2]}
  - {name: pool, type: adaptive_avgpool, size: 1}
"""


def torch_volumes() -> dict[str, str]:
    """Each layer's output, written height x width x channels from torch's own tensors."""
    x = torch.zeros(1, 3, 16, 12)
    stem = torch.nn.Conv2d(3, 24, 4, stride=4)(x)  # N C H W
    to_last = stem.permute(0, 2, 3, 1)  # N H W C
    wide = torch.nn.Linear(24, 40)(torch.nn.LayerNorm(24)(to_last))  # N H W C
    to_first = wide.permute(0, 3, 1, 2)  # N C H W

    def first(t):
        return f"{t.shape[2]}x{t.shape[3]}x{t.shape[1]}"

    def last(t):
        return f"{t.shape[1]}x{t.shape[2]}x{t.shape[3]}"

    return {
        "stem": first(stem),
        "to_last": last(to_last),
        "norm": last(to_last),
        "wide": last(wide),
        "to_first": first(to_first),
    }


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    spec = tmp_path_factory.mktemp("layout") / "channels_last.yaml"
    spec.write_text(SPEC)
    return load(spec)


def test_every_printer_writes_a_channels_last_map_height_width_channels(graph):
    expected = torch_volumes()
    assert expected["wide"] == "4x3x40"  # what used to print as 4x40x3
    nodes = {node.name: node for node in graph.layers()}
    assert {name: nodes[name].volume for name in expected} == expected
    table = render_table(graph, width=200)
    markdown = to_markdown(graph)
    source = generate_source(graph)
    for name, volume in expected.items():
        assert f"| {volume} " in table.replace("│", "|"), name
        assert f"{volume}" in markdown and f"-> {volume}" in source, name
    dot = to_dot(graph)
    assert "4x3x40" in dot and "4x40x3" not in dot  # labels and edge labels
    assert "4x40x3" not in table + markdown + source


def test_json_shapes_stay_positional(graph):
    layers = {row["name"]: row for row in json.loads(to_json(graph))["layers"]}
    wide = torch.nn.Linear(24, 40)(torch.zeros(1, 4, 3, 24))
    assert layers["wide"]["output_shape"] == list(wide.shape[1:])  # (H, W, C) as torch has it

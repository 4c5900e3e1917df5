"""The spec language's semantics: scopes, names, blocks, repeats, variants, notation, imports.

Expected shapes here are worked out by hand from PyTorch's arithmetic (comments show it);
expected counts from the layer formulas (weights = out * in/groups * k * k, plus bias).
"""

from __future__ import annotations

import pytest

import archc
from archc.diagnostics import SpecError

RESIDUAL = """\
network: tiny
input: [3, 32, 32]
params: {shortcut: true}
blocks:
  basic:
    params: {planes: ~, stride: 1}
    layers:
      - {name: conv1, type: conv, out: planes, kernel: 3, stride: stride, padding: 1, bias: false}
      - {name: bn1, type: batchnorm}
      - relu
      - {name: conv2, type: conv, out: planes, kernel: 3, padding: 1, bias: false}
      - {name: bn2, type: batchnorm}
      - name: downsample
        inputs: input
        when: shortcut and (stride != 1 or in_channels != planes)
        layers:
          - {type: conv, out: planes, kernel: 1, stride: stride, bias: false}
          - batchnorm
      - {name: add, type: add, inputs: [bn2, downsample], when: shortcut}
      - {name: out, type: relu}
variants:
  residual: {}
  plain: {params: {shortcut: false}}
layers:
  - {name: stem, type: conv, out: 16, kernel: 3, padding: 1}
  - {name: stage, type: basic, planes: 32, repeat: 3, overrides: {0: {stride: 2}}}
  - {name: pool, type: adaptive_avgpool}
  - flatten
  - {name: fc, type: linear, out: 10}
"""


def layers_of(path, variant=None):
    return {row["name"]: row for row in archc.load(path, variant).summary()["layers"]}


def test_repeat_names_overrides_and_projection_only_where_shape_changes(write_spec):
    rows = layers_of(write_spec(RESIDUAL), "residual")
    # Copy 0 strides by 2: 32x32 -> 16x16 and 16 -> 32 channels, so it gets a projection.
    assert rows["stage.0.conv1"]["output_shape"] == [32, 16, 16]
    assert rows["stage.0.downsample.0"]["output_shape"] == [32, 16, 16]
    assert rows["stage.0.downsample.0"]["params"] == 32 * 16 * 1 * 1
    assert rows["stage.0.add"]["inputs"] == ["stage.0.bn2", "stage.0.downsample.1"]
    # Copies 1 and 2 keep the shape: no projection; the add reads the block's input.
    assert "stage.1.downsample.0" not in rows
    assert rows["stage.1.add"]["inputs"] == ["stage.1.bn2", "stage.0.out"]
    assert rows["fc"]["output_shape"] == [10]


def test_left_out_entries_stand_for_their_input(write_spec):
    rows = layers_of(write_spec(RESIDUAL), "plain")
    assert not any(name.endswith((".add", "downsample.0")) for name in rows)
    assert rows["stage.0.out"]["inputs"] == ["stage.0.bn2"]


def test_sequential_numbering_counts_parameter_free_layers(write_spec):
    path = write_spec("""\
network: vggish
input: [3, 32, 32]
notation: {conv: [relu]}
layers:
  - {name: features, layers: [conv3-8, conv3-8, maxpool, conv1-16, maxpool]}
  - flatten
  - {name: classifier, layers: [FC-20, relu, dropout, FC-10]}
""")
    rows = layers_of(path)
    types = {name: row["type"] for name, row in rows.items()}
    assert types == {
        "features.0": "conv",
        "features.1": "relu",
        "features.2": "conv",
        "features.3": "relu",
        "features.4": "maxpool",
        "features.5": "conv",
        "features.6": "relu",
        "features.7": "maxpool",
        "flatten": "flatten",
        "classifier.0": "linear",
        "classifier.1": "relu",
        "classifier.2": "dropout",
        "classifier.3": "linear",
    }
    # conv3 keeps 32x32 (pad 1), 2x2/2 pools halve: 32 -> 16 -> 8; conv1-16 has no padding.
    assert rows["features.5"]["output_shape"] == [16, 16, 16]
    assert rows["features.5"]["params"] == 16 * 8 + 16
    assert rows["classifier.0"]["params"] == 16 * 8 * 8 * 20 + 20


def test_params_lists_and_dollar_splicing(write_spec):
    path = write_spec("""\
network: spliced
input: [1, 28, 28]
params: {body: [], width: 4}
variants:
  a: {params: {body: [{type: conv, out: 4, kernel: 5}, relu]}}
  b: {params: {body: [{type: conv, out: width * 2, kernel: 3}]}}
layers:
  - $body
  - flatten
  - {name: fc, type: linear, out: 10}
""")
    a = layers_of(path, "a")
    b = layers_of(path, "b")
    assert a["conv"]["output_shape"] == [4, 24, 24]  # 28 - 5 + 1
    assert b["conv"]["output_shape"] == [8, 26, 26]  # width * 2 channels, 28 - 3 + 1


def test_imports_and_extends(tmp_path):
    (tmp_path / "blocks").mkdir()
    (tmp_path / "blocks" / "sep.yaml").write_text("""\
blocks:
  separable:
    params: {out: ~}
    layers:
      - {name: depthwise, type: conv, out: in_channels, kernel: 3, padding: 1,
         groups: in_channels, bias: false}
      - {name: pointwise, type: conv, out: out, kernel: 1, bias: false}
""")
    spec = tmp_path / "net.yaml"
    spec.write_text("""\
network: sep
input: [8, 10, 10]
imports: [blocks/sep.yaml]
params: {out: 16}
variants:
  base: {}
  wide: {extends: base, params: {out: 64}, input: [8, 12, 12]}
layers:
  - {name: block, type: separable, out: out}
""")
    rows = layers_of(spec, "wide")
    # Depthwise: 8 filters of 1x3x3; pointwise: 64 filters of 8x1x1 (Xception's separable conv).
    assert rows["block.depthwise"]["params"] == 8 * 9
    assert rows["block.pointwise"]["params"] == 64 * 8
    assert rows["block.pointwise"]["output_shape"] == [64, 12, 12]


def test_an_imported_file_shares_its_functions(tmp_path):
    (tmp_path / "shared.yaml").write_text("""\
functions:
  make_divisible:
    params: {v: ~, divisor: 8}
    let:
      rounded: max(divisor, int(v + divisor / 2) // divisor * divisor)
    return: "rounded + divisor if rounded < 0.9 * v else rounded"
""")
    spec = tmp_path / "net.yaml"
    spec.write_text("""\
network: shared_functions
input: [3, 8, 8]
imports: [shared.yaml]
params: {width: 0.25}
layers:
  - {name: narrow, type: conv, out: make_divisible(32 * width), kernel: 1}
  - {name: wide, type: conv, out: "make_divisible(44, 16)", kernel: 1}
""")
    rows = layers_of(spec, None)
    # torchvision's _make_divisible(8.0, 8) == 8 and _make_divisible(44, 16) == 48.
    assert rows["narrow"]["output_shape"] == [8, 8, 8]
    assert rows["wide"]["output_shape"] == [48, 8, 8]


def test_a_function_defined_in_the_spec_and_an_import_is_located(tmp_path):
    (tmp_path / "shared.yaml").write_text(
        "functions:\n  half:\n    params: {v: ~}\n    return: v // 2\n"
    )
    spec = tmp_path / "net.yaml"
    spec.write_text("""\
network: twice
input: [3, 8, 8]
imports: [shared.yaml]
functions:
  half:
    params: {v: ~}
    return: v / 2
layers:
  - {type: conv, out: half(8), kernel: 1}
""")
    with pytest.raises(SpecError) as info:
        archc.load(spec)
    (problem,) = info.value.diagnostics
    assert problem.code == "E-FUNCTION-DUPLICATE"
    text = problem.format()  # at the import's copy, naming the spec's
    assert "shared.yaml:2:3: error" in text and "also at" in text and "net.yaml:5:3" in text


def test_all_errors_reported_at_once(write_spec):
    path = write_spec("""\
network: broken
input: [3, 32, 32]
layers:
  - {type: conv, out: 8, kernal: 3}
  - {type: linear, out: 10}
  - {type: relu6x}
  - {type: add, inputs: [nowhere, input]}
""")
    with pytest.raises(SpecError) as info:
        archc.load(path)
    found = {(d.code, d.span.line, d.span.col) for d in info.value.diagnostics}
    assert ("E-UNKNOWN-FIELD", 4, 26) in found
    assert ("E-UNKNOWN-KIND", 6, 12) in found
    assert ("E-NAME-UNDEFINED", 7, 26) in found
    messages = "\n".join(d.format() for d in info.value.diagnostics)
    assert "did you mean 'kernel'?" in messages
    assert "did you mean 'relu6'?" in messages


def test_shape_errors_name_the_layer_and_shapes(write_spec):
    path = write_spec("""\
network: mismatch
input: [3, 32, 32]
layers:
  - {name: a, type: conv, out: 8, kernel: 3, padding: 1}
  - {name: b, type: conv, out: 16, kernel: 3, stride: 2, padding: 1, inputs: input}
  - {name: sum, type: add, inputs: [a, b]}
""")
    with pytest.raises(SpecError) as info:
        archc.load(path)
    (diagnostic,) = info.value.diagnostics
    assert diagnostic.code == "E-SHAPE-ADD"
    assert (diagnostic.span.line, diagnostic.span.col) == (6, 36)
    assert diagnostic.message == "add 'sum': inputs 32x32x8 and 16x16x16 differ"


INIT_SPEC = """\
network: inits
input: [3, 8, 8]
init: xavier
blocks:
  pair:
    params: {}
    layers:
      - {name: a, type: conv, out: 4, kernel: 3, padding: 1}
      - {name: b, type: conv, out: 4, kernel: 3, padding: 1, init: normal}
layers:
  - {name: first, type: pair, init: he}
  - {name: second, type: pair}
  - {name: stack, layers: [conv1-4, conv1-4], init: zeros}
"""


def test_init_on_containers_applies_inside(write_spec):
    graph = archc.load(write_spec(INIT_SPEC)).graph
    inits = {n.path: n.init for n in graph.layers()}
    # The layer's own init wins, then the nearest container's; None means the spec's.
    assert inits == {
        "first.a": "he",
        "first.b": "normal",
        "second.a": None,
        "second.b": "normal",
        "stack.0": "zeros",
        "stack.1": "zeros",
    }


def test_unknown_init_on_a_container_is_reported_once_at_its_key(write_spec):
    path = write_spec(INIT_SPEC.replace("init: he}", "init: hee}"))
    with pytest.raises(SpecError) as info:
        archc.load(path)
    (diagnostic,) = info.value.diagnostics
    assert (diagnostic.code, diagnostic.span.line, diagnostic.span.col) == ("E-INIT", 11, 37)
    assert "did you mean 'he'?" in diagnostic.format()

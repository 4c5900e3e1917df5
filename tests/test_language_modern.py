"""The language the modern families need: numbered blocks, named copies, params as
expressions, functions in the spec.

References are outside archc: torchvision's key layout (tests/reference/torchvision),
torchvision's `_make_divisible` (copied below as it is published), and torch itself.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import archc
from archc.diagnostics import Reporter, SpecError
from archc.spec.functions import load_functions
from archc.spec.loader import load_spec

REFERENCE = Path(__file__).parent / "reference" / "torchvision"


def _make_divisible(v: float, divisor: int, min_value: int | None = None) -> int:
    """torchvision.models._utils._make_divisible, as published."""
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


MAKE_DIVISIBLE = """\
functions:
  make_divisible:
    description: torchvision's _make_divisible
    params: {v: ~, divisor: 8, min_value: 0}
    let:
      rounded: "max(min_value or divisor, int(v + divisor / 2) // divisor * divisor)"
    return: "rounded + divisor if rounded < 0.9 * v else rounded"
"""


def errors(path, variant=None) -> list[tuple[str, int, str]]:
    """(code, line, message) of every diagnostic of loading the spec."""
    with pytest.raises(SpecError) as info:
        archc.load(path, variant)
    return [(d.code, d.span.line, d.message) for d in info.value.diagnostics]


def keys(path, variant=None) -> list[str]:
    return [key for key, _, _ in archc.load(path, variant).summary()["state_dict"]]


# --------------------------------------------------------------------------- functions


@given(st.floats(1, 4000, allow_nan=False), st.sampled_from([1, 4, 8, 16]))
def test_make_divisible_written_in_a_spec_equals_torchvision(tmp_path_factory, v, divisor):
    path = tmp_path_factory.mktemp("fn") / "spec.yaml"
    path.write_text(
        f"network: n\ninput: [3, 8, 8]\nparams: {{width: 'make_divisible({v!r}, {divisor})'}}\n"
        + MAKE_DIVISIBLE
        + "layers: [{type: conv, out: width, kernel: 1}]\n"
    )
    assert archc.load(path).summary()["output_shape"][0] == _make_divisible(v, divisor)


def test_function_mistakes_are_located(write_spec):
    path = write_spec(
        """\
network: n
input: [3, 8, 8]
functions:
  twice: {params: {x: ~}, return: "x *"}
  max: {params: {x: ~}, return: x}
  forever: {params: {x: ~}, return: "forever(x)"}
  half: {params: {x: ~}, return: x // 2}
params: {a: "half(1, 2)", b: "forever(1)"}
layers: [{type: conv, out: 4, kernel: 1}]
"""
    )
    found = errors(path)
    assert ("E-EXPR", 4, found[0][2]) in found and "twice" in found[0][2]
    assert any(c == "E-NAME-INVALID" and line == 5 and "built-in" in m for c, line, m in found)
    assert any(c == "E-EXPR" and line == 8 and "takes 1 argument" in m for c, line, m in found)
    assert any(c == "E-LIMIT-EXPR" and line == 8 and "nest" in m for c, line, m in found)


# --------------------------------------------------------------------------- top-level params


def test_top_level_params_are_expressions_in_any_order(write_spec):
    path = write_spec(
        """\
network: n
input: [3, 8, 8]
params: {width: 2 * base, base: 8, act: relu6, widths: [1, 2]}
variants:
  default: {}
  wide: {params: {base: 3 * 8}}
layers:
  - {type: conv, out: width, kernel: 1}
  - {type: $act}
"""
    )
    assert archc.load(path).summary()["output_shape"][0] == 16
    assert archc.load(path, "wide").summary()["output_shape"][0] == 48
    assert archc.load(path).summary()["layers"][1]["type"] == "relu6"


def test_a_param_that_cannot_be_evaluated_says_why(write_spec):
    path = write_spec(
        """\
network: n
input: [3, 8, 8]
params: {width: 2 * bse, base: 8, a: b + 1, b: a + 1}
layers: [{type: conv, out: width, kernel: 1}]
"""
    )
    with pytest.raises(SpecError) as info:
        archc.load(path)
    found = {d.code: d for d in info.value.diagnostics}
    assert "did you mean 'base'" in found["E-EXPR-NAME"].message
    assert any("params are expressions" in note for note in found["E-EXPR-NAME"].notes)
    assert "a -> b -> a" in found["E-PARAM-CYCLE"].message
    assert len(info.value.diagnostics) == 2  # nothing cascades to the conv


# --------------------------------------------------------------------------- names of copies


REGNET_LIKE = """\
network: n
input: [3, 16, 16]
blocks:
  unit:
    params: {width: ~}
    layers: [{name: proj, type: conv, out: width, kernel: 1}]
layers:
  - name: trunk_output
    layers:
      - {name: block1, type: unit, width: 4, repeat: 2, names: "block1-{index}"}
  - {name: denseblock1, type: unit, width: 4, repeat: 2, names: "denselayer{index + 1}"}
"""


def test_named_copies_follow_torchvision_regnet_and_densenet(write_spec):
    ours = keys(write_spec(REGNET_LIKE))
    assert ours[:2] == [
        "trunk_output.block1.block1-0.proj.weight",
        "trunk_output.block1.block1-0.proj.bias",
    ]
    assert "denseblock1.denselayer2.proj.weight" in ours
    # torchvision's own layout of the same names
    regnet = json.loads((REFERENCE / "regnet_y_400mf.json").read_text())["state_dict"]
    assert any(key.startswith("trunk_output.block1.block1-0.proj.") for key, _, _ in regnet)


@pytest.mark.parametrize(
    ("entry", "code"),
    [
        ('{type: relu, names: "r{index}"}', "E-UNKNOWN-FIELD"),
        ('{type: relu, repeat: 2, names: "r {index}"}', "E-NAME-INVALID"),
        ('{type: relu, repeat: 2, names: "r{index"}', "E-TYPE"),
        ('{type: relu, repeat: 2, names: "r"}', "E-NAME-DUPLICATE"),
        ('{type: relu, repeat: 2, names: "r{[index]}"}', "E-TYPE"),
    ],
)
def test_copy_name_mistakes(write_spec, entry, code):
    path = write_spec(f"network: n\ninput: [3, 8, 8]\nlayers:\n  - {entry}\n")
    assert [c for c, _, _ in errors(path)] == [code]


# --------------------------------------------------------------------------- numbered blocks


CONV_NORM_ACT = """\
network: n
input: [3, 16, 16]
blocks:
  conv_norm_act:
    sequential: true
    params: {out: ~, kernel: 3, stride: 1, act: relu6}
    layers:
      - {type: conv, out: out, kernel: kernel, stride: stride, padding: (kernel - 1) // 2,
         bias: false}
      - batchnorm
      - {type: $act}
layers:
  - name: features
    layers:
      - {type: conv_norm_act, out: 8, stride: 2}
      - {type: conv_norm_act, out: 16, kernel: 1, act: hardswish}
  - {name: head, type: conv_norm_act, out: 4}
"""


def test_a_numbered_block_is_an_nn_sequential_wherever_it_is_used(write_spec):
    """torchvision's Conv2dNormActivation: `features.0.0`, `features.0.1`, `head.1`."""
    torch = pytest.importorskip("torch")
    nn = torch.nn
    graph_path = write_spec(CONV_NORM_ACT)

    def unit(c_in, c_out, k, s, act):
        return nn.Sequential(
            nn.Conv2d(c_in, c_out, k, s, (k - 1) // 2, bias=False), nn.BatchNorm2d(c_out), act
        )

    reference = nn.Module()
    reference.features = nn.Sequential(
        unit(3, 8, 3, 2, nn.ReLU6()), unit(8, 16, 1, 1, nn.Hardswish())
    )
    reference.head = unit(16, 4, 3, 1, nn.ReLU6())
    theirs = [(k, list(v.shape)) for k, v in reference.state_dict().items()]
    ours = [(k, s) for k, s, _ in archc.load(graph_path).summary()["state_dict"]]
    assert ours == theirs
    model = archc.compile(graph_path)
    assert [(k, list(v.shape)) for k, v in model.state_dict().items()] == theirs
    assert isinstance(model.head, nn.Sequential)


def test_functions_load_only_from_the_spec_that_defines_them(write_spec):
    reporter = Reporter()
    spec = load_spec(
        write_spec("network: n\ninput: [3, 8, 8]\n" + MAKE_DIVISIBLE + "layers: [relu]\n"), reporter
    )
    assert list(load_functions(spec.raw, reporter)) == ["make_divisible"]
    assert not reporter.diagnostics


# --------------------------------------------------------------------------- dead code

MOBILENET_V2_ADD_FIRST = """\
network: n
input: [16, 8, 8]
blocks:
  inverted_residual:
    params: {out: ~, stride: 1}
    layers:
      - name: conv
        layers:
          - {type: conv, out: 4 * in_channels, kernel: 1, bias: false}
          - batchnorm
          - relu6
          - {type: conv, out: out, kernel: 1, stride: stride, bias: false}
          - batchnorm
      - {name: add, type: add, inputs: [input, conv], when: stride == 1 and in_channels == out}
layers:
  - {type: inverted_residual, out: 16}
  - {type: inverted_residual, out: 24, stride: 2}
  - {type: adaptive_avgpool}
  - flatten
  - {name: fc, type: linear, out: 10}
"""


def test_the_add_order_mistake_is_impossible_to_miss(write_spec, capsys):
    """The issue's MobileNetV2: `inputs: [input, conv]` on an add that `when:` leaves out
    makes the block an identity; every dead layer is named, and the summary says so."""
    from archc.cli import main

    path = write_spec(MOBILENET_V2_ADD_FIRST)
    reporter = Reporter()
    graph = archc.pipeline.analyse(load_spec(path, reporter), None, reporter)
    (warning,) = reporter.warnings
    assert warning.code == "W-DEAD-LAYER" and warning.span.line == 7  # the branch the add skips
    for layer in ("conv.0", "conv.1", "conv.2", "conv.3", "conv.4"):
        assert f"'{layer}'" in warning.message
    assert "inverted_residual 'inverted_residual_1'" in warning.message
    assert any("stands for its first input" in note for note in warning.notes)
    # The dead layers: 16->64 and 64->24 1x1 convs (no bias), two batch norms of 64 and 24.
    dead = [n for n in graph.layers() if n.id in graph.dead]
    assert sum(n.counts.params for n in dead) == 16 * 64 + 2 * 64 + 64 * 24 + 2 * 24
    summary = archc.load(path).summary()
    assert summary["totals"]["dead_layers"] == 5
    assert [row["name"] for row in summary["layers"] if row["dead"]] == [
        f"inverted_residual_1.conv.{i}" for i in range(5)
    ]
    with pytest.raises(SystemExit) as exit_info:
        main(["check", str(path), "--strict"], standalone_mode=False)
    assert exit_info.value.code == 1
    main(["check", str(path)], standalone_mode=False)  # a warning alone passes
    assert "W-DEAD-LAYER" in capsys.readouterr().err


def test_the_right_add_order_leaves_nothing_dead(write_spec):
    path = write_spec(MOBILENET_V2_ADD_FIRST.replace("[input, conv]", "[conv, input]"))
    assert archc.load(path).summary()["totals"]["dead_layers"] == 0


def test_check_looks_at_every_variant_unless_one_is_named(write_spec, capsys):
    from archc.cli import main

    path = write_spec(
        """\
network: n
input: [3, 8, 8]
params: {width: 4}
variants:
  a: {}
  b: {params: {width: "2 * widht"}}
layers: [{type: conv, out: width, kernel: 1}]
"""
    )
    with pytest.raises(SystemExit):
        main(["check", str(path)], standalone_mode=False)
    err = capsys.readouterr().err
    assert "E-EXPR-NAME" in err and "in variant 'b'" in err
    main(["check", str(path), "--variant", "a"], standalone_mode=False)
    assert "ok: 1 network checked" in capsys.readouterr().err


def test_the_graph_draws_a_gate_and_its_broadcast_input(write_spec):
    """The SE gate is coloured as a gate, and the Cx1x1 volume it broadcasts arrives on an
    edge of its own, labelled with that volume."""
    from archc.backends.graphviz_dot import GATE_COLOUR, to_dot

    graph = archc.load(ROOT_EXAMPLE).graph
    dot = to_dot(graph)
    edge = next(
        line for line in dot.splitlines() if '"features.0.block.2.scale_activation" ->' in line
    )
    assert 'class="gate"' in edge and "gate 1x1x72" in edge and GATE_COLOUR in edge
    main_input = next(
        line
        for line in dot.splitlines()
        if '-> "features.0.block.2.scale"' in line and "scale_activation" not in line
    )
    assert 'class="gate"' not in main_input
    assert "gate, broadcast" in dot.splitlines()[1]


ROOT_EXAMPLE = Path(__file__).parent.parent / "docs" / "examples" / "inverted_residual_se.yaml"


def test_copies_of_a_block_explain_their_dead_layers_too(write_spec):
    """Equal block instances are copied from the first (passes/block_memo.py); the copies
    point at the left-out merge just as the first does."""
    path = write_spec(
        """\
network: n
input: [16, 8, 8]
blocks:
  res:
    params: {out: ~, stride: 1}
    layers:
      - {name: conv, type: conv, out: out, kernel: 3, padding: 1, stride: stride}
      - {name: add, type: add, inputs: [input, conv], when: stride == 1 and in_channels == out}
layers:
  - {type: res, out: 32, stride: 2}
  - {name: stage, type: res, out: 32, repeat: 3, overrides: {0: {stride: 2}}}
  - {type: conv, out: 4, kernel: 1}
"""
    )
    reporter = Reporter()
    archc.pipeline.analyse(load_spec(path, reporter), None, reporter)
    warnings = reporter.warnings
    assert [w.message.split(":")[0] for w in warnings] == [
        "res 'res'",
        "res 'stage.0'",
        "res 'stage.1'",
        "res 'stage.2'",
    ]
    assert all("stands for its first input" in w.notes[0] for w in warnings)

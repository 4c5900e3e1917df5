"""Unusual graphs through the generator: each must build, run on `meta` with the analysed
volumes and counts, and lint clean (the zoo covers the usual ones)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import archc
from archc.backends.pytorch import generate_source
from tests.conftest import ROOT
from tests.test_pytorch_zoo import check_against_analysis

pytest.importorskip("torch")

SPECS = {
    # A Sequential whose entries branch: no nn.Sequential, a class with numbered children.
    "branching_sequential": """\
network: t
input: [4, 8, 8]
layers:
  - name: body
    layers:
      - {type: conv, out: 4, kernel: 3, padding: 1}
      - {name: act, type: relu}
      - {type: add, inputs: [input, act]}
  - flatten
  - {type: linear, out: 2}
""",
    # A branch nobody reads (an auxiliary head): computed, not assigned.
    "dead_branch": """\
network: t
input: [4, 8, 8]
layers:
  - {name: conv, type: conv, out: 4, kernel: 3, padding: 1}
  - {name: aux, type: conv, out: 2, kernel: 1, inputs: conv}
  - {name: head, type: conv, out: 3, kernel: 1, inputs: conv}
""",
    # Instances of one block that differ in structure, not just numbers: two classes.
    "diverging_instances": """\
network: t
input: [4, 8, 8]
blocks:
  unit:
    params: {wide: false}
    layers:
      - {name: conv, type: conv, out: 4, kernel: 3, padding: 1}
      - {name: extra, type: conv, out: 4, kernel: 1, when: wide}
      - {name: pool, type: maxpool, kernel: 2, when: not wide}
layers:
  - {name: a, type: unit}
  - {name: b, type: unit, wide: true}
""",
    # `output:` names an earlier entry; identity aliasing the input keeps ReLU out of place.
    "block_output_and_views": """\
network: t
input: [4, 8, 8]
blocks:
  pick:
    output: first
    layers:
      - {name: first, type: conv, out: 6, kernel: 1}
      - {name: second, type: conv, out: 6, kernel: 1}
layers:
  - {name: same, type: identity}
  - {name: act, type: relu}
  - {name: p, type: pick}
  - {name: q, type: pick}
  - {type: adaptive_avgpool}
  - flatten
  - {name: fc, type: linear, out: 3, init: xavier, trainable: false}
""",
    # Long names: a wrapped constructor signature, a long optional-child line, long sums.
    "long_names": """\
network: t
input: [4, 8, 8]
blocks:
  wide_block_with_a_long_name:
    params: {first_width_parameter: ~, second_width_parameter: ~, third_width_parameter: ~}
    layers:
      - {name: first_convolution_with_a_long_name, type: conv, out: first_width_parameter,
         kernel: 1}
      - {name: second_convolution_with_a_long_name, type: conv, out: second_width_parameter,
         kernel: 1}
      - {name: projection_shortcut_with_a_very_long_name, type: conv, kernel: 1,
         out: second_width_parameter, inputs: input,
         when: in_channels != second_width_parameter}
      - {name: third_convolution_with_a_long_name, type: conv, out: second_width_parameter,
         kernel: 1, inputs: input}
      - {type: add, inputs: [second_convolution_with_a_long_name,
         projection_shortcut_with_a_very_long_name, third_convolution_with_a_long_name]}
      - {name: last, type: conv, out: third_width_parameter, kernel: 1}
layers:
  - {type: wide_block_with_a_long_name, first_width_parameter: 8, second_width_parameter: 8,
     third_width_parameter: 4}
  - {type: wide_block_with_a_long_name, first_width_parameter: 2, second_width_parameter: 4,
     third_width_parameter: 6}
""",
    # Non-square kernels, a `same` padding, grouped and dilated convolutions, LRN, softmax.
    "odd_layers": """\
network: t
input: [8, 17, 17]
layers:
  - {type: conv, out: 8, kernel: [1, 7], padding: [0, 3]}
  - {type: conv, out: 8, kernel: 3, padding: same, groups: 4, dilation: 2}
  - {type: lrn, size: 3}
  - {type: avgpool, kernel: 3, stride: 2, padding: 1, count_include_pad: false}
  - flatten
  - {type: linear, out: 5}
  - softmax
""",
}


@pytest.mark.parametrize("name", list(SPECS))
def test_unusual_graph_builds_runs_and_lints(name, write_spec, tmp_path):
    net = archc.load(write_spec(SPECS[name], f"{name}.yaml"))
    check_against_analysis(net)
    source = generate_source(net.graph)
    if name == "diverging_instances":
        assert "class Unit(nn.Module):" in source and "class Unit2(nn.Module):" in source
    if name == "dead_branch":
        assert "        self.aux(x)" in source or "        self.aux(conv)" in source
    if name == "block_output_and_views":
        assert "self.act = nn.ReLU()\n" in source
    path = tmp_path / "model.py"
    path.write_text(source)
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent))
    if ruff:
        config = ["--config", str(ROOT / "pyproject.toml")]
        for args in (["check"], ["format", "--check", "--diff"]):
            done = subprocess.run([ruff, *args, *config, str(path)], capture_output=True, text=True)
            assert done.returncode == 0, done.stdout + source

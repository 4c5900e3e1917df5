"""Diagnostics as a new user meets them (issue 18): generated names, every mistake in one
run, `check` on a folder, the source line under each diagnostic, `archc explain`."""

from __future__ import annotations

import textwrap

from click.testing import CliRunner

from archc.cli import main


def _check(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["check", *args])
    return result.exit_code, result.output


def _heads(output: str) -> list[str]:
    """The first lines of the diagnostics (`FILE:LINE:COL: severity[CODE]: message`)."""
    return [line for line in output.splitlines() if "]: " in line and not line.startswith(" ")]


def test_a_generated_name_cannot_be_referenced_and_the_error_says_why(write_spec):
    """`inputs: [relu]` on an unnamed ReLU said only "not defined", though the summary
    shows the name `relu`; now the error says it is generated and how to name the layer."""
    path = write_spec(
        textwrap.dedent(
            """\
            network: t
            input: [3, 32, 32]
            layers:
              - {type: conv, out: 8, kernel: 3, padding: 1}
              - relu
              - {type: conv, out: 8, kernel: 3, padding: 1}
              - {type: add, inputs: [relu, conv_1]}
            """
        )
    )
    status, output = _check(str(path))
    assert status == 1
    head, other = _heads(output)
    assert head.startswith(f"{path}:7:26: error[E-NAME-UNDEFINED]: ")
    assert "input 'relu' is a generated name (of the unnamed entry at line 5)" in head
    assert "generated names can't be referenced" in head
    assert "note: name that entry (`name: my_relu`) and write `inputs: [my_relu]`" in output
    assert other.startswith(f"{path}:7:32: error[E-NAME-UNDEFINED]: ")
    assert "input 'conv_1' is a generated name (of the unnamed entry at line 6)" in other


_BLOCKS = """\
network: t
input: [3, 32, 32]
blocks:
  basic:
    params: {planes: ~, stride: 1}
    layers:
      - {name: conv1, type: conv, out: planes, kernel: 3, stride: stride, padding: 1}
      - {name: bn1, type: batchnorm, %(bn)s}
      - relu
      - {name: conv2, type: conv, out: planes, kernel: 3, padding: 1}
      - name: shortcut
        inputs: input
        when: stride != 1 or in_channels != planes
        layers: [{type: conv, out: planes, kernel: 1, stride: stride}, %(short)s]
      - {name: add, type: add, inputs: [conv2, shortcut]}
      - relu
layers:
  - {name: stem, type: %(stem)s, out: 16, kernel: 3, padding: 1}
  - batchnorm
  - {name: stage1, type: basic, planes: 16}
  - {name: stage2, type: basic, planes: 32, stride: 2}
  - {name: stage3, type: basic, planes: 64, stride: 2, repeat: 2}
  - {type: adaptive_avgpool}
  - flatten
  - {type: linear, out: 10}
"""


def test_a_typo_in_the_stem_does_not_hide_one_inside_a_block(write_spec):
    """The stem's unknown kind left every later block unexpanded, so a misspelled field
    inside the block surfaced only on the next run; now both come in one run, once each."""
    path = write_spec(_BLOCKS % {"stem": "cnv", "bn": "epss: 0.1", "short": "batchnrm"})
    status, output = _check(str(path))
    assert status == 1
    heads = _heads(output)
    assert [h.split(": ")[1] for h in heads] == [
        "error[E-UNKNOWN-FIELD]",  # bn1's epss, line 8
        "error[E-UNKNOWN-KIND]",  # the shortcut's batchnrm, line 14 (read as a layer name)
        "error[E-UNKNOWN-KIND]",  # the stem's cnv, line 18
    ], output
    assert heads[0].startswith(f"{path}:8:") and "'epss'" in heads[0]
    assert heads[1].startswith(f"{path}:14:") and "'batchnrm'" in heads[1]
    assert heads[2].startswith(f"{path}:18:") and "'cnv'" in heads[2]


def test_a_typo_before_blocks_brings_no_follow_on_errors(write_spec):
    """Past a failed entry the volume is unknown: nothing that depends on it is reported
    (the blocks' `in_channels` conditions, their adds), so one mistake gives one error."""
    path = write_spec(_BLOCKS % {"stem": "cnv", "bn": "eps: 0.1", "short": "batchnorm"})
    status, output = _check(str(path))
    assert status == 1
    assert len(_heads(output)) == 1 and "'cnv'" in output
    fixed = write_spec(_BLOCKS % {"stem": "conv", "bn": "eps: 0.1", "short": "batchnorm"})
    assert _check(str(fixed)) == (0, "ok: 1 network checked\n")


def test_a_forward_reference_does_not_hide_a_later_shape_mismatch(write_spec):
    """`sum` reads `b`, written after it: an error, after which every later volume was
    unknown and the mismatched add below went unreported until the next run. An add's
    volume is that of its known input whatever the other was, so the check goes on."""
    path = write_spec(
        textwrap.dedent(
            """\
            network: t
            input: [3, 32, 32]
            layers:
              - {name: a, type: conv, out: 16, kernel: 3, padding: 1}
              - {name: sum, type: add, inputs: [a, b]}
              - {name: b, type: conv, inputs: a, out: 16, kernel: 3, padding: 1}
              - relu
              - {name: c, type: conv, out: 32, kernel: 3, stride: 2, padding: 1}
              - {name: merge, type: add, inputs: [c, sum]}
              - {name: cat, type: concat, inputs: [c, d]}
              - {name: d, type: relu, inputs: c}
              - {type: conv, out: 8, kernel: 3}
            """
        )
    )
    status, output = _check(str(path))
    assert status == 1
    heads = _heads(output)
    assert [h.split(": ")[1] for h in heads] == [
        "error[E-CYCLE]",
        "error[E-SHAPE-ADD]",
        "error[E-CYCLE]",
    ], output
    # The conv at 16x16 vs the add at 32x32 (a 3x3 conv with padding keeps 32x32).
    assert "add 'merge': inputs 16x16x32 and 32x32x16 differ" in heads[1]
    # A concat's width depends on the input it lacks: its output stays unknown, so the
    # conv after it is not checked against a guess.
    assert "input 'd' is defined later" in heads[2]


def test_check_takes_a_folder_as_build_does(tmp_path):
    """`archc check specs/` was refused ("is a directory"); it checks every *.yaml in it,
    and one spec's error no longer stops the next spec from being checked."""
    from tests.conftest import SPECS

    status, output = _check(str(SPECS))
    assert status == 0, output
    from archc.diagnostics import Reporter
    from archc.spec.loader import load_spec

    # Every spec in the folder, each variant of it (as `check` checks them).
    variants = sum(
        len(load_spec(path, Reporter()).variant_names()) for path in SPECS.glob("*.yaml")
    )
    assert output.endswith(f"ok: {variants} networks checked\n")
    assert " error[" not in output
    (tmp_path / "a.yaml").write_text("network: a\ninput: [3, 8, 8]\nlayers: [cnv]\n")
    (tmp_path / "b.yaml").write_text("network: b\ninput: [3, 8, 8]\nlayers: [rlu]\n")
    status, output = _check(str(tmp_path))
    assert status == 1
    assert [h.split(":")[0] for h in _heads(output)] == [
        str(tmp_path / "a.yaml"),
        str(tmp_path / "b.yaml"),
    ]
    empty = tmp_path / "empty"
    empty.mkdir()
    result = CliRunner().invoke(main, ["check", str(empty)])
    assert result.exit_code == 2 and "holds no *.yaml spec" in result.output


def test_a_diagnostic_shows_its_source_line_and_a_caret(write_spec):
    """The CLI showed no source (the serve page did): now the line and a caret under the
    column follow the first line, whose format is the CONTRACT's, unchanged."""
    path = write_spec(
        "network: t\ninput: [3, 32, 32]\nlayers:\n"
        "  - {name: a, type: conv, out: 8, kernel: 3}\n"
        "  - {name: b, type: add, inputs: [a, input]}\n"
    )
    status, output = _check(str(path))
    assert status == 1
    lines = output.splitlines()
    head = lines[0]
    assert head.startswith(f"{path}:5:34: error[E-SHAPE-ADD]: ")
    assert lines[1] == "    5 |   - {name: b, type: add, inputs: [a, input]}"
    assert lines[2] == "      | " + " " * 33 + "^"  # under column 34: the inputs' list
    assert lines[3] == "    note: `archc explain E-SHAPE-ADD` explains this code"


def test_excerpts_are_safe_and_short(write_spec):
    """A hostile line (a terminal escape) is shown with '?' in its place, and a very long
    line as a window around the column, the caret still under it."""
    from archc.diagnostics import Span, excerpt

    text = "x: \x1b[31m" + "a" * 300 + "BAD" + "b" * 300 + "\n"
    line, caret = excerpt(Span("f.yaml", 1, 3 + 5 + 300 + 1), {"f.yaml": text})
    assert "\x1b" not in line and len(line) < 130
    assert line[caret.index("^") : caret.index("^") + 3] == "BAD"


def test_explain_prints_a_code_offline_as_errors_md_has_it():
    """`note: see docs/errors.md#...` meant nothing after a pip install; the note now
    names `archc explain CODE`, which reads the catalogue shipped inside the package."""
    import json
    import sys
    from importlib import resources

    from tests.conftest import ROOT

    sys.path.insert(0, str(ROOT / "docs" / "tools"))
    import gen_errors

    shipped = resources.files("archc").joinpath("errors.json").read_text("utf-8")
    assert shipped == gen_errors.catalog_json(), "run python docs/tools/make_docs.py"
    assert "errors.json" in (ROOT / "pyproject.toml").read_text()  # packaged
    result = CliRunner().invoke(main, ["explain", "e-shape-add"])
    assert result.exit_code == 0
    entry = json.loads(shipped)["E-SHAPE-ADD"]
    assert result.output.startswith(f"E-SHAPE-ADD: {entry['title']}\n")
    assert " ".join(result.output.split()).count(" ".join(entry["fix"].split())) == 1
    page = (ROOT / "docs" / "errors.md").read_text()
    assert all(code in page for code in json.loads(shipped))
    wrong = CliRunner().invoke(main, ["explain", "E-SHAPE-ADDD"])
    assert wrong.exit_code == 2 and "did you mean 'E-SHAPE-ADD'?" in wrong.output


def test_build_without_torch_writes_what_it_can(tmp_path):
    """Without torch, `archc build` said "internal error", exited 3 and wrote nothing;
    now it writes every output that needs no torch, names the extra to install for the
    rest, and exits 1 (an output asked for is missing), as docs/cli.md documents."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    spec = ROOT / "docs" / "examples" / "tiny_resnet.yaml"
    # `import torch` fails in this process, as in an install without archc[torch].
    program = (
        "import sys; sys.modules['torch'] = None; "
        "sys.argv = ['archc', 'build', sys.argv[1], '-o', sys.argv[2]]; "
        "from archc.cli import main; main()"
    )
    done = subprocess.run(
        [sys.executable, "-c", program, str(spec), str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    assert "internal error" not in done.stderr and "Traceback" not in done.stderr
    message = " ".join(done.stderr.split())
    assert "model.py" in message and "model.onnx not written: torch is not installed" in message
    assert "pip install 'archc[torch]'" in message
    folder = tmp_path / "tiny_resnet_default"
    written = {p.name for p in folder.iterdir()}
    assert {"summary.json", "summary.md", "graph.dot", "report.html"} <= written
    assert not written & {"model.py", "model.onnx", "__init__.py"}
    page = (ROOT / "docs" / "cli.md").read_text()
    assert "pip install 'archc[torch]'" in page and "exits 1 when an output" in page

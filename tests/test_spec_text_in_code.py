"""Text from the spec in generated Python: `doc:` comments where the layers are made, and
free text (descriptions, variant names) that cannot break the files it lands in."""

from __future__ import annotations

import ast
import io
import json
import shutil
import subprocess
import sys
import tokenize
from pathlib import Path

import pytest

import archc
from archc.backends.pytorch import generate_source, init_source
from archc.backends.train_script import render
from tests.conftest import ROOT

DOCUMENTED = """\
network: docnet
input: [3, 16, 16]
blocks:
  pair:
    params: {c: 8}
    layers:
      - {name: conv1, type: conv, out: $c, kernel: 3, padding: 1,
         doc: "Keeps the volume, so the shortcut needs no projection."}
      - {name: relu, type: relu}
      - {name: conv2, type: conv, out: $c, kernel: 3, padding: 1}
      - {name: add, type: add, inputs: [conv2, input], doc: The shortcut joins here.}
layers:
  - name: stem
    type: conv
    out: 8
    kernel: 3
    padding: 1
    doc: |
      The stem.

      A second paragraph, long enough that it has to be wrapped onto more than one comment line by
      the generator, which keeps every line of model.py within ruff's limit of 100 characters.
  - {name: stage, type: pair, repeat: 3, doc: Three residual pairs.}
  - name: head
    type: sequential
    layers:
      - {type: relu, doc: before pooling}
      - {type: adaptive_avgpool, size: 1}
  - {type: flatten, doc: One vector per example.}
  - {name: fc, type: linear, out: 10}
"""


def _comments_above(source: str, anchor: str) -> list[str]:
    """The comment lines (stripped) just above the first line that starts with `anchor`."""
    lines = [line.strip() for line in source.splitlines()]
    at = next(i for i, line in enumerate(lines) if line.startswith(anchor))
    start = at
    while lines[start - 1].startswith("#"):
        start -= 1
    return lines[start:at]


def test_doc_becomes_a_comment_above_the_layer_it_documents(write_spec):
    graph = archc.load(write_spec(DOCUMENTED)).graph
    source = generate_source(graph)
    assert _comments_above(source, "self.conv1 = ") == [
        "# Keeps the volume, so the shortcut needs no projection."
    ]
    stem = _comments_above(source, "self.stem = ")
    assert stem[:2] == ["# The stem.", "#"] and len(stem) > 3
    assert " ".join(line[2:] for line in stem[2:]) == (
        "A second paragraph, long enough that it has to be wrapped onto more than one comment "
        "line by the generator, which keeps every line of model.py within ruff's limit of 100 "
        "characters."
    )
    assert max(len(line) for line in source.splitlines()) <= 100
    # A repeated entry's doc stands once, above the Sequential of its copies.
    assert _comments_above(source, "self.stage = ") == ["# Three residual pairs."]
    assert source.count("# Three residual pairs.") == 1
    # Inside an nn.Sequential, above its item.
    assert _comments_above(source, "nn.ReLU(),") == ["# before pooling"]
    # A step with no module of its own is documented where forward runs it.
    assert _comments_above(source, "return out + x") == ["# The shortcut joins here."]
    assert _comments_above(source, "x = torch.flatten(x, 1)") == ["# One vector per example."]
    # Undocumented layers get no comment.
    assert _comments_above(source, "self.fc = ") == []
    assert _comments_above(source, "self.conv2 = ") == []
    ast.parse(source)


def test_copied_block_instances_keep_their_docs(write_spec):
    # Identical block instances are copied rather than re-expanded (passes/block_memo.py).
    graph = archc.load(write_spec(DOCUMENTED)).graph
    convs = [n for n in graph.nodes if n.path.endswith(".conv1")]
    assert [n.path for n in convs] == ["stage.0.conv1", "stage.1.conv1", "stage.2.conv1"]
    assert {n.doc for n in convs} == {"Keeps the volume, so the shortcut needs no projection."}
    assert [n.doc for n in graph.nodes if n.path.endswith(".conv2")] == [None] * 3


@pytest.mark.skipif(
    shutil.which("ruff", path=str(Path(sys.executable).parent)) is None,
    reason="ruff is not installed (dev extras)",
)
@pytest.mark.parametrize("spec", ["DOCUMENTED", "HOSTILE_TEXT"])
def test_generated_files_pass_ruff(write_spec, tmp_path, spec):
    """Documented layers and hostile free text alike give files ruff leaves as they are."""
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent))
    graph = archc.load(write_spec(globals()[spec])).graph
    config = ["--no-cache", "--config", str(ROOT / "pyproject.toml")]
    for name, text in (
        ("model.py", generate_source(graph)),
        ("__init__.py", init_source(graph)),
        ("train.py", render(graph)),
    ):
        path = tmp_path / name
        path.write_text(text)
        for command in (["check"], ["format", "--check", "--diff"]):
            done = subprocess.run(
                [ruff, *command, *config, str(path)], capture_output=True, text=True
            )
            assert done.returncode == 0, name + done.stdout + done.stderr


HOSTILE_TEXT = """\
network: textnet
description: "a NUL \\0, a bell \\a, a triple quote \\"\\"\\" and a backslash \\\\ end"
input: [3, 8, 8]
default: 'v\"\"\"w\\'
variants:
  'v\"\"\"w\\': {}
layers:
  - {name: c, type: conv, out: 4, kernel: 3, doc: "ends with a backslash \\\\"}
  - flatten
  - {name: fc, type: linear, out: 2}
"""


def test_free_text_cannot_break_the_generated_files(write_spec):
    graph = archc.load(write_spec(HOSTILE_TEXT)).graph
    assert graph.variant == 'v"""w\\'
    assert "\0" in graph.description
    for text in (generate_source(graph), init_source(graph), render(graph)):
        tree = ast.parse(text)  # a NUL byte or a stray quote would be a syntax error
        doc = ast.get_docstring(tree, clean=False)
        # The text reads as written, with control characters shown escaped.
        assert "v'''w\\" in doc
    model_doc = ast.get_docstring(ast.parse(generate_source(graph)), clean=False)
    assert "a NUL \\x00, a bell \\x07, a triple quote ''' and a backslash \\ end" in model_doc
    assert "# ends with a backslash \\" in generate_source(graph)


RUN_PAYLOAD = "__import__('os').system('touch CANARY')"


def code_tokens(source: str) -> str:
    """The source's tokens other than comments and strings, joined by spaces."""
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    kept = (t.string for t in tokens if t.type not in (tokenize.COMMENT, tokenize.STRING))
    return " ".join(kept)


def _statements_outside_classes(source: str) -> list[str]:
    """The kinds of the module's top-level statements other than its docstring."""
    tree = ast.parse(source)
    return [type(node).__name__ for node in tree.body[1:]]


def test_a_newline_in_a_file_name_stays_inside_its_comment(tmp_path):
    """Issue 14: the spec's file name (and an imported file's) stood raw in `# file:line`
    comments, so a newline in it started a line of code in model.py."""
    torch = pytest.importorskip("torch")
    evil = f"x\n{RUN_PAYLOAD}\n#"
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / f"blocks{evil}.yaml").write_text(
        "blocks:\n  unit:\n    params: {c: 4}\n    layers:\n"
        "      - {name: conv, type: conv, out: c, kernel: 3, padding: 1}\n"
        "      - {name: act, type: relu}\n"
    )
    spec = folder / f"net{evil}.yaml"
    spec.write_text(
        "network: net\ninput: [3, 8, 8]\n"
        f"imports: [{json.dumps(f'blocks{evil}.yaml')}]\n"
        "layers:\n  - {name: a, type: unit}\n  - {name: b, type: unit, c: 8}\n"
        "  - {name: pool, type: adaptive_avgpool}\n  - flatten\n"
        "  - {name: fc, type: linear, out: 2, init: he}\n"
    )
    graph = archc.load(spec).graph
    source = generate_source(graph)
    for text in (source, init_source(graph), render(graph)):
        ast.parse(text)
    # Only the imports, the helper functions and the classes: no statement from a name.
    assert set(_statements_outside_classes(source)) <= {
        "Import",
        "ImportFrom",
        "FunctionDef",
        "ClassDef",
    }
    assert RUN_PAYLOAD in source  # shown, in comments and the docstring
    assert "__import__" not in code_tokens(source)
    model = archc.compile(spec)
    model(torch.zeros(1, 3, 8, 8))
    assert not (tmp_path / "CANARY").exists() and not Path("CANARY").exists()


@pytest.mark.parametrize("ending", ['"', '""', "\\", '\\"', "'", '"""'])
def test_a_description_may_end_in_any_quote_or_backslash(write_spec, ending):
    """Issue 14: a block description ending in `"` closed the class docstring early."""
    text = (
        "network: net\n"
        f"description: {json.dumps('the network ' + ending)}\n"
        "input: [3, 8, 8]\n"
        "blocks:\n"
        f"  unit:\n    description: {json.dumps('the block ' + ending)}\n"
        "    params: {c: 4}\n"
        "    layers: [{name: conv, type: conv, out: c, kernel: 3, padding: 1}]\n"
        "variants:\n"
        f"  {json.dumps('v' + ending)}: {{}}\n"
        "layers:\n  - {name: a, type: unit}\n  - {name: b, type: unit, c: 8}\n"
        "  - flatten\n  - {name: fc, type: linear, out: 2}\n"
    )
    graph = archc.load(write_spec(text)).graph
    source = generate_source(graph)
    tree = ast.parse(source)
    unit = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Unit")
    assert ast.get_docstring(unit, clean=False) == "the block " + ending.replace('"""', "'''")
    for other in (init_source(graph), render(graph)):
        ast.parse(other)

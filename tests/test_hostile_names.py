"""Hostile names and texts: a spec cannot smuggle code into what archc generates.

Names that reach generated code as identifiers (layer names, block names, class_name,
network) must be plain identifiers, or archc refuses them with E-NAME-INVALID at the name.
Free text (descriptions, docs, variant names) may be anything: every backend must carry it
as an escaped literal, so the generated files parse to the same program whatever the text
says, and running them runs nothing from the spec (a canary file a payload would create
never appears).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import event, given
from hypothesis import strategies as st

from archc.diagnostics import SpecError
from archc.pipeline import load

HOSTILE_NAMES = [
    "x; import os",
    "__import__('os')",
    '"""',
    "a\nb",
    "conv\u0430",  # ends in a Cyrillic 'а', a look-alike of 'a'
    "\u0441onv1",  # starts with a Cyrillic 'с'
    "a" * 65,
    "class",
    "lambda",
    "None",
    "1conv",
    "conv-1",
    "a.b",
    "",
]
#: Names a layer may not take although they are identifiers: they would shadow what
#: generated code or nn.Module relies on.
RESERVED_LAYER_NAMES = [
    "self",
    "torch",
    "nn",
    "forward",
    "x",
    "input",
    "super",
    "__init__",
    # nn.Module's own attributes, public and private (issue 14: 28 of 33 probed passed).
    "compile",
    "named_buffers",
    "to_empty",
    "share_memory",
    "training",
    "_modules",
    "_call_impl",
    "_parameters",
    "_x",
]
#: Class names that would shadow what the generated module imports, defines or Python
#: provides (helper classes of layers and weight-initialization functions included).
RESERVED_CLASS_NAMES = [
    "torch",
    "nn",
    "object",
    "super",
    "print",
    "__init__",
    "class",
    "Tensor",
    "ScaledTanh",
    "RBF",
    "Subsample",
    "SubsamplePad",
    "ConnectionTableConv2d",
    "he_init",
    "default_init",
    "_Net",
]


def write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, width=10_000))
    return path


def errors_of(path: Path) -> list:
    with pytest.raises(SpecError) as caught:
        load(path)
    return [d for d in caught.value.diagnostics if d.severity == "error"]


def line_of(path: Path, text: str) -> int:
    """The 1-based line of the first line of `path` containing `text`."""
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if text in line:
            return number
    raise AssertionError(f"{text!r} not in {path}")


BASE = {"network": "net", "input": [3, 8, 8]}


@pytest.mark.parametrize("name", HOSTILE_NAMES + RESERVED_LAYER_NAMES)
def test_layer_names_are_refused(name, tmp_path):
    path = write(
        tmp_path,
        {
            **BASE,
            "layers": [
                {"name": "ok", "type": "relu"},
                {"name": name, "type": "conv", "out": 4, "kernel": 3},
            ],
        },
    )
    (error,) = errors_of(path)
    assert error.code == "E-NAME-INVALID"
    # yaml.safe_dump writes each entry as "- name: ..." at the start of a line.
    lines = [
        i for i, line in enumerate(path.read_text().splitlines(), 1) if line.startswith("- name:")
    ]
    assert (error.span.line, error.span.col) == (lines[1], 9)


@pytest.mark.parametrize("name", HOSTILE_NAMES + RESERVED_CLASS_NAMES)
def test_class_names_are_refused(name, tmp_path):
    path = write(tmp_path, {**BASE, "class_name": name, "layers": ["relu"]})
    (error,) = errors_of(path)
    assert error.code == "E-NAME-INVALID" and error.message.startswith("class_name:")
    assert (error.span.line, error.span.col) == (line_of(path, "class_name:"), 13)


@pytest.mark.parametrize("name", ["x; import os", "a\nb", '"""', "conv\u0430"])
def test_class_names_in_variants_are_refused(name, tmp_path):
    path = write(
        tmp_path, {**BASE, "variants": {"a": {}, "b": {"class_name": name}}, "layers": ["relu"]}
    )
    load(path, variant="a")
    with pytest.raises(SpecError) as caught:
        load(path, variant="b")
    (error,) = caught.value.diagnostics
    assert error.code == "E-NAME-INVALID"
    assert error.span.line == line_of(path, "class_name")


@pytest.mark.parametrize("name", ["x; import os", "a\nb", '"""', "n\u0435t", "a" * 65, ""])
def test_network_names_are_refused(name, tmp_path):
    path = write(tmp_path, {**BASE, "network": name, "layers": ["relu"]})
    (error,) = errors_of(path)
    assert error.code == "E-NAME-INVALID" and error.message.startswith("network:")
    assert (error.span.line, error.span.col) == (1, 10)


@pytest.mark.parametrize(
    "name", ["x; import os", "__import__('os')", "a\nb", "conv\u0430", "class", "a" * 65]
)
def test_block_names_are_refused(name, tmp_path):
    path = write(tmp_path, {**BASE, "blocks": {name: {"layers": ["relu"]}}, "layers": ["relu"]})
    (error,) = errors_of(path)
    assert error.code == "E-NAME-INVALID" and "block name" in error.message
    # The key's own place: after "? " where YAML writes it as a complex (multi-line) key.
    key_line = path.read_text().splitlines()[line_of(path, "blocks:")]
    col = 5 if key_line.startswith("  ? ") else 3
    assert (error.span.line, error.span.col) == (line_of(path, "blocks:") + 1, col)


def test_reserved_module_attributes_are_those_of_torch():
    """The list is static (check does not import torch); it must match torch's own."""
    torch = pytest.importorskip("torch")
    from archc.spec.names import NN_MODULE_ATTRIBUTES

    public = {name for name in dir(torch.nn.Module) if not name.startswith("_")}
    public |= {name for name in vars(torch.nn.Module()) if not name.startswith("_")}
    assert NN_MODULE_ATTRIBUTES == public


def test_every_name_generated_code_defines_is_refused_as_a_class_name():
    pytest.importorskip("torch")
    from archc.backends.pytorch_init import FUNCTION_NAMES
    from archc.layers import REGISTRY
    from archc.spec.names import class_name_problem

    helpers = {name for kind in REGISTRY.values() for name in kind.torch_helpers}
    assert helpers and FUNCTION_NAMES
    for name in helpers | FUNCTION_NAMES | {"torch", "nn"}:
        assert class_name_problem(name) is not None, name


def test_a_class_name_derived_from_the_network_keeps_clear_of_helpers(tmp_path):
    """Without class_name, network `rbf` would name its class `RBF`, the helper class of
    its own output layer."""
    torch = pytest.importorskip("torch")
    from archc.backends.pytorch import compile_module

    path = write(
        tmp_path,
        {
            "network": "rbf",
            "input": [1, 4, 4],
            "layers": ["flatten", {"name": "out", "type": "rbf", "out": 3}],
        },
    )
    graph = load(path)
    assert graph.class_name == "RBF_"
    assert tuple(compile_module(graph)(torch.zeros(2, 1, 4, 4)).shape) == (2, 3)
    long = write(
        tmp_path, {**BASE, "network": "n" * 64, "variants": {"v" * 200: {}}, "layers": ["relu"]}
    )
    assert load(long).class_name == "N" * 64 + "_" + "V" * 200  # derived: never refused


EXPLOIT = "p+0*__import__('os').system('touch PWNED')"


def test_block_parameter_named_as_code_is_refused_before_anything_runs(tmp_path):
    """Issue 14's exploit: two instances of a block that differ in a parameter whose name
    is code. `archc build` (with every target) refuses it at the name and writes nothing."""
    from click.testing import CliRunner

    from archc.cli import main

    path = write(
        tmp_path,
        {
            **BASE,
            "blocks": {
                "unit": {
                    "params": {EXPLOIT: 4},
                    "layers": [{"type": "conv", "out": EXPLOIT, "kernel": 3, "padding": 1}],
                }
            },
            "layers": [{"name": "a", "type": "unit"}, {"name": "b", "type": "unit", EXPLOIT: 8}],
        },
    )
    (error,) = errors_of(path)
    assert error.code == "E-NAME-INVALID" and "parameter" in error.message
    assert error.span.line == line_of(path, "params:") + 1  # the key, on its own line
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["build", str(path), "-o", str(out)])
    assert result.exit_code == 1, result.output
    assert not out.exists() and not (tmp_path / "PWNED").exists() and not Path("PWNED").exists()


@pytest.mark.parametrize(
    "name", ["x; import os", "a\nb", "self", "in_channels", "name", "compile", "_p", "class"]
)
def test_block_parameter_names_follow_the_layer_name_rule(name, tmp_path):
    path = write(
        tmp_path,
        {**BASE, "blocks": {"unit": {"params": {name: 1}, "layers": ["relu"]}}, "layers": ["relu"]},
    )
    (error,) = errors_of(path)
    assert error.code == "E-NAME-INVALID" and error.message.startswith("block 'unit': parameter")


# --------------------------------------------------------------------------- free text

CANARY = "CANARY"


def payloads(canary: Path) -> list[str]:
    """Texts that would run code, or break out of a string, in each output format."""
    run = f"__import__('os').system('touch {canary}')"
    return [
        f'"""\n{run}\n"""',
        f"'''\n{run}\n'''",
        f"\\\n{run} #",
        f"x\r\n{run}\u2028{run}\x0c",
        f'"; {run}; "',
        f"</script><script>{run}</script><!--",
        f'<img src=x onerror="{run}">',
        f'"]; {run}; ["',
        "{" + run + "} ${" + run + "} %s {0}",
        f"*/ {run} /*",
        f'"\n# {run}\n| a | b |\n',
    ]


def hostile_spec(tmp_path: Path) -> tuple[Path, list[str]]:
    canary = tmp_path / CANARY
    texts = payloads(canary)
    data = {
        "network": "evil",
        "description": texts[0],
        "input": [3, 8, 8],
        "params": {"width": 4},
        "blocks": {
            "unit": {
                "description": texts[1],
                "layers": [
                    {
                        "name": "conv",
                        "type": "conv",
                        "out": "width",
                        "kernel": 3,
                        "padding": 1,
                        "doc": texts[2],
                    },
                    {"type": "relu", "doc": texts[3]},
                ],
            }
        },
        "default": texts[4],
        "variants": {texts[4]: {"description": texts[5]}, "plain": {}},
        "layers": [
            {"name": "stem", "type": "unit", "doc": texts[6]},
            {"name": "pool", "type": "maxpool", "doc": texts[7]},
            {"type": "flatten", "doc": texts[8]},
            {"name": "fc", "type": "linear", "out": 10, "doc": texts[9]},
            {"type": "softmax", "doc": texts[10]},
        ],
    }
    return write(tmp_path, data), texts


def test_hostile_texts_are_valid_spec_content(tmp_path):
    path, texts = hostile_spec(tmp_path)
    graph = load(path)
    assert graph.variant == texts[4]
    assert graph.description == texts[5]


def test_summary_json_and_markdown_carry_texts_as_data(tmp_path):
    from archc.backends.summary import to_json, to_markdown

    path, texts = hostile_spec(tmp_path)
    graph = load(path)
    data = json.loads(to_json(graph))
    assert data["variant"] == texts[4]
    markdown = to_markdown(graph)
    # No payload can start a heading or a table row of its own in the Markdown.
    for line in markdown.splitlines():
        assert not line.startswith("# __import__")
        assert "| a | b |" not in line


def _code_outside_strings(source: str) -> tuple[set[str], set[str]]:
    """Imported modules and every name used as code (string constants excluded)."""
    tree = ast.parse(source)
    imported, names = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module or "")
        elif isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.Attribute):
            names.add(node.attr)
    return imported, names


@pytest.mark.parametrize("variant", [None, "plain"])
def test_generated_pytorch_runs_nothing_from_the_spec(tmp_path, variant):
    pytest.importorskip("torch")
    pytorch = pytest.importorskip("archc.backends.pytorch")
    path, texts = hostile_spec(tmp_path)
    graph = load(path, variant=variant)
    source = pytorch.generate_source(graph)
    imported, names = _code_outside_strings(source)
    assert imported <= {"torch", "torch.nn", "torch.nn.functional", "math", "__future__"}
    assert not names & {"os", "system", "__import__", "eval", "exec", "subprocess"}
    # Running the generated module (import, build, forward) creates no canary.
    model = tmp_path / "model.py"
    model.write_text(source)
    run = (
        "import importlib.util, sys, torch\n"
        f"spec = importlib.util.spec_from_file_location('m', {str(model)!r})\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
        f"net = getattr(m, {graph.class_name!r})().eval()\n"
        "print(tuple(net(torch.zeros(1, 3, 8, 8)).shape))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", run], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "(1, 10)"
    assert not (tmp_path / CANARY).exists()


def test_graphviz_dot_and_svg_escape_texts(tmp_path):
    graphviz = pytest.importorskip("archc.backends.graphviz")
    path, texts = hostile_spec(tmp_path)
    graph = load(path)
    out = tmp_path / "gv"
    out.mkdir()
    graphviz.write_target(graph, out, {"check": False})
    dot_text = (out / "graph.dot").read_text()
    assert "<script" not in dot_text.lower() and "<img" not in dot_text.lower()
    if graphviz.dot_executable():
        # dot still parses the file (no text broke out of its quotes), and the SVG is
        # well-formed XML with no markup from the spec.
        svg = graphviz.render(dot_text, "svg").decode()
        assert "<script" not in svg.lower() and "<img" not in svg.lower()
        import xml.dom.minidom

        xml.dom.minidom.parseString(svg)
    assert not (tmp_path / CANARY).exists()


def test_report_html_escapes_texts(tmp_path):
    report = pytest.importorskip("archc.backends.report")
    path, texts = hostile_spec(tmp_path)
    graph = load(path)
    html = report.report_html(graph)
    lowered = html.lower()
    # The payloads' markup appears only escaped: no injected script, no injected handler.
    assert "<script>__import__" not in lowered
    assert "<img src=x onerror" not in lowered
    assert not (tmp_path / CANARY).exists()


def test_build_with_every_available_target(tmp_path):
    """The whole build (torch-free targets always; pytorch and ONNX where installed)."""
    from archc.build import TARGETS, build_graph

    path, texts = hostile_spec(tmp_path)
    graph = load(path)
    targets = ["summary", "graphviz", "report"]
    try:
        import torch  # noqa: F401

        targets.append("pytorch")
    except ImportError:
        pass
    targets = [t for t in targets if t in TARGETS]
    folder = build_graph(graph, tmp_path / "out", targets)
    names = {p.name for p in folder.iterdir()}
    assert "summary.json" in names
    assert all(not name.startswith(".") for name in names)
    # The folder name is derived from network and variant with every other character `_`.
    assert folder.name.replace("_", "").isalnum()
    if "pytorch" in targets:
        imported, used = _code_outside_strings((folder / "model.py").read_text())
        assert not used & {"os", "system", "__import__"}
    assert not (tmp_path / CANARY).exists()


def test_onnx_export_carries_no_payload(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    onnx_backend = pytest.importorskip("archc.backends.onnx")
    from archc.build import build_graph

    path, texts = hostile_spec(tmp_path)
    graph = load(path, variant="plain")
    assert onnx_backend is not None
    folder = build_graph(graph, tmp_path / "out", ["pytorch", "onnx"])
    import onnx

    model = onnx.load(str(folder / "model.onnx"))
    onnx.checker.check_model(model)
    assert not (tmp_path / CANARY).exists()


# --------------------------------------------------------------------------- the terminal

#: Variant names (free text) that rich would read as markup, or a terminal as commands: a
#: closing tag with no opening one crashed rich; OSC-8 hides a link behind harmless text.
TERMINAL_TEXTS = [
    "[/bold]",
    "[bold red]loud",
    "[link=https://evil.example]click[/link]",
    "\x1b]8;;https://evil.example\x1b\\looks safe\x1b]8;;\x1b\\",
    "\x1b[2J\x1b[31mcleared",
    "\x9b31mC1",
    "right\u202eto left",
    "tab\there",
]


def terminal_spec(tmp_path: Path) -> Path:
    variants = {name: {"description": name} for name in TERMINAL_TEXTS}
    return write(tmp_path, {**BASE, "variants": variants, "layers": ["relu"]})


def run_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in __import__("os").environ.items() if k not in ("FORCE_COLOR",)}
    return subprocess.run(
        [sys.executable, "-m", "archc.cli", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def _no_terminal_commands(text: str) -> None:
    for char in ("\x1b", "\x9b", "\u202e", "\x07"):
        assert char not in text, repr(text)


def test_variants_lists_names_as_plain_escaped_text(tmp_path):
    from archc.diagnostics import one_line

    terminal_spec(tmp_path)
    result = run_cli(tmp_path, "variants", "spec.yaml")
    assert result.returncode == 0, result.stderr
    _no_terminal_commands(result.stdout + result.stderr)
    assert result.stdout.splitlines() == [one_line(name) for name in TERMINAL_TEXTS]


@pytest.mark.parametrize("name", TERMINAL_TEXTS)
def test_summary_and_check_show_markup_as_text(name, tmp_path):
    from archc.diagnostics import one_line

    terminal_spec(tmp_path)
    table = run_cli(tmp_path, "summary", "spec.yaml", "-v", name)
    assert table.returncode == 0, table.stderr
    _no_terminal_commands(table.stdout + table.stderr)
    assert one_line(name) in table.stdout  # the title, as written (escaped)
    # A name the spec lacks is quoted in a diagnostic: escaped there too.
    missing = run_cli(tmp_path, "summary", "spec.yaml", "-v", name + "x")
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    _no_terminal_commands(missing.stderr)
    check = run_cli(tmp_path, "check", "spec.yaml", "--all-variants")
    assert check.returncode == 0, check.stderr


def test_python_rich_table_reads_no_markup(tmp_path):
    import io

    from rich.console import Console

    from archc.backends.summary import print_table
    from archc.diagnostics import one_line

    path = terminal_spec(tmp_path)
    for name in TERMINAL_TEXTS:
        buffer = io.StringIO()
        print_table(load(path, name), Console(file=buffer, width=200, force_terminal=True))
        text = buffer.getvalue()
        # rich's own styling (bold headers) is there; no link, and the name as written.
        assert "\x1b]8;;" not in text and "\x1b[2J" not in text and "\u202e" not in text
        assert f"net / {one_line(name)}" in text


# ------------------------------------------------------------- property: every string field

#: Code each free text carries: it would run if any text reached the generated source.
PAYLOAD = "__import__('os').system('touch PWNED')"
#: Characters that end strings, comments or lines in Python, YAML, DOT, HTML or Markdown.
BREAKERS = [
    '"',
    "'",
    '"""',
    "\\",
    "\n",
    "\r",
    "\r\n",
    "\u2028",
    "\u0085",
    "\x0c",
    "\t",
    "#",
    "{",
    "}",
    "%s",
    "$",
    "`",
    "<",
    ">",
    "&",
    "|",
    "*/",
    ";",
    "\x00",
    "\x1b[31m",
    "\ufeff",
]


def _texts():
    piece = st.one_of(st.sampled_from(BREAKERS), st.text(max_size=6))
    return st.lists(piece, max_size=4).map(
        lambda parts: "".join(parts) + PAYLOAD + parts[0] if parts else PAYLOAD
    )


def _names():
    """Plain names, reserved ones, and arbitrary text: each either passes the name rule or
    is refused with a located diagnostic."""
    plain = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)
    reserved = st.sampled_from(
        [
            "self",
            "x",
            "nn",
            "torch",
            "forward",
            "compile",
            "_modules",
            "in_channels",
            "None",
            "True",
            "class",
            "getattr",
            "super",
            "Basic",
            "ScaledTanh",
            "he_init",
            "input",
        ]
    )
    return st.one_of(plain, plain, reserved, st.text(max_size=12), _texts())


def _file_names():
    # Anything a file system takes: no '/', no NUL, not '.' or '..', short enough.
    text = st.text(
        st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00"),
        min_size=1,
        max_size=30,
    )
    return text.filter(lambda t: t not in (".", "..") and len(t.encode()) < 200)


#: The name fields of the spec below, each a Python identifier in generated code.
NAME_FIELDS = ("block", "imported", "param", "layer_a", "layer_b", "layer_c", "conv", "act")
#: ... and the generated class's name.
NAMED = (*NAME_FIELDS, "class_name")


def _hostile_spec_data(draw, hostile_name: str | None) -> tuple[dict, dict, str, str]:
    """A spec (and a block file it imports) with hostile text in every free-text field and,
    if `hostile_name` names one of NAME_FIELDS, a hostile name there (the others plain)."""
    text = _texts()
    plain = st.from_regex(r"[a-z]{1,6}", fullmatch=True)
    names = {field: f"{draw(plain)}_{k}" for k, field in enumerate(NAME_FIELDS)}
    if hostile_name in names:
        names[hostile_name] = draw(_names())
    block, imported, param = names["block"], names["imported"], names["param"]
    layer_a, layer_b, layer_c = names["layer_a"], names["layer_b"], names["layer_c"]
    conv, act = names["conv"], names["act"]
    variant = draw(st.one_of(_texts(), plain))
    blocks_file = {
        "description": draw(text),
        "blocks": {
            imported: {
                "description": draw(text),
                "layers": [{"name": act, "type": "relu", "doc": draw(text)}],
            }
        },
    }
    spec = {
        "network": draw(st.from_regex(r"[a-z][a-z0-9_-]{0,10}", fullmatch=True)),
        "description": draw(text),
        "input": [3, 8, 8],
        "imports": [],  # filled in with the block file's (hostile) name
        "blocks": {
            block: {
                "description": draw(text),
                "params": {param: 4},
                "layers": [
                    {
                        "name": conv,
                        "type": "conv",
                        "out": param,
                        "kernel": 3,
                        "padding": 1,
                        "doc": draw(text),
                    },
                    {"type": "relu", "doc": draw(text)},
                ],
            }
        },
        "default": variant,
        "variants": {variant: {"description": draw(text)}, "other": {}},
        "layers": [
            {"name": layer_a, "type": block, "doc": draw(text)},
            {"name": layer_b, "type": block, param: 8},
            {"name": layer_c, "type": imported},
            {"type": "flatten", "doc": draw(text)},
            {"name": "fc", "type": "linear", "out": 2, "doc": draw(text)},
        ],
    }
    if hostile_name == "class_name":
        spec["class_name"] = draw(_names())
    elif draw(st.booleans()):
        spec["class_name"] = draw(plain).title() + "Net"
    return spec, blocks_file, draw(_file_names()), draw(_file_names())


def _check_generated(graph) -> None:
    """The generated files parse, hold no code from the spec, and the model runs."""
    torch = pytest.importorskip("torch")
    from archc.backends.pytorch import compile_module, generate_source, init_source
    from archc.backends.train_script import render
    from tests.test_spec_text_in_code import code_tokens

    source = generate_source(graph)
    for text in (source, init_source(graph), render(graph)):
        ast.parse(text)
        # Outside comments and strings, no token of the payload's (a class name derived
        # from a variant name may hold its letters, as one identifier).
        assert not set(code_tokens(text).split()) & {"__import__", "system", "PWNED", "'os'"}
    for text in (source, init_source(graph)):
        # model.py uses only torch: no name of the payload's stands as code there.
        for node in ast.walk(ast.parse(text)):
            assert not (isinstance(node, ast.Name) and node.id in ("os", "system"))
    classes = [n.name for n in ast.parse(source).body if isinstance(n, ast.ClassDef)]
    assert graph.class_name in classes
    model = compile_module(graph).eval()
    with torch.no_grad():
        assert tuple(model(torch.zeros(1, 3, 8, 8)).shape) == (1, 2)


def _load_or_refuse(spec: dict, blocks_file: dict, spec_name: str, blocks_name: str):
    """Write the spec and its block file under hostile file names; load and check it.
    Returns whether code was generated (else archc refused it with located errors)."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        blocks_path = root / f"b{blocks_name}.yaml"
        blocks_path.write_text(yaml.safe_dump(blocks_file, width=10_000))
        spec["imports"] = [blocks_path.name]
        path = root / f"s{spec_name}.yaml"
        path.write_text(yaml.safe_dump(spec, sort_keys=False, width=10_000))
        try:
            graph = load(path)
        except SpecError as exc:
            errors = [d for d in exc.diagnostics if d.severity == "error"]
            assert errors and all(d.span.line >= 1 for d in errors)
            event(f"refused: {sorted({d.code for d in errors})}")
            return False
        event("generated")
        _check_generated(graph)
        assert not (root / "PWNED").exists() and not Path("PWNED").exists()
        return True


@given(st.data())
def test_hostile_texts_in_every_free_text_field(data):
    """Property (issue 14): hostile text in every free-text field of a spec (descriptions
    of the network, its blocks, its variants and a block file; every `doc:`; the variant
    name; the spec's and an imported file's names) is carried as text: model.py,
    __init__.py and train.py parse, hold no code from the spec, import and run."""
    pytest.importorskip("torch")
    drawn = data.draw(st.composite(_hostile_spec_data)(None))
    assert _load_or_refuse(*drawn)


@given(st.data())
def test_hostile_names_in_every_name_field(data):
    """Property (issue 14): a hostile name in any name field (block, block parameter,
    layer, class_name), with hostile texts everywhere else, is refused at the name with a
    located diagnostic, or it is a legal name and the generated code is safe and runs."""
    pytest.importorskip("torch")
    field = data.draw(st.sampled_from(NAMED))
    _load_or_refuse(*data.draw(st.composite(_hostile_spec_data)(field)))

"""`archc lsp` driven as an editor drives it: JSON-RPC over the stdio of a real subprocess."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytest.importorskip("pygls")

from tests.conftest import ROOT  # noqa: E402
from tests.lsp_client import LspClient  # noqa: E402

TINY = (ROOT / "docs" / "examples" / "tiny_resnet.yaml").read_text()
BROKEN = (ROOT / "docs" / "examples" / "tiny_resnet_broken.yaml").read_text()


@pytest.fixture(scope="module")
def client():
    """One server for the module's tests (start-up is paid once, as in an editor)."""
    lsp = LspClient()
    lsp.capabilities = lsp.initialize(ROOT)
    yield lsp
    assert lsp.close() == 0


@pytest.fixture
def opened(client, tmp_path):
    """Open a spec (written to disk too, so imports resolve beside it) and wait for its
    first diagnostics."""

    def open_spec(text: str, name: str = "spec.yaml"):
        path = tmp_path / name
        path.write_text(text, errors="surrogatepass")
        uri = client.open(path, text)
        return uri, client.diagnostics(uri)

    return open_spec


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.split("\n")) if needle in line)


def _cli_diagnostics(path) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", "from archc.cli import main; main()", "check", str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    return [
        line for line in result.stderr.splitlines() if ": error[" in line or ": warning[" in line
    ]


def test_the_server_announces_what_it_answers(client):
    caps = client.capabilities
    assert caps["hoverProvider"]
    assert caps["definitionProvider"]
    assert caps["documentSymbolProvider"]
    assert caps["completionProvider"]
    assert caps["codeActionProvider"]


def test_a_valid_spec_has_no_diagnostics(opened):
    _, diagnostics = opened(TINY)
    assert diagnostics == []


def test_diagnostics_are_archc_checks_own(opened, tmp_path):
    uri, diagnostics = opened(BROKEN, "broken.yaml")
    # The same code, message and place as `archc check` prints for the same file.
    cli = _cli_diagnostics(tmp_path / "broken.yaml")
    assert len(diagnostics) == len(cli) == 1
    place, _, rest = cli[0].partition(": error[")
    line, col = (int(x) for x in place.rsplit(":", 2)[1:])
    code, _, message = rest.partition("]: ")
    found = diagnostics[0]
    assert found["code"] == code == "E-SHAPE-ADD"
    assert found["message"].splitlines()[0] == message
    assert (found["range"]["start"]["line"], found["range"]["start"]["character"]) == (
        line - 1,
        col - 1,
    )
    assert found["severity"] == 1


def test_a_change_is_checked_again(client, opened):
    uri, diagnostics = opened(TINY, "edited.yaml")
    assert diagnostics == []
    client.change(uri, BROKEN, 2)
    assert [d["code"] for d in client.diagnostics(uri)] == ["E-SHAPE-ADD"]
    client.change(uri, TINY, 3)
    assert client.diagnostics(uri) == []


def test_every_variant_is_checked(client, opened):
    text = """network: two
input: [3, 8, 8]
params: {width: 4}
variants:
  ok: {}
  bad: {params: {widht: 8}}
layers:
  - {type: conv, out: width, kernel: 3}
"""
    uri, diagnostics = opened(text)
    # The default variant's diagnostics come first, then every variant's.
    assert diagnostics == []
    diagnostics = client.diagnostics(uri)
    assert [d["code"] for d in diagnostics] == ["E-UNKNOWN-PARAM"]
    assert diagnostics[0]["range"]["start"]["line"] == _line_of(text, "widht")


def test_hover_on_a_layer_shows_its_volumes_and_counts(client, opened):
    uri, _ = opened(TINY)
    line = _line_of(TINY, "name: stem")
    hover = client.at("textDocument/hover", uri, line, 6)["result"]["contents"]["value"]
    # A 3x3 convolution from 3 to 16 channels without bias: 3*16*3*3 weights; padding 1
    # keeps 32x32, so each of the 32*32*16 outputs takes 3*3*3 multiply-accumulates.
    assert "32x32x3 → **32x32x16**" in hover
    assert f"params {3 * 16 * 3 * 3:,}" in hover
    assert f"MACs {32 * 32 * 16 * 3 * 3 * 3:,}" in hover
    assert "receptive field 3 / 1" in hover


def test_hover_inside_a_block_lists_each_instance(client, opened):
    uri, _ = opened(TINY)
    line = _line_of(TINY, "name: conv2, type: conv")
    hover = client.at("textDocument/hover", uri, line, 10)["result"]["contents"]["value"]
    assert "**stage1.conv2**" in hover and "**stage2.conv2**" in hover
    assert f"params {16 * 16 * 9:,}" in hover and f"params {32 * 32 * 9:,}" in hover


def test_hover_on_a_block_instance_and_definition(client, opened):
    uri, _ = opened(TINY)
    line = _line_of(TINY, "name: stage2")
    hover = client.at("textDocument/hover", uri, line, 8)["result"]["contents"]["value"]
    # conv1 16->32 (3x3), conv2 32->32 (3x3), shortcut 16->32 (1x1), two BNs and the
    # shortcut's BN of 32 channels (scale and shift).
    params = 16 * 32 * 9 + 32 * 32 * 9 + 16 * 32 + 3 * 2 * 32
    assert "block `basic`" in hover and f"params {params:,}" in hover
    assert "32x32x16 → **16x16x32**" in hover
    definition_line = _line_of(TINY, "  basic:")
    hover = client.at("textDocument/hover", uri, definition_line, 4)["result"]["contents"]
    assert "used 2 times" in hover["value"] and "`planes`" in hover["value"]


def test_definition_of_a_block_type_and_an_input(client, opened):
    uri, _ = opened(TINY)
    line = _line_of(TINY, "type: basic, planes: 16")
    column = TINY.split("\n")[line].index("basic")
    found = client.at("textDocument/definition", uri, line, column + 1)["result"]
    assert found["uri"] == uri
    assert found["range"]["start"]["line"] == _line_of(TINY, "  basic:")
    line = _line_of(TINY, "inputs: [bn2, shortcut]")
    column = TINY.split("\n")[line].index("shortcut")
    found = client.at("textDocument/definition", uri, line, column + 2)["result"]
    assert found["range"]["start"]["line"] == _line_of(TINY, "- name: shortcut")


def test_definition_of_an_import(client, opened, tmp_path):
    (tmp_path / "parts.yaml").write_text(
        "blocks:\n  unit:\n    layers: [{type: conv, out: 4, kernel: 1}]\n"
    )
    text = "network: n\ninput: [3, 8, 8]\nimports: [parts.yaml]\nlayers:\n  - {type: unit}\n"
    uri, diagnostics = opened(text)
    assert diagnostics == []
    found = client.at("textDocument/definition", uri, 2, 12)["result"]
    assert found["uri"] == (tmp_path / "parts.yaml").resolve().as_uri()
    found = client.at("textDocument/definition", uri, 4, 12)["result"]
    assert found["uri"] == (tmp_path / "parts.yaml").resolve().as_uri()
    assert found["range"]["start"]["line"] == 1


def test_completion_offers_kinds_blocks_fields_and_names(client, opened):
    uri, _ = opened(TINY)
    lines = TINY.split("\n")
    line = _line_of(TINY, "name: stage1, type: basic")
    column = lines[line].index("basic")
    labels = _labels(client.at("textDocument/completion", uri, line, column))
    assert {"conv", "batchnorm", "basic", "sequential"} <= labels
    line = _line_of(TINY, "name: fc, type: linear")
    labels = _labels(client.at("textDocument/completion", uri, line, 10))
    assert {"bias", "inputs", "doc"} <= labels and "name" not in labels
    line = _line_of(TINY, "inputs: [bn2, shortcut]")
    column = lines[line].index("bn2")
    labels = _labels(client.at("textDocument/completion", uri, line, column))
    assert {"input", "conv1", "bn1", "conv2", "bn2", "shortcut"} <= labels
    assert "add" not in labels  # only earlier entries can be read


def _labels(response: dict) -> set[str]:
    return {item["label"] for item in response["result"]["items"]}


def test_document_symbols_outline_the_spec(client, opened):
    uri, _ = opened(TINY)
    response = client.request("textDocument/documentSymbol", {"textDocument": {"uri": uri}})
    outline = {s["name"]: s for s in response["result"]}
    assert set(outline) == {"layers", "blocks"}
    assert [c["name"] for c in outline["blocks"]["children"]] == ["basic"]
    names = [c["name"] for c in outline["layers"]["children"]]
    assert names[:3] == ["stem", "batchnorm", "relu"] and names[-1] == "fc"


def test_a_did_you_mean_is_one_click_away(client, opened):
    text = TINY.replace("type: adaptive_avgpool", "type: adaptive_avgpol")
    uri, diagnostics = opened(text)
    assert [d["code"] for d in diagnostics] == ["E-UNKNOWN-KIND"]
    params = {
        "textDocument": {"uri": uri},
        "range": diagnostics[0]["range"],
        "context": {"diagnostics": diagnostics},
    }
    actions = client.request("textDocument/codeAction", params)["result"]
    assert len(actions) == 1
    edit = actions[0]["edit"]["changes"][uri][0]
    line = _line_of(text, "adaptive_avgpol")
    start = text.split("\n")[line].index("adaptive_avgpol")
    assert edit["newText"] == "adaptive_avgpool"
    assert edit["range"]["start"] == {"line": line, "character": start}
    assert edit["range"]["end"] == {"line": line, "character": start + len("adaptive_avgpol")}


@pytest.mark.parametrize(
    "text, code",
    [
        ("network: half\ninput: [3, 8, 8]\nlayers:\n  - {type: conv, out: ", "E-YAML"),
        ("network: bad\ninput: [3, 8, 8]\nlayers: [relu]\n# \ud800\n", "E-ENCODING"),
        ("network: n\ninput: [3, 8, 8]\nimports: [missing.yaml]\nlayers: [relu]\n", "E-IMPORT"),
    ],
    ids=["half-typed", "lone-surrogate", "missing-import"],
)
def test_bad_input_gets_a_diagnostic_and_the_server_lives_on(client, opened, text, code):
    uri, diagnostics = opened(text)
    assert code in {d["code"] for d in diagnostics}
    assert client.at("textDocument/hover", uri, 0, 0)["result"] is None
    assert client.process.poll() is None


def test_a_huge_paste_is_refused_and_the_server_lives_on(client, opened):
    uri, _ = opened(TINY, "pasted.yaml")
    client.change(uri, TINY + "#" * (100 * 2**20), 2)
    assert [d["code"] for d in client.diagnostics(uri, timeout=120)] == ["E-LIMIT-FILE-SIZE"]
    client.change(uri, TINY, 3)
    assert client.diagnostics(uri) == []
    line = _line_of(TINY, "name: stem")
    assert (
        "32x32x16" in client.at("textDocument/hover", uri, line, 6)["result"]["contents"]["value"]
    )

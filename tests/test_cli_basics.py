"""The command line's fixed behaviour (CONTRACT.md): exit codes, variants, schema, JSON."""

from __future__ import annotations

import json
import subprocess
import sys

from click.testing import CliRunner

from archc.cli import main
from tests.conftest import SPECS

ALEXNET_LECTURE = """\
network: alexnet
input: [3, 227, 227]
default: lecture
variants:
  lecture: {}
  wide: {input: [3, 259, 259]}
layers:
  - {name: conv1, type: conv, out: 96, kernel: 11, stride: 4}
  - relu
  - {name: pool1, type: maxpool, kernel: 3, stride: 2}
  - flatten
  - {name: fc, type: linear, out: 10}
"""


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_variants_lists_default_first(write_spec):
    path = write_spec(ALEXNET_LECTURE)
    result = run("variants", str(path))
    assert result.exit_code == 0
    assert result.output.split() == ["lecture", "wide"]


def test_usage_errors_exit_2(write_spec):
    path = write_spec(ALEXNET_LECTURE)
    assert run("summary", str(path), "--json", "--markdown").exit_code == 2
    assert run("check").exit_code == 2
    assert run("build", str(path), "--target", "nonsense").exit_code == 2
    assert run("no-such-command").exit_code == 2


def test_check_ok_and_error_exit_codes(write_spec):
    good = write_spec(ALEXNET_LECTURE, "good.yaml")
    bad = write_spec(ALEXNET_LECTURE.replace("out: 10", "out: 0"), "bad.yaml")
    assert run("check", str(good)).exit_code == 0
    result = run("check", str(good), str(bad))
    assert result.exit_code == 1
    assert f"{bad}:12:35: error[E-FIELD-VALUE]: linear 'fc': out:" in result.output


def test_unknown_variant_is_a_diagnostic(write_spec):
    path = write_spec(ALEXNET_LECTURE)
    result = run("summary", str(path), "--variant", "tall")
    assert result.exit_code == 1
    assert "error[E-UNKNOWN-VARIANT]" in result.output
    assert "Traceback" not in result.output


def test_summary_json_contract(write_spec):
    path = write_spec(ALEXNET_LECTURE)
    result = run("summary", str(path), "--json")
    data = json.loads(result.output)
    assert data["archc_summary"] == 1
    assert data["network"] == "alexnet" and data["variant"] == "lecture"
    assert data["input_shape"] == [3, 227, 227] and data["output_shape"] == [10]
    for key in (
        "params",
        "trainable_params",
        "buffer_elements",
        "macs",
        "activation_elements",
        "param_bytes",
    ):
        assert isinstance(data["totals"][key], int)
    first = data["layers"][0]
    # CS231n / papers.md: CONV1 96 11x11 s4 on 227x227x3 -> 55x55x96, 34,944 params,
    # 105,415,200 MACs; receptive field 11, jump 4.
    assert first == {
        **first,
        "name": "conv1",
        "type": "conv",
        "inputs": ["input"],
        "output_shape": [96, 55, 55],
        "params": 34944,
        "macs": 105415200,
        "activation_elements": 96 * 55 * 55,
        "receptive_field": {"size": [11, 11], "jump": [4, 4]},
    }
    # The ReLU is in place and the flatten a view: neither makes a tensor (CONTRACT.md).
    assert data["layers"][1]["activation_elements"] == 0
    assert data["totals"]["param_bytes"] == 4 * data["totals"]["params"]
    assert data["totals"]["activation_elements"] == 3 * 227 * 227 + 96 * 55 * 55 + 96 * 27 * 27 + 10


def test_schema_is_json():
    result = run("schema")
    schema = json.loads(result.output)
    assert schema["title"] == "archc network spec"
    assert "conv" in json.dumps(schema)


def test_check_and_summary_never_import_torch(tmp_path, write_spec):
    path = write_spec(ALEXNET_LECTURE)
    probe = (
        "import sys, runpy\n"
        "sys.argv = ['archc', *sys.argv[1:]]\n"
        "try:\n"
        "    from archc.cli import main\n"
        "    main()\n"
        "except SystemExit:\n"
        "    pass\n"
        "finally:\n"
        "    bad = [m for m in ('torch', 'onnx', 'graphviz') if m in sys.modules]\n"
        "    print('IMPORTED', bad, file=sys.stderr)\n"
    )
    for args in (
        ["check", str(path)],
        ["summary", str(path)],
        ["summary", str(path), "--json"],
        ["variants", str(path)],
    ):
        proc = subprocess.run(
            [sys.executable, "-c", probe, *args], capture_output=True, text=True, timeout=60
        )
        assert "IMPORTED []" in proc.stderr, (args, proc.stderr)


def test_python_api_load_summary(write_spec):
    import archc

    net = archc.load(write_spec(ALEXNET_LECTURE), variant="wide")
    # (259-11)/4+1 = 63; (63-3)/2+1 = 31.
    assert net.summary()["layers"][2]["output_shape"] == [96, 31, 31]
    assert net.class_name == "ALEXNET_WIDE"


def test_zoo_folder_exists():
    assert SPECS.is_dir()


def _check_stdin(text: str | bytes, *args: str):
    return CliRunner().invoke(main, ["check", "-", *args], input=text, catch_exceptions=False)


def test_check_reads_a_spec_from_standard_input():
    broken = ALEXNET_LECTURE.replace("out: 10", "out: 0")
    result = _check_stdin(broken)
    assert result.exit_code == 1
    # Line 12, column 35 of the text: the `0` of `out: 0`, as for the same file.
    assert "<stdin>:12:35: error[E-FIELD-VALUE]: linear 'fc': out:" in result.output
    assert _check_stdin(ALEXNET_LECTURE, "--all-variants").exit_code == 0
    encoded = _check_stdin(b"network: t\ndescription: caf\xe9\ninput: [3, 8, 8]\nlayers: [relu]\n")
    assert encoded.exit_code == 1
    assert "<stdin>:2:17: error[E-ENCODING]" in encoded.output


def test_stdin_filename_names_the_text_and_places_its_imports(tmp_path):
    # An editor checks its unsaved buffer of specs/net.yaml: the block file it imports is
    # found beside that path, not beside the folder archc runs in.
    folder = tmp_path / "specs"
    (folder / "blocks").mkdir(parents=True)
    (folder / "blocks" / "pair.yaml").write_text(
        "blocks:\n  pair:\n    layers: [{type: conv, out: 4, kernel: 3}, relu]\n"
    )
    text = (
        "network: net\ninput: [3, 8, 8]\nimports: [blocks/pair.yaml]\n"
        "layers: [{type: pair}, {type: pairs}]\n"
    )
    shown = str(folder / "net.yaml")  # not written: only its name and folder are used
    result = _check_stdin(text, "--stdin-filename", shown)
    assert result.exit_code == 1
    assert f"{shown}:4:31: error[E-UNKNOWN-KIND]" in result.output
    assert "did you mean 'pair'?" in result.output
    assert not (folder / "net.yaml").exists()
    assert (
        _check_stdin(text.replace(", {type: pairs}", ""), "--stdin-filename", shown).exit_code == 0
    )


def test_standard_input_usage_errors(write_spec):
    path = write_spec(ALEXNET_LECTURE)
    twice = CliRunner().invoke(main, ["check", "-", "-"], input=ALEXNET_LECTURE)
    assert twice.exit_code == 2 and "can be read once" in twice.output
    named = run("check", str(path), "--stdin-filename", "x.yaml")
    assert named.exit_code == 2 and "standard input (-)" in named.output

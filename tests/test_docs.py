"""The docs never lie: generated pages are current, every diagnostic code is documented
with an example that really produces it, and the docs' links lead somewhere."""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "docs" / "tools"))

import docrun  # noqa: E402
import gen_cli  # noqa: E402
import gen_errors  # noqa: E402
import gen_language  # noqa: E402
import gen_pages  # noqa: E402
import make_docs  # noqa: E402

from archc.layers import REGISTRY, ShapeError  # noqa: E402
from archc.spec.model import ENTRY_KEYS, SpecFile  # noqa: E402

STALE = "is stale: run `python docs/tools/make_docs.py` and commit the result"


def test_language_md_is_current():
    assert (ROOT / "docs/language.md").read_text() == gen_language.generate(), STALE


def test_language_md_covers_every_kind_and_key():
    text = (ROOT / "docs/language.md").read_text()
    for type_name, kind in REGISTRY.items():
        assert f"### `{type_name}`" in text
        assert kind.shape_rule and kind.param_rule
        for field in kind.Fields.model_fields:
            assert f"| `{field}` |" in text.split(f"### `{type_name}`")[1].split("### ")[0]
    for key in [*SpecFile.model_fields, *ENTRY_KEYS]:
        assert f"| `{key}` |" in text


def _typical_uses(kind):
    """(fields, inputs, output) a kind takes: its docs' first YAML example with fields, then
    its required fields set to 16 (kernels 3); each on the first of a map, a token sequence,
    a vector, a wide map and a channels-last map that it accepts."""
    import yaml

    candidates = []
    example = (kind.Fields.__doc__ or "").split("```yaml")
    if len(example) > 1:
        for entry in yaml.safe_load(example[1].split("```")[0]) or []:
            if isinstance(entry, dict):
                candidates.append({k: v for k, v in entry.items() if k not in ENTRY_KEYS})
                break
    required = {n: 16 for n, f in kind.Fields.model_fields.items() if f.is_required()}
    if "kernel" in required:
        required["kernel"] = 3
    candidates.append(required)
    for values in candidates:
        try:
            fields = kind.Fields.model_validate(values)
        except ValueError:  # pydantic's ValidationError: 16 is no permutation of axes
            continue
        # The last: Swin's first channels-last stage, which 7x7 windows tile.
        for shape in ((8, 16, 16), (16, 16), (8,), (64, 16, 16), (56, 56, 96)):
            inputs = [shape] * kind.min_inputs
            try:
                yield fields, inputs, kind.infer(fields, inputs)
            except ShapeError:
                continue


@pytest.mark.parametrize("type_name", sorted(REGISTRY))
def test_learnable_kinds_state_their_parameter_formula(type_name):
    """A kind that owns tensors on a typical input documents a formula, not `none`."""
    kind = REGISTRY[type_name]
    uses = list(_typical_uses(kind))
    assert uses, f"{type_name}: neither its docs' example nor a typical input is accepted"
    fields, inputs, out = uses[0]
    if kind.tensors(fields, inputs, out):
        assert kind.param_rule != "none"
    else:
        assert kind.param_rule == "none"


def test_cli_md_is_current():
    assert (ROOT / "docs/cli.md").read_text() == gen_cli.generate(), STALE


def test_cli_md_lists_every_command_and_option():
    from archc.cli import main

    text = (ROOT / "docs/cli.md").read_text()
    for name, command in main.commands.items():
        section = text.split(f"## `archc {name}`")[1].split("\n## ")[0]
        for param in command.params:
            for opt in getattr(param, "opts", []):
                if opt.startswith("-"):
                    assert f"`{opt}`" in section, (name, opt)


def test_every_diagnostic_code_is_documented():
    documented = set(gen_errors.load_catalog())
    emitted = gen_errors.codes_in_source()
    assert emitted - documented == set(), "add these codes to docs/tools/errors.yaml"
    assert documented - emitted == set(), "errors.yaml documents codes archc never emits"
    page = (ROOT / "docs/errors.md").read_text()
    for code in emitted:
        assert f"\n## {code}\n" in page


@pytest.fixture(scope="module")
def example_runs() -> dict:
    """(exit code, command, output) of every example that runs in seconds."""
    return {
        code: gen_errors.run_example(entry)
        for code, entry in gen_errors.load_catalog().items()
        if not entry.get("slow") and not entry.get("no_example")
    }


@pytest.fixture(scope="module")
def fresh_errors_page(example_runs) -> str:
    return gen_errors.generate(skip_slow=True, runs=example_runs)


def test_errors_md_is_current(fresh_errors_page):
    assert (ROOT / "docs/errors.md").read_text() == fresh_errors_page, STALE


@pytest.mark.parametrize("code", sorted(gen_errors.load_catalog()))
def test_error_example_produces_its_code(code, fresh_errors_page, example_runs):
    """The example shown for a code makes archc print that code (and exit 1 on errors)."""
    entry = gen_errors.load_catalog()[code]
    if entry.get("no_example"):
        pytest.skip("no spec reaches this safety net (explained on the page)")
    if entry.get("slow"):
        pytest.skip("minutes long: checked by test_errors_md_is_current_with_slow_examples")
    section = fresh_errors_page.split(f"\n## {code}\n")[1].split("\n## ")[0]
    console = section.split("```console\n")[1].split("```")[0]
    severity = "warning" if code.startswith("W-") else "error"
    assert re.search(rf"^\S+:\d+:\d+: {severity}\[{code}\]: ", console, re.M), console
    assert "Traceback" not in console and "internal error" not in console
    status, _, _ = example_runs[code]
    assert status == (0 if severity == "warning" else 1)


@pytest.mark.slow
def test_errors_md_is_current_with_slow_examples():
    assert (ROOT / "docs/errors.md").read_text() == gen_errors.generate(), STALE


def test_diagnostics_point_at_the_errors_page(write_spec):
    from archc.diagnostics import Diagnostic, Span

    text = Diagnostic("E-SHAPE-ADD", "error", "boom", Span("x.yaml", 3, 5)).format()
    head, *notes = text.split("\n")
    assert head == "x.yaml:3:5: error[E-SHAPE-ADD]: boom"
    assert notes[-1] == "    note: `archc explain E-SHAPE-ADD` explains this code"
    page = (ROOT / "docs/errors.md").read_text()
    assert "\n## E-SHAPE-ADD\n" in page and gen_errors.anchor("E-SHAPE-ADD") == "e-shape-add"


@pytest.mark.parametrize("page", ["docs/tutorial.md"])
def test_hand_written_pages_show_real_output(page):
    """The tutorial's specs and outputs are the real ones."""
    with tempfile.TemporaryDirectory() as tmp:
        root = make_docs.scratch_copy(Path(tmp))
        committed = (ROOT / page).read_text()
        assert gen_pages.fill(committed, root) == committed, STALE


def test_tutorial_commands_succeed():
    """Every command the tutorial shows, but the one showing an error, exits 0."""
    page = (ROOT / "docs/tutorial.md").read_text()
    commands = gen_pages.marked_commands(page)
    assert len(commands) >= 8
    with tempfile.TemporaryDirectory() as tmp:
        root = make_docs.scratch_copy(Path(tmp))
        for command in commands:
            status, output = docrun.run_shown(f"set -o pipefail; {command}", root)
            expected = 1 if "broken" in command else 0
            assert status == expected, (command, output)


def _links(page: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    return re.findall(r"\]\(([^)\s]+)\)", text)


@pytest.mark.parametrize(
    "page", ["README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))]
)
def test_links_lead_somewhere(page):
    path = ROOT / page
    for link in _links(path):
        if link.startswith(("http://", "https://")):
            continue
        target, _, anchor = link.partition("#")
        target_path = (path.parent / target).resolve() if target else path
        assert target_path.exists(), f"{page}: broken link {link}"
        if anchor and target_path.suffix == ".md":
            headings = re.findall(r"^#+ (.+)$", target_path.read_text(), flags=re.M)
            anchors = {
                re.sub(r"[^\w\- ]", "", h).strip().lower().replace(" ", "-") for h in headings
            }
            assert anchor in anchors, f"{page}: no heading for #{anchor} in {target}"


# --- the JSON Schema that editors use (docs/editors.md) --------------------------------


@pytest.fixture(scope="module")
def schema_validator():
    import json

    from jsonschema import Draft202012Validator

    from archc.spec.schema import json_schema

    schema = json.loads(json.dumps(json_schema()))  # exactly what `archc schema` prints
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _yaml(path: Path):
    import yaml

    return yaml.safe_load(path.read_text())


SPEC_FILES = sorted([*(ROOT / "specs").glob("*.yaml"), *(ROOT / "docs/examples").glob("*.yaml")])


def test_archc_schema_prints_the_schema():
    import json

    from click.testing import CliRunner

    from archc.cli import main
    from archc.spec.schema import json_schema

    result = CliRunner().invoke(main, ["schema"])
    assert result.exit_code == 0
    assert json.loads(result.output) == json.loads(json.dumps(json_schema()))


@pytest.mark.parametrize("path", SPEC_FILES, ids=[p.name for p in SPEC_FILES])
def test_every_spec_passes_the_schema(path, schema_validator):
    errors = [
        f"{list(e.absolute_path)}: {e.message[:200]}"
        for e in schema_validator.iter_errors(_yaml(path))
    ]
    assert not errors, "\n".join(errors)


BROKEN = {
    "unknown top-level key": "layer: [relu]\n",
    "unknown variant key": "variants:\n  a: {parms: {}}\nlayers: [relu]\n",
    "block without layers": "blocks:\n  b: {params: {}}\nlayers: [relu]\n",
    "unknown layer field": "layers:\n  - {type: conv, out: 4, kernal: 3}\n",
    "missing required field": "layers:\n  - {type: conv, out: 4}\n",
    "wrong value type": "layers:\n  - {type: conv, out: 4, kernel: 3, bias: 3}\n",
    "value out of range": "layers:\n  - {type: dropout, p: 2}\n",
    "pair of three": "layers:\n  - {type: maxpool, kernel: [2, 2, 2]}\n",
    "no layers at all": "",
}


@pytest.mark.parametrize("mistake", sorted(BROKEN))
def test_the_schema_flags_mistakes(mistake, schema_validator, write_spec):
    """Each mistake docs/editors.md says the schema catches is caught by it, and by
    `archc check` too (so the fixtures are real mistakes, not schema quirks)."""
    from click.testing import CliRunner

    from archc.cli import main

    path = write_spec("network: net\ninput: [3, 8, 8]\n" + BROKEN[mistake])
    assert list(schema_validator.iter_errors(_yaml(path))), mistake
    result = CliRunner().invoke(main, ["check", str(path)])
    assert result.exit_code == 1 and "error[E-" in result.output, result.output


# --- the figures the tutorial quotes, against their outside sources --------------------


def _summary(name: str, variant: str | None = None) -> dict:
    import archc

    return archc.load(ROOT / "docs" / "examples" / f"{name}.yaml", variant).summary()


def _layer(summary: dict, name: str) -> dict:
    return next(row for row in summary["layers"] if row["name"] == name)


def test_tutorial_lenet_matches_the_paper():
    """LeCun et al. 1998, section II.B: C1 28x28x6 with 156 trainable parameters, S2
    14x14x6, C3 10x10x16, S4 5x5x16, C5 48,120 trainable parameters, F6 84 units."""
    s = _summary("lenet")
    assert _layer(s, "c1")["output_shape"] == [6, 28, 28] and _layer(s, "c1")["params"] == 156
    assert _layer(s, "s2")["output_shape"] == [6, 14, 14]
    assert _layer(s, "c3")["output_shape"] == [16, 10, 10]
    assert _layer(s, "s4")["output_shape"] == [16, 5, 5]
    assert _layer(s, "c5")["params"] == 48_120 and _layer(s, "f6")["output_shape"] == [84]


def test_tutorial_residual_blocks_match_torchvision_resnet18():
    """torchvision's resnet18: layer1.0 has 2 * (64*64*9 + 2*64) = 73,984 parameters and
    layer2.0 128*64*9 + 128*128*9 + 128*64 + 3 * 2*128 = 230,144 (BasicBlock's code)."""
    s = _summary("residual")
    per_block: dict[str, int] = {}
    for row in s["layers"]:
        block = row["name"].split(".")[0]
        per_block[block] = per_block.get(block, 0) + row["params"]
    assert per_block == {"layer1": 73_984, "layer2": 230_144}
    assert "layer1.downsample.0" not in {r["name"] for r in s["layers"]}
    assert _layer(s, "layer2.downsample.0")["output_shape"] == [128, 28, 28]


def test_tutorial_inception_matches_googlenet_table1():
    """Szegedy et al. 2014, Table 1, inception (3a): output 28x28x256, 128M ops."""
    s = _summary("inception")
    assert s["output_shape"] == [256, 28, 28]
    assert round(s["totals"]["macs"] / 1e6) == 128


def test_tutorial_vgg_matches_torchvision_and_cs231n():
    """torchvision's vgg11 (column A) has 132,863,336 parameters and vgg16 (D)
    138,357,544; CS231n's VGG16 walk-through counts 15,237,608 activations (CONTRACT.md)."""
    assert _summary("vgg", "A")["totals"]["params"] == 132_863_336
    d = _summary("vgg", "D")["totals"]
    assert d["params"] == 138_357_544 and d["activation_elements"] == 15_237_608
    assert round(d["macs"] / 1e9, 2) == 15.47
    bn = _summary("vgg", "D-BN")["totals"]
    assert bn["params"] == 138_365_992  # torchvision's vgg16_bn


def _messages(errors) -> list[str]:
    found = []
    for error in errors:
        found.append(error.message)
        found.extend(_messages(error.context))
    return found


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        ("{type: conv, out: 4, kernal: 3}", "'kernal' was unexpected"),
        ("{type: conv, out: 4}", "'kernel' is a required property"),
        ("{type: dropout, p: 2}", "2 is greater than the maximum of 1"),
    ],
)
def test_the_schema_names_the_field_at_fault(entry, words, schema_validator):
    """An editor shows the layer kind's own complaint, not only 'not valid under any'."""
    import yaml

    spec = yaml.safe_load(f"network: n\ninput: [3, 8, 8]\nlayers:\n  - {entry}\n")
    assert any(words in m for m in _messages(schema_validator.iter_errors(spec)))


def test_the_schema_completes_layer_kinds(schema_validator):
    entry = schema_validator.schema["$defs"]["LayerEntry"]
    mapping = next(option for option in entry["anyOf"] if option.get("type") == "object")
    kinds = mapping["properties"]["type"]["anyOf"][0]["enum"]
    assert kinds == sorted(REGISTRY)


def test_tutorial_inverted_residual_matches_torchvision_mobilenet_v3_large():
    """torchvision's mobilenet_v3_large: features.4 and features.5 (the first two blocks
    with squeeze-excitation) hold these keys and shapes, one for one (fixture)."""
    import json

    s = _summary("inverted_residual_se")
    fixture = json.loads(
        (ROOT / "tests/reference/torchvision/mobilenet_v3_large.json").read_text()
    )["state_dict"]
    renamed = {"features.4.": "features.0.", "features.5.": "features.1."}
    theirs = [
        [renamed[key[:11]] + key[11:], shape, kind]
        for key, shape, kind in fixture
        if key[:11] in renamed
    ]
    assert s["state_dict"] == theirs
    assert s["totals"]["params"] == 31_320

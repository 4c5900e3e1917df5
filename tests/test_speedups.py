"""Speed-ups in the core keep behaviour: the libyaml fast path of the spec loader gives
exactly what the pure-Python parser gives, and cached expressions evaluate per scope."""

from __future__ import annotations

import pytest
import yaml

from archc.diagnostics import Reporter, SpecError
from archc.layers import REGISTRY
from archc.passes.expand import _literals
from archc.pipeline import load as archc_load
from archc.spec import source
from tests.conftest import ROOT

FILES = sorted((ROOT / "specs").glob("*.yaml")) + sorted(
    (ROOT / "tests" / "bad_specs").rglob("*.yaml")
)


def _dump(value):
    """Values and every span, as plain comparable data."""
    if isinstance(value, source.LocDict):
        return (
            "map",
            value.span,
            [(k, value.key_spans[k], value.value_spans[k], _dump(v)) for k, v in value.items()],
        )
    if isinstance(value, source.LocList):
        return ("seq", value.span, list(value.item_spans), [_dump(v) for v in value])
    return (type(value).__name__, value)


def _parse(text: str, monkeypatch, fast: bool):
    reporter = Reporter()
    with monkeypatch.context() as patch:
        if not fast:
            patch.setattr(source, "_compose_fast", lambda text: (None, None))
        data = source.parse_yaml(text, "spec.yaml", reporter)
    return _dump(data), [str(d) for d in reporter.diagnostics]


@pytest.mark.skipif(not hasattr(yaml, "CSafeLoader"), reason="PyYAML built without libyaml")
@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_fast_and_pure_python_parsers_agree(path, monkeypatch):
    text = path.read_bytes().decode("utf-8", errors="replace")
    assert _parse(text, monkeypatch, fast=True) == _parse(text, monkeypatch, fast=False)


@pytest.mark.parametrize("text", ["", "a: [1, 2\n", "a:\n\t- 1\n", "[" * 5000, "a: &x 1\nb: *y\n"])
def test_broken_yaml_is_reported_as_before(text, monkeypatch):
    """Broken YAML falls back to the pure-Python parser, so diagnostics do not change."""
    fast = _parse(text, monkeypatch, fast=True)
    assert fast == _parse(text, monkeypatch, fast=False)
    assert fast[1], "broken YAML must give a diagnostic"


# --- expressions are parsed once and cached: every use must still see its own scope -------


def test_cached_expression_is_evaluated_in_each_scope():
    from archc.spec.expr import evaluate

    text = "4 * planes if stride != 1 else planes"
    assert evaluate(text, {"planes": 64, "stride": 2}) == 256
    assert evaluate(text, {"planes": 64, "stride": 1}) == 64
    assert evaluate(text, {"planes": 8, "stride": 2}) == 32


def test_cached_parse_error_is_reported_every_time():
    from archc.spec.expr import ExprError, evaluate

    for _ in range(2):
        with pytest.raises(ExprError, match="cannot parse expression '4 \\*'"):
            evaluate("4 *", {})


# --- the garbage collector is paused during parsing and analysis, and always restored ------


def test_paused_gc_restores_the_collector_state():
    import gc

    from archc.gc_pause import paused_gc

    assert gc.isenabled()
    with paused_gc():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), paused_gc():
        raise RuntimeError("analysis failed")
    assert gc.isenabled()
    gc.disable()
    try:
        with paused_gc():
            pass
        assert not gc.isenabled(), "a collector the caller disabled stays disabled"
    finally:
        gc.enable()


def test_analysis_runs_without_the_collector_and_restores_it(monkeypatch):
    import gc

    import archc
    from archc.passes import counts

    seen = []
    original = counts.count

    def spy(graph):
        seen.append(gc.isenabled())
        return original(graph)

    monkeypatch.setattr("archc.pipeline.count", spy)
    archc.load(ROOT / "specs" / "alexnet.yaml")
    assert seen == [False]
    assert gc.isenabled()


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_literal_words_match_the_json_schema(name):
    """The words a field accepts (`padding: same`), read from type annotations for speed,
    are exactly the string enums and consts of the kind's JSON Schema (`archc schema`)."""
    kind = REGISTRY[name]
    expected = {}
    for field, prop in kind.Fields.model_json_schema().get("properties", {}).items():
        words = set()
        for option in [prop, *prop.get("anyOf", [])]:
            words.update(v for v in option.get("enum", []) if isinstance(v, str))
            if isinstance(option.get("const"), str):
                words.add(option["const"])
        if words:
            expected[field] = words
    assert _literals(kind) == expected


def test_conv_padding_words_are_found():
    assert _literals(REGISTRY["conv"]) == {"padding": {"same", "valid"}}


def _diagnostics(path):
    reporter = Reporter()
    try:
        archc_load(path, reporter=reporter)
    except SpecError:
        pass
    return reporter.diagnostics


@pytest.mark.parametrize("first, second", [("true", "1"), ("1", "true"), ("2", "2.0")])
def test_shared_fields_tell_booleans_ints_and_floats_apart(write_spec, first, second):
    """Layers with equal values share validated fields; `true`, `1` and `1.0` are not equal
    values (strict validation accepts only some of them), whatever order they come in."""
    path = write_spec(
        "network: t\ninput: [3, 8, 8]\nlayers:\n"
        f"  - {{type: conv, out: 4, kernel: 1, bias: {first}}}\n"
        f"  - {{type: conv, out: 4, kernel: 1, bias: {second}}}\n"
        f"  - {{type: conv, out: 4, kernel: 1, stride: {first}}}\n"
        f"  - {{type: conv, out: 4, kernel: 1, stride: {second}}}\n"
    )
    alone = {
        line: _diagnostics(
            write_spec(f"network: t\ninput: [3, 8, 8]\nlayers:\n  - {{{entry}}}\n", f"{line}.yaml")
        )
        for line, entry in enumerate(
            [
                f"type: conv, out: 4, kernel: 1, bias: {first}",
                f"type: conv, out: 4, kernel: 1, bias: {second}",
                f"type: conv, out: 4, kernel: 1, stride: {first}",
                f"type: conv, out: 4, kernel: 1, stride: {second}",
            ]
        )
    }
    together = _diagnostics(path)
    # Each entry is judged as it would be alone: same error codes, at its own line.
    expected = sorted(
        (4 + line, d.code) for line, found in alone.items() for d in found if d.severity == "error"
    )
    got = sorted((d.span.line, d.code) for d in together if d.severity == "error")
    assert got == expected
    assert expected, "at least one of the values is refused"


def test_repeated_uneven_windows_each_get_a_warning(write_spec):
    path = write_spec(
        "network: t\ninput: [3, 9, 9]\nlayers:\n"
        "  - {name: a, type: maxpool, kernel: 2, stride: 2}\n"
        "  - {name: c, type: maxpool, kernel: 2, stride: 2, inputs: input}\n"
        "  - {type: concat, inputs: [a, c]}\n"
    )
    warnings = [d for d in _diagnostics(path) if d.code == "W-UNEVEN-WINDOW"]
    assert [(w.span.line, w.message.split(":")[0]) for w in warnings] == [
        (4, "maxpool 'a'"),
        (5, "maxpool 'c'"),
    ]

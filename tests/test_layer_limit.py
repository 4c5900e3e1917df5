"""The layer limit counts layers, not graph nodes: a network of exactly MAX_LAYERS layers is
accepted (the input node is not a layer), one more is refused with E-LIMIT-LAYERS."""

from __future__ import annotations

import pytest

from archc.diagnostics import SpecError
from archc.passes import expand
from archc.pipeline import load


def _chain(tmp_path, layers: int):
    text = "network: chain\ninput: [4]\nlayers:\n" + "  - relu\n" * layers
    path = tmp_path / f"chain_{layers}.yaml"
    path.write_text(text)
    return path


def test_exactly_max_layers_is_accepted(tmp_path, monkeypatch):
    monkeypatch.setattr(expand, "MAX_LAYERS", 5)
    assert len(load(_chain(tmp_path, 5)).layers()) == 5


def test_one_more_than_max_layers_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(expand, "MAX_LAYERS", 5)
    with pytest.raises(SpecError) as caught:
        load(_chain(tmp_path, 6))
    assert [d.code for d in caught.value.diagnostics] == ["E-LIMIT-LAYERS"]


def _repeated(tmp_path, before: int, copies: int):
    text = (
        "network: chain\ninput: [4]\nlayers:\n"
        + "  - relu\n" * before
        + f"  - {{type: relu, repeat: {copies}}}\n"
    )
    path = tmp_path / f"repeat_{before}_{copies}.yaml"
    path.write_text(text)
    return path


def test_a_repeat_that_ends_exactly_at_the_limit_is_accepted(tmp_path, monkeypatch):
    monkeypatch.setattr(expand, "MAX_LAYERS", 5)
    assert len(load(_repeated(tmp_path, 2, 3)).layers()) == 5


def test_a_repeat_past_the_limit_says_how_many_layers_are_left(tmp_path, monkeypatch):
    monkeypatch.setattr(expand, "MAX_LAYERS", 5)
    with pytest.raises(SpecError) as caught:
        load(_repeated(tmp_path, 2, 4))
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.code == "E-LIMIT-REPEAT"
    assert "4 copies is more than the 3 layers left of archc's limit of 5" in diagnostic.message

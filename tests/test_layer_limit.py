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

"""Golden files: the generated model.py of a few small zoo variants, compared byte for byte.

A change to the generator (or to these specs) shows up here as a readable diff. After a
deliberate change, regenerate the files and review them like any other code change:

    ARCHC_REGEN_GOLDEN=1 pytest tests/test_pytorch_golden.py
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest

import archc
from archc.backends.pytorch import generate_source
from tests.conftest import SPECS

pytest.importorskip("torch")

GOLDEN = Path(__file__).resolve().parent / "golden"

#: golden folder -> (spec, variant)
CASES = {
    "alexnet_lecture": ("alexnet.yaml", "lecture"),
    "resnet_cifar_20": ("resnet_cifar.yaml", "20"),
    "googlenet_torchvision": ("googlenet.yaml", "torchvision"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_generated_source_equals_golden_file(name):
    spec, variant = CASES[name]
    source = generate_source(archc.load(SPECS / spec, variant).graph)
    path = GOLDEN / name / "model.py"
    if os.environ.get("ARCHC_REGEN_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
    expected = path.read_text()
    diff = "".join(
        difflib.unified_diff(
            expected.splitlines(True), source.splitlines(True), str(path), "generated"
        )
    )
    assert source == expected, (
        f"generated code differs from {path} (ARCHC_REGEN_GOLDEN=1 to update):\n{diff}"
    )

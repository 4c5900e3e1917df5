"""Shared fixtures and paths for the test suite."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
# The reference fixtures live beside the project in the workspace (../shared/reference);
# a copy is kept in tests/reference so a clean clone has them too.
REFERENCE = ROOT / "tests" / "reference"


def torchvision_fixture(name: str) -> dict:
    """A torchvision fixture from tests/reference/torchvision (see its README)."""
    return json.loads((REFERENCE / "torchvision" / f"{name}.json").read_text())


@pytest.fixture
def write_spec(tmp_path):
    """Write YAML text to a spec file in a temporary folder and return its path."""

    def write(text: str, name: str = "spec.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write

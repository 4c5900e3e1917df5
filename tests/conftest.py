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


# Hypothesis: "ci" (the default) is derandomized and bounded so CI is fast and repeatable;
# `pytest --hypothesis-profile=long` runs many more random examples.
from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=40,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "long",
    max_examples=2000,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile("ci")

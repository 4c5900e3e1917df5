"""Mutated zoo specs: every result is either a valid network or located diagnostics.

Hypothesis takes a zoo spec as data and changes it the way people break specs: drops,
renames and retypes keys, changes numbers, deletes, duplicates and swaps list items. The
mutated spec is written out as YAML and loaded; the only allowed failure is SpecError,
and each of its diagnostics must point at a real place in the file (line and column within
the text) with a code. Any other exception is a bug.
"""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archc.diagnostics import SpecError
from archc.pipeline import load
from tests.conftest import SPECS

ZOO = sorted(SPECS.glob("*.yaml"))
#: Variants too large to expand many times in a unit test (thousands of layers each).
HEAVY = {"1202", "cifar-1001", "110", "152", "152-v1", "101", "101-v1"}

NEW_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(
        [
            "relu",
            "conv3-64",
            "maxpool",
            "$blocks",
            "2 *",
            "input",
            "same",
            "in_channels // 0",
            "__import__('os')",
            "planes",
            "index",
            "[]",
        ]
    ),
    st.lists(st.integers(-2, 9), max_size=4),
    st.dictionaries(
        st.sampled_from(["type", "out", "kernel", "name", "inputs", "repeat"]),
        st.integers(-1, 9),
        max_size=3,
    ),
)


def paths(data, prefix=()):
    """Every path (tuple of keys and indices) to a value inside `data`."""
    found = [prefix] if prefix else []
    if isinstance(data, dict):
        for key, value in data.items():
            found += paths(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found += paths(value, (*prefix, index))
    return found


def parent_of(data, path):
    for part in path[:-1]:
        data = data[part]
    return data


@st.composite
def mutated(draw, spec_path: Path):
    data = yaml.safe_load(spec_path.read_text())
    data = copy.deepcopy(data)
    for _ in range(draw(st.integers(1, 3))):
        every = paths(data)
        if not every:
            break
        path = draw(st.sampled_from(every))
        parent, key = parent_of(data, path), path[-1]
        value = parent[key]
        action = draw(st.sampled_from(["drop", "rename", "retype", "number", "duplicate", "swap"]))
        if action == "drop":
            del parent[key]
        elif action == "rename" and isinstance(parent, dict):
            new = draw(
                st.one_of(
                    st.text(min_size=1, max_size=10),
                    st.just(str(key)[:-1] or "x"),
                    st.just(str(key) + "s"),
                    st.sampled_from(["type", "name", "layers", "inputs", "out"]),
                )
            )
            parent[new] = parent.pop(key)
        elif action == "number" and isinstance(value, (int, float)) and not isinstance(value, bool):
            parent[key] = draw(
                st.sampled_from([0, -1, value + 1, value - 1, value * 1000, -value, value / 2])
            )
        elif action == "duplicate" and isinstance(parent, list):
            parent.insert(key, copy.deepcopy(value))
        elif action == "swap" and isinstance(parent, list) and len(parent) > 1:
            other = draw(st.integers(0, len(parent) - 1))
            parent[key], parent[other] = parent[other], parent[key]
        else:
            parent[key] = draw(NEW_VALUES)
    declared = data.get("variants") if isinstance(data, dict) else None
    variants = list(declared) if isinstance(declared, dict) else []
    light = [v for v in variants if str(v) not in HEAVY]
    variant = draw(st.one_of(st.none(), st.sampled_from(light))) if light else None
    return data, variant


def with_shared_blocks(folder: Path) -> Path:
    """The folder, holding a copy of specs/blocks/ so a spec's `imports:` resolve there."""
    shutil.copytree(SPECS / "blocks", folder / "blocks", dirs_exist_ok=True)
    return folder


def check_mutant(data, variant, tmp_path: Path) -> None:
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=120)
    path = with_shared_blocks(tmp_path) / "mutant.yaml"
    path.write_text(text)
    # A mutated argument can fail inside an imported block: located in that file then.
    texts = {path.resolve(): text}
    texts.update({p.resolve(): p.read_text() for p in (tmp_path / "blocks").glob("*.yaml")})
    try:
        load(path, variant=variant)
    except SpecError as exc:
        assert exc.diagnostics, "SpecError without diagnostics"
        for diagnostic in exc.diagnostics:
            assert diagnostic.code.startswith(("E-", "W-")), diagnostic
            where = Path(diagnostic.span.file).resolve()
            assert where in texts, diagnostic.format()
            lines = texts[where].splitlines() or [""]
            assert 1 <= diagnostic.span.line <= len(lines) + 1, diagnostic.format()
            assert diagnostic.span.col >= 1, diagnostic.format()
            assert diagnostic.message and "\n" not in diagnostic.message.strip("\n")
        assert any(d.severity == "error" for d in exc.diagnostics)


@pytest.mark.parametrize("spec_path", ZOO, ids=[p.stem for p in ZOO])
def test_mutated_zoo_specs_fail_only_with_located_diagnostics(spec_path, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp(spec_path.stem)

    @settings(
        max_examples=max(8, settings().max_examples // 4),
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.function_scoped_fixture,
        ],
    )
    @given(mutated(spec_path))
    def run(case):
        data, variant = case
        check_mutant(data, variant, tmp_path)

    run()


def test_unmutated_zoo_specs_load(tmp_path):
    """The control: the round trip through yaml.safe_dump alone breaks nothing."""
    for spec_path in ZOO:
        data = yaml.safe_load(spec_path.read_text())
        path = with_shared_blocks(tmp_path) / spec_path.name
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        load(path)

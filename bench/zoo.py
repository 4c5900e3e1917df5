"""Where the benchmark finds the zoo's specs, and copies of them at other input sizes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from bench.common import SPECS


@dataclass(frozen=True)
class SpecRef:
    """A spec file and the variant to use; `note` says how it differs from the zoo's."""

    path: Path
    variant: str | None
    note: str = ""


#: Benchmark network -> (zoo file, variant).
_ZOO = {
    "resnet18": ("resnet.yaml", "18"),
    "resnet50": ("resnet.yaml", "50"),
    "resnet152": ("resnet.yaml", "152"),
    "vgg16": ("vgg.yaml", "D"),
    "inception_v3": ("inception_v3.yaml", "torchvision"),
    "efficientnet_b0": ("efficientnet.yaml", "b0"),
    "convnext_tiny": ("convnext.yaml", "tiny"),
    "vit_b_16": ("vit.yaml", "b_16"),
}


def _has_variant(path: Path, variant: str) -> bool:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return False
    return isinstance(data, dict) and variant in (data.get("variants") or {})


def spec_for(network: str) -> SpecRef | None:
    """The zoo spec of a benchmark network, or None while the zoo lacks it."""
    zoo_file, variant = _ZOO[network]
    path = SPECS / zoo_file
    if path.exists() and _has_variant(path, variant):
        return SpecRef(path, variant)
    return None


def with_input(ref: SpecRef, size: tuple[int, int, int], scratch: Path) -> SpecRef:
    """A copy of a spec whose chosen variant takes another input size (smaller, for speed)."""
    data = yaml.safe_load(ref.path.read_text())
    variants = data.setdefault("variants", {})
    base = ref.variant or data.get("default") or next(iter(variants), None)
    name = f"{base}-bench{size[1]}"
    entry: dict = {"input": list(size), "class_name": data.get("class_name")}
    if base is not None and base in variants:
        entry = {"extends": base, "input": list(size)}
    entry = {k: v for k, v in entry.items() if v is not None}
    variants[name] = entry
    # Imports are relative to the spec's own folder; the copy lives elsewhere.
    if "imports" in data:
        data["imports"] = [str((ref.path.parent / p).resolve()) for p in data["imports"]]
    copy = scratch / f"{ref.path.stem}_{name}.yaml"
    copy.write_text(yaml.safe_dump(data, sort_keys=False))
    return SpecRef(copy, name, (ref.note + "; " if ref.note else "") + f"input {list(size)}")

"""Where the benchmark finds the zoo's specs (with fall-backs while the zoo is being written)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from bench.common import NOTES, SPECS


@dataclass(frozen=True)
class SpecRef:
    """A spec file and the variant to use; `note` says if a fall-back was used."""

    path: Path
    variant: str | None
    note: str = ""


#: Benchmark network -> (zoo file, variant, draft file, params a draft variant needs).
_ZOO = {
    "resnet50": ("resnet.yaml", "50", "resnet_draft.yaml", {}),
    "resnet152": ("resnet.yaml", "152", "resnet_draft.yaml", {"stages": [3, 8, 36, 3]}),
    "resnet18": ("resnet.yaml", "18", "resnet_draft.yaml", {}),
    "vgg16": ("vgg.yaml", "D", "vgg_draft.yaml", None),
    "inception_v3": ("inception_v3.yaml", "torchvision", None, None),
}


def _has_variant(path: Path, variant: str) -> bool:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return False
    return isinstance(data, dict) and variant in (data.get("variants") or {})


def spec_for(network: str, scratch: Path) -> SpecRef | None:
    """The spec of a benchmark network: the zoo's file, else a draft, else None."""
    zoo_file, variant, draft, extra = _ZOO[network]
    path = SPECS / zoo_file
    if path.exists() and _has_variant(path, variant):
        return SpecRef(path, variant)
    if draft is None or not (NOTES / draft).exists():
        return None
    draft_path = NOTES / draft
    if _has_variant(draft_path, variant):
        return SpecRef(draft_path, variant, f"draft {draft_path}")
    if extra is None:
        return None
    # The draft lacks this variant: add it (a copy in the scratch folder, drafts stay as is).
    data = yaml.safe_load(draft_path.read_text())
    data.setdefault("variants", {})[variant] = {"params": extra}
    copy = scratch / f"{network}_from_draft.yaml"
    copy.write_text(yaml.safe_dump(data, sort_keys=False))
    return SpecRef(copy, variant, f"draft {draft_path} with variant {variant} added")


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

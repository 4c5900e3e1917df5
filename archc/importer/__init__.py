"""`archc import` and `archc.from_module`: an existing PyTorch model as an editable spec.

The model is traced with torch.fx; each leaf module and function becomes a layer entry
(archc/importer/mapping.py), modules that hold others become blocks or Sequentials named
by their module paths (so the spec regenerates the same state_dict keys), and what has no
archc kind is reported at its module path rather than guessed. Needs torch.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archc.importer.emit import build_spec, to_yaml
from archc.importer.trace import Gap, TraceFailed, trace


class ImportFailed(Exception):
    """The model could not be imported: traced, mapped or checked. Carries the gaps."""

    def __init__(self, message: str, gaps: list[Gap] | None = None, text: str | None = None):
        super().__init__(message)
        self.message = message
        self.gaps = gaps or []
        #: The partial spec, with a comment where each gap is (for --partial).
        self.text = text


@dataclass
class Imported:
    """An imported spec: its YAML text, and how it compares with the source model."""

    text: str
    network: str
    keys_checked: int = 0
    notes: list[str] = field(default_factory=list)


def from_module(
    model: Any,
    input_shape: tuple[int, ...] | list[int],
    network: str | None = None,
    source: str | None = None,
    check: bool = True,
    partial: bool = False,
) -> Imported:
    """A spec (YAML text) for `model` fed examples of `input_shape` (C, H, W, no batch).

    With `check`, the spec is loaded with archc and its state_dict keys and shapes are
    compared with the model's; ImportFailed says what differs. With `partial`, parts with
    no archc kind become identity entries marked in their `doc:` instead of failing.
    """
    from archc.layers.base import REGISTRY

    shape = tuple(int(v) for v in input_shape)
    cls = type(model)
    name = network or _network_name(cls.__name__)
    try:
        traced = trace(model, partial)
    except TraceFailed as failure:
        raise ImportFailed(f"torch.fx could not trace {cls.__qualname__}", [failure.gap]) from None
    header = [
        f"Imported by `archc import` from {source or cls.__module__ + '.' + cls.__qualname__};",
        "module paths are kept, so the generated model has the source's state_dict keys.",
    ]
    class_name = cls.__name__ if cls.__name__.isidentifier() else None
    if traced.gaps and not partial:
        raise ImportFailed(
            f"{len(traced.gaps)} part(s) of {cls.__qualname__} have no archc equivalent",
            traced.gaps,
        )
    if traced.gaps:
        header.append(f"PARTIAL: {len(traced.gaps)} part(s) could not be mapped:")
        header += [f"  {gap.path}: {gap.what}" for gap in traced.gaps]
    spec = build_spec(traced.root, set(REGISTRY))
    text = to_yaml(name, shape, class_name, spec, header)
    result = Imported(text, name, notes=[f"{g.path}: {g.what}" for g in traced.gaps])
    if check and not traced.gaps:
        result.keys_checked = _check_keys(model, text)
    return result


def _check_keys(model: Any, text: str) -> int:
    """Load the spec with archc; its state_dict must equal the model's (keys, shapes, order)."""
    ours = spec_state(text)
    theirs = [(key, tuple(value.shape)) for key, value in model.state_dict().items()]
    if ours != theirs:
        differ = next(
            (f"{a} against {b}" for a, b in zip(ours, theirs, strict=False) if a != b),
            f"{len(ours)} entries against {len(theirs)}",
        )
        raise ImportFailed(f"the spec's state_dict differs from the model's: {differ}", text=text)
    return len(ours)


def spec_state(text: str) -> list[tuple[str, tuple[int, ...]]]:
    """The state_dict (keys and shapes) of the spec `text` as archc builds it; ImportFailed
    if archc rejects the spec."""
    import archc
    from archc.diagnostics import SpecError

    with tempfile.TemporaryDirectory(prefix="archc-import-") as folder:
        path = Path(folder) / "imported.yaml"
        path.write_text(text)
        try:
            graph = archc.load(path).graph
        except SpecError as exc:
            problems = "; ".join(d.message for d in exc.diagnostics[:3])
            raise ImportFailed(f"archc rejects the imported spec: {problems}", text=text) from None
    return [(key, tuple(t.shape)) for key, t in graph.state_dict()]


def _network_name(class_name: str) -> str:
    from archc.importer.emit import _block_name

    return _block_name(class_name)

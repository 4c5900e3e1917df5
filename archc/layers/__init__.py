"""The layer kinds: one module each, registered by defining them (see `base.LayerKind`)."""

from __future__ import annotations

import importlib
import pkgutil

from archc.layers.base import REGISTRY, LayerKind, Shape, ShapeError, Tensor, match_notation

for _module in pkgutil.iter_modules(__path__):
    if not _module.name.startswith("_") and _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["REGISTRY", "LayerKind", "Shape", "ShapeError", "Tensor", "match_notation"]

"""The spec language: YAML text to a validated `Spec` (torch-free)."""

from archc.spec.loader import Spec, Variant, load_spec

__all__ = ["Spec", "Variant", "load_spec"]

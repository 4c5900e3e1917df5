"""Check `init:` names (spec-wide and per layer) against the initialization schemes archc knows."""

from __future__ import annotations

from archc.diagnostics import Reporter, Span, did_you_mean
from archc.ir.graph import Graph

#: Accepted names -> the scheme they stand for (the lecture's He/MSRA and Xavier/Glorot
#: under both of their names).
SCHEMES = {
    "default": "default",
    "he": "he",
    "kaiming": "he",
    "msra": "he",
    "xavier": "xavier",
    "glorot": "xavier",
    "normal": "normal",
    "zeros": "zeros",
}


def scheme(name: str | None) -> str:
    """The canonical scheme of an accepted `init:` name (None means PyTorch's default)."""
    return "default" if name is None else SCHEMES[name.lower()]


def check_init(graph: Graph, spec_span: Span, reporter: Reporter) -> None:
    """Report every `init:` value that names no known scheme; raise SpecError if any."""
    seen = [(graph.init, spec_span, "init")]
    # One label for all layers, so a mistake inside a repeated block is reported once.
    seen += [(n.init, n.init_span or n.span, "init") for n in graph.layers()]
    for value, span, label in seen:
        if value is None or (isinstance(value, str) and value.lower() in SCHEMES):
            continue
        reporter.error(
            "E-INIT",
            f"{label}: unknown initialization {value!r}; known: " + ", ".join(SCHEMES),
            span,
            did_you_mean(str(value), SCHEMES),
        )
    reporter.check()

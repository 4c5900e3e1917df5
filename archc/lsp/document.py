"""One open spec buffer, analysed: every variant's diagnostics and graphs, and where its
layer entries, blocks and variants are written.

This module knows nothing of the protocol; `server.py` turns what it finds into LSP
messages. Everything here is computed once per edit, so that hover, definition and
completion requests answer from memory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from archc.diagnostics import Diagnostic, Reporter, Span, SpecError
from archc.ir.graph import Graph, Module, Node
from archc.lsp.text import Position, Range, token_range
from archc.spec.source import MAX_FILE_BYTES, LocDict, LocList


@dataclass
class Entry:
    """A layer entry as written: where it starts and ends, and what it is."""

    start: Position
    end: Position
    raw: LocDict | str
    #: The list the entry stands in (its siblings), for resolving `inputs:` names.
    siblings: LocList
    #: The block definition the entry belongs to, or None at the network's top level.
    block: str | None


@dataclass
class Document:
    """The analysis of one buffer."""

    path: Path
    display: str
    text: str
    lines: list[str]
    reporter: Reporter = field(default_factory=Reporter)
    spec: object | None = None  # archc.spec.loader.Spec
    #: Variant name -> its graph, for each variant that analysed without errors.
    graphs: dict[str, Graph] = field(default_factory=dict)
    entries: list[Entry] = field(default_factory=list)

    @property
    def diagnostics(self) -> list[Diagnostic]:
        """Every diagnostic found so far (duplicates across variants are reported once)."""
        return self.reporter.diagnostics

    # --- lookups ----------------------------------------------------------------------
    def graph(self) -> Graph | None:
        """The default variant's graph, or the first variant that analysed."""
        if self.spec is not None:
            default = self.spec.default_variant()
            if default in self.graphs:
                return self.graphs[default]
        return next(iter(self.graphs.values()), None)

    def entry_at(self, position: Position) -> Entry | None:
        """The innermost layer entry whose text holds `position`."""
        best = None
        for entry in self.entries:
            if entry.start <= position < entry.end:
                if best is None or best.start <= entry.start:
                    best = entry
        return best

    def items_of(self, entry: Entry) -> tuple[list[Node], list[Module]]:
        """The graph nodes and block/sequential instances an entry became (all instances
        when the entry is inside a block used several times)."""
        graph = self.graph()
        if graph is None:
            return [], []
        span = _start_span(entry)
        nodes = [n for n in graph.layers() if _same_place(n.span, span)]
        modules = [
            m for m in graph.root.walk() if isinstance(m, Module) and _same_place(m.span, span)
        ]
        return nodes, modules

    def span_range(self, span: Span) -> Range:
        """The LSP range of the token a span points at, in this buffer."""
        return token_range(self.lines, span.line - 1, span.col - 1)


def _start_span(entry: Entry) -> tuple[int, int]:
    return entry.start.line + 1, entry.start.character + 1


def _same_place(span: Span, place: tuple[int, int]) -> bool:
    return (span.line, span.col) == place and not span.file.startswith("<")


def analyse_text(text: str, path: str | os.PathLike) -> Document:
    """Load and analyse a buffer as if it were the file at `path`, every variant."""
    document = analyse_default(text, path)
    analyse_other_variants(document)
    return document


def analyse_default(text: str, path: str | os.PathLike) -> Document:
    """Load a buffer as if it were the file at `path` and analyse its default variant:
    what the user is most likely editing, published before the rest of a large family."""
    from archc.pipeline import analyse
    from archc.spec.loader import load_spec

    path = Path(path)
    display = str(path)
    document = Document(path, display, text, text.split("\n"))
    reporter = document.reporter
    # An editor may hold a buffer far over the limit (a paste): refuse before encoding it.
    if len(text) > MAX_FILE_BYTES:
        reporter.error(
            "E-LIMIT-FILE-SIZE",
            f"spec is {len(text):,} characters long; the limit is {MAX_FILE_BYTES:,} bytes",
            Span(display),
        )
        return document
    # Lone surrogates can arrive through JSON escapes; keep them so the decoder reports them.
    data = text.encode("utf-8", "surrogatepass")
    try:
        spec = load_spec(path, reporter, data)
    except SpecError:
        return document
    document.spec = spec
    document.entries = list(_entries(spec.raw, document.lines, display))
    default = spec.default_variant()
    try:
        document.graphs[default] = analyse(spec, default, reporter)
    except SpecError:
        pass
    return document


def analyse_other_variants(document: Document) -> None:
    """Analyse every variant but the default (done by `analyse_default`)."""
    from archc.pipeline import analyse

    spec = document.spec
    if spec is None:
        return
    for name in spec.variant_names()[1:]:
        try:
            document.graphs[name] = analyse(spec, name, document.reporter)
        except SpecError:
            pass


def _entries(raw: LocDict, lines: list[str], display: str):
    """Every layer entry of the network and of the blocks written in this file."""
    end = Position(len(lines), 0)
    layers = raw.get("layers")
    if isinstance(layers, LocList):
        yield from _list_entries(layers, end, None, display)
    blocks = raw.get("blocks")
    if isinstance(blocks, LocDict):
        for name, block in blocks.items():
            if isinstance(block, LocDict) and isinstance(block.get("layers"), LocList):
                yield from _list_entries(block["layers"], end, name, display)


def _list_entries(items: LocList, end: Position, block: str | None, display: str):
    for i, item in enumerate(items):
        span = items.item_span(i)
        if span.file != display:
            continue
        start = Position(span.line - 1, span.col - 1)
        stop = _position(items.item_span(i + 1)) if i + 1 < len(items) else end
        yield Entry(start, stop, item, items, block)
        if isinstance(item, LocDict) and isinstance(item.get("layers"), LocList):
            yield from _list_entries(item["layers"], stop, block, display)


def _position(span: Span) -> Position:
    return Position(span.line - 1, span.col - 1)

"""What the language server answers, computed from an analysed `Document`.

Each function takes the document and a position (code points) and returns plain data:
`server.py` wraps it in protocol types. Nothing here blocks on I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from archc.diagnostics import Diagnostic
from archc.ir.graph import Module, Node
from archc.layers.base import REGISTRY
from archc.lsp.document import Document, Entry
from archc.lsp.text import Position, Range, word_at
from archc.spec.model import ENTRY_KEYS
from archc.spec.source import LocDict, LocList

#: At most this many instances are listed when hovering over an entry inside a block.
HOVER_INSTANCES = 4
_DID_YOU_MEAN = re.compile(r"did you mean '([^']+)'\?")


@dataclass
class Location:
    """A place to jump to: a file and a range in it."""

    path: Path
    range: Range


@dataclass
class CompletionItem:
    """One completion: the text, what it is, and a line of detail."""

    label: str
    kind: str  # "kind", "block", "field", "key", "name", "variant"
    detail: str = ""
    documentation: str = ""


@dataclass
class Symbol:
    """An outline entry with its children."""

    name: str
    kind: str  # "namespace", "class", "field", "enum"
    range: Range
    detail: str = ""
    children: list[Symbol] | None = None


# --- hover ----------------------------------------------------------------------------


def hover(document: Document, position: Position) -> str | None:
    """Markdown describing what is under the cursor, or None."""
    block = _block_definition_at(document, position)
    if block is not None:
        return _block_definition_hover(document, block)
    entry = document.entry_at(position)
    if entry is None:
        return _kind_hover(document, position)
    word = word_at(document.lines, position)
    if word and _is_type_value(entry, document, position) and word[0] in REGISTRY:
        return _kind_text(word[0])
    nodes, modules = document.items_of(entry)
    if modules:
        return _instances_text(document, modules)
    if nodes:
        return _nodes_text(document, nodes)
    return None


def _is_type_value(entry: Entry, document: Document, position: Position) -> bool:
    line = document.lines[position.line]
    return bool(re.search(r"\btype:\s*[\w-]*$", line[: position.character + 1]))


def _kind_hover(document: Document, position: Position) -> str | None:
    word = word_at(document.lines, position)
    return _kind_text(word[0]) if word and word[0] in REGISTRY else None


def _kind_text(type_name: str) -> str:
    kind = REGISTRY[type_name]
    return (
        f"**{type_name}**: {kind.first_line()}\n\n"
        f"- output: {kind.shape_rule}\n- parameters: {kind.param_rule}"
    )


def _nodes_text(document: Document, nodes: list[Node]) -> str:
    graph = document.graph()
    parts = []
    for node in nodes[:HOVER_INSTANCES]:
        inputs = ", ".join(graph.nodes[i].volume for i in node.inputs)
        hyper = node.layer.describe(node.fields)
        c = node.counts
        figures = [f"params {c.params:,}", f"MACs {c.macs:,}"]
        rf = node.receptive_field
        if rf is not None:
            figures.append(f"receptive field {_pair(rf.size)} / {_pair(rf.jump)}")
        parts.append(
            f"**{node.path}** `{node.type}`{' ' + hyper if hyper else ''}\n\n"
            f"{inputs} → **{node.volume}**\n\n" + " · ".join(figures)
        )
    return _with_more(parts, len(nodes), document)


def _instances_text(document: Document, modules: list[Module]) -> str:
    graph = document.graph()
    parts = []
    for module in modules[:HOVER_INSTANCES]:
        nodes = [item for item in module.walk() if isinstance(item, Node)]
        params = sum(n.counts.params for n in nodes)
        macs = sum(n.counts.macs for n in nodes)
        what = f"block `{module.block}`" if module.block else "sequential"
        parts.append(
            f"**{module.path}** ({what}, {len(nodes)} layers)\n\n"
            f"{graph.nodes[module.input].volume} → "
            f"**{graph.nodes[module.output].volume}**\n\n"
            f"params {params:,} · MACs {macs:,}"
        )
    return _with_more(parts, len(modules), document)


def _with_more(parts: list[str], total: int, document: Document) -> str:
    text = "\n\n---\n\n".join(parts)
    if total > len(parts):
        text += f"\n\n… and {total - len(parts)} more instances"
    graph = document.graph()
    return f"{text}\n\n_{graph.network} / {graph.variant}_"


def _pair(pair: tuple[int, int]) -> str:
    return str(pair[0]) if pair[0] == pair[1] else f"{pair[0]}x{pair[1]}"


def _block_definition_at(document: Document, position: Position) -> str | None:
    spec = document.spec
    if spec is None:
        return None
    blocks = spec.raw.get("blocks")
    if not isinstance(blocks, LocDict):
        return None
    word = word_at(document.lines, position)
    if word is None or word[0] not in blocks:
        return None
    span = blocks.key_span(word[0])
    return word[0] if span.line - 1 == position.line else None


def _block_definition_hover(document: Document, name: str) -> str:
    block = document.spec.blocks[name]
    params = block.spec.params
    lines = [
        f"**block {name}**" + (f": {block.spec.description}" if block.spec.description else "")
    ]
    if params:
        listed = ", ".join(f"`{k}`" + ("" if v is None else f" = {v!r}") for k, v in params.items())
        lines.append(f"parameters: {listed}")
    graph = document.graph()
    if graph is not None:
        uses = [m for m in graph.root.walk() if isinstance(m, Module) and m.block == name]
        lines.append(f"used {len(uses)} time{'s' if len(uses) != 1 else ''} in {graph.variant}")
    return "\n\n".join(lines)


# --- definition -----------------------------------------------------------------------


def definition(document: Document, position: Position) -> Location | None:
    """Where the name under the cursor is defined: a block, an earlier entry, an import."""
    spec = document.spec
    word = word_at(document.lines, position)
    if spec is None or word is None:
        return None
    name = word[0]
    imported = _import_at(document, position)
    if imported is not None:
        return imported
    entry = document.entry_at(position)
    if entry is not None and _in_inputs(document, position):
        target = _sibling_named(entry, name)
        if target is not None:
            return Location(document.path, document.span_range(target.value_span("name")))
    if name in spec.blocks:
        span = spec.blocks[name].span
        path = document.path if span.file == document.display else Path(span.file).resolve()
        lines = document.lines if path == document.path else _read_lines(path)
        return Location(path, Document(path, span.file, "", lines).span_range(span))
    return None


def _in_inputs(document: Document, position: Position) -> bool:
    line = document.lines[position.line][: position.character]
    if re.search(r"\binputs:", line):
        return True
    # A block-style list under `inputs:`: the nearest key above is `inputs`.
    for above in range(position.line, max(position.line - 20, -1), -1):
        text = document.lines[above].strip()
        if above != position.line and text.startswith("inputs:"):
            return True
        if above != position.line and not text.startswith("-"):
            return False
    return False


def _sibling_named(entry: Entry, name: str) -> LocDict | None:
    for item in entry.siblings:
        if isinstance(item, LocDict) and item.get("name") == name:
            return item
    return None


def _import_at(document: Document, position: Position) -> Location | None:
    imports = document.spec.raw.get("imports")
    if not isinstance(imports, LocList):
        return None
    for i, target in enumerate(imports):
        if imports.item_span(i).line - 1 == position.line and isinstance(target, str):
            path = (document.path.parent / target).resolve()
            if path.is_file():
                return Location(path, Range(Position(0, 0), Position(0, 0)))
    return None


def _read_lines(path: Path) -> list[str]:
    # As archc reads specs: a regular file of at most 1 MiB (a FIFO would block the server).
    from archc.reading import ReadError, read_bounded

    try:
        return read_bounded(path).decode("utf-8", "replace").split("\n")
    except ReadError:
        return []


# --- completion -----------------------------------------------------------------------


def completions(document: Document, position: Position) -> list[CompletionItem]:
    """What may be typed at the cursor, from the line's context."""
    line = document.lines[position.line] if position.line < len(document.lines) else ""
    before = line[: position.character]
    spec = document.spec
    if re.search(r"\btype:\s*[\w-]*$", before) or re.fullmatch(r"\s*-\s*[\w-]*", before):
        return _kinds_and_blocks(document)
    if re.search(r"\b(default|extends):\s*[\w-]*$", before):
        return [CompletionItem(v, "variant") for v in (spec.variant_names() if spec else [])]
    entry = document.entry_at(position)
    if entry is not None and _in_inputs(document, position):
        return _referable_names(entry, position)
    if entry is not None and isinstance(entry.raw, LocDict):
        return _entry_keys(document, entry)
    return []


def _kinds_and_blocks(document: Document) -> list[CompletionItem]:
    items = [
        CompletionItem(name, "kind", kind.first_line(), f"output: {kind.shape_rule}")
        for name, kind in sorted(REGISTRY.items())
    ]
    if document.spec is not None:
        for name, block in sorted(document.spec.blocks.items()):
            params = ", ".join(block.spec.params)
            items.append(CompletionItem(name, "block", f"block ({params})", block.spec.description))
    items.append(CompletionItem("sequential", "kind", "a chain of entries (`layers:`)"))
    return items


def _referable_names(entry: Entry, position: Position) -> list[CompletionItem]:
    names = ["input"]
    for item in entry.siblings:
        if item is entry.raw:
            break
        if isinstance(item, LocDict) and isinstance(item.get("name"), str):
            names.append(item["name"])
    return [
        CompletionItem(n, "name", "the network's (or block's) input" if n == "input" else "")
        for n in names
    ]


def _entry_keys(document: Document, entry: Entry) -> list[CompletionItem]:
    written = set(entry.raw)
    items = [
        CompletionItem(key, "key", text) for key, text in ENTRY_KEYS.items() if key not in written
    ]
    type_name = entry.raw.get("type")
    kind = REGISTRY.get(type_name) if isinstance(type_name, str) else None
    if kind is not None:
        for name, info in kind.Fields.model_fields.items():
            if name in written:
                continue
            default = "" if info.is_required() else f" (default {info.get_default()!r})"
            items.append(CompletionItem(name, "field", (info.description or "") + default))
    elif isinstance(type_name, str) and document.spec and type_name in document.spec.blocks:
        for name, value in document.spec.blocks[type_name].spec.params.items():
            if name not in written:
                detail = "required" if value is None else f"default {value!r}"
                items.append(CompletionItem(name, "field", f"block parameter, {detail}"))
    return items


# --- outline --------------------------------------------------------------------------


def symbols(document: Document) -> list[Symbol]:
    """The outline: blocks, variants and the network's top-level layers."""
    spec = document.spec
    if spec is None:
        return []
    raw = spec.raw
    outline = []
    layers = raw.get("layers")
    if isinstance(layers, LocList):
        outline.append(_section(document, raw, "layers", _list_symbols(document, layers)))
    blocks = raw.get("blocks")
    if isinstance(blocks, LocDict):
        children = []
        for name, body in blocks.items():
            inner = body.get("layers") if isinstance(body, LocDict) else None
            kids = _list_symbols(document, inner) if isinstance(inner, LocList) else []
            children.append(
                Symbol(name, "class", document.span_range(blocks.key_span(name)), "block", kids)
            )
        outline.append(_section(document, raw, "blocks", children))
    variants = raw.get("variants")
    if isinstance(variants, LocDict):
        children = [
            Symbol(name, "enum", document.span_range(variants.key_span(name)), "variant")
            for name in variants
        ]
        outline.append(_section(document, raw, "variants", children))
    return outline


def _section(document: Document, raw: LocDict, key: str, children: list[Symbol]) -> Symbol:
    return Symbol(key, "namespace", document.span_range(raw.key_span(key)), "", children)


def _list_symbols(document: Document, items: LocList) -> list[Symbol]:
    result = []
    for i, item in enumerate(items):
        span = items.item_span(i)
        if span.file != document.display:
            continue
        if isinstance(item, LocDict):
            name = item.get("name") or item.get("type") or "entry"
            detail = str(item.get("type", ""))
        else:
            name, detail = str(item), ""
        result.append(Symbol(str(name), "field", document.span_range(span), detail))
    return result


# --- code actions ---------------------------------------------------------------------


def suggestion(diagnostic: Diagnostic) -> str | None:
    """The replacement a diagnostic's "did you mean" note proposes, if it has one."""
    for note in diagnostic.notes:
        match = _DID_YOU_MEAN.search(note)
        if match:
            return match.group(1)
    return None

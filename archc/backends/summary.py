"""The summary backend: per-layer figures and totals as a dict (JSON), Markdown or a table."""

from __future__ import annotations

import json
from typing import Any

from archc.ir.graph import INPUT, Counts, Graph, Module, Node, ReceptiveField
from archc.layers.base import fmt_shape
from archc.passes.counts import totals

FORMAT_VERSION = 1


def _layer_rows(graph: Graph) -> list[dict[str, Any]]:
    nodes = graph.nodes
    # Repeated layers share one fields object (see passes/expand.py): describe each once.
    described: dict[int, tuple[str, Any]] = {}
    blocks: dict[int, str | None] = {}
    rows = []
    for node in nodes:
        if node.kind == INPUT:
            continue
        hyper = described.get(id(node.fields))
        if hyper is None:
            hyper = described[id(node.fields)] = (node.layer.describe(node.fields), node.fields)
        parent = node.parent
        block = blocks.get(id(parent), False)
        if block is False:
            block = blocks[id(parent)] = _block_of(node)
        rf = node.receptive_field
        counts = node.counts
        rows.append(
            {
                "name": node.path,
                "type": node.layer.type,
                "inputs": [nodes[i].path for i in node.inputs],
                "output_shape": list(node.shape),
                "params": counts.params,
                "macs": counts.macs,
                "activation_elements": counts.activation_elements,
                "receptive_field": _rf_json(rf),
                "trainable_params": counts.trainable_params,
                "buffer_elements": counts.buffer_elements,
                "connections": counts.connections,
                "attention_macs": counts.attention_macs,
                "hyper": hyper[0],
                "block": block,
                "line": node.span.line,
                "file": node.span.file,
            }
        )
    return rows


def _rf_json(rf: ReceptiveField | None) -> dict[str, Any] | None:
    if rf is None:
        return None
    if rf.whole:
        # After self-attention every output sees the whole input: no window size applies.
        return {"size": None, "jump": list(rf.jump), "global": True}
    return {"size": list(rf.size), "jump": list(rf.jump)}


def _block_of(node: Node) -> str | None:
    parent = node.parent
    while parent is not None and parent.kind != "block":
        parent = parent.parent
    return parent.path if parent is not None else None


def summary_dict(graph: Graph, depth: int | None = None) -> dict[str, Any]:
    """The document of `archc summary --json` (CONTRACT.md); with `depth`, a `folded` list
    beside the intact `layers` holds one entry per module at that depth (see table_rows)."""
    total = totals(graph)
    document = {
        "archc_summary": FORMAT_VERSION,
        "spec": graph.spec_path,
        "network": graph.network,
        "variant": graph.variant,
        "class_name": graph.class_name,
        "input_shape": list(graph.input_shape),
        "output_shape": list(graph.output_shape),
        "totals": {
            "params": total.params,
            "trainable_params": total.trainable_params,
            "buffer_elements": total.buffer_elements,
            "macs": total.macs,
            "attention_macs": total.attention_macs,
            "activation_elements": total.activation_elements,
            "param_bytes": total.params * 4,
            "connections": total.connections,
            "layers": len(graph.layers()),
        },
        "layers": _layer_rows(graph),
        "state_dict": [
            [key, list(t.shape), "buffer" if t.buffer else "param"] for key, t in graph.state_dict()
        ],
    }
    if depth is not None:
        document["depth"] = depth
        document["folded"] = [
            _folded_dict(graph, path, nodes) for path, nodes in _fold(graph, depth)
        ]
    return document


def _folded_dict(graph: Graph, path: str, members: list[Node]) -> dict[str, Any]:
    module = None if len(members) == 1 and members[0].path == path else _module_at(graph, path)
    output = graph.nodes[module.output] if module is not None else members[-1]
    return {
        "name": path,
        "type": (module.block or module.kind) if module is not None else output.type,
        "layers": sum(n.kind != INPUT for n in members),
        "output_shape": list(output.shape),
        "params": sum(n.counts.params for n in members),
        "macs": sum(n.counts.macs for n in members),
        "attention_macs": sum(n.counts.attention_macs for n in members),
        "activation_elements": sum(n.counts.activation_elements for n in members),
    }


def to_json(graph: Graph, depth: int | None = None) -> str:
    """The summary as indented JSON text, ending with a newline."""
    return json.dumps(summary_dict(graph, depth), indent=2) + "\n"


def human(n: int) -> str:
    """A count with thousands separators."""
    return f"{n:,}"


def si(n: float) -> str:
    """A count in K/M/G, as papers quote them (138.36M, 15.47G)."""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.2f}{unit}"
    return str(int(n))


def _rf_text(node: Node) -> str:
    rf = node.receptive_field
    if rf is None:
        return ""
    if rf.whole:
        return "global"
    size = str(rf.size[0]) if rf.size[0] == rf.size[1] else f"{rf.size[0]}x{rf.size[1]}"
    jump = str(rf.jump[0]) if rf.jump[0] == rf.jump[1] else f"{rf.jump[0]}x{rf.jump[1]}"
    return f"{size} / {jump}"


COLUMNS = ("layer", "type", "hyper", "output", "params", "MACs", "activations", "RF / jump")


def table_rows(graph: Graph, depth: int | None = None) -> list[tuple[str, ...]]:
    """One row per node (the input first) for the human-readable table; with `depth`, every
    module nested deeper than that many levels is folded into one row (its path, block,
    output volume and the sums of its layers), as torchinfo's `depth=` does."""
    if depth is not None:
        return [_folded_row(graph, path, members) for path, members in _fold(graph, depth)]
    return [node_row(node) for node in graph.nodes]


def _fold(graph: Graph, depth: int) -> list[tuple[str, list[Node]]]:
    """The nodes grouped by their path cut to `depth` dotted parts, in execution order.

    A path's prefixes are the paths of the modules that hold it (names are given per
    scope), so each group is one module, or one layer that is shallow enough to show."""
    groups: dict[str, list[Node]] = {}
    for node in graph.nodes:
        parts = node.path.split(".")
        groups.setdefault(".".join(parts[: max(depth, 1)]), []).append(node)
    return list(groups.items())


def _folded_row(graph: Graph, path: str, members: list[Node]) -> tuple[str, ...]:
    if len(members) == 1 and members[0].path == path:
        return node_row(members[0])
    module = _module_at(graph, path)
    output = graph.nodes[module.output] if module is not None else members[-1]
    kind = (module.block or module.kind) if module is not None else "module"
    params = sum(n.counts.params for n in members)
    macs = sum(n.counts.macs for n in members)
    acts = sum(n.counts.activation_elements for n in members)
    return (
        path,
        kind,
        f"{len(members)} layers",
        fmt_shape(output.shape),
        human(params) if params else "",
        human(macs) if macs else "",
        human(acts) if acts else "",
        _rf_text(output),
    )


def node_row(node: Node) -> tuple[str, ...]:
    """The table row of one node."""
    c = node.counts
    return (
        node.path,
        node.type,
        "" if node.kind == INPUT else node.layer.describe(node.fields),
        fmt_shape(node.shape),
        human(c.params) if c.params else "",
        human(c.macs) if c.macs else "",
        human(c.activation_elements) if c.activation_elements else "",
        _rf_text(node),
    )


def _module_at(graph: Graph, path: str) -> Module | None:
    for item in graph.root.walk():
        if isinstance(item, Module) and item.path == path:
            return item
    return None


def totals_lines(graph: Graph) -> list[str]:
    """The totals as short lines of text."""
    t = totals(graph)
    lines = [
        f"params: {human(t.params)} ({si(t.params)}), trainable {human(t.trainable_params)}",
        f"MACs: {human(t.macs)} ({si(t.macs)})",
        *_attention_lines(t),
        f"activations: {human(t.activation_elements)} elements "
        f"({t.activation_elements * 4 / 2**20:.1f} MiB at fp32, per example)",
        f"weights: {human(t.params * 4)} bytes ({t.params * 4 / 1e6:.1f} MB at fp32)",
    ]
    if t.buffer_elements:
        lines.append(f"buffers: {human(t.buffer_elements)} elements")
    if t.connections:
        lines.append(f"connections: {human(t.connections)}")
    return lines + _field_note(graph)


def _attention_lines(t: Counts) -> list[str]:
    """Attention's products, and MACs counted with them (torchvision's GFLOPS)."""
    if not t.attention_macs:
        return []
    both = t.macs + t.attention_macs
    return [
        f"attention MACs: {human(t.attention_macs)} ({si(t.attention_macs)}) "
        "(query-key and attention-value products)",
        f"MACs with attention: {human(both)} ({si(both)})",
    ]


def _field_note(graph: Graph) -> list[str]:
    """Where the receptive field becomes the whole input, if it does."""
    for node in graph.nodes:
        rf = node.receptive_field
        if rf is not None and rf.whole:
            return [
                f"receptive field: global from {node.path} on (every token attends to every token)"
            ]
    return []


def to_markdown(graph: Graph, depth: int | None = None) -> str:
    """The summary as a Markdown document (`depth` folds deeper modules, as in the table)."""
    title = f"# {graph.network} / {graph.variant} ({graph.class_name})\n\n"
    intro = f"{graph.description.strip()}\n\n" if graph.description.strip() else ""
    intro += (
        f"Input {fmt_shape(graph.input_shape)}, output {fmt_shape(graph.output_shape)}; "
        f"spec `{graph.spec_path}`.\n\n"
    )
    header = "| " + " | ".join(COLUMNS) + " |\n"
    rule = "| " + " | ".join("---" if i < 4 else "---:" for i in range(len(COLUMNS))) + " |\n"
    body = "".join(
        "| " + " | ".join(cell.replace("|", "\\|") if cell else "" for cell in row) + " |\n"
        for row in table_rows(graph, depth)
    )
    totals_md = "\n**Totals**\n\n" + "".join(f"- {line}\n" for line in totals_lines(graph))
    return title + intro + header + rule + body + totals_md


def to_html(graph: Graph, depth: int | None = None) -> str:
    """The summary as an HTML fragment (a titled table and the totals), for notebooks."""
    from html import escape

    head = "".join(
        f'<th style="text-align:{"right" if i >= 4 else "left"}">{escape(c)}</th>'
        for i, c in enumerate(COLUMNS)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td style="text-align:{"right" if i >= 4 else "left"}">{escape(cell)}</td>'
            for i, cell in enumerate(row)
        )
        + "</tr>"
        for row in table_rows(graph, depth)
    )
    title = escape(f"{graph.network} / {graph.variant} ({graph.class_name})")
    totals_html = "".join(f"<li>{escape(line)}</li>" for line in totals_lines(graph))
    return (
        f"<div><strong>{title}</strong><table><thead><tr>{head}</tr></thead>"
        f"<tbody>{body}</tbody></table><ul>{totals_html}</ul></div>"
    )


#: Columns a narrow terminal leaves out, first to last, before anything is cut.
_OPTIONAL = ("type", "RF / jump", "activations", "hyper")


def _table(graph: Graph, rows: list[tuple[str, ...]], columns: list[str], compact: bool) -> Any:
    from rich import box
    from rich.table import Table

    table = Table(
        title=f"{graph.network} / {graph.variant}  ({graph.class_name})",
        title_justify="left",
        header_style="bold",
        box=box.SIMPLE_HEAD if compact else box.HEAVY_HEAD,
        pad_edge=not compact,
    )
    keep = [COLUMNS.index(c) for c in columns]
    for column in columns:
        # "fold", never rich's default "ellipsis": a figure that cannot fit wraps, whole.
        table.add_column(
            column,
            justify="right" if COLUMNS.index(column) >= 4 else "left",
            no_wrap=column != "layer",
            overflow="fold",
        )
    for row in rows:
        table.add_row(*(row[i] for i in keep))
    return table


def fitted_table(graph: Graph, width: int | None, depth: int | None = None) -> tuple[Any, str]:
    """The rich table for a terminal `width` columns wide (None: as wide as it needs), and a
    note naming the columns a narrow terminal left out ('' when none).

    Figures are never cut: a table too wide first loses its box lines, then whole columns
    of secondary figures (type, receptive field, activations, hyper), named in the note."""
    from rich.console import Console
    from rich.measure import Measurement

    rows = table_rows(graph, depth)
    probe = Console(width=10_000)

    def natural(table: Any) -> int:
        return Measurement.get(probe, probe.options, table).maximum

    columns = list(COLUMNS)
    table = _table(graph, rows, columns, compact=False)
    if width is None or natural(table) <= width:
        return table, ""
    table = _table(graph, rows, columns, compact=True)
    dropped = []
    for column in _OPTIONAL:
        if natural(table) <= width:
            break
        columns.remove(column)
        dropped.append(column)
        table = _table(graph, rows, columns, compact=True)
    note = (
        f"left out at {width} columns: {', '.join(dropped)} (a wider terminal, "
        "--markdown or --json show every column)"
        if dropped
        else ""
    )
    return table, note


def table_width(graph: Graph, depth: int | None = None) -> int:
    """The width the full table needs, in columns."""
    from rich.console import Console
    from rich.measure import Measurement

    probe = Console(width=10_000)
    table, _ = fitted_table(graph, None, depth)
    return Measurement.get(probe, probe.options, table).maximum


def print_table(graph: Graph, console: Any, depth: int | None = None, fit: bool = True) -> None:
    """Print the per-layer table and totals with rich; `fit` fits the table to the console's
    width (a terminal), else the console is expected to be as wide as the table."""
    table, note = fitted_table(graph, console.width if fit else None, depth)
    console.print(table)
    if note:
        console.print(note, highlight=False, style="dim")
    for line in totals_lines(graph):
        console.print(line, highlight=False)


def render_table(graph: Graph, width: int | None = None, depth: int | None = None) -> str:
    """The table and totals as plain text, `width` columns wide (None: as wide as needed)."""
    import io

    from rich.console import Console

    fit = width is not None
    width = width or max(table_width(graph, depth), 40)
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, color_system=None, force_terminal=False)
    print_table(graph, console, depth, fit=fit)
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines()) + "\n"

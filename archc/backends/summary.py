"""The summary backend: per-layer figures and totals as a dict (JSON), Markdown or a table."""

from __future__ import annotations

import json
from typing import Any

from archc.diagnostics import terminal_text
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
                "dead": node.id in graph.dead,
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


def summary_dict(graph: Graph, depth: int | None = None, memory: Any = None) -> dict[str, Any]:
    """The document of `archc summary --json` (CONTRACT.md); with `depth`, a `folded` list
    beside the intact `layers` holds one entry per module at that depth (see table_rows);
    with `memory` (a passes.memory.MemoryPlan), a `memory` object."""
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
            "dead_layers": len(graph.dead),
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
    if memory is not None:
        document["memory"] = memory_dict(graph, memory)
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


def to_json(graph: Graph, depth: int | None = None, memory: Any = None) -> str:
    """The summary as indented JSON text, ending with a newline."""
    return json.dumps(summary_dict(graph, depth, memory), indent=2) + "\n"


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
#: The column added with `--batch`: bytes autograd keeps for the backward pass.
KEPT = "kept for backward"


def table_rows(
    graph: Graph, depth: int | None = None, kept: dict[int, int] | None = None
) -> list[tuple[str, ...]]:
    """One row per node (the input first) for the human-readable table; with `depth`, every
    module nested deeper than that many levels is folded into one row (its path, block,
    output volume and the sums of its layers), as torchinfo's `depth=` does. With `kept`
    (node id -> bytes, a memory plan's), a last cell gives what autograd keeps."""
    if depth is not None:
        groups = _fold(graph, depth)
        rows = [_folded_row(graph, path, members) for path, members in groups]
        sizes = [sum((kept or {}).get(n.id, 0) for n in members) for _, members in groups]
    else:
        rows = [node_row(node, node.id in graph.dead) for node in graph.nodes]
        sizes = [(kept or {}).get(node.id, 0) for node in graph.nodes]
    if kept is None:
        return rows
    return [(*row, human(size) if size else "") for row, size in zip(rows, sizes, strict=True)]


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
        return node_row(members[0], members[0].id in graph.dead)
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
        output.volume,
        human(params) if params else "",
        human(macs) if macs else "",
        human(acts) if acts else "",
        _rf_text(output),
    )


def node_row(node: Node, dead: bool = False) -> tuple[str, ...]:
    """The table row of one node (`dead`: its output reaches no network output)."""
    c = node.counts
    return (
        node.path,
        f"{node.type} (dead)" if dead else node.type,
        "" if node.kind == INPUT else node.layer.describe(node.fields),
        node.volume,
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
    return lines + _dead_lines(graph) + _field_note(graph)


def _dead_lines(graph: Graph) -> list[str]:
    """What the totals hold that reaches no output (W-DEAD-LAYER), if anything."""
    dead = [graph.nodes[i] for i in sorted(graph.dead)]
    if not dead:
        return []
    params = sum(n.counts.params for n in dead)
    macs = sum(n.counts.macs for n in dead)
    return [
        f"dead: {len(dead)} layers reach no output; {human(params)} params ({si(params)}) and "
        f"{human(macs)} MACs ({si(macs)}) of the totals above are theirs (see warnings)"
    ]


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


def to_markdown(graph: Graph, depth: int | None = None, memory: Any = None) -> str:
    """The summary as a Markdown document (`depth` folds deeper modules, as in the table)."""
    title = f"# {graph.network} / {graph.variant} ({graph.class_name})\n\n"
    intro = f"{graph.description.strip()}\n\n" if graph.description.strip() else ""
    intro += (
        f"Input {fmt_shape(graph.input_shape)}, output {graph.nodes[graph.output].volume}; "
        f"spec `{graph.spec_path}`.\n\n"
    )
    columns = (*COLUMNS, KEPT) if memory is not None else COLUMNS
    header = "| " + " | ".join(columns) + " |\n"
    rule = "| " + " | ".join("---" if i < 4 else "---:" for i in range(len(columns))) + " |\n"
    kept = memory.saved_per_layer if memory is not None else None
    body = "".join(
        "| " + " | ".join(cell.replace("|", "\\|") if cell else "" for cell in row) + " |\n"
        for row in table_rows(graph, depth, kept)
    )
    totals_md = "\n**Totals**\n\n" + "".join(f"- {line}\n" for line in totals_lines(graph))
    if memory is not None:
        totals_md += "\n**Training memory**\n\n" + "".join(
            f"- {line.strip()}\n" for line in memory_lines(memory)
        )
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
    everything = (*COLUMNS, KEPT)
    from rich import box
    from rich.table import Table

    table = Table(
        title=terminal_text(f"{graph.network} / {graph.variant}  ({graph.class_name})"),
        title_justify="left",
        header_style="bold",
        box=box.SIMPLE_HEAD if compact else box.HEAVY_HEAD,
        pad_edge=not compact,
    )
    keep = [everything.index(c) for c in columns]
    for column in columns:
        # "fold", never rich's default "ellipsis": a figure that cannot fit wraps, whole.
        table.add_column(
            column,
            justify="right" if everything.index(column) >= 4 else "left",
            no_wrap=column != "layer",
            overflow="fold",
        )
    for row in rows:
        table.add_row(*(terminal_text(row[i]) for i in keep))
    return table


def fitted_table(
    graph: Graph, width: int | None, depth: int | None = None, memory: Any = None
) -> tuple[Any, str]:
    """The rich table for a terminal `width` columns wide (None: as wide as it needs), and a
    note naming the columns a narrow terminal left out ('' when none).

    Figures are never cut: a table too wide first loses its box lines, then whole columns
    of secondary figures (type, receptive field, activations, hyper), named in the note."""
    from rich.console import Console
    from rich.measure import Measurement

    rows = table_rows(graph, depth, memory.saved_per_layer if memory is not None else None)
    probe = Console(width=10_000)

    def natural(table: Any) -> int:
        return Measurement.get(probe, probe.options, table).maximum

    columns = list(COLUMNS) + ([KEPT] if memory is not None else [])
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


def table_width(graph: Graph, depth: int | None = None, memory: Any = None) -> int:
    """The width the full table needs, in columns."""
    from rich.console import Console
    from rich.measure import Measurement

    probe = Console(width=10_000)
    table, _ = fitted_table(graph, None, depth, memory)
    return Measurement.get(probe, probe.options, table).maximum


def print_table(
    graph: Graph, console: Any, depth: int | None = None, fit: bool = True, memory: Any = None
) -> None:
    """Print the per-layer table and totals with rich; `fit` fits the table to the console's
    width (a terminal), else the console is expected to be as wide as the table. `memory`
    (a passes.memory.MemoryPlan) adds what each layer keeps and the training memory."""
    table, note = fitted_table(graph, console.width if fit else None, depth, memory)
    console.print(table)
    if note:
        console.print(terminal_text(note, "dim"), highlight=False)
    lines = totals_lines(graph) + (memory_lines(memory) if memory is not None else [])
    for line in lines:
        console.print(terminal_text(line), highlight=False)


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


# --- training memory (archc summary --batch) -------------------------------------------


def size_text(n: int) -> str:
    """Bytes in binary units, as memory is quoted (1.50 GiB)."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:,.2f} {unit}"
    return f"{n} bytes"


def memory_lines(memory: Any) -> list[str]:
    """The training memory of a plan as short lines (what counts is in docs/memory.md)."""
    m = memory
    per_example = m.activations_per_example
    return [
        f"training memory at batch {m.batch} ({m.dtype}, {m.optimizer}, {m.device}):",
        f"  activations: {size_text(per_example)} per example, "
        f"{size_text(per_example * m.batch)} per batch",
        f"  kept for backward: {size_text(m.saved)}",
        f"  weights and buffers: {size_text(m.weights + m.buffers)}"
        + (f", autocast copies {size_text(m.autocast_copies)}" if m.autocast_copies else ""),
        f"  gradients: {size_text(m.gradients)}",
        f"  optimizer state: {size_text(m.optimizer_state)}",
        f"  largest transient: {size_text(m.transient)}",
        f"  peak: {size_text(m.peak)} ({human(m.peak)} bytes)",
        "torchinfo's figures at that batch (its conventions: MB = 10^6 bytes):",
        *(f"  {label}: {value:.2f}" for label, value in torchinfo_mb(m).items()),
    ]


#: torchinfo's own labels for its four figures.
TORCHINFO_LABELS = {
    "input": "Input size (MB)",
    "forward_backward": "Forward/backward pass size (MB)",
    "params": "Params size (MB)",
    "total": "Estimated Total Size (MB)",
}


def torchinfo_mb(memory: Any) -> dict[str, float]:
    """torchinfo's four figures in its units (MB, rounded as it prints them)."""
    return {TORCHINFO_LABELS[k]: round(v / 1e6, 2) for k, v in memory.torchinfo.items()}


def memory_dict(graph: Graph, memory: Any) -> dict[str, Any]:
    """The `memory` object of the JSON summary."""
    m = memory
    return {
        "batch": m.batch,
        "dtype": m.dtype,
        "optimizer": m.optimizer,
        "device": m.device,
        "activation_bytes_per_example": m.activations_per_example,
        "activation_bytes": m.activations_per_example * m.batch,
        "saved_bytes": m.saved,
        "weight_bytes": m.weights,
        "buffer_bytes": m.buffers,
        "gradient_bytes": m.gradients,
        "optimizer_bytes": m.optimizer_state,
        "autocast_copy_bytes": m.autocast_copies,
        "transient_bytes": m.transient,
        "peak_bytes": m.peak,
        "saved_bytes_per_layer": {node.path: m.saved_per_layer[node.id] for node in graph.layers()},
        "torchinfo": {
            "input_size_mb": round(m.torchinfo["input"] / 1e6, 2),
            "forward_backward_pass_size_mb": round(m.torchinfo["forward_backward"] / 1e6, 2),
            "params_size_mb": round(m.torchinfo["params"] / 1e6, 2),
            "estimated_total_size_mb": round(m.torchinfo["total"] / 1e6, 2),
            "bytes": dict(m.torchinfo),
        },
    }

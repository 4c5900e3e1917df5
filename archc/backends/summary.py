"""The summary backend: per-layer figures and totals as a dict (JSON), Markdown or a table."""

from __future__ import annotations

import json
from typing import Any

from archc.ir.graph import INPUT, Graph, Node
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
                "receptive_field": (
                    {"size": list(rf.size), "jump": list(rf.jump)} if rf is not None else None
                ),
                "trainable_params": counts.trainable_params,
                "buffer_elements": counts.buffer_elements,
                "connections": counts.connections,
                "hyper": hyper[0],
                "block": block,
                "line": node.span.line,
                "file": node.span.file,
            }
        )
    return rows


def _block_of(node: Node) -> str | None:
    parent = node.parent
    while parent is not None and parent.kind != "block":
        parent = parent.parent
    return parent.path if parent is not None else None


def summary_dict(graph: Graph) -> dict[str, Any]:
    """The document of `archc summary --json` (CONTRACT.md)."""
    total = totals(graph)
    return {
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
            "activation_elements": total.activation_elements,
            "param_bytes": total.params * 4,
            "connections": total.connections,
            "layers": len(graph.layers()),
        },
        "layers": _layer_rows(graph),
        "state_dict": [
            [_key(n.path, t.name), list(t.shape), "buffer" if t.buffer else "param"]
            for n in graph.nodes
            for t in n.tensors
        ],
    }


def _key(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def to_json(graph: Graph) -> str:
    """The summary as indented JSON text, ending with a newline."""
    return json.dumps(summary_dict(graph), indent=2) + "\n"


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
    size = str(rf.size[0]) if rf.size[0] == rf.size[1] else f"{rf.size[0]}x{rf.size[1]}"
    jump = str(rf.jump[0]) if rf.jump[0] == rf.jump[1] else f"{rf.jump[0]}x{rf.jump[1]}"
    return f"{size} / {jump}"


COLUMNS = ("layer", "type", "hyper", "output", "params", "MACs", "activations", "RF / jump")


def table_rows(graph: Graph) -> list[tuple[str, ...]]:
    """One row per node (the input first) for the human-readable table."""
    rows = []
    for node in graph.nodes:
        c = node.counts
        rows.append(
            (
                node.path,
                node.type,
                "" if node.kind == INPUT else node.layer.describe(node.fields),
                fmt_shape(node.shape),
                human(c.params) if c.params else "",
                human(c.macs) if c.macs else "",
                human(c.activation_elements) if c.activation_elements else "",
                _rf_text(node),
            )
        )
    return rows


def totals_lines(graph: Graph) -> list[str]:
    """The totals as short lines of text."""
    t = totals(graph)
    lines = [
        f"params: {human(t.params)} ({si(t.params)}), trainable {human(t.trainable_params)}",
        f"MACs: {human(t.macs)} ({si(t.macs)})",
        f"activations: {human(t.activation_elements)} elements "
        f"({t.activation_elements * 4 / 2**20:.1f} MiB at fp32, per example)",
        f"weights: {human(t.params * 4)} bytes ({t.params * 4 / 1e6:.1f} MB at fp32)",
    ]
    if t.buffer_elements:
        lines.append(f"buffers: {human(t.buffer_elements)} elements")
    if t.connections:
        lines.append(f"connections: {human(t.connections)}")
    return lines


def to_markdown(graph: Graph) -> str:
    """The summary as a Markdown document."""
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
        for row in table_rows(graph)
    )
    totals_md = "\n**Totals**\n\n" + "".join(f"- {line}\n" for line in totals_lines(graph))
    return title + intro + header + rule + body + totals_md


def print_table(graph: Graph, console: Any) -> None:
    """Print the per-layer table and totals with rich."""
    from rich.table import Table

    table = Table(
        title=f"{graph.network} / {graph.variant}  ({graph.class_name})",
        title_justify="left",
        header_style="bold",
    )
    for i, column in enumerate(COLUMNS):
        table.add_column(column, justify="right" if i >= 4 else "left", no_wrap=i == 0)
    for row in table_rows(graph):
        table.add_row(*row)
    console.print(table)
    for line in totals_lines(graph):
        console.print(line, highlight=False)

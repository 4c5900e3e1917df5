"""DOT text of an analysed graph: layers as boxes, blocks as clusters, volumes on the edges.

Pure text generation (no Graphviz needed), deterministic: the same graph and options give
the same bytes. Rendering lives in `archc.backends.graphviz`.

What a reader sees, and why:
- each layer box names the layer, its kind and key hyperparameters (`conv 11x11/4, 96`),
  its output volume in the lecture's notation (55x55x96) and its parameters when it has any;
- every edge is labelled with the volume flowing along it;
- residual shortcuts (identity or projection, see `shortcut_edges`) are drawn bold, dashed
  and red (SVG class `skip`), so they stand out from the main path; inception branches
  fan out from one node into a concat inside their module's cluster;
- blocks and Sequentials are labelled clusters; with `collapse=N`, modules nested deeper
  than level N (0: every top-level module) become one 3-D box each;
- colours come from each layer kind's `family`, explained by a legend under the title.

DOT identifiers are the module paths (`layer1.0.conv1`), so the SVG's node titles and ids
trace back to the spec and to the generated module's state_dict keys.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

from archc.backends.bounded_text import one_line, printable, size_text
from archc.ir.graph import INPUT, MERGE, Graph, Module, Node
from archc.layers.base import fmt_shape

#: Fill colour and legend text per layer family (LayerKind.family), in legend order.
FAMILIES: dict[str, tuple[str, str]] = {
    "conv": ("#9ecae1", "convolution"),
    "pool": ("#a1d99b", "pooling"),
    "norm": ("#fdd0a2", "normalization"),
    "act": ("#fde0ef", "activation"),
    "fc": ("#cbc9e2", "fully connected"),
    "merge": ("#fff59d", "merge"),
    "gate": ("#d4b9da", "gate (x)"),
    "other": ("#e0e0e0", "other"),
}
BLOCK_FILL = "#f0f0f0"
IO_FILL = "#ffffff"
SKIP_COLOUR = "#d62728"
#: A gate's edge: the small volume (squeeze-excitation's Cx1x1) that scales a larger one.
GATE_COLOUR = "#7b3294"
#: Cluster backgrounds alternate with nesting depth so nested blocks stay distinguishable.
CLUSTER_FILLS = ("#f7f7f7", "#ebebeb")
OUTPUT_ID = "(output)"
FONT = "Helvetica"
#: How much of a `doc:` a node's tooltip keeps: one line, enough to say what the layer is
#: for. The report page shows more; graph.dot holds one per layer, and Graphviz refuses
#: strings over 16 KB.
MAX_TOOLTIP_DOC = 240
#: How much of a variant name the title keeps.
MAX_TITLE_NAME = 80
#: The largest graph.dot archc writes. The zoo's largest (ResNet-1202, 4,209 layers) is
#: 1.5 MB; `dot` needs minutes well before this size, and the SVG is several times larger.
MAX_DOT_BYTES = 8 * 2**20
#: The most boxes (layers and collapsed blocks) archc asks `dot` to lay out: its time
#: grows faster than the count, and the zoo's largest network (ResNet-1202) has 4,210.
MAX_DOT_NODES = 6000


class DiagramTooLarge(Exception):
    """The diagram would exceed MAX_DOT_NODES or MAX_DOT_BYTES at every allowed collapse."""


class Html(str):
    """An HTML-like label, written between angle brackets instead of quotes."""


@dataclass
class _Edge:
    src: str
    dst: str
    label: str
    skip: bool
    #: A gate's input that is broadcast over the other (SE's Cx1x1 weights per channel).
    gate: bool = False


@dataclass
class _View:
    """Which DOT node stands for each graph node, after collapsing."""

    graph: Graph
    collapse: int | None
    rep: dict[int, str] = field(default_factory=dict)
    collapsed: list[Module] = field(default_factory=list)


def quote(text: str) -> str:
    """A DOT double-quoted string (control characters written as escapes, see printable)."""
    return '"' + printable(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


def esc(text: object) -> str:
    """Text made safe inside a DOT HTML-like label."""
    return html.escape(printable(str(text)), quote=True)


def _fill(node: Node) -> str:
    if node.kind == INPUT:
        return IO_FILL
    return FAMILIES.get(node.layer.family, FAMILIES["other"])[0]


def _family(node: Node) -> str:
    family = node.layer.family if node.layer else "io"
    return family if family in FAMILIES or family == "io" else "other"


def _auto_name(node: Node) -> bool:
    """Whether the name is the one archc made up from the type (`relu`, `relu_3`)."""
    return re.fullmatch(re.escape(node.type) + r"(_\d+)?", node.name) is not None


def _kind_text(node: Node) -> str:
    hyper = node.layer.describe(node.fields)
    # A bare symbol (`+`) or a repeat of the type (`concat`) says nothing the type does not.
    if hyper == node.type or not any(ch.isalnum() for ch in hyper):
        return node.type
    return f"{node.type} {hyper}"


def _params_text(params: int) -> str:
    return f'<font point-size="8">{params:,} params</font>'


def node_label(node: Node) -> str:
    """The HTML-like label of one layer: name, kind and hyperparameters, volume, params."""
    if node.kind == INPUT:
        return Html(f"<<b>input</b><br/>{esc(fmt_shape(node.shape))}>")
    kind = esc(_kind_text(node))
    lines = [f"<b>{kind}</b>"] if _auto_name(node) else [f"<b>{esc(node.name)}</b>", kind]
    lines.append(esc(node.volume))
    if node.counts.params:
        lines.append(_params_text(node.counts.params))
    return Html("<" + "<br/>".join(lines) + ">")


def _module_nodes(module: Module) -> list[Node]:
    return [c for c in module.walk() if isinstance(c, Node)]


def module_label(graph: Graph, module: Module) -> str:
    """The label of a collapsed module: its path, what it holds, its output and params."""
    nodes = _module_nodes(module)
    blocks = [c for c in module.children if isinstance(c, Module) and c.block]
    names = sorted({b.block for b in blocks})
    if module.block:
        what = f"{module.block} block, {len(nodes)} layers"
    elif blocks and len(blocks) == len(module.children) and len(names) == 1:
        what = f"{len(blocks)} x {names[0]}"
    else:
        what = f"{len(nodes)} layers"
    lines = [
        f"<b>{esc(module.path)}</b>",
        esc(what),
        esc(graph.nodes[module.output].volume),
    ]
    params = sum(n.counts.params for n in nodes)
    if params:
        lines.append(_params_text(params))
    return Html("<" + "<br/>".join(lines) + ">")


def _cluster_label(module: Module) -> str:
    # The enclosing cluster already names the parent; an index alone (`0`) would not say
    # whose, so indices keep their parent's name (`layer1.0`, `branch2.0`).
    name = module.name
    if name.isdigit() and module.parent is not None and module.parent.name:
        name = f"{module.parent.name}.{name}"
    text = esc(name or module.path)
    if module.block:
        text += f' <font color="#555555">({esc(module.block)})</font>'
    return Html(f"<<b>{text}</b>>")


def _attrs(**items: str) -> str:
    return ", ".join(
        f"{k.rstrip('_')}={v if isinstance(v, Html) else quote(v)}" for k, v in items.items()
    )


def _view(graph: Graph, collapse: int | None) -> _View:
    view = _View(graph, collapse)
    view.rep[0] = graph.nodes[0].path

    def visit(module: Module, depth: int, owner: str | None) -> None:
        for child in module.children:
            if isinstance(child, Node):
                view.rep[child.id] = owner or child.path
            elif owner is None and collapse is not None and depth >= collapse:
                view.collapsed.append(child)
                visit(child, depth + 1, child.path)
            else:
                visit(child, depth + 1, owner)

    visit(graph.root, 0, None)
    return view


def shortcut_edges(graph: Graph) -> set[tuple[int, int]]:
    """The (source, target) node ids of residual shortcuts.

    A shortcut feeds an elementwise merge (every input the merge's own volume: a residual
    sum, not a concatenation). Each of the merge's inputs is traced back through its chain
    of single-input, single-consumer layers to the fork it starts from; the shortest such
    branch, when strictly shorter than the longest, is the shortcut: no layers for an
    identity, a projection (1x1 conv, BN) otherwise. A gate (squeeze-excitation's
    `x * g`, g broadcast over x) continues the branch of x, so a branch with a gate inside
    stays longer than a projection beside it.
    """
    consumers = graph.consumers()
    found: set[tuple[int, int]] = set()
    for node in graph.nodes:
        if node.kind != MERGE or len(node.inputs) < 2:
            continue
        if any(graph.nodes[i].shape != node.shape for i in node.inputs):
            continue
        branches = []
        for source in node.inputs:
            chain = [node.id]
            current = source
            while (
                len(consumers[current]) == 1
                and graph.nodes[current].kind != INPUT
                and (through := _continued_input(graph, graph.nodes[current])) is not None
            ):
                chain.append(current)
                current = through
            chain.append(current)
            branches.append(chain)
        lengths = [len(chain) for chain in branches]
        if min(lengths) == max(lengths):
            continue
        shortest = branches[lengths.index(min(lengths))]
        found.update((shortest[i + 1], shortest[i]) for i in range(len(shortest) - 1))
    return found


def _continued_input(graph: Graph, node: Node) -> int | None:
    """The input a branch runs on through this node: its only input, or for a gate (a merge
    with exactly one input of its own volume, the others broadcast onto it) that input."""
    if len(node.inputs) == 1:
        return node.inputs[0]
    if node.kind != MERGE:
        return None
    same = [i for i in node.inputs if graph.nodes[i].shape == node.shape]
    return same[0] if len(same) == 1 else None


def _edges(view: _View) -> list[_Edge]:
    graph = view.graph
    shortcuts = shortcut_edges(graph)
    edges: dict[tuple[str, str], _Edge] = {}
    for node in graph.nodes:
        for source in node.inputs:
            src, dst = view.rep[source], view.rep[node.id]
            if src == dst:
                continue
            skip = (source, node.id) in shortcuts
            if (src, dst) in edges:
                # Collapsing can fold a shortcut onto the main path: then it is not one.
                edges[(src, dst)].skip &= skip
                continue
            volume = graph.nodes[source].volume
            gate = _family(node) == "gate" and graph.nodes[source].shape != node.shape
            label = f"gate {volume}" if gate else volume
            edges[(src, dst)] = _Edge(src, dst, label, skip, gate)
    result = list(edges.values())
    result.append(_Edge(view.rep[graph.output], OUTPUT_ID, graph.nodes[graph.output].volume, False))
    return result


def _legend(graph: Graph, view: _View, edges: list[_Edge]) -> str:
    from archc.backends.summary import si
    from archc.passes.counts import totals

    total = totals(graph)
    title = (
        f"<b>{esc(graph.class_name)}</b>  {esc(graph.network)} / "
        f"{esc(one_line(graph.variant, MAX_TITLE_NAME))}: "
        f"input {esc(fmt_shape(graph.input_shape))}, {esc(si(total.params))} params, "
        f"{esc(si(total.macs))} MACs"
    )
    present = {_family(n) for n in graph.nodes if view.rep[n.id] == n.path}
    cells = [
        f'<td bgcolor="{colour}">{esc(text)}</td>'
        for family, (colour, text) in FAMILIES.items()
        if family in present
    ]
    if view.collapsed:
        cells.append(f'<td bgcolor="{BLOCK_FILL}">collapsed block</td>')
    if any(e.skip for e in edges):
        cells.append(
            f'<td border="0"><font color="{SKIP_COLOUR}"><b>- - &gt;</b> shortcut</font></td>'
        )
    if any(e.gate for e in edges):
        cells.append(
            f'<td border="0"><font color="{GATE_COLOUR}"><b>&#8212;&gt;</b> gate, '
            "broadcast</font></td>"
        )
    return Html(
        '<<table border="0" cellborder="1" cellspacing="3" cellpadding="3">'
        f'<tr><td border="0" colspan="{len(cells)}">{title}</td></tr>'
        f"<tr>{''.join(cells)}</tr></table>>"
    )


def _stmt(name: str, **attrs: str) -> str:
    return f"{quote(name)} [{_attrs(**attrs)}];"


def _layer_stmt(graph: Graph, node: Node) -> str:
    if node.kind == INPUT:
        return _stmt(
            node.path,
            id=node.path,
            class_="io",
            shape="box",
            style="filled",
            fillcolor=IO_FILL,
            label=node_label(node),
            tooltip=_tooltip(node),
        )
    return _stmt(
        node.path,
        id=node.path,
        class_=_family(node),
        fillcolor=_fill(node),
        label=node_label(node),
        tooltip=_tooltip(node),
    )


def _collapsed_stmt(graph: Graph, module: Module) -> str:
    return _stmt(
        module.path,
        id=module.path,
        class_="block",
        shape="box3d",
        style="filled",
        fillcolor=BLOCK_FILL,
        label=module_label(graph, module),
        tooltip=_with_doc(module.path, module.doc),
    )


def _cluster_attrs(module: Module, depth: int) -> str:
    attrs = _attrs(
        id="cluster_" + module.path,
        label=_cluster_label(module),
        style="rounded,filled",
        fillcolor=CLUSTER_FILLS[depth % 2],
        color="#999999",
        fontsize="10",
        labeljust="l",
    )
    # No tooltip here, not even for a documented block: dot would wrap the cluster's
    # outline in a link group, and the report styles and hits that outline directly.
    return f"graph [{attrs}];"


def _edge_stmt(edge: _Edge) -> str:
    attrs = {"id": f"{edge.src}->{edge.dst}", "label": edge.label}
    if edge.skip:
        attrs.update(
            class_="skip", style="dashed", color=SKIP_COLOUR, penwidth="1.6", fontcolor=SKIP_COLOUR
        )
    elif edge.gate:
        attrs.update(
            class_="gate", style="bold", color=GATE_COLOUR, penwidth="1.6", fontcolor=GATE_COLOUR
        )
    return f"{quote(edge.src)} -> {quote(edge.dst)} [{_attrs(**attrs)}];"


def to_dot(graph: Graph, collapse: int | None = None, direction: str = "TB") -> str:
    """The DOT text of the network's diagram."""
    if direction not in ("TB", "LR"):
        raise ValueError(f"direction must be TB or LR, not {direction!r}")
    view = _view(graph, collapse)
    edges = _edges(view)
    collapsed = {m.path for m in view.collapsed}
    graph_attrs = _attrs(
        rankdir=direction,
        fontname=FONT,
        labelloc="t",
        nodesep="0.25",
        ranksep="0.3",
        newrank="true",
        label=_legend(graph, view, edges),
    )
    node_attrs = _attrs(
        shape="box",
        style="rounded,filled",
        fontname=FONT,
        fontsize="10",
        margin="0.08,0.04",
        penwidth="0.8",
    )
    edge_attrs = _attrs(
        fontname=FONT, fontsize="8", fontcolor="#555555", color="#666666", arrowsize="0.6"
    )
    out = [
        f"digraph {quote(graph.class_name)} {{",
        f"  graph [{graph_attrs}];",
        f"  node [{node_attrs}];",
        f"  edge [{edge_attrs}];",
        "  " + _layer_stmt(graph, graph.nodes[0]),
    ]

    def emit(module: Module, depth: int, indent: str) -> None:
        for child in module.children:
            if isinstance(child, Node):
                out.append(indent + _layer_stmt(graph, child))
            elif child.path in collapsed:
                out.append(indent + _collapsed_stmt(graph, child))
            else:
                out.append(f"{indent}subgraph {quote('cluster_' + child.path)} {{")
                out.append(f"{indent}  {_cluster_attrs(child, depth)}")
                emit(child, depth + 1, indent + "  ")
                out.append(f"{indent}}}")

    emit(graph.root, 0, "  ")
    output_label = Html(f"<<b>output</b><br/>{esc(graph.nodes[graph.output].volume)}>")
    out.append(
        "  "
        + _stmt(
            OUTPUT_ID,
            id="graph-output",
            class_="io",
            shape="box",
            style="filled",
            fillcolor=IO_FILL,
            label=output_label,
        )
    )
    out.extend("  " + _edge_stmt(edge) for edge in edges)
    out.append("}")
    return "\n".join(out) + "\n"


def _tooltip(node: Node) -> str:
    return _with_doc(f"{node.path} (spec line {node.span.line})", node.doc)


def _with_doc(text: str, doc: str | None) -> str:
    """A tooltip with the entry's `doc:` after it, on one line (the SVG's hover text)."""
    return f"{text}: {one_line(doc, MAX_TOOLTIP_DOC)}" if doc else text


def fitting_dot(
    graph: Graph, collapse: int | None = None, direction: str = "TB"
) -> tuple[str, int | None]:
    """The DOT text at `collapse`, or, when that exceeds MAX_DOT_NODES boxes or
    MAX_DOT_BYTES and no level was asked for, at the least collapse that fits; returns
    (text, level used). Raises DiagramTooLarge when nothing fits."""
    text, over = _within_limits(graph, collapse, direction)
    if text is not None:
        return text, collapse
    if collapse is None:
        # Collapsing deeper levels never adds boxes or text: search for the deepest level
        # (the most detail) that fits.
        low, high, best = 0, _depth(graph.root), None
        while low <= high:
            level = (low + high) // 2
            candidate, _ = _within_limits(graph, level, direction)
            if candidate is not None:
                best, low = (candidate, level), level + 1
            else:
                high = level - 1
        if best is not None:
            return best
    hint = (
        "draw it with --collapse at a lower level"
        if collapse
        else "even with every block collapsed; build the other targets with --target"
    )
    raise DiagramTooLarge(f"the diagram would be {over} ({hint})")


def _within_limits(graph: Graph, level: int | None, direction: str) -> tuple[str | None, str]:
    """The DOT text at `level` when it is within both limits, else (None, what is over)."""
    boxes = len(set(_view(graph, level).rep.values()))
    if boxes > MAX_DOT_NODES:
        return None, f"{boxes:,} boxes, over archc's limit of {MAX_DOT_NODES:,}"
    text = to_dot(graph, level, direction)
    size = len(text.encode())
    if size > MAX_DOT_BYTES:
        over = f"{size_text(size)} of DOT, over archc's limit of {size_text(MAX_DOT_BYTES)}"
        return None, over
    return text, ""


def _depth(module: Module) -> int:
    """How deep modules nest under `module` (0: no modules inside)."""
    depths = [1 + _depth(c) for c in module.children if isinstance(c, Module)]
    return max(depths, default=0)

"""The `report` backend: one self-contained HTML page (table, diagram, details) per variant.

The page needs no server and no network: its CSS and JavaScript (archc/backends/
report_assets/, written for archc) are inlined, the diagram is the Graphviz backend's DOT
rendered to SVG by `dot` and inlined too, and the per-layer data is embedded as JSON.

Every string that comes from a spec reaches the page either through `html.escape` or inside
the embedded JSON, where `<`, `>` and `&` are written as `\\u003c`... so that no spec text can
end the <script> element it sits in.

The page is bounded, not just escaped: free text (docs, the description, the variant name)
is cut to a length (bounded_text), each distinct doc is embedded once however many layers
share it (a doc inside a repeated block), and a page over MAX_PAGE_BYTES leaves out the
diagram and, if that is not enough, is refused (ReportTooLarge).
"""

from __future__ import annotations

import html
import json
import re
from importlib import resources
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from archc.backends.bounded_text import UNPRINTABLE, clip, printable, size_text
from archc.backends.memory_chart import memory_chart_svg
from archc.backends.summary import human, si, summary_dict
from archc.ir.graph import INPUT, Graph, Module, Node
from archc.layers.base import fmt_shape
from archc.passes.counts import totals

#: How much of one `doc:` the page keeps (in the details panel).
MAX_DOC = 4000
#: How much of the spec's description the header keeps.
MAX_DESCRIPTION = 8000
#: How much of a variant name the title keeps.
MAX_TITLE_NAME = 80
#: The largest page archc writes or serves. The zoo's largest (ResNet-1202: 4,209 layers,
#: a 7.3 MB diagram) is 10.4 MB; one many times that is no use in a browser, and `archc
#: serve` keeps a page per variant viewed.
MAX_PAGE_BYTES = 32 * 2**20


class ReportTooLarge(Exception):
    """The page would exceed MAX_PAGE_BYTES even without its diagram."""


MISSING_DOT = (
    "Graphviz's dot is not installed, so this report has no diagram (the table below is "
    "complete). Install Graphviz (apt-get install graphviz, brew install graphviz, or "
    "https://graphviz.org/download/) and build the report again."
)


def _asset(name: str) -> str:
    return resources.files("archc.backends").joinpath("report_assets", name).read_text()


def script_json(value: Any) -> str:
    """JSON text that is safe inside an HTML <script> element (no `</script>`, no `<!--`),
    with every character bounded_text calls unprintable written as a JSON escape: the
    values read back exactly, and the page's source holds no control character."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return UNPRINTABLE.sub(
        _json_escape,
        text.replace("&", "\\u0026")
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029"),
    )


def _json_escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def _rf(row: dict[str, Any]) -> str:
    rf = row["receptive_field"]
    if rf is None:
        return ""
    if rf.get("global"):
        return "global"  # after self-attention: the whole input
    size = "x".join(str(s) for s in dict.fromkeys(rf["size"]))
    jump = "x".join(str(s) for s in dict.fromkeys(rf["jump"]))
    return f"{size} / {jump}"


def _modules(graph: Graph) -> list[Module]:
    return [m for m in graph.root.walk() if isinstance(m, Module)]


def _depth(module: Module) -> int:
    depth, parent = 0, module.parent
    while parent is not None and parent.kind != "root":
        depth, parent = depth + 1, parent.parent
    return depth


class _Docs:
    """The page's distinct docs, each cut to MAX_DOC and embedded once; a layer or module
    refers to its doc by index, so a doc shared by a thousand repeated layers costs one
    copy, not a thousand."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.index: dict[str, int] = {}

    def ref(self, doc: str | None) -> int | None:
        """The index of `doc` in the table (added on first sight); None for no doc."""
        if not doc:
            return None
        if doc not in self.index:
            self.index[doc] = len(self.texts)
            self.texts.append(clip(printable(doc.strip()), MAX_DOC))
        return self.index[doc]


def report_data(graph: Graph) -> dict[str, Any]:
    """What the page's script needs: summary_dict plus volumes in, kinds and blocks; each
    `doc` is an index into `docs`."""
    summary = summary_dict(graph)
    rows = iter(summary["layers"])
    docs = _Docs()
    nodes = []
    for node in graph.nodes:
        if node.kind == INPUT:
            nodes.append(
                {
                    "name": node.path,
                    "type": INPUT,
                    "kind": "the network's input",
                    "hyper": "",
                    "in": [],
                    "out": node.volume,
                    "params": 0,
                    "macs": 0,
                    "acts": node.counts.activation_elements,
                    "rf": "1 / 1",
                    "file": node.span.file,
                    "line": node.span.line,
                    "col": node.span.col,
                    "block": None,
                    "doc": None,
                }
            )
            continue
        row = next(rows)
        nodes.append(
            {
                "name": row["name"],
                "type": row["type"],
                "kind": node.layer.first_line().replace("`", ""),
                "hyper": row["hyper"],
                "in": [graph.nodes[i].volume for i in node.inputs],
                "inputs": row["inputs"],
                "out": node.volume,
                "params": row["params"],
                "trainable": row["trainable_params"],
                "buffers": row["buffer_elements"],
                "macs": row["macs"],
                "acts": row["activation_elements"],
                "rf": _rf(row),
                "file": row["file"],
                "line": row["line"],
                "col": node.span.col,
                "block": row["block"],
                "doc": docs.ref(node.doc),
            }
        )
    modules = []
    for module in _modules(graph):
        members = [c for c in module.walk() if isinstance(c, Node)]
        modules.append(
            {
                "path": module.path,
                "kind": module.kind,
                "block": module.block,
                "depth": _depth(module),
                "layers": len(members),
                "in": graph.nodes[module.input].volume,
                "out": graph.nodes[module.output].volume,
                "params": sum(n.counts.params for n in members),
                "macs": sum(n.counts.macs for n in members),
                "file": module.span.file,
                "line": module.span.line,
                "doc": docs.ref(module.doc),
            }
        )
    return {
        "summary": {k: v for k, v in summary.items() if k not in ("layers", "state_dict")},
        "nodes": nodes,
        "modules": modules,
        "docs": docs.texts,
    }


# --- the diagram ------------------------------------------------------------------------

_PROLOG = re.compile(r"\A.*?(?=<svg\b)", re.S)
_COMMENT = re.compile(r"<!--.*?-->", re.S)
_SIZE = re.compile(r'(<svg\b[^>]*?)\s(?:width|height)="[^"]*"(?=[^>]*>)')
_TOOLTIP = re.compile(r'\sxlink:title="[^"]*"')
_SVG_NS = "{http://www.w3.org/2000/svg}"


def _safe_svg(svg: str) -> bool:
    """Whether the SVG is well-formed and holds nothing that could run (belt and braces)."""
    try:
        root = ElementTree.fromstring(svg)
    except ElementTree.ParseError:
        return False
    for element in root.iter():
        if element.tag in (_SVG_NS + "script", _SVG_NS + "foreignObject"):
            return False
        for key, value in element.attrib.items():
            if key.lower().startswith("on") or "javascript:" in value.lower():
                return False
    return True


def diagram_svg(graph: Graph, rendered: str | None = None) -> tuple[str | None, str]:
    """The diagram as inline SVG markup, or (None, why not).

    `rendered` is dot's SVG of the graph's default DOT when the caller already has it (the
    `graphviz` build target's graph.svg), so `dot` does not run twice.
    """
    from archc.backends.graphviz import RenderError, dot_executable, dot_text, render

    if rendered is not None:
        svg = rendered
    else:
        dot = dot_executable()
        if dot is None:
            return None, MISSING_DOT
        try:
            svg = render(dot_text(graph, None, "TB"), "svg", dot).decode()
        except RenderError as exc:
            return None, f"The diagram could not be drawn: {exc}"
    svg = _COMMENT.sub("", _PROLOG.sub("", svg, count=1))
    # The page sizes and scales the SVG itself (viewBox); dot's own tooltips would cover
    # the details panel, which shows more.
    for _ in range(2):
        svg = _SIZE.sub(r"\1", svg, count=1)
    svg = _TOOLTIP.sub("", svg)
    if not _safe_svg(svg):
        return None, "The diagram could not be inlined: dot's SVG output was not plain SVG."
    return svg.strip(), ""


# --- the page -----------------------------------------------------------------------------

_COLUMNS = (
    # (heading, key, numeric)
    ("#", "index", True),
    ("layer", "name", False),
    ("type", "type", False),
    ("hyperparameters", "hyper", False),
    ("in", "in", False),
    ("out", "out", False),
    ("params", "params", True),
    ("MACs", "macs", True),
    ("activations", "acts", True),
    ("RF / jump", "rf", False),
    ("line", "line", True),
)


def _td(text: str, numeric: bool = False, sort: int | None = None) -> str:
    """A table cell; `sort` is the value the page's script sorts the column by."""
    sort_attr = f' data-v="{sort}"' if sort is not None else ""
    cls = ' class="num"' if numeric else ""
    return f"<td{cls}{sort_attr}>{html.escape(text)}</td>"


def _count(n: int) -> str:
    return human(n) if n else ""


def _table(data: dict[str, Any], graph: Graph) -> str:
    head = "".join(
        f'<th data-key="{key}" data-num="{int(num)}" class="{"num" if num else ""}" '
        f'tabindex="0" aria-sort="none">{html.escape(title)}</th>'
        for title, key, num in _COLUMNS
    )
    body = []
    for index, n in enumerate(data["nodes"]):
        cells = [
            _td(str(index), True, index),
            _td(n["name"]),
            _td(n["type"]),
            _td(n["hyper"]),
            _td(", ".join(n["in"])),
            _td(n["out"], sort=_volume(n["out"])),
            _td(_count(n["params"]), True, n["params"]),
            _td(_count(n["macs"]), True, n["macs"]),
            _td(_count(n["acts"]), True, n["acts"]),
            _td(n["rf"], sort=_rf_sort(n["rf"])),
            _td(str(n["line"]), True, n["line"]),
        ]
        body.append(f'<tr data-node="{html.escape(n["name"])}">{"".join(cells)}</tr>')
    t = totals(graph)
    foot = (
        f'<tr><th colspan="6">totals: {len(graph.layers())} layers, input '
        f"{html.escape(fmt_shape(graph.input_shape))}, output "
        f"{html.escape(graph.nodes[graph.output].volume)}</th>"
        f'<td class="num">{human(t.params)}</td><td class="num">{human(t.macs)}</td>'
        f'<td class="num">{human(t.activation_elements)}</td><td colspan="2"></td></tr>'
    )
    return (
        f'<table id="archc-table"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody><tfoot>{foot}</tfoot></table>"
    )


def _volume(text: str) -> int:
    size = 1
    for part in text.split("x"):
        size *= int(part) if part.isdigit() else 1
    return size


def _rf_sort(text: str) -> int:
    if text == "global":
        return 10**9  # the whole input: larger than any window's field
    head = text.split(" ")[0].split("x")[0] if text else ""
    return int(head) if head.isdigit() else 0


def _totals(graph: Graph) -> str:
    t = totals(graph)
    items = [
        ("input", fmt_shape(graph.input_shape)),
        ("output", graph.nodes[graph.output].volume),
        ("layers", str(len(graph.layers()))),
        ("params", f"{human(t.params)} ({si(t.params)})"),
        ("MACs", f"{human(t.macs)} ({si(t.macs)})"),
        *(
            [("attention MACs", f"{human(t.attention_macs)} ({si(t.attention_macs)})")]
            if t.attention_macs
            else []
        ),
        (
            "activations",
            f"{human(t.activation_elements)} ({t.activation_elements * 4 / 2**20:.1f} MiB fp32)",
        ),
        ("weights", f"{t.params * 4 / 1e6:.1f} MB fp32"),
    ]
    return "".join(
        f"<div><dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd></div>" for k, v in items
    )


def render_page(
    graph: Graph, svg: str | None, note: str, live: dict[str, Any] | None = None
) -> str:
    """The whole HTML page; `live` (for `archc serve`) adds the reload and variant controls.

    A page over MAX_PAGE_BYTES is made again without its diagram; ReportTooLarge if it is
    still too large.
    """
    page = _page(graph, svg, note, live)
    if len(page) <= MAX_PAGE_BYTES and len(page.encode()) <= MAX_PAGE_BYTES:
        return page
    size = size_text(len(page.encode()))
    limit = size_text(MAX_PAGE_BYTES)
    if svg is not None:
        why = (
            f"The diagram is left out of this page: with it the page would be {size}, over "
            f"archc's limit of {limit} (graph.svg, beside it in a build, has the diagram)."
        )
        smaller = _page(graph, None, why, live)
        if len(smaller.encode()) <= MAX_PAGE_BYTES:
            return smaller
        size = size_text(len(smaller.encode()))
    raise ReportTooLarge(
        f"the report page would be {size} even without its diagram, over archc's limit of "
        f"{limit} ({len(graph.layers()):,} layers)"
    )


def _page(graph: Graph, svg: str | None, note: str, live: dict[str, Any] | None) -> str:
    data = report_data(graph)
    title = f"{graph.network} / {clip(printable(graph.variant), MAX_TITLE_NAME)}"
    description = clip(printable(graph.description.strip()), MAX_DESCRIPTION)
    diagram = (
        f'<div id="archc-canvas" class="canvas">{svg}</div>'
        if svg
        else f'<div id="archc-canvas" class="canvas empty"><p class="note">'
        f"{html.escape(note)}</p></div>"
    )
    live_json = (
        f'<script type="application/json" id="archc-live">{script_json(live)}</script>'
        if live
        else ""
    )
    return "".join(
        [
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            _csp(live is not None),
            f"<title>{html.escape(title)} - archc report</title>",
            f"<style>{_asset('report.css')}</style></head><body>",
            '<header id="archc-header"><div class="title">',
            f"<h1>{html.escape(graph.class_name)}</h1>",
            f'<span class="sub">{html.escape(title)}</span>',
            '<span id="archc-live-controls"></span></div>',
            f'<dl class="totals">{_totals(graph)}</dl>',
            f'<p class="spec">spec <code>{html.escape(printable(graph.spec_path))}</code></p>',
            (f'<p class="description">{html.escape(description)}</p>' if description else ""),
            "</header>",
            '<section id="archc-diagnostics" hidden></section>',
            '<main id="archc-main"><section id="archc-diagram">',
            '<div class="toolbar">',
            '<button type="button" data-act="zoom-in" title="zoom in (+)">+</button>',
            '<button type="button" data-act="zoom-out" title="zoom out (-)">&#8722;</button>',
            '<button type="button" data-act="fit" title="whole network (0)">fit</button>',
            '<button type="button" data-act="width" title="fit the width (w)">width</button>',
            '<button type="button" data-act="collapse-all">collapse all</button>',
            '<button type="button" data-act="expand-all">expand all</button>',
            '<span class="hint">drag or scroll to pan, ctrl+scroll to zoom; click a block\'s '
            "background to collapse it, a collapsed block to expand it</span></div>",
            diagram,
            '</section><aside id="archc-details" aria-live="polite">',
            '<p class="note">Hover or click a layer to see its details.</p></aside></main>',
            '<section id="archc-layers"><h2>Layers</h2>',
            '<p class="hint">Click a column heading to sort, a row to find the layer in the '
            "diagram. Volumes are H x W x C.</p>",
            '<div class="table-wrap">',
            _table(data, graph),
            "</div></section>",
            '<section id="archc-memory"><h2>Memory through the network</h2>',
            memory_chart_svg(graph),
            "</section>",
            f'<script type="application/json" id="archc-data">{script_json(data)}</script>',
            live_json,
            f"<script>{_asset('report.js')}</script>",
            "</body></html>\n",
        ]
    )


def _csp(live: bool) -> str:
    # The page may load nothing from anywhere; the live page may also poll its own server.
    connect = "'self'" if live else "'none'"
    return (
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; "
        f"connect-src {connect}; base-uri 'none'; form-action 'none'\">"
    )


def waiting_page(spec_path: str, live: dict[str, Any]) -> str:
    """The live page of a spec that has never been valid: diagnostics only, no diagram."""
    return "".join(
        [
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
            _csp(True),
            f"<title>{html.escape(printable(spec_path))} - archc serve</title>",
            f"<style>{_asset('report.css')}</style></head><body>",
            '<header id="archc-header"><div class="title">',
            f"<h1>{html.escape(printable(spec_path))}</h1>",
            '<span id="archc-live-controls"></span></div></header>',
            '<section id="archc-diagnostics" hidden></section>',
            '<p class="note">No valid version of this spec yet: fix the errors above and save; '
            "the page reloads by itself.</p>",
            f'<script type="application/json" id="archc-live">{script_json(live)}</script>',
            f"<script>{_asset('report.js')}</script>",
            "</body></html>\n",
        ]
    )


def report_html(graph: Graph, live: dict[str, Any] | None = None) -> str:
    """The self-contained report page of an analysed graph; for `archc serve` (`live`), a
    page too large to send is replaced by one that says so."""
    svg, note = diagram_svg(graph)
    try:
        return render_page(graph, svg, note, live)
    except ReportTooLarge as exc:
        if live is None:
            raise
        return too_large_page(graph, str(exc), live)


def too_large_page(graph: Graph, why: str, live: dict[str, Any]) -> str:
    """The live page of a network whose report is too large: its totals and why."""
    title = f"{graph.network} / {clip(printable(graph.variant), MAX_TITLE_NAME)}"
    return "".join(
        [
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
            _csp(True),
            f"<title>{html.escape(title)} - archc serve</title>",
            f"<style>{_asset('report.css')}</style></head><body>",
            '<header id="archc-header"><div class="title">',
            f"<h1>{html.escape(graph.class_name)}</h1>",
            f'<span class="sub">{html.escape(title)}</span>',
            '<span id="archc-live-controls"></span></div>',
            f'<dl class="totals">{_totals(graph)}</dl></header>',
            '<section id="archc-diagnostics" hidden></section>',
            f'<p class="note">No report for this network: {html.escape(why)}.</p>',
            f'<script type="application/json" id="archc-live">{script_json(live)}</script>',
            f"<script>{_asset('report.js')}</script>",
            "</body></html>\n",
        ]
    )


def write_target(graph: Graph, folder: Path, options: dict[str, Any]) -> None:
    """Build target `report`: report.html in the staging folder."""
    from archc.build import BuildError

    # The graphviz target runs first (build.TARGETS order); with default drawing options
    # its graph.svg is exactly this diagram.
    drawn = folder / "graph.svg"
    default = options.get("collapse") is None and options.get("direction", "TB") == "TB"
    rendered = drawn.read_text(encoding="utf-8") if default and drawn.is_file() else None
    svg, note = diagram_svg(graph, rendered)
    try:
        page = render_page(graph, svg, note)
    except ReportTooLarge as exc:
        raise BuildError(f"report: {exc}; build the other targets with --target") from exc
    (folder / "report.html").write_text(page, encoding="utf-8")

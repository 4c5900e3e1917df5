"""The report's memory chart: activation bytes of each layer along the network, as bars,
with the largest marked, and what training keeps for backward, accumulated, as a line.

An inline SVG drawn here (no script, no library): names reach it only as escaped text.
A network with more layers than the chart has room for is drawn in bins of consecutive
layers (each bar the largest in its bin), so the page stays small whatever the depth.
"""

from __future__ import annotations

import html
import math

from archc.ir.graph import Graph, Node

WIDTH = 960
HEIGHT = 220
MARGIN_LEFT = 64
MARGIN_BOTTOM = 28
MARGIN_TOP = 28
MARGIN_RIGHT = 76
#: At most this many bars: beyond, consecutive layers share a bar.
MAX_BARS = 480


def _mib(n: float) -> str:
    return f"{n / 2**20:,.2f} MiB" if n >= 2**20 else f"{n / 2**10:,.1f} KiB"


def memory_chart_svg(graph: Graph) -> str:
    """The chart for one example at fp32 (an `<svg>` element and its legend)."""
    from archc.passes.memory import plan

    layers = list(graph.layers())
    if not layers:
        return ""
    kept = plan(graph, 1).saved_per_layer
    sizes = [_activation_bytes(n) for n in layers]
    bins = _bins(len(layers))
    bars = [max(range(lo, hi), key=lambda i: sizes[i]) for lo, hi in bins]
    top = max(sizes) or 1
    running, cumulative = 0, []
    for node in layers:
        running += kept.get(node.id, 0)
        cumulative.append(running)
    total = running or 1
    plot_w = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    plot_h = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    right = WIDTH - MARGIN_RIGHT
    step = plot_w / len(bins)
    peak = max(range(len(layers)), key=lambda i: sizes[i])

    def y(value: float, scale: float = top) -> float:
        return MARGIN_TOP + plot_h * (1 - value / scale)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="memory-chart" viewBox="0 0 {WIDTH} '
        f'{HEIGHT}" role="img" aria-label="activation memory per layer">',
        f'<line x1="{MARGIN_LEFT}" y1="{y(0):.1f}" x2="{right}" y2="{y(0):.1f}" class="axis"/>',
    ]
    for fraction in (0.5, 1.0):
        value = top * fraction
        parts.append(
            f'<text x="{MARGIN_LEFT - 6}" y="{y(value) + 4:.1f}" text-anchor="end" '
            f'class="tick">{_mib(value)}</text>'
            f'<line x1="{MARGIN_LEFT}" y1="{y(value):.1f}" x2="{right}" y2="{y(value):.1f}" '
            'class="grid"/>'
        )
    for k, i in enumerate(bars):
        node = layers[i]
        label = html.escape(f"{node.path} ({node.type}): {_mib(sizes[i])} activations")
        marked = ' class="bar peak"' if i == peak else ' class="bar"'
        parts.append(
            f'<rect{marked} x="{MARGIN_LEFT + k * step:.2f}" y="{y(sizes[i]):.2f}" '
            f'width="{max(step - 1, 0.5):.2f}" height="{plot_h * sizes[i] / top:.2f}">'
            f"<title>{label}</title></rect>"
        )
    # What is kept accumulates to the step's total: a line on a scale of its own, labelled.
    points = " ".join(
        f"{MARGIN_LEFT + (k + 0.5) * step:.1f},{y(cumulative[hi - 1], total):.1f}"
        for k, (_, hi) in enumerate(bins)
    )
    parts.append(f'<polyline class="kept" points="{points}"/>')
    parts.append(
        f'<text x="{right + 4}" y="{y(total, total) + 4:.1f}" class="kept-label">'
        f"{_mib(running)}</text>"
        f'<text x="{right + 4}" y="{y(total, total) + 16:.1f}" class="kept-label">kept</text>'
    )
    peak_x = MARGIN_LEFT + bins_index(bins, peak) * step + step / 2
    parts.append(
        f'<text x="{min(max(peak_x, MARGIN_LEFT + 90), right - 100):.1f}" '
        f'y="{MARGIN_TOP - 10}" text-anchor="middle" class="peak-label">'
        f"largest: {html.escape(layers[peak].path)}, {_mib(sizes[peak])}</text>"
        f'<text x="{MARGIN_LEFT}" y="{HEIGHT - 8}" class="tick">input</text>'
        f'<text x="{right}" y="{HEIGHT - 8}" text-anchor="end" class="tick">output</text>'
        "</svg>"
    )
    legend = (
        '<p class="hint"><span class="swatch bar"></span> activation bytes of each layer, one '
        "example at fp32 (hover for the layer), on the left scale; "
        '<span class="swatch kept"></span> what a training step keeps for backward, '
        "accumulated through the forward pass on a scale of its own, to "
        f"{_mib(running)} per example at the output. <code>archc summary --batch N</code> "
        "gives the figures for a batch.</p>"
    )
    return "".join(parts) + legend


def bins_index(bins: list[tuple[int, int]], index: int) -> int:
    """The bin holding layer `index`."""
    for k, (lo, hi) in enumerate(bins):
        if lo <= index < hi:
            return k
    return len(bins) - 1


def _bins(count: int) -> list[tuple[int, int]]:
    per = max(1, math.ceil(count / MAX_BARS))
    return [(lo, min(lo + per, count)) for lo in range(0, count, per)]


def _activation_bytes(node: Node) -> int:
    return node.counts.activation_elements * 4

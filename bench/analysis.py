"""1. Analysis: archc's static summary against torchinfo's summary of the built model."""

from __future__ import annotations

from bench.common import Context, fmt_s, mib
from bench.report import MET, MISSED, Goal, Section
from bench.zoo import spec_for

NETWORKS = ["resnet152", "vgg16", "inception_v3", "efficientnet_b0", "convnext_tiny", "vit_b_16"]
QUICK_NETWORKS = ["resnet18"]
GOAL_RATIO = 100


def run(ctx: Context) -> Section:
    """Time archc.load(...).summary() and torchinfo.summary(...), each in a fresh process."""
    section = Section(
        "analysis",
        "1. Analysis: archc summary vs torchinfo",
        [
            "network",
            "archc first call",
            "archc warm",
            "torchinfo first call",
            "torchinfo warm",
            "ratio first",
            "ratio warm",
            "archc peak RSS (+call)",
            "torchinfo peak RSS (+call)",
            "archc heap peak",
            "params agree",
        ],
    )
    networks = QUICK_NETWORKS if ctx.quick else NETWORKS
    reps = "1" if ctx.quick else "5"
    advance = ctx.task("analysis (archc vs torchinfo)", len(networks) * 2)
    headline = None
    imports: list[str] = []
    for name in networks:
        ref = spec_for(name)
        if ref is None:
            section.rows.append([name, "no spec yet", "", "", "", "", "", "", "", "", ""])
            section.notes.append(f"{name}: no spec in specs/ yet, so nothing to compare.")
            advance()
            advance()
            continue
        if ref.note:
            section.notes.append(f"{name}: spec from the {ref.note}.")
        a, _ = ctx.child_json(["analysis-archc", str(ref.path), ref.variant or "", reps])
        advance()
        t, _ = ctx.child_json(["analysis-torchinfo", name, reps])
        advance()
        first, warm = t["cold"] / a["cold"], t["warm"] / a["warm"]
        imports.append(
            f"{name}: archc {fmt_s(a['import'])}, torch + torchinfo {fmt_s(t['import'])}"
        )
        if a["macs"] != t["macs"]:
            # torchinfo counts per module call: it misses work done inside a module's forward
            # by functions (nn.MultiheadAttention's projections and products).
            section.notes.append(
                f"{name}: MACs differ: archc {a['macs']:,} (conv + linear, attention "
                f"projections included), torchinfo {t['macs']:,} mult-adds."
            )
        if a["torch_imported"]:
            section.notes.append(f"{name}: archc's summary imported torch (it must not).")
        section.rows.append(
            [
                name,
                fmt_s(a["cold"]),
                fmt_s(a["warm"]),
                fmt_s(t["cold"]),
                fmt_s(t["warm"]),
                f"{first:,.0f}x",
                f"{warm:,.0f}x",
                f"{mib(a['rss_peak'])} (+{mib(a['rss_peak'] - a['rss_imported'])})",
                f"{mib(t['rss_peak'])} (+{mib(t['rss_peak'] - t['rss_imported'])})",
                mib(a["heap_peak"]),
                "yes" if a["params"] == t["params"] else f"no: {a['params']:,} vs {t['params']:,}",
            ]
        )
        if name in ("resnet152", "resnet18"):
            headline = (name, min(first, warm))
    section.notes += [
        "archc: `archc.load(spec, variant).summary()` in a fresh interpreter after "
        "`import archc`; torchinfo: build the hand-written model (bench/handwritten.py) and "
        "`torchinfo.summary(model, input_size=(1, C, H, W))` (a forward pass), after "
        "`import torch, torchinfo`. Import times are excluded from both.",
        "first call: the first call in the process (what a one-off command pays: for archc, "
        "building the validators of the layer kinds the spec uses; for torchinfo, building "
        "and initialising the model); warm: the "
        f"fastest of {reps} more calls in the same process (other work on a shared machine "
        "only adds time, so the minimum is the least disturbed).",
        "peak RSS: the process's high-water mark (ru_maxrss), with the growth during the "
        "first call in brackets; heap peak: tracemalloc's peak of Python allocations during "
        "one (untimed) archc call. torch tensors are not on the Python heap, so torchinfo "
        "is judged by RSS.",
    ]
    if imports:
        section.notes.append("import times (excluded above): " + "; ".join(imports) + ".")
    if headline is not None:
        label, ratio = headline
        verdict = MET if ratio >= GOAL_RATIO and label == "resnet152" else MISSED
        if label != "resnet152":
            verdict = "quick run (ResNet-18)"
        section.goals.append(
            Goal(
                f"analysis >= {GOAL_RATIO}x faster than torchinfo on "
                "ResNet-152 (lower of first-call and warm ratios)",
                verdict,
                f"{ratio:,.0f}x ({label})",
            )
        )
    else:
        section.goals.append(Goal("analysis >= 100x faster than torchinfo on ResNet-152"))
    return section

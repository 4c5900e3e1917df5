"""7. The language server: time from an edit to its diagnostics, once the server is warm.

A real `archc lsp` subprocess is driven over stdio as an editor drives it (the test suite's
client, tests/lsp_client.py). Each edit replaces the buffer with the spec plus a changing
comment, so every edit is a real change that must be analysed again; the clock runs from
sending `didChange` to receiving the `publishDiagnostics` it causes. The first few edits
warm the server up (imports, the layer kinds' validators) and are not counted.
"""

from __future__ import annotations

from bench.common import SPECS, Context, median, ms
from bench.generate import FAMILIES
from bench.report import MET, MISSED, Goal, Section

#: The goal of issue 19 for a zoo spec once warm.
GOAL_SECONDS = 0.050
WARM_UP = 3


def _edits(quick: bool) -> int:
    return 3 if quick else 15


def _time_edits(
    client, path, text: str, edits: int, variants: int
) -> tuple[list[float], list[float]]:
    """Seconds to the first diagnostics (the default variant) and to the last (every
    variant: a family publishes twice), per counted edit."""
    import time

    uri = client.open(path, text)
    client.diagnostics(uri, timeout=300)
    first, last = [], []
    for k in range(WARM_UP + edits):
        sent = time.perf_counter()
        client.change(uri, f"{text}# edit {k}\n", k + 2)
        client.diagnostics(uri, timeout=300)
        arrived = time.perf_counter()
        if variants > 1:
            client.diagnostics(uri, timeout=300)
        finished = time.perf_counter()
        if k >= WARM_UP:
            first.append(arrived - sent)
            last.append(finished - sent)
    return first, last


def run(ctx: Context) -> Section:
    """Time edits of a zoo family (resnet.yaml, 10 variants), a one-variant zoo spec
    (inception_v3.yaml) and the 10,000-layer generated spec."""
    from tests.lsp_client import LspClient

    section = Section(
        "lsp",
        "7. archc lsp: edit to diagnostics (warm server)",
        ["spec", "layers", "variants", "to first diagnostics", "to every variant's"],
    )
    generator = FAMILIES["deep-repeat"][0]
    big_text, big_layers = generator(1_000 if ctx.quick else 10_000)
    big = ctx.scratch / "lsp_deep_repeat.yaml"
    big.write_text(big_text)
    cases = [
        (SPECS / "resnet.yaml", "resnet-50 default", 10),
        (SPECS / "inception_v3.yaml", "inception v3", 1),
        (big, f"{big_layers:,}-layer deep repeat", 1),
    ]
    advance = ctx.task("lsp (edit to diagnostics)", len(cases))
    client = LspClient()
    zoo_medians = []
    try:
        client.initialize(ctx.scratch)
        for path, label, variants in cases:
            text = path.read_text()
            copy = ctx.scratch / f"lsp_{path.name}"
            copy.write_text(text)
            first, last = _time_edits(client, copy, text, _edits(ctx.quick), variants)
            if path.parent == SPECS:
                zoo_medians.append(median(first))
            section.rows.append(
                [
                    label,
                    "" if path.parent == SPECS else f"{big_layers:,}",
                    str(variants),
                    ms(median(first)),
                    ms(median(last)) if variants > 1 else "(same)",
                ]
            )
            advance()
    finally:
        client.close()
    worst = max(zoo_medians, default=0.0)
    section.goals.append(
        Goal(
            "archc lsp: a zoo spec's diagnostics under 50 ms after an edit, once warm",
            MET if worst < GOAL_SECONDS else MISSED,
            ms(worst),
        )
    )
    section.notes += [
        "Median over the counted edits, after "
        f"{WARM_UP} warm-up edits; the time includes the JSON-RPC round trip.",
        "A family's default variant is published first, then every variant's diagnostics; "
        "'to every variant's' times the second publication.",
    ]
    return section

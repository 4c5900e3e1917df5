"""2. Scaling: `archc check` on generated specs of 10 to 100,000 layers; time per layer."""

from __future__ import annotations

from bench.common import Context, fmt_s, median
from bench.generate import FAMILIES
from bench.report import MET, MISSED, Goal, Section

SIZES = [10, 100, 1_000, 10_000, 100_000]
QUICK_SIZES = [10, 100, 1_000]
#: Largest growth of the CPU time per layer, from 1,000 to the largest size, that still
#: counts as flat: shared, noisy machines and the garbage collector's heap walks move
#: per-layer times by tens of percent, a quadratic pass by 100x over this range.
FLAT = 1.5


def _repetitions(layers: int, quick: bool) -> int:
    if quick:
        return 1
    return 3 if layers <= 1_000 else (2 if layers <= 10_000 else 1)


def run(ctx: Context) -> Section:
    """Generate each family at each size; time `archc check` on it in a fresh process."""
    sizes = QUICK_SIZES if ctx.quick else SIZES
    section = Section(
        "scaling",
        "2. Scaling: archc check time per layer",
        [
            "family",
            "layers",
            "process wall",
            "check wall",
            "check CPU",
            "CPU per layer",
            "peak RSS",
        ],
    )
    jobs = [
        (family, size)
        for family, (_, _, largest) in FAMILIES.items()
        for size in sizes
        if largest is None or size <= largest
    ]
    advance = ctx.task("scaling (archc check)", len(jobs))
    worst = None
    for family, (generator, description, largest) in FAMILIES.items():
        per_layer = {}
        for size in sizes:
            if largest is not None and size > largest:
                section.rows.append(
                    [family, f"{size:,}", "skipped", "", "", "written out: over 1 MiB", ""]
                )
                continue
            text, layers = generator(size)
            path = ctx.scratch / f"scale_{family}_{size}.yaml"
            path.write_text(text)
            results, runs = [], []
            for _ in range(_repetitions(size, ctx.quick)):
                result, child = ctx.child_json(["check-timed", str(path)])
                results.append(result)
                runs.append(child)
            advance()
            if any(r["code"] for r in results):
                lines = runs[0].stderr.strip().splitlines() or ["?"]
                tail = next((line for line in lines if "error[" in line), lines[-1])
                section.rows.append([family, f"{layers:,}", "failed", tail[:70], "", "", ""])
                continue
            cpu = median([r["cpu"] for r in results])
            per_layer[size] = cpu / layers
            section.rows.append(
                [
                    family,
                    f"{layers:,}",
                    fmt_s(median([r.wall for r in runs])),
                    fmt_s(median([r["wall"] for r in results])),
                    fmt_s(cpu),
                    fmt_s(cpu / layers),
                    f"{max(r.max_rss for r in runs) / 2**20:,.0f} MiB",
                ]
            )
        top = max(per_layer, default=0)
        low, high = per_layer.get(1_000), per_layer.get(top)
        if low and high and top > 1_000:
            growth = high / low
            if worst is None or growth > worst[1]:
                worst = (f"{family}, 1,000 to {top:,}", growth)
        section.notes.append(f"{family}: {description}.")
    section.notes += [
        "process wall: the whole `archc check FILE` process (interpreter start and imports "
        "included); check wall / check CPU: the command itself inside that process, timed "
        "after the imports (CPU = user + system time of the process, which other work on "
        "the machine disturbs far less than wall time). Medians of 3 runs up to 1,000 "
        "layers, 2 at 10,000, 1 at 100,000.",
        "Flat means the CPU time per layer does not grow with the size: no quadratic pass.",
    ]
    if worst is not None:
        family, growth = worst
        section.goals.append(
            Goal(
                f"flat time per layer from 1,000 to {max(sizes):,} layers (CPU per layer "
                f"grows <= {FLAT}x)",
                MET if growth <= FLAT else MISSED,
                f"worst {growth:.2f}x ({family})",
            )
        )
    else:
        section.goals.append(
            Goal(
                "flat time per layer from 1,000 to 100,000 layers",
                "quick run (to 1,000 layers)",
                "",
            )
        )
    return section

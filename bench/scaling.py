"""2. Scaling: `archc check` on generated specs of 10 to 100,000 layers; time per layer."""

from __future__ import annotations

from bench.common import Context, archc_cmd, child_env, fmt_s, median, run_child
from bench.generate import FAMILIES
from bench.report import MET, MISSED, Goal, Section

SIZES = [10, 100, 1_000, 10_000, 100_000]
QUICK_SIZES = [10, 100, 1_000]
#: Largest growth of the marginal time per layer, from 1,000 to the largest size, that still
#: counts as flat: shared, noisy machines and the garbage collector's heap walks move
#: per-layer times by tens of percent, a quadratic pass by 100x over this range.
FLAT = 1.5


def _repetitions(layers: int, quick: bool) -> int:
    if quick:
        return 1
    return 5 if layers <= 1_000 else (2 if layers <= 10_000 else 1)


def run(ctx: Context) -> Section:
    """Generate each family at each size, time `archc check` on it in a fresh process."""
    sizes = QUICK_SIZES if ctx.quick else SIZES
    section = Section(
        "scaling",
        "2. Scaling: archc check time per layer",
        [
            "family",
            "layers",
            "archc check (wall)",
            "per layer (wall / layers)",
            "marginal per layer",
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
        base = None
        per_layer = {}
        for size in sizes:
            if largest is not None and size > largest:
                section.rows.append(
                    [
                        family,
                        f"{size:,}",
                        "skipped",
                        "written out, over the 1 MiB file limit",
                        "",
                        "",
                    ]
                )
                continue
            text, layers = generator(size)
            path = ctx.scratch / f"scale_{family}_{size}.yaml"
            path.write_text(text)
            runs = [
                run_child(archc_cmd("check", str(path)), env=child_env())
                for _ in range(_repetitions(size, ctx.quick))
            ]
            failed = [r for r in runs if r.returncode != 0]
            if failed:
                lines = failed[0].stderr.strip().splitlines() or ["?"]
                tail = next((line for line in lines if "error[" in line), lines[-1])
                section.rows.append([family, f"{layers:,}", "failed", tail[:60], "", ""])
                advance()
                continue
            wall = median([r.wall for r in runs])
            rss = max(r.max_rss for r in runs)
            if base is None:
                # The smallest spec's time is the fixed cost: start-up, imports, the file.
                base = (layers, wall)
                marginal = ""
            else:
                cost = max(wall - base[1], 0.0) / (layers - base[0])
                per_layer[size] = cost
                marginal = fmt_s(cost)
            section.rows.append(
                [
                    family,
                    f"{layers:,}",
                    fmt_s(wall),
                    fmt_s(wall / layers),
                    marginal,
                    f"{rss / 2**20:,.0f} MiB",
                ]
            )
            advance()
        top = max(per_layer, default=0)
        low, high = per_layer.get(1_000), per_layer.get(top)
        if low and high and top > 1_000:
            growth = high / low
            if worst is None or growth > worst[1]:
                worst = (f"{family}, 1,000 to {top:,}", growth)
        section.notes.append(f"{family}: {description}.")
    section.notes += [
        "wall: `archc check FILE` as a user runs it (a fresh process each time), median of "
        "5 runs up to 1,000 layers, 2 at 10,000, 1 at 100,000.",
        "marginal per layer: (wall - wall of the 10-layer spec) / (layers - its layers), so "
        "the fixed start-up cost does not hide or fake a trend; flat means no quadratic pass.",
    ]
    if worst is not None:
        family, growth = worst
        section.goals.append(
            Goal(
                f"flat time per layer from 1,000 to {max(sizes):,} layers (marginal growth "
                f"<= {FLAT}x)",
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

"""`python -m bench`: run every measurement, print the tables, write bench/RESULTS.md."""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path

from bench import (
    analysis,
    build_overhead,
    lsp,
    memory,
    models,
    scaling,
    startup,
    training_memory,
)
from bench.common import Context, machine
from bench.report import Goal, Section, goals_table, markdown, rich_table

#: Measurement key -> module with `run(ctx) -> Section`, in the order of issue 6.
MEASUREMENTS = {
    "analysis": analysis,
    "scaling": scaling,
    "startup": startup,
    "models": models,
    "build": build_overhead,
    "memory": memory,
    "lsp": lsp,
    "training_memory": training_memory,
}
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
#: Hand-written record of what profiling found and what was fixed (before and after); read
#: when the report is written and appended to it.
FINDINGS = Path(__file__).resolve().parent / "FINDINGS.md"


def parse(argv: list[str]) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="tiny sizes, one repetition, eager only (CI keeps the code alive)",
    )
    parser.add_argument(
        "--only", default=None, help="comma-separated subset of: " + ", ".join(MEASUREMENTS)
    )
    parser.add_argument(
        "--modes",
        default=None,
        help="model timing modes, comma-separated: eager, compile, cuda (channels_last + bf16, "
        "only with a GPU); default: all for a full run, eager for --quick",
    )
    parser.add_argument(
        "--results",
        type=Path,
        default=None,
        help="where to write the Markdown report (default: bench/RESULTS.md "
        "for a full run of everything, nowhere for --quick or --only)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the chosen measurements; exit 1 if one of them crashed (a missed goal is not a crash)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    args = parse(sys.argv[1:] if argv is None else argv)
    # A terminated run raises SystemExit, so running measurements are killed on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    chosen = (
        list(MEASUREMENTS)
        if args.only is None
        else [k.strip() for k in args.only.split(",") if k.strip()]
    )
    unknown = [k for k in chosen if k not in MEASUREMENTS]
    if unknown:
        print(
            f"unknown measurement(s): {', '.join(unknown)}; choose from {', '.join(MEASUREMENTS)}",
            file=sys.stderr,
        )
        return 2
    results = args.results
    if results is None and not args.quick and args.only is None:
        results = RESULTS
    console = Console(width=max(Console().width, 140))
    facts = machine()
    console.print(
        f"[bold]archc benchmarks[/bold] ({'quick' if args.quick else 'full'} run) "
        f"on {facts['cpu']}, {facts['cores']} cores, Python {facts['python']}, "
        f"torch {facts['torch']}"
    )
    sections: list[Section] = []
    crashed = False
    started = time.perf_counter()
    with (
        tempfile.TemporaryDirectory(prefix="archc-bench-") as scratch,
        Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        ) as progress,
    ):
        ctx = Context(
            quick=args.quick,
            scratch=Path(scratch),
            progress=progress,
            modes=args.modes.split(",") if args.modes else None,
        )
        for key in chosen:
            module = MEASUREMENTS[key]
            try:
                section = module.run(ctx)
            except Exception as exc:  # noqa: BLE001 - report and go on with the others
                crashed = True
                section = Section(key, f"{key}: crashed", error=f"{type(exc).__name__}: {exc}")
                section.goals.append(Goal(f"{key}: measurement crashed", "crashed", ""))
                progress.console.print(traceback.format_exc(), highlight=False)
            sections.append(section)
            progress.console.print(rich_table(section))
            if section.error:
                progress.console.print(f"[yellow]{section.title}: {section.error}[/yellow]")
    elapsed = time.perf_counter() - started
    console.print(goals_table(sections))
    console.print(f"total time {elapsed:,.0f} s")
    if results is not None:
        settings = [
            f"mode: {'quick (tiny sizes, one repetition, eager only)' if args.quick else 'full'}"
            f"; measurements: {', '.join(chosen)}; total time {elapsed:,.0f} s",
            "Ratios matter more than absolute times: the machine may be shared with other "
            "work (see the load average above), which slows every number by a varying amount.",
        ]
        findings = FINDINGS.read_text().strip().splitlines() if FINDINGS.exists() else []
        results.write_text(markdown(sections, facts, settings, findings))
        console.print(f"wrote {results}")
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())

"""3. Start-up: cold `archc check specs/vgg.yaml` against `python -c pass`; no torch import."""

from __future__ import annotations

import re
import sys

from bench.common import Context, archc_cmd, child_env, median, ms, python_cmd, run_child
from bench.report import MET, MISSED, Goal, Section
from bench.zoo import spec_for

GOAL_MS = 150
#: Imports this check reports from `python -X importtime`, largest cumulative first.
TOP_IMPORTS = 8

_PROBE = """
import sys
from archc.cli import main
sys.argv = ["archc", "check", {spec!r}]
try:
    main()
except SystemExit:
    pass
heavy = sorted(m for m in ("torch", "onnx", "graphviz", "numpy") if m in sys.modules)
print("IMPORTED:" + ",".join(heavy))
"""

#: What archc's core libraries cost by themselves: importing click and PyYAML, and pydantic
#: with one model built and used (the first model imports pydantic's schema generator and
#: its plugin loader, which imports importlib.metadata).
_LIBRARIES = """
import click, yaml
from pydantic import BaseModel
class Probe(BaseModel):
    x: int
Probe(x=1)
"""


def run(ctx: Context) -> Section:
    """Median wall time of both commands (interleaved), the torch check and an import profile."""
    section = Section(
        "startup",
        "3. Start-up: archc check vs bare interpreter",
        ["command", "median wall", "min wall", "runs"],
    )
    ref = spec_for("vgg16")
    if ref is None:
        section.error = "no VGG spec"
        section.goals.append(Goal(f"start-up < {GOAL_MS} ms over a bare interpreter"))
        return section
    reps = 3 if ctx.quick else 15
    advance = ctx.task("start-up", reps + 2)
    bare_cmd = python_cmd("-c", "pass")
    libraries_cmd = python_cmd("-c", _LIBRARIES)
    check_cmd = archc_cmd("check", str(ref.path), "--variant", ref.variant or "D")
    env = child_env()
    # Warm the OS file cache first: "cold" here means a fresh interpreter, not a cold disk.
    for command in (bare_cmd, libraries_cmd, check_cmd):
        run_child(command, env=env)
    bare, libraries, check = [], [], []
    for _ in range(reps):
        bare.append(run_child(bare_cmd, env=env))
        libraries.append(run_child(libraries_cmd, env=env))
        result = run_child(check_cmd, env=env)
        if result.returncode != 0:
            section.error = f"archc check failed: {result.stderr.strip()[-200:]}"
            return section
        check.append(result)
        advance()
    runs = (("bare", bare), ("libraries", libraries), ("check", check))
    wall = {k: [r.wall for r in v] for k, v in runs}
    cpu = {k: [r.cpu for r in v] for k, v in runs}
    over = median(wall["check"]) - median(wall["bare"])
    over_cpu = median(cpu["check"]) - median(cpu["bare"])
    libraries_over = median(wall["libraries"]) - median(wall["bare"])
    section.columns = ["command", "median wall", "min wall", "median CPU (user+sys)", "runs"]
    section.rows = [
        [
            "python -c pass",
            ms(median(wall["bare"])),
            ms(min(wall["bare"])),
            ms(median(cpu["bare"])),
            str(reps),
        ],
        [
            f"archc check {ref.path.name} --variant {ref.variant}",
            ms(median(wall["check"])),
            ms(min(wall["check"])),
            ms(median(cpu["check"])),
            str(reps),
        ],
        [
            "archc's own cost (difference)",
            ms(over),
            ms(min(wall["check"]) - min(wall["bare"])),
            ms(over_cpu),
            "",
        ],
        [
            "core libraries alone (click, PyYAML, pydantic + one model)",
            ms(median(wall["libraries"])),
            ms(min(wall["libraries"])),
            ms(median(cpu["libraries"])),
            str(reps),
        ],
        [
            "of which the libraries (libraries - bare)",
            ms(libraries_over),
            ms(min(wall["libraries"]) - min(wall["bare"])),
            ms(median(cpu["libraries"]) - median(cpu["bare"])),
            "",
        ],
        [
            "of which archc itself (check - libraries)",
            ms(median(wall["check"]) - median(wall["libraries"])),
            ms(min(wall["check"]) - min(wall["libraries"])),
            ms(median(cpu["check"]) - median(cpu["libraries"])),
            "",
        ],
    ]
    probe = run_child(python_cmd("-c", _PROBE.format(spec=str(ref.path))), env=env)
    advance()
    heavy = [
        line.split(":", 1)[1] for line in probe.stdout.splitlines() if line.startswith("IMPORTED:")
    ]
    imported = heavy[0] if heavy else "(probe failed)"
    section.notes.append(
        "heavy modules imported by `archc check` (sys.modules after the "
        f"command): {imported or 'none (no torch, onnx, graphviz, numpy)'}"
    )
    profile = run_child(
        [sys.executable, "-X", "importtime", "-c", _PROBE.format(spec=str(ref.path))], env=env
    )
    advance()
    section.notes.append(
        "largest imports (python -X importtime, cumulative: a package includes what it "
        "imports, so archc includes pydantic; one run): "
        + ", ".join(f"{name} {us / 1000:.0f} ms" for name, us in _top_imports(profile.stderr))
    )
    section.notes.append(
        "Children run from cached bytecode (PYTHONPYCACHEPREFIX, PYTHONDONTWRITEBYTECODE "
        "unset), as an installed Python does; CPU time (user + system, from wait4) is less "
        "disturbed than wall time when other work shares the cores."
    )
    section.notes.append(
        "core libraries alone: what archc's required libraries cost before archc does "
        "anything (the first pydantic model imports pydantic's schema generator and plugin "
        f"loader): {ms(libraries_over)} of the {GOAL_MS} ms the goal allows, which leaves "
        f"archc itself {ms(max(GOAL_MS / 1000 - libraries_over, 0))}."
    )
    section.notes.append(
        f"medians of {reps} runs, the three commands interleaved, after one "
        "untimed run of each (warm file cache, fresh interpreter each time)."
    )
    section.goals.append(
        Goal(
            f"start-up < {GOAL_MS} ms over a bare interpreter (median wall)",
            MET if over * 1000 < GOAL_MS else MISSED,
            f"{ms(over)} (CPU time: {ms(over_cpu)})",
        )
    )
    if imported and imported != "(probe failed)":
        section.goals.append(Goal("archc check imports no torch", MISSED, imported))
    elif imported == "":
        section.goals.append(Goal("archc check imports no torch", MET, "torch not imported"))
    return section


def _top_imports(stderr: str) -> list[tuple[str, int]]:
    """Top-level packages by cumulative import time from -X importtime output."""
    totals: dict[str, int] = {}
    for line in stderr.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \|( *)(\S+)", line)
        if not match:
            continue
        cumulative, name = int(match[1]), match[3]
        # Packages by their own import line, wherever they were first imported from.
        if "." not in name or name == "importlib.metadata":
            totals[name] = max(totals.get(name, 0), cumulative)
    return sorted(totals.items(), key=lambda item: -item[1])[:TOP_IMPORTS]

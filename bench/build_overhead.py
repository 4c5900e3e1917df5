"""5. Build: `archc build` of ResNet-50 (every target) against a bare torch.onnx.export."""

from __future__ import annotations

import json
import shutil

from bench.common import Context, archc_cmd, child_env, fmt_s, median, python_cmd, run_child
from bench.report import MET, MISSED, Goal, Section
from bench.zoo import spec_for

GOAL_PERCENT = 20.0


def run(ctx: Context) -> Section:
    """Both as whole processes (what a user waits for), interleaved, median of the runs."""
    name = "resnet18" if ctx.quick else "resnet50"
    reps = 1 if ctx.quick else 5
    section = Section(
        "build",
        f"5. Build: archc build vs bare ONNX export ({name})",
        ["command", "median wall", "min wall", "runs"],
    )
    ref = spec_for(name)
    goal = f"build overhead < {GOAL_PERCENT:g}% of the bare export"
    if ref is None:
        section.error = f"no {name} spec"
        section.goals.append(Goal(goal))
        return section
    advance = ctx.task(f"build ({name})", reps * 2)
    env = child_env()
    out = ctx.scratch / "build"
    build_cmd = archc_cmd("build", str(ref.path), "--variant", ref.variant or "", "-o", str(out))
    export_cmd = python_cmd(
        "-m", "bench.worker", "export-onnx", name, str(ctx.scratch / "bare.onnx"), "224"
    )
    builds, exports, inner = [], [], []
    produced: list[str] = []
    for rep in range(reps):
        for which in ("build", "export") if rep % 2 == 0 else ("export", "build"):
            shutil.rmtree(out, ignore_errors=True)
            result = run_child(build_cmd if which == "build" else export_cmd, env=env)
            if result.returncode != 0:
                section.error = (
                    f"{which} failed ({result.returncode}): {result.stderr.strip()[-300:]}"
                )
                section.goals.append(Goal(goal))
                return section
            if which == "build":
                builds.append(result.wall)
                produced = sorted(p.name for p in out.rglob("*") if p.is_file())
            else:
                exports.append(result.wall)
                inner.append(result.stdout.strip().splitlines()[-1])
            advance()
    # Judged on the fastest run of each: other work on the machine only adds time, and
    # whole-process timings of torch-heavy work vary by seconds on a shared machine.
    overhead = min(builds) - min(exports)
    percent = overhead / min(exports) * 100
    section.rows = [
        [
            f"archc build {ref.path.name} --variant {ref.variant} (all targets)",
            fmt_s(median(builds)),
            fmt_s(min(builds)),
            str(reps),
        ],
        [
            "python: import torch, build hand-written model, torch.onnx.export",
            fmt_s(median(exports)),
            fmt_s(min(exports)),
            str(reps),
        ],
        [
            "archc's overhead (of the fastest runs)",
            "",
            f"{fmt_s(overhead)} ({percent:+.0f}%)",
            "",
        ],
    ]
    parts = [json.loads(line) for line in inner]
    section.notes += [
        f"archc build wrote: {', '.join(produced)}.",
        "the bare export's own split (medians): import torch "
        f"{fmt_s(median([p['import'] for p in parts]))}, torch.onnx.export "
        f"{fmt_s(median([p['export'] for p in parts]))}; the rest is the interpreter and "
        "building the model.",
        "Both are whole processes (interpreter start, imports, model construction, export), "
        "the way a user runs them; the bare export uses archc's exporter settings "
        "(TorchScript exporter, opset 17, dynamic batch axis, constant folding).",
        "archc build additionally parses and analyses the spec, writes and imports model.py, "
        "draws the graph (Graphviz `dot` when installed) and writes the summary files.",
    ]
    if ref.note:
        section.notes.append(f"spec from the {ref.note}.")
    section.goals.append(
        Goal(
            goal,
            "quick run" if ctx.quick else (MET if percent < GOAL_PERCENT else MISSED),
            f"{percent:+.0f}%",
        )
    )
    return section

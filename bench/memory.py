"""6. Memory: `archc summary` of a 100-billion-parameter VGG stays small (nothing allocated)."""

from __future__ import annotations

import json

from bench.common import Context, archc_cmd, child_env, fmt_s, mib, run_child
from bench.generate import wide_vgg
from bench.report import MET, MISSED, Goal, Section

GOAL_BYTES = 200 * 10**6


def run(ctx: Context) -> Section:
    """Generate the wide VGG, run `archc summary` (table and --json), report max RSS."""
    target = 10**9 if ctx.quick else 10**11
    text, params, k = wide_vgg(target)
    path = ctx.scratch / f"wide_vgg_x{k}.yaml"
    path.write_text(text)
    section = Section(
        "memory",
        f"6. Memory: archc summary of a {params / 1e9:,.1f}B-parameter VGG",
        ["command", "wall", "max RSS", "params reported"],
    )
    advance = ctx.task("memory (wide VGG summary)", 3)
    env = child_env()
    worst = 0
    failed = ""
    for args, label in (
        (["summary", str(path)], "archc summary (table)"),
        (["summary", str(path), "--json"], "archc summary --json"),
    ):
        result = run_child(archc_cmd(*args), env=env)
        advance()
        if result.returncode != 0:
            failed = result.stderr.strip()[-300:]
            section.rows.append([label, "failed", "", ""])
            continue
        reported = ""
        if "--json" in args:
            reported = f"{json.loads(result.stdout)['totals']['params']:,}"
        worst = max(worst, result.max_rss)
        section.rows.append([label, fmt_s(result.wall), mib(result.max_rss), reported])
    bare = run_child(archc_cmd("--version"), env=env)
    advance()
    section.rows.append(
        [
            "archc --version (interpreter + click, for scale)",
            fmt_s(bare.wall),
            mib(bare.max_rss),
            "",
        ]
    )
    section.notes += [
        f"The spec: VGG-16 (configuration D) with every width x{k}: convolutions of "
        f"{64 * k:,} to {512 * k:,} filters, fully connected layers of {4096 * k:,}; "
        f"{params:,} parameters counted by the generator in closed form "
        f"({params * 4 / 2**30:,.0f} GiB of fp32 weights if anything were allocated).",
        "max RSS: the child's own peak resident set (wait4's ru_maxrss).",
    ]
    if failed:
        section.error = failed
    goal = f"{target / 1e9:,.0f}B-parameter summary < {GOAL_BYTES // 10**6} MB resident"
    verdict = MET if worst and worst < GOAL_BYTES and not failed else MISSED
    section.goals.append(Goal(goal, verdict, mib(worst)))
    return section

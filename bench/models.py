"""4. Generated models: archc.compile(...) against hand-written PyTorch, train and inference."""

from __future__ import annotations

from bench.common import Context, fmt_s
from bench.report import MET, MISSED, UNMEASURED, Goal, Section
from bench.zoo import spec_for, with_input

GOAL_PERCENT = 2.0
THREADS = 2

#: network -> (batch, input side). ResNet-50 runs at 128x128 (its adaptive pooling makes
#: any size valid) to keep a 2-core CPU run short; VGG-16's classifier reads a 7x7x512
#: volume, so it runs at 224 with a batch of 1. ViT-B/16 runs at 112x112 (49 patches and the
#: class token) with a batch of 1, its position embedding sized to that input in both models.
FULL = {"resnet50": (4, 128), "vgg16": (1, 224), "vit_b_16": (1, 112)}
QUICK = {"resnet18": (2, 32)}
#: 25 repetitions: with 15 the paired ratios of two identical models still spread over about
#: 2%, the size of the goal (bench/FINDINGS.md).
FULL_REPS, QUICK_REPS = 25, 1
#: Networks timed under torch.compile on the CPU. Compiling a training step takes minutes on
#: 2 cores (several for ResNet-18 on a shared machine), so the CPU run compiles ResNet-50
#: only; VGG-16 is compiled where a GPU is present.
CPU_COMPILE = {"resnet50", "resnet18", "vit_b_16"}


def run(ctx: Context) -> Section:
    """One worker process per network; every mode and phase inside it, interleaved."""
    plan = QUICK if ctx.quick else FULL
    reps = QUICK_REPS if ctx.quick else FULL_REPS
    modes = ctx.modes or (["eager"] if ctx.quick else ["eager", "compile", "cuda"])
    section = Section(
        "models",
        "4. Generated models vs hand-written PyTorch",
        [
            "network",
            "mode",
            "step",
            "hand-written (median / min)",
            "generated (median / min)",
            "generated vs hand (medians)",
            "generated vs hand (minima)",
            "generated vs hand (paired)",
            "hand-written copy vs hand (paired)",
            "generated vs hand, beyond the copy",
            "setup (hand / gen)",
        ],
    )
    advance = ctx.task("models (train + inference)", len(plan))
    worst = None
    measured_all = True
    not_compiled = []
    for name, (batch, size) in plan.items():
        ref = spec_for(name)
        if ref is None:
            section.notes.append(f"{name}: no spec yet; hand-written only.")
            spec, variant = "", ""
        else:
            if size != 224:
                ref = with_input(ref, (3, size, size), ctx.scratch)
            spec, variant = str(ref.path), ref.variant or ""
        run_modes = [m for m in modes if m != "compile" or name in CPU_COMPILE]
        if run_modes != modes:
            not_compiled.append(name)
            section.notes.append(f"{name}: not compiled on the CPU (see CPU_COMPILE).")
        result, _ = ctx.child_json(
            [
                "models",
                name,
                spec,
                variant,
                str(batch),
                str(size),
                str(reps),
                ",".join(run_modes),
                str(THREADS),
            ],
            threads=THREADS,
            timeout=1800,
        )
        advance()
        section.notes.append(
            f"{name}: batch {batch}, {size}x{size}, {result['threads']} threads, median of "
            f"{reps} repetitions, the models interleaved (their order reversed every other "
            "repetition), after 2 warm-up steps; generated "
            f"module: {result['generated']}."
        )
        if "max_abs_diff" in result:
            section.notes.append(
                f"{name}: with the hand-written weights loaded, eval outputs differ by at most "
                f"{result['max_abs_diff']:.2e} (outputs up to {result['max_abs_out']:.2e})."
            )
        for row in result["rows"]:
            gen = row.get("gen")
            ratio = ratio_min = ratio_paired = beyond = ""
            copy = f"{(row['copy_paired'] - 1) * 100:+.1f}%"
            if gen is not None:
                ratio = f"{(gen / row['hand'] - 1) * 100:+.1f}%"
                ratio_min = f"{(row['gen_min'] / row['hand_min'] - 1) * 100:+.1f}%"
                ratio_paired = f"{(row['paired'] - 1) * 100:+.1f}%"
                # How much further from the hand-written model the generated one measures
                # than an identical copy does (points; negative: no further than the copy).
                percent = (abs(row["paired"] - 1) - abs(row["copy_paired"] - 1)) * 100
                beyond = f"{percent:+.1f} pt"
                if worst is None or percent > worst[0]:
                    worst = (percent, f"{name} {row['mode']} {row['phase']}")
            else:
                measured_all = False
            setup = fmt_s(row["setup_hand"]) + (
                f" / {fmt_s(row['setup_gen'])}" if row.get("setup_gen") is not None else ""
            )
            section.rows.append(
                [
                    name,
                    row["mode"],
                    row["phase"],
                    f"{fmt_s(row['hand'])} / {fmt_s(row['hand_min'])}",
                    f"{fmt_s(gen)} / {fmt_s(row['gen_min'])}" if gen is not None else "n/a",
                    ratio,
                    ratio_min,
                    ratio_paired,
                    copy,
                    beyond,
                    setup,
                ]
            )
    section.notes += [
        "train: zero_grad, forward, cross-entropy, backward, SGD(momentum 0.9) step; infer: "
        "forward under torch.inference_mode() in eval mode. setup: the first call (for "
        "torch.compile, the compilation).",
        "paired: the median over repetitions of generated / hand-written within the same "
        "repetition (run back to back, in ABBA order), the estimate least moved by other "
        "work on the machine.",
        "hand-written copy: a second instance of the hand-written model with the same "
        "weights, timed in the same repetitions: two models that cannot differ still measure "
        "apart by about this much (memory placement, place in the repetition). beyond the "
        "copy: how many percentage points further from 1 the generated model's paired ratio "
        "is than the copy's (negative: no further); the goal is judged on it.",
        "channels_last + bf16 autocast runs only where CUDA is available (modes cuda-*); "
        "none was on this machine unless listed.",
    ]
    goal = f"generated models within {GOAL_PERCENT:g}% of hand-written (eager and compiled)"
    if worst is None:
        section.goals.append(Goal(goal, UNMEASURED, "no generated module to time"))
    else:
        percent, where = worst
        goal += " (paired ratios, beyond what an identical hand-written copy measures)"
        verdict = MET if percent <= GOAL_PERCENT and measured_all else MISSED
        if verdict == MET and "compile" not in modes:
            verdict = "met (eager only; compile not run)"
        elif verdict == MET and not_compiled:
            verdict = f"met (not compiled: {', '.join(not_compiled)})"
        if ctx.quick:
            verdict = "quick run"
        section.goals.append(
            Goal(goal, verdict, f"worst {percent:+.1f} points beyond the copy ({where})")
        )
    return section

"""8. Training memory (`archc summary --batch`): what it costs, and how close it is.

- Cost: `archc summary` with and without `--batch 32`, each in fresh processes, paired and
  alternated so machine noise hits both alike; the goal is under 10% added CPU time.
- Accuracy on this machine: the bytes autograd keeps in a training forward pass of the
  generated model (saved_tensors_hooks, unique storages; tests/test_memory.py's measure)
  against archc's figure.
- On CUDA only: the predicted peak of a training step against
  `torch.cuda.max_memory_allocated()`, at several batch sizes; skipped, with the reason,
  where there is no CUDA device.
"""

from __future__ import annotations

from bench.common import SPECS, Context, archc_cmd, child_env, median, ms, run_child
from bench.report import MET, MISSED, UNMEASURED, Goal, Section

GOAL_OVERHEAD = 0.10
CASES = [("resnet.yaml", "152"), ("vgg.yaml", "D")]
ACCURACY = [("resnet.yaml", "18", 8), ("googlenet.yaml", "torchvision", 4)]
CUDA_BATCHES = [8, 32, 64]


def run(ctx: Context) -> Section:
    """Time the figure's cost, check it against torch on the CPU, and on CUDA if present."""
    section = Section(
        "training_memory",
        "8. Training memory: cost of --batch, and archc's figures against torch",
        ["measurement", "network", "figure", "against", "ratio"],
    )
    reps = 1 if ctx.quick else 9
    cases = CASES[:1] if ctx.quick else CASES
    advance = ctx.task("training memory", len(cases) + len(ACCURACY) + 1)
    env = child_env()
    worst = 0.0
    for spec, variant in cases:
        plain, planned = [], []
        path = str(SPECS / spec)
        for _ in range(reps):
            plain.append(run_child(archc_cmd("summary", path, "-v", variant, "--json"), env).cpu)
            args = ("summary", path, "-v", variant, "--json", "--batch", "32")
            planned.append(run_child(archc_cmd(*args), env).cpu)
        ratio = median(planned) / median(plain)
        worst = max(worst, ratio - 1)
        section.rows.append(
            [
                "summary CPU time, --batch 32 / without",
                f"{spec} {variant}",
                ms(median(planned)),
                ms(median(plain)),
                f"{ratio:.3f}",
            ]
        )
        advance()
    section.goals.append(
        Goal(
            "training memory adds under 10% to archc summary",
            MET if worst < GOAL_OVERHEAD else MISSED,
            f"+{worst:.1%}",
        )
    )
    _accuracy(section, advance)
    _cuda(section, ctx.quick)
    advance()
    return section


def _accuracy(section: Section, advance) -> None:
    import torch

    import archc
    from archc.passes.memory import plan
    from tests.test_memory import measure_saved

    for spec, variant, batch in ACCURACY:
        path = SPECS / spec
        graph = archc.load(path, variant).graph
        model = archc.compile(path, variant).train()
        measured = sum(measure_saved(model, torch.randn(batch, *graph.input_shape)).values())
        predicted = plan(graph, batch, device="cpu").saved
        section.rows.append(
            [
                f"kept for backward at batch {batch} (CPU)",
                f"{spec} {variant}",
                f"{predicted:,}",
                f"{measured:,}",
                f"{predicted / measured:.4f}",
            ]
        )
        advance()


def _cuda(section: Section, quick: bool) -> None:
    import torch

    goal = Goal("predicted training peak within 10% of torch.cuda.max_memory_allocated()")
    section.goals.append(goal)
    if not torch.cuda.is_available():
        goal.verdict = UNMEASURED
        goal.measured = "no CUDA device"
        section.notes.append("CUDA rows skipped: this machine has no CUDA device.")
        return
    import archc
    from archc.passes.memory import plan

    path = SPECS / "resnet.yaml"
    graph = archc.load(path, "50").graph
    worst = 0.0
    for batch in CUDA_BATCHES[:1] if quick else CUDA_BATCHES:
        model = archc.compile(path, "50").cuda().train()
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        x = torch.randn(batch, *graph.input_shape, device="cuda")
        for _ in range(2):
            opt.zero_grad(set_to_none=True)
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            model(x).sum().backward()
            opt.step()
        measured = torch.cuda.max_memory_allocated() - x.numel() * 4
        predicted = plan(graph, batch, optimizer="momentum").peak
        worst = max(worst, abs(predicted / measured - 1))
        section.rows.append(
            [
                f"training step peak at batch {batch} (CUDA)",
                "resnet.yaml 50",
                f"{predicted:,}",
                f"{measured:,}",
                f"{predicted / measured:.4f}",
            ]
        )
        del model, opt, x
        torch.cuda.empty_cache()
    goal.verdict = MET if worst <= 0.10 else MISSED
    goal.measured = f"{worst:.1%}"

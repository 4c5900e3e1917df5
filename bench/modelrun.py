"""Inside the models worker: time a generated module against its hand-written twin.

Both models get the same weights (the hand-written state_dict loaded into the generated
module, which also proves the two have the same keys and shapes), the same input batch, the
same thread count, and their repetitions are interleaved (ABBA order) so that drifts in the
machine's load fall on both alike.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from bench import handwritten

#: Modes: eager and torch.compile on the CPU; with CUDA, channels_last + bf16 autocast too.
CPU_MODES = ("eager", "compile")
CUDA_MODES = ("cuda-eager-cl-bf16", "cuda-compile-cl-bf16")


def available_modes(requested: list[str]) -> list[str]:
    """The requested modes this machine can run (CUDA modes only with a GPU)."""
    modes = [m for m in requested if m in CPU_MODES]
    if torch.cuda.is_available():
        modes += [m for m in CUDA_MODES if m in requested or "cuda" in requested]
    return modes


def generated_module(spec: str, variant: str | None) -> tuple[torch.nn.Module | None, str]:
    """archc's generated module, or None and the reason (the backend may not exist yet)."""
    import importlib.util

    if importlib.util.find_spec("archc.backends.pytorch") is None:
        return None, "archc.backends.pytorch does not exist yet"
    import archc

    try:
        return archc.compile(spec, variant=variant), ""
    except Exception as exc:  # noqa: BLE001 - the benchmark reports, it does not crash
        return None, f"archc.compile failed: {type(exc).__name__}: {exc}"


def _same_structure(a: torch.nn.Module, b: torch.nn.Module) -> str:
    """'' if both state_dicts have the same keys and shapes in order, else the first difference."""
    sa, sb = a.state_dict(), b.state_dict()
    for (ka, va), (kb, vb) in zip(sa.items(), sb.items(), strict=False):
        if ka != kb or va.shape != vb.shape:
            return f"{ka} {tuple(va.shape)} vs {kb} {tuple(vb.shape)}"
    if len(sa) != len(sb):
        return f"{len(sa)} vs {len(sb)} state_dict entries"
    return ""


def _step_fn(
    model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, train: bool, cuda_bf16: bool
) -> Callable[[], None]:
    """One training step (forward, loss, backward, SGD) or one inference pass."""
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9) if train else None
    device_type = "cuda" if cuda_bf16 else "cpu"
    sync = torch.cuda.synchronize if cuda_bf16 else (lambda: None)

    def step() -> None:
        with torch.autocast(device_type, dtype=torch.bfloat16, enabled=cuda_bf16):
            if train:
                optimizer.zero_grad(set_to_none=True)
                loss = F.cross_entropy(model(x), y)
                loss.backward()
                optimizer.step()
            else:
                with torch.inference_mode():
                    model(x)
        sync()

    return step


def compare(
    name: str, spec: str, variant: str | None, batch: int, size: int, reps: int, modes: list[str]
) -> dict:
    """Times per (mode, phase): hand-written and generated medians, and the setup facts."""
    torch.manual_seed(0)
    hand = handwritten.build(name, size)
    # A second instance of the hand-written model with the same weights: timing two
    # identical models shows how far apart the measurement puts models that cannot differ
    # (memory placement, order within a repetition); the generated model is judged beyond it.
    copy = handwritten.build(name, size)
    copy.load_state_dict(hand.state_dict())
    gen, why = generated_module(spec, variant)
    result: dict = {
        "threads": torch.get_num_threads(),
        "batch": batch,
        "size": size,
        "generated": why or "ok",
        "rows": [],
    }
    if gen is not None:
        difference = _same_structure(hand, gen)
        if difference:
            result["generated"] = f"state_dict differs from hand-written: {difference}"
            gen = None
        else:
            gen.load_state_dict(hand.state_dict())
    x = torch.randn(batch, 3, size, size)
    y = torch.randint(0, 1000, (batch,))
    if gen is not None:
        hand.eval()
        gen.eval()
        with torch.no_grad():
            a, b = hand(x), gen(x)
        result["max_abs_diff"] = float((a - b).abs().max())
        result["max_abs_out"] = float(a.abs().max())
    pristine = {k: v.clone() for k, v in hand.state_dict().items()}
    for mode in available_modes(modes):
        cuda = mode.startswith("cuda")
        compiled = "compile" in mode
        for phase in ("train", "infer"):
            timings: dict[str, list[float]] = {"hand": [], "gen": [], "copy": []}
            setup: dict[str, float] = {}
            steps = {}
            for label, model in (("hand", hand), ("gen", gen), ("copy", copy)):
                if model is None:
                    continue
                # Every (mode, phase) starts both models from the same weights.
                model.load_state_dict(pristine)
                model.train(phase == "train")
                xx, yy = x, y
                if cuda:
                    model = model.cuda().to(memory_format=torch.channels_last)
                    xx = x.cuda().to(memory_format=torch.channels_last)
                    yy = y.cuda()
                runnable = torch.compile(model) if compiled else model
                step = _step_fn(runnable, xx, yy, phase == "train", cuda)
                start = time.perf_counter()
                step()  # warm-up: compilation, allocator, caches
                setup[label] = time.perf_counter() - start
                step()
                steps[label] = step
            order = list(steps)
            for rep in range(reps):
                for label in order if rep % 2 == 0 else reversed(order):
                    start = time.perf_counter()
                    steps[label]()
                    timings[label].append(time.perf_counter() - start)
            row = {
                "mode": mode,
                "phase": phase,
                "hand": statistics.median(timings["hand"]),
                "hand_min": min(timings["hand"]),
                "setup_hand": setup.get("hand"),
                "copy_paired": _paired(timings["copy"], timings["hand"]),
            }
            if timings["gen"]:
                row.update(
                    gen=statistics.median(timings["gen"]),
                    gen_min=min(timings["gen"]),
                    setup_gen=setup.get("gen"),
                    # Each repetition times both models back to back, so the ratio within
                    # one repetition cancels the machine's slower drifts.
                    paired=_paired(timings["gen"], timings["hand"]),
                )
            result["rows"].append(row)
            if cuda:
                for model in (hand, copy, gen):
                    if model is not None:
                        model.cpu().to(memory_format=torch.contiguous_format)
    return result


def _paired(times: list[float], hand: list[float]) -> float:
    """The median over repetitions of one model's time over the hand-written model's time in
    the same repetition (the two run back to back, so slower drifts of the machine cancel)."""
    return statistics.median(t / h for t, h in zip(times, hand, strict=True))

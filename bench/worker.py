"""Measurements that run in a fresh child process (`python -m bench.worker JOB ARGS...`).

Each job prints one JSON object on stdout. A fresh process per measurement keeps imports,
caches and allocator state of one tool from colouring another's numbers, and gives each its
own peak resident set.
"""

from __future__ import annotations

import json
import resource
import sys
import time


def _rss() -> int:
    """Peak resident set of this process so far, in bytes (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def analysis_archc(spec: str, variant: str, reps: str) -> dict:
    """archc.load(...).summary(): first call, fastest warm call, Python heap peak, RSS."""
    import tracemalloc

    start = time.perf_counter()
    import archc
    import archc.backends.summary
    import archc.pipeline  # noqa: F401  (archc imports these lazily; torch's side is imported)

    imported = time.perf_counter() - start
    rss_imported = _rss()
    start = time.perf_counter()
    summary = archc.load(spec, variant).summary()
    cold = time.perf_counter() - start
    rss_peak = _rss()
    warm = []
    for _ in range(int(reps)):
        start = time.perf_counter()
        archc.load(spec, variant).summary()
        warm.append(time.perf_counter() - start)
    # A separate, untimed call under tracemalloc: tracing slows Python down several-fold.
    tracemalloc.start()
    archc.load(spec, variant).summary()
    heap_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {
        "import": imported,
        "cold": cold,
        "warm": min(warm) if warm else cold,
        "heap_peak": heap_peak,
        "rss_imported": rss_imported,
        "rss_peak": rss_peak,
        "params": summary["totals"]["params"],
        "macs": summary["totals"]["macs"],
        "layers": len(summary["layers"]),
        "torch_imported": "torch" in sys.modules,
    }


def analysis_torchinfo(name: str, reps: str) -> dict:
    """Build the hand-written model and run torchinfo.summary on it (a forward pass)."""

    start = time.perf_counter()
    import torch
    import torchinfo

    from bench import handwritten

    imported = time.perf_counter() - start
    rss_imported = _rss()
    size = (1, *handwritten.input_size(name))

    def once() -> tuple[float, float, object]:
        start = time.perf_counter()
        model = handwritten.MODELS[name]()
        built = time.perf_counter() - start
        with torch.no_grad():
            stats = torchinfo.summary(model, input_size=size, verbose=0, device="cpu")
        return built, time.perf_counter() - start, stats

    built, cold, stats = once()
    rss_peak = _rss()
    warm = [once()[1] for _ in range(int(reps))]
    return {
        "import": imported,
        "build": built,
        "cold": cold,
        "warm": min(warm) if warm else cold,
        "rss_imported": rss_imported,
        "rss_peak": rss_peak,
        "params": stats.total_params,
        "macs": stats.total_mult_adds,
        "threads": torch.get_num_threads(),
    }


def export_onnx(name: str, out: str, size: str) -> dict:
    """A bare torch.onnx.export of a hand-written model, with archc's exporter settings."""
    start = time.perf_counter()
    import warnings

    import torch

    from bench import handwritten

    imported = time.perf_counter() - start
    model = handwritten.MODELS[name]().eval()
    side = int(size)
    begin = time.perf_counter()
    # The settings of archc/backends/onnx.py: TorchScript exporter, opset 17, dynamic batch.
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (torch.zeros(1, 3, side, side),),
            out,
            dynamo=False,
            opset_version=17,
            input_names=["input"],
            output_names=["output"],
            dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
            do_constant_folding=True,
        )
    export = time.perf_counter() - begin
    return {"import": imported, "export": export, "total": time.perf_counter() - start}


def models(
    name: str, spec: str, variant: str, batch: str, size: str, reps: str, modes: str, threads: str
) -> dict:
    """Time training steps and inference of the generated and hand-written models."""
    import torch

    from bench import modelrun

    torch.set_num_threads(int(threads))
    return modelrun.compare(
        name, spec, variant or None, int(batch), int(size), int(reps), modes.split(",")
    )


def check_timed(path: str) -> dict:
    """`archc check PATH` inside this process, timed without interpreter start and imports."""
    import gc

    from archc.cli import main
    from archc.pipeline import analyse  # noqa: F401  (imported lazily by the command)
    from archc.spec.loader import load_spec  # noqa: F401

    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        main(["check", path], standalone_mode=False)
        code = 0
    except SystemExit as exc:
        code = exc.code
    return {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu, "code": code}


JOBS = {
    "analysis-archc": analysis_archc,
    "analysis-torchinfo": analysis_torchinfo,
    "export-onnx": export_onnx,
    "models": models,
    "check-timed": check_timed,
}


def main(argv: list[str]) -> int:
    """Run one job and print its JSON result."""
    if not argv or argv[0] not in JOBS:
        print(f"usage: python -m bench.worker {{{','.join(JOBS)}}} ARGS...", file=sys.stderr)
        return 2
    result = JOBS[argv[0]](*argv[1:])
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

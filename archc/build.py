"""`archc build`: one folder per (spec, variant), every file written atomically.

Each target renders its files in memory or into a private staging folder first; only when
every target of a variant has succeeded are the files moved into `OUT/<folder>/`, each by
an atomic rename. A failed or interrupted build therefore leaves earlier outputs as they
were.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from archc.diagnostics import Reporter, SpecError, print_diagnostics
from archc.ir.graph import Graph
from archc.spec.loader import folder_name, load_spec

#: Target name -> "module:function"; each function takes (graph, staging folder, options)
#: and writes its files into the staging folder. Backends are imported only when used.
TARGETS = {
    "pytorch": "archc.backends.pytorch:write_target",
    "onnx": "archc.backends.onnx:write_target",
    "graphviz": "archc.backends.graphviz:write_target",
    "summary": "archc.backends.summary_files:write_target",
    "train": "archc.backends.train_script:write_target",
    "report": "archc.backends.report:write_target",
}
#: Targets the default set (no --target) builds only for graphs that ask for them: train.py
#: only for specs with a `training:` section.
WANTED = {"train": lambda graph: graph.training is not None}
#: Targets that read another target's output (ONNX exports the generated model.py).
NEEDS = {"onnx": "pytorch"}
#: Targets whose slow part is another process, started before any target runs so that it
#: works beside the others ("module:function" taking what a target takes and returning a
#: handle with cancel(), or None); the target's function gets it as options["started"].
#: Graphviz's `dot` takes from 0.05 s (ResNet-50) to seconds (PreAct-ResNet-1001).
BACKGROUND = {"graphviz": "archc.backends.graphviz:start_target"}


class BuildError(Exception):
    """A target failed for a reason that is not a spec problem (export, disk)."""


def _target(name: str) -> Callable:
    return _function(TARGETS[name])


def _function(where: str) -> Callable:
    """The function named by "module:function", its module imported now."""
    import importlib

    module, function = where.split(":")
    return getattr(importlib.import_module(module), function)


def _umask() -> int:
    """The process's umask (read by setting it and putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path: Path, data: bytes | str) -> None:
    """Write a file through a temporary name in the same folder, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(raw)
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp makes the file private (0600); an output gets the mode open() would give.
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def build_graph(graph: Graph, out: Path, targets: list[str] | None, check: bool = False) -> Path:
    """Build one analysed variant into `out/<folder>/`; return that folder.

    `targets=None` is the default set: every target the graph wants (see WANTED).
    """
    folder = out / folder_name(graph.network, graph.variant)
    if targets is None:
        targets = [t for t in TARGETS if t not in WANTED or WANTED[t](graph)]
    ordered = [t for t in TARGETS if t in targets]
    for target in list(ordered):
        need = NEEDS.get(target)
        if need and need not in ordered:
            ordered.insert(ordered.index(target), need)
    out.mkdir(parents=True, exist_ok=True)
    _remove_stale_staging(out, folder.name)
    # The pid in the name lets a later build tell a killed build's leftovers from a live one.
    staging = Path(tempfile.mkdtemp(dir=out, prefix=f".{folder.name}.staging-{os.getpid()}-"))
    options: dict = {"check": check}
    started: dict = {}
    try:
        for target in ordered:
            if target in BACKGROUND:
                started[target] = _function(BACKGROUND[target])(graph, staging, options)
        for target in ordered:
            extra = {"started": started[target]} if target in started else {}
            _target(target)(graph, staging, {**options, **extra})
        produced = [p for p in sorted(staging.rglob("*")) if p.is_file()]
        _commit(staging, folder, [p for p in produced if _belongs(p.name, targets)])
    finally:
        # A target that failed leaves the others' processes running: stop them first.
        for handle in started.values():
            if handle is not None:
                handle.cancel()
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def _commit(staging: Path, folder: Path, files: list[Path]) -> None:
    """Move staged files into `folder`, all or none: until every rename has succeeded the
    files they replace are kept (as hard links), and any failure, Ctrl-C included, puts
    them back."""
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    backup = Path(tempfile.mkdtemp(dir=staging, prefix=".previous-"))
    done: list[tuple[Path, Path | None]] = []
    try:
        for path in files:
            dest = folder / path.relative_to(staging)
            dest.parent.mkdir(parents=True, exist_ok=True)
            saved = None
            if dest.exists():
                saved = backup / str(len(done))
                os.link(dest, saved)
            os.replace(path, dest)
            done.append((dest, saved))
    except BaseException:
        for dest, saved in reversed(done):
            if saved is None:
                dest.unlink(missing_ok=True)
            else:
                os.replace(saved, dest)
        if created:
            shutil.rmtree(folder, ignore_errors=True)
        raise


def _remove_stale_staging(out: Path, name: str) -> None:
    """Remove staging folders left by builds of `name` that were killed (their pid is gone)."""
    for path in out.glob(f".{name}.staging-*"):
        pid = path.name.removeprefix(f".{name}.staging-").split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, but not ours to signal
    return True


_FILES = {
    "pytorch": ("__init__.py", "model.py"),
    "onnx": ("model.onnx",),
    "graphviz": ("graph.dot", "graph.svg"),
    "summary": ("summary.json", "summary.md"),
    "train": ("train.py",),
    "report": ("report.html",),
}


def _belongs(name: str, targets: list[str]) -> bool:
    return any(name in _FILES[t] for t in targets) or not any(
        name in files for files in _FILES.values()
    )


def build_all(
    specs: list[str],
    variant: str | None,
    all_variants: bool,
    out: Path,
    targets: list[str] | None,
    check: bool = False,
    overrides: dict | None = None,
) -> bool:
    """Build every requested (spec, variant); print diagnostics and progress; True if all ok.

    `targets=None` builds the default set; `overrides` are `--set` settings.
    """
    reporter = Reporter()
    jobs = []
    for path in specs:
        try:
            spec = load_spec(path, reporter)
        except SpecError:
            continue
        names = spec.variant_names() if all_variants else [variant]
        if variant is not None and not all_variants:
            try:
                spec.variant(variant, reporter)
            except SpecError:
                continue
        jobs.extend((spec, name) for name in names)
    if reporter.errors:
        print_diagnostics(reporter.diagnostics, sys.stderr)
        return False
    ok = True
    built: list[Path] = []
    with _Feedback(len(jobs)) as feedback:
        from archc.pipeline import analyse

        for spec, name in jobs:
            label = f"{spec.display} [{name or spec.default_variant()}]"
            feedback.start(f"building {label}")
            variant_reporter = Reporter()
            try:
                graph = analyse(spec, name, variant_reporter, overrides)
                built.append(build_graph(graph, out, targets, check))
            except SpecError as exc:
                ok = False
                reporter.diagnostics.extend(exc.diagnostics)
            except BuildError as exc:
                ok = False
                feedback.error(f"{label}: {exc}")
            except OSError as exc:  # a full disk, a read-only folder: not a bug in archc
                ok = False
                where = f" ({exc.filename})" if exc.filename else ""
                feedback.error(
                    f"{label}: cannot write the outputs{where}: "
                    f"{exc.strerror or exc}; earlier outputs are unchanged"
                )
            reporter.diagnostics.extend(
                d for d in variant_reporter.warnings if d not in reporter.diagnostics
            )
            feedback.advance()
    print_diagnostics(reporter.diagnostics, sys.stderr)
    for folder in built:
        print(f"wrote {folder}/", file=sys.stderr)
    return ok


class _Feedback:
    """The progress bar of a build of several variants, and its error lines (red on a
    terminal). rich is imported only when one of them shows: the import alone is ~60 ms,
    a measurable part of a one-variant build's own cost."""

    def __init__(self, jobs: int) -> None:
        self.jobs = jobs
        self.console: Any = None
        self.progress: Any = None
        self.task: Any = None

    def __enter__(self) -> _Feedback:
        if self.jobs > 1:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            self.progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                console=self._console(),
                transient=True,
            )
            self.progress.__enter__()
            self.task = self.progress.add_task("building", total=self.jobs)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.__exit__(*exc)

    def _console(self) -> Any:
        if self.console is None:
            from rich.console import Console

            self.console = Console(stderr=True)
        return self.console

    def start(self, description: str) -> None:
        """Show what is being built now."""
        if self.progress is not None:
            self.progress.update(self.task, description=description)

    def advance(self) -> None:
        """One more variant done."""
        if self.progress is not None:
            self.progress.advance(self.task)

    def error(self, text: str) -> None:
        """Print `error: TEXT` (above the progress bar while it shows)."""
        self._console().print(f"[red]error[/red]: {text}", highlight=False)

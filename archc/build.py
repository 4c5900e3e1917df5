"""`archc build`: one folder per (spec, variant), each replaced all or none.

Each target renders its files into a private staging folder first; only when every target
of a variant has succeeded does the new version of `OUT/<folder>/` take the old one's
place, in one atomic rename of the whole folder (see `_commit`). A failed, interrupted or
killed build therefore leaves earlier outputs as they were. Before anything is written,
the build refuses folders that two of its (spec, variant) pairs would share, and output
paths that are symbolic links.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from archc.backends.bounded_text import one_line as one_line_text
from archc.diagnostics import Reporter, Span, SpecError, one_line, print_diagnostics
from archc.ir.graph import Graph
from archc.spec.loader import Spec, folder_name, load_spec
from archc.spec.source import LocDict

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


#: The package a target may find missing -> the extra of archc that installs it.
EXTRAS = {
    "torch": "torch",
    "onnx": "onnx",
    "onnxscript": "onnx",
    "onnxruntime": "onnx",
    "graphviz": "graphviz",
}


class MissingExtras(Exception):
    """Targets left out because a package they need is not installed; the others were
    written into `folder`. `skipped` maps each target to the package it lacks."""

    def __init__(self, folder: Path, skipped: dict[str, str]):
        self.folder = folder
        self.skipped = skipped
        extras = sorted({EXTRAS[package] for package in skipped.values()})
        files = [name for target in skipped for name in _FILES[target]]
        packages = sorted(set(skipped.values()))
        super().__init__(
            f"{', '.join(files)} not written: {' and '.join(packages)} "
            f"{'is' if len(packages) == 1 else 'are'} not installed; the other outputs are "
            f"written. Install with `pip install 'archc[{','.join(extras)}]'` and build again"
        )


def _missing_package(exc: ImportError) -> str | None:
    """The optional package an ImportError is about, or None for any other import error."""
    name = (exc.name or "").split(".")[0]
    return name if name in EXTRAS else None


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


def build_graph(
    graph: Graph,
    out: Path,
    targets: list[str] | None,
    check: bool = False,
    weights: str | None = None,
) -> Path:
    """Build one analysed variant into `out/<folder>/`; return that folder.

    `targets=None` is the default set: every target the graph wants (see WANTED);
    `weights` is a trained state_dict for model.onnx (else seed-0 initial weights).
    """
    folder = out / folder_name(graph.network, graph.variant)
    refuse_links(out, folder)
    if targets is None:
        targets = [t for t in TARGETS if t not in WANTED or WANTED[t](graph)]
    ordered = [t for t in TARGETS if t in targets]
    for target in list(ordered):
        need = NEEDS.get(target)
        if need and need not in ordered:
            ordered.insert(ordered.index(target), need)
    out.mkdir(parents=True, exist_ok=True)
    _recover(out, folder.name)
    # The pid in the name lets a later build tell a killed build's leftovers from a live one.
    staging = Path(tempfile.mkdtemp(dir=out, prefix=_hidden(folder.name, "staging")))
    options: dict = {"check": check, "weights": weights}
    started: dict = {}
    try:
        for target in ordered:
            if target in BACKGROUND:
                started[target] = _function(BACKGROUND[target])(graph, staging, options)
        skipped: dict[str, str] = {}
        for target in ordered:
            extra = {"started": started[target]} if target in started else {}
            if NEEDS.get(target) in skipped:
                skipped[target] = skipped[NEEDS[target]]
                continue
            try:
                _target(target)(graph, staging, {**options, **extra})
            except ImportError as exc:
                # Without torch (an install without the extra), every target that does not
                # need it is still written; the build then says what to install.
                package = _missing_package(exc)
                if package is None:
                    raise
                skipped[target] = package
        produced = [p for p in sorted(staging.rglob("*")) if p.is_file()]
        owned = {name for t in targets for name in _FILES[t]}
        written = [t for t in targets if t not in skipped]
        _commit(staging, folder, [p for p in produced if _belongs(p.name, written)], owned)
    finally:
        # A target that failed leaves the others' processes running: stop them first.
        for handle in started.values():
            if handle is not None:
                handle.cancel()
        shutil.rmtree(staging, ignore_errors=True)
    if skipped:
        raise MissingExtras(folder, skipped)
    return folder


def refuse_links(*paths: Path) -> None:
    """Raise BuildError if an output path is a symbolic link (or the folder a file): archc
    never writes through a link that a spec's repository may have planted."""
    for path in paths:
        if path.is_symlink():
            raise BuildError(
                f"{path} is a symbolic link; archc does not write through links (give the "
                f"folder it points to with -o, or remove the link)"
            )
        if path.exists() and not path.is_dir():
            raise BuildError(f"{path} exists and is not a folder")


def _hidden(name: str, role: str) -> str:
    """The prefix of a hidden working folder beside `name`: `.NAME.ROLE-PID-`."""
    return f".{name}.{role}-{os.getpid()}-"


def _commit(staging: Path, folder: Path, files: list[Path], owned: set[str]) -> None:
    """Make `folder` hold the staged files, all or none, by ONE rename of a whole folder.

    The next version of the folder is assembled beside it: the staged files, plus hard
    links to the files of the current version that this build does not own (other targets'
    outputs, the user's own files). Then the two folders trade places in one atomic
    rename (see `_swap`), so a reader, a crash or `kill -9` sees the old folder or the new
    one, never a mix. Any failure before the swap leaves the old folder untouched.
    """
    out = folder.parent
    following = Path(tempfile.mkdtemp(dir=out, prefix=_hidden(folder.name, "next")))
    try:
        staged = {path.relative_to(staging) for path in files}
        if folder.is_dir():
            _link_tree(folder, following, skip=staged, owned=owned)
        for path in files:
            dest = following / path.relative_to(staging)
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, dest)
        os.chmod(following, 0o777 & ~_umask())
        _swap(following, folder)
    except BaseException:
        shutil.rmtree(following, ignore_errors=True)
        raise
    # `following` now holds the previous version (or nothing, on a first build).
    shutil.rmtree(following, ignore_errors=True)


def _link_tree(source: Path, dest: Path, skip: set[Path], owned: set[str]) -> None:
    """Hard-link every file under `source` into `dest` (links copied as links), except
    those at `skip` and the top-level files in `owned` (a target being rebuilt replaces
    all its files: one it no longer makes must not survive from an older build)."""
    for root, dirs, names in os.walk(source):
        here = Path(root).relative_to(source)
        (dest / here).mkdir(exist_ok=True)
        for name in dirs + names:
            path = Path(root) / name
            rel = here / name
            if path.is_symlink():
                if name in dirs:
                    dirs.remove(name)
                os.symlink(os.readlink(path), dest / rel)
            elif name in names and rel not in skip and not (here == Path(".") and name in owned):
                try:
                    os.link(path, dest / rel, follow_symlinks=False)
                except OSError:  # a file system without hard links
                    shutil.copy2(path, dest / rel)


def _swap(following: Path, folder: Path) -> None:
    """Put `following` at `folder` in one atomic step; `following` is left holding the old
    folder (or nothing). Linux swaps the two in one renameat2(RENAME_EXCHANGE); elsewhere
    the old folder is first renamed aside, and `_recover` puts it back if a crash comes
    between the two renames."""
    if not folder.exists():
        os.rename(following, folder)
        following.mkdir()
        return
    if _exchange(following, folder):
        return
    aside = Path(tempfile.mkdtemp(dir=folder.parent, prefix=_hidden(folder.name, "previous")))
    os.rename(folder, aside)  # replaces the empty `aside`
    try:
        os.rename(following, folder)
    except BaseException:
        os.rename(aside, folder)
        raise
    os.rename(aside, following)


def _exchange(first: Path, second: Path) -> bool:
    """Swap two paths atomically with Linux's renameat2(RENAME_EXCHANGE); False where the
    system or file system cannot."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes
    import errno

    renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if renameat2 is None:
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(first), at_fdcwd, os.fsencode(second), rename_exchange):
        code = ctypes.get_errno()
        if code in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
            return False
        raise OSError(code, os.strerror(code), str(second))
    return True


def _recover(out: Path, name: str) -> None:
    """Tidy up after builds of `name` that were killed (their pid is gone): put back a
    folder renamed aside by `_swap`'s fallback, remove staging and half-made folders."""
    for path in sorted(out.glob(f".{name}.*-*")):
        role, _, rest = path.name.removeprefix(f".{name}.").partition("-")
        pid = rest.split("-", 1)[0]
        if role not in ("staging", "next", "previous") or not pid.isdigit():
            continue
        if _alive(int(pid)):
            continue
        if role == "previous" and not (out / name).exists():
            os.rename(path, out / name)
        else:
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
    weights: str | None = None,
    import_root: str | None = None,
) -> bool:
    """Build every requested (spec, variant); print diagnostics and progress; True if all ok.

    `targets=None` builds the default set; `overrides` are `--set` settings; `import_root`
    the folder imports may read (default: each spec's own).
    """
    reporter = Reporter()
    jobs = []
    for path in specs:
        try:
            spec = load_spec(path, reporter, import_root=import_root)
        except SpecError:
            continue
        names = spec.variant_names() if all_variants else [variant]
        if variant is not None and not all_variants:
            try:
                spec.variant(variant, reporter)
            except SpecError:
                continue
        jobs.extend((spec, name) for name in names)
    if not reporter.errors:
        _check_folders(jobs, reporter)
    if reporter.errors:
        print_diagnostics(reporter.diagnostics, sys.stderr)
        return False
    try:
        refuse_links(
            out, *(out / folder_name(s.network, v or s.default_variant()) for s, v in jobs)
        )
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return False
    ok = True
    built: list[Path] = []
    with _Feedback(len(jobs)) as feedback:
        from archc.pipeline import analyse

        for spec, name in jobs:
            # Printable, one line and short: a variant name is a stranger's text, and this
            # goes to a terminal.
            label = one_line_text(f"{spec.display} [{name or spec.default_variant()}]", 200)
            feedback.start(f"building {label}")
            variant_reporter = Reporter()
            try:
                graph = analyse(spec, name, variant_reporter, overrides)
                built.append(build_graph(graph, out, targets, check, weights))
            except SpecError as exc:
                ok = False
                reporter.diagnostics.extend(exc.diagnostics)
            except MissingExtras as exc:
                ok = False
                built.append(exc.folder)
                feedback.error(f"{label}: {exc}")
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


def _check_folders(jobs: list[tuple[Spec, str | None]], reporter: Reporter) -> None:
    """Report E-BUILD-FOLDER for every (spec, variant) whose build folder an earlier one
    of the same invocation already takes: one would silently overwrite the other."""
    taken: dict[str, tuple[Spec, str, Span]] = {}
    for spec, name in jobs:
        variant = name or spec.default_variant()
        folder = folder_name(spec.network, variant)
        span = _variant_span(spec, variant)
        if folder not in taken:
            taken[folder] = (spec, variant, span)
            continue
        other, other_variant, other_span = taken[folder]
        if other is spec:
            what = f"variant '{one_line(variant)}' and variant '{one_line(other_variant)}'"
        else:
            what = (
                f"network '{spec.network}' variant '{one_line(variant)}' and "
                f"{one_line(other.display)}'s '{other.network}' variant '{one_line(other_variant)}'"
            )
        reporter.error(
            "E-BUILD-FOLDER",
            f"{what} would both be built into the folder '{folder}'",
            span,
            f"the other one is at {other_span}",
            "a build folder is named by network and variant, lower case, with every other "
            "character '_'; rename one of them, or build them into different -o folders",
        )


def _variant_span(spec: Spec, variant: str) -> Span:
    """Where a variant is defined: its key under `variants:`, else the `network:` line."""
    variants = spec.raw.get("variants")
    if isinstance(variants, LocDict) and variant in variants:
        return variants.key_span(variant)
    return spec.raw.value_span("network")


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
                # Descriptions hold spec and variant names: text, never console markup.
                TextColumn("{task.description}", markup=False),
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
            # Spec and variant names: shown as plain text (markup=False), escapes escaped.
            self.progress.update(self.task, description=one_line(description))

    def advance(self) -> None:
        """One more variant done."""
        if self.progress is not None:
            self.progress.advance(self.task)

    def error(self, text: str) -> None:
        """Print `error: TEXT` (above the progress bar while it shows)."""
        from rich.text import Text

        # One line, as written (no wrapping inside a path or a word), with control characters
        # escaped: the text may quote a checkpoint's or a library's message.
        self._console().print(
            Text.assemble(("error", "red"), f": {one_line(text)}"), highlight=False, soft_wrap=True
        )

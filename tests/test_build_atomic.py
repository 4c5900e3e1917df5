"""`archc build` never leaves outputs half-written.

Each test builds once, records every file of the output folder (bytes and mtime), then
makes a second build fail in one way: a broken spec, a target that raises, a full disk
(on writing, and on the rename that moves files into place), Ctrl-C during a target and
during the renames, and a process killed with SIGKILL. The outputs must be byte-identical
afterwards and no temporary file may be left in the output folder.

Decision on SIGKILL: a killed build cannot clean up, so its hidden staging folder
(`OUT/.<folder>.staging-<pid>-*`) stays until the next build of that folder, which removes
the staging folders of processes that no longer exist (tested below).
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import archc.build
from archc.cli import main

SPEC = "network: tiny\ninput: [3, 16, 16]\nlayers:\n  - {type: conv, out: 4, kernel: 3}\n  - relu\n"
CHANGED = SPEC.replace("out: 4", "out: 6")


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file (hidden ones included) under `folder`: bytes and mtime."""
    return {
        str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def entries(folder: Path) -> list[str]:
    """Every path under `folder`, folders included."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.fixture
def built(tmp_path, monkeypatch):
    """A spec built once into tmp_path/out (summary target); returns (spec, out, before)."""
    monkeypatch.chdir(tmp_path)
    spec = tmp_path / "tiny.yaml"
    spec.write_text(SPEC)
    out = tmp_path / "out"
    result = build(spec, out)
    assert result.exit_code == 0, result.output
    assert entries(out) == ["tiny_default", "tiny_default/summary.json", "tiny_default/summary.md"]
    spec.write_text(CHANGED)  # a successful rebuild would change both files
    return spec, out, snapshot(out)


def build(spec: Path, out: Path, *extra: str):
    return CliRunner().invoke(
        main, ["build", str(spec), "-o", str(out), "--target", "summary", *extra]
    )


def assert_unchanged(out: Path, before) -> None:
    assert snapshot(out) == before
    assert entries(out) == ["tiny_default", "tiny_default/summary.json", "tiny_default/summary.md"]


def test_rebuild_replaces_the_outputs(built):
    """The control: the same steps without a failure do change the files."""
    spec, out, before = built
    result = build(spec, out)
    assert result.exit_code == 0, result.output
    after = snapshot(out)
    assert after.keys() == before.keys()
    assert all(after[k][0] != before[k][0] for k in after)
    # conv 3->6, 3x3: 6 * 3 * 3 * 3 weights + 6 biases (the first build had out: 4, 112)
    assert json.loads((out / "tiny_default/summary.json").read_text())["totals"]["params"] == 168
    assert entries(out) == ["tiny_default", "tiny_default/summary.json", "tiny_default/summary.md"]


def test_bad_spec(built):
    spec, out, before = built
    spec.write_text(CHANGED.replace("kernel: 3", "kernel: 30"))
    result = build(spec, out)
    assert result.exit_code == 1
    assert "error[E-SHAPE-KERNEL]" in result.stderr
    assert_unchanged(out, before)


@pytest.mark.parametrize(
    "failure", [RuntimeError("export failed"), archc.build.BuildError("export failed")]
)
def test_target_that_raises(built, monkeypatch, failure):
    spec, out, before = built
    real = archc.build._target

    def failing(name):
        write = real(name)

        def target(graph, staging, options):
            write(graph, staging, options)  # a partial result in staging, then the failure
            raise failure

        return target

    monkeypatch.setattr(archc.build, "_target", failing)
    result = build(spec, out)
    assert result.exit_code in (1, 3)  # BuildError: 1; any other exception: internal error
    assert "export failed" in result.stderr
    assert "Traceback" not in result.output
    assert_unchanged(out, before)


def _enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(args[0]) if args else None)


def test_disk_full_while_writing(built, monkeypatch):
    spec, out, before = built
    real = Path.write_text

    def write_text(self, *args, **kwargs):
        if self.name == "summary.md":  # summary.json is written, then the disk is full
            _enospc(self)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", write_text)
    result = build(spec, out)
    assert result.exit_code == 1, result.output
    assert "No space left on device" in result.stderr
    assert "Traceback" not in result.output
    assert_unchanged(out, before)


@pytest.mark.parametrize("failure", ["disk-full", "ctrl-c"])
def test_failure_between_the_renames(built, monkeypatch, failure):
    """The first file is already in place when the second rename fails: it is put back."""
    spec, out, before = built
    real = os.replace
    calls = []

    def replace(src, dst, *args, **kwargs):
        calls.append(Path(dst).name)
        if Path(dst).name == "summary.md" and calls.count("summary.md") == 1:
            if failure == "ctrl-c":
                raise KeyboardInterrupt
            _enospc(dst)
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)
    result = build(spec, out)
    assert calls[:2] == ["summary.json", "summary.md"]  # the failure came second
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert_unchanged(out, before)


def test_ctrl_c_during_a_target(built, monkeypatch):
    spec, out, before = built
    real = archc.build._target

    def interrupted(name):
        write = real(name)

        def target(graph, staging, options):
            write(graph, staging, options)
            raise KeyboardInterrupt

        return target

    monkeypatch.setattr(archc.build, "_target", interrupted)
    result = build(spec, out)
    assert result.exit_code == 1  # click: "Aborted!"
    assert "Traceback" not in result.output
    assert_unchanged(out, before)


def test_first_build_that_fails_leaves_no_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = tmp_path / "tiny.yaml"
    spec.write_text(SPEC)
    real = os.replace

    def replace(src, dst, *args, **kwargs):
        if Path(dst).name == "summary.md":
            _enospc(dst)
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)
    result = build(spec, tmp_path / "out")
    assert result.exit_code == 1
    assert entries(tmp_path / "out") == []


KILLED_BUILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import archc.backends.summary_files as target
    from archc.cli import main

    real = target.write_target
    ready, spec, out = sys.argv[1:4]

    def slow(graph, staging, options):
        real(graph, staging, options)  # staged, not yet moved into place
        Path(ready).write_text("ready")
        time.sleep(60)

    target.write_target = slow
    sys.argv = ["archc", "build", spec, "-o", out, "--target", "summary"]
    main()
    """
)


def test_sigkill_mid_build(built, tmp_path):
    spec, out, before = built
    ready = tmp_path / "ready"
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_BUILD, str(ready), str(spec), str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while not ready.exists():
            assert proc.poll() is None, "the build ended before it was killed"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    # The outputs are untouched; only the killed build's hidden staging folder remains.
    visible = {k: v for k, v in snapshot(out).items() if not k.startswith(".")}
    assert visible == before
    leftovers = [p.name for p in out.iterdir() if p.name.startswith(".")]
    assert len(leftovers) == 1 and leftovers[0].startswith(f".tiny_default.staging-{proc.pid}-")
    # The next build of that folder removes the dead build's staging folder.
    result = build(spec, out)
    assert result.exit_code == 0, result.output
    assert entries(out) == ["tiny_default", "tiny_default/summary.json", "tiny_default/summary.md"]
    assert snapshot(out) != before


def test_a_live_builds_staging_is_left_alone(built):
    """Another build of the same folder, still running (this process), is not disturbed."""
    spec, out, _ = built
    live = out / f".tiny_default.staging-{os.getpid()}-abc"
    live.mkdir()
    (live / "summary.json").write_text("{}")
    assert build(spec, out).exit_code == 0
    assert (live / "summary.json").read_text() == "{}"

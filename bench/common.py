"""Shared helpers: running a child process with its wall time and peak memory, machine facts."""

from __future__ import annotations

import datetime
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
PYCACHE = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"archc-bench-pycache-{os.getuid()}")


@dataclass
class ChildRun:
    """One finished child process: wall seconds, peak resident bytes, exit code, output."""

    wall: float
    max_rss: int
    returncode: int
    stdout: str
    stderr: str
    cpu: float = 0.0  # user + system seconds of the child: less disturbed by other load


def run_child(
    cmd: list[str], env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 900
) -> ChildRun:
    """Run `cmd`, returning its wall time and its own peak RSS (from wait4, not the parent's)."""
    out_path = Path(os.environ.get("TMPDIR", "/tmp"))
    # Files rather than pipes, so a chatty child never blocks and wait4 sees it finish.
    with open(os.devnull, "rb") as devnull, _tempfile(out_path) as out, _tempfile(out_path) as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            cmd, stdin=devnull, stdout=out, stderr=err, env=env, cwd=cwd or ROOT
        )
        deadline = start + timeout
        try:
            while True:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                if time.perf_counter() > deadline:
                    proc.kill()
                    pid, status, usage = os.wait4(proc.pid, 0)
                    break
                time.sleep(0.0005)
        except BaseException:
            # Interrupted (Ctrl-C, a signal): leave no orphaned measurement running.
            proc.kill()
            os.wait4(proc.pid, 0)
            raise
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        # Linux reports ru_maxrss in KiB.
        return ChildRun(
            wall,
            usage.ru_maxrss * 1024,
            proc.returncode,
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
            usage.ru_utime + usage.ru_stime,
        )


def _tempfile(folder: Path):
    import tempfile

    return tempfile.TemporaryFile(dir=folder)


def python_cmd(*args: str) -> list[str]:
    """The current interpreter with arguments, unbuffered."""
    return [sys.executable, *args]


def archc_cmd(*args: str) -> list[str]:
    """The `archc` console script of this environment (what a user runs)."""
    script = Path(sys.executable).parent / "archc"
    if script.exists():
        return [str(script), *args]
    return [sys.executable, "-c", "from archc.cli import main; main()", *args]


def child_env(threads: int | None = None) -> dict[str, str]:
    """The environment for children: this one, with the repo importable (for bench.*)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    # Time Python as installed Python runs: from cached bytecode. (Some machines set
    # PYTHONDONTWRITEBYTECODE, which recompiles every module of archc on every start.) The
    # cache goes to a folder of its own, not into the source tree.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = PYCACHE
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    return env


def median(values: list[float]) -> float:
    """The median (0.0 for no values)."""
    return statistics.median(values) if values else 0.0


def machine() -> dict[str, str]:
    """The facts a reader needs to weigh the numbers: CPU, cores, load, versions, date."""
    info = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": _cpu_model(),
        "cores": str(os.cpu_count()),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    try:
        info["load average"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        pass
    for package in ("torch", "torchinfo", "onnx", "onnxruntime", "pydantic", "PyYAML"):
        info[package] = _version(package)
    try:
        import archc

        info["archc"] = archc.__version__
    except ImportError:
        info["archc"] = "not installed"
    info["git"] = _git_head()
    info["graphviz dot"] = "yes" if shutil.which("dot") else "no"
    return info


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def _git_head() -> str:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        )
        head = result.stdout.strip() or "unknown"
        return head + (" (with uncommitted changes)" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def mib(n: float) -> str:
    """Bytes as MiB text."""
    return f"{n / 2**20:,.1f} MiB"


def ms(seconds: float) -> str:
    """Seconds as milliseconds text."""
    return f"{seconds * 1000:,.1f} ms"


def fmt_s(seconds: float) -> str:
    """Seconds in the most readable unit."""
    if seconds < 0:
        return "-" + fmt_s(-seconds)
    if seconds < 1e-3:
        return f"{seconds * 1e6:,.1f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:,.1f} ms"
    return f"{seconds:,.2f} s"


@dataclass
class Context:
    """What every measurement gets: the mode, a scratch folder, and the progress display."""

    quick: bool
    scratch: Path
    progress: object  # a rich.progress.Progress
    modes: list[str] | None = None  # model timing modes (None: the mode's default)

    def task(self, description: str, total: int):
        """Start a progress bar; returns a function that advances it by one."""
        task_id = self.progress.add_task(description, total=total)

        def advance() -> None:
            self.progress.advance(task_id)

        return advance

    def child_json(
        self, job: list[str], threads: int | None = None, timeout: float = 900
    ) -> tuple[dict, ChildRun]:
        """Run a bench.worker job in a fresh interpreter; its JSON result and the run."""
        import json

        run = run_child(
            python_cmd("-m", "bench.worker", *job), env=child_env(threads), timeout=timeout
        )
        if run.returncode != 0:
            tail = (run.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise RuntimeError(f"worker {' '.join(job[:2])} failed ({run.returncode}): {tail}")
        return json.loads(run.stdout.strip().splitlines()[-1]), run

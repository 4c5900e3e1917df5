"""Run archc commands as a reader would type them, for the generated docs and their tests.

Commands run through bash with an `archc` on PATH that executes the source tree given
(not whatever archc happens to be installed), at a fixed terminal width, stdout and stderr
interleaved as a terminal shows them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
#: The terminal width the shown outputs assume (archc's table never goes below 120).
COLUMNS = 120


def archc_shim(folder: Path, python: str = sys.executable) -> Path:
    """Write `archc` and `python` launchers for `python` into folder; return the folder."""
    launcher = folder / "archc"
    launcher.write_text(
        "#!/bin/sh\n"
        f'exec "{python}" -c "import sys; sys.argv[0] = \'archc\'; '
        'from archc.cli import main; main()" "$@"\n'
    )
    launcher.chmod(0o755)
    # `python` in a shown command is the interpreter archc runs on (the reader's venv).
    interpreter = folder / "python"
    interpreter.write_text(f'#!/bin/sh\nexec "{python}" "$@"\n')
    interpreter.chmod(0o755)
    return folder


def command_env(bin_dir: Path, source_root: Path = REPO) -> dict[str, str]:
    """The environment the shown commands run in."""
    env = dict(os.environ)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(source_root)
    env["COLUMNS"] = str(COLUMNS)
    env["PYTHONUNBUFFERED"] = "1"
    env["NO_COLOR"] = "1"
    env.pop("FORCE_COLOR", None)
    return env


def run_shown(
    command: str, cwd: Path, source_root: Path = REPO, timeout: float = 180
) -> tuple[int, str]:
    """Run a command line as shown in the docs; return its exit code and terminal text."""
    with tempfile.TemporaryDirectory() as tmp:
        env = command_env(archc_shim(Path(tmp)), source_root)
        done = subprocess.run(
            ["bash", "-c", command],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
        )
    # rich pads the table's title line to the terminal width: trailing blanks carry nothing.
    text = "\n".join(line.rstrip() for line in done.stdout.splitlines())
    return done.returncode, text

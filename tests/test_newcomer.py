"""A newcomer's first ten minutes, end to end: a fresh clone of the repository at HEAD,
the README's commands and the tutorial's steps, and what they print.

The default test runs them with this interpreter on the clone's own sources (so a file the
docs rely on but that was never committed fails it). The slow one does everything a
newcomer does: a clean virtual environment, `pip install`, the README's main command.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "docs" / "tools"))

import docrun  # noqa: E402
import gen_pages  # noqa: E402


def _fresh_clone(tmp_path: Path) -> Path:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    clone = tmp_path / "archc"
    done = subprocess.run(
        ["git", "clone", "--quiet", f"file://{ROOT}", str(clone)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return clone


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    return _fresh_clone(tmp_path_factory.mktemp("newcomer"))


def _shown_blocks(page: str) -> list[tuple[str, str]]:
    """(command, output) of each marked output block of a page."""
    found = re.findall(r"<!-- output: (.+?) -->\n```console\n\$ .+?\n(.*?)```", page, re.S)
    return [(command, output.rstrip("\n")) for command, output in found]


@pytest.mark.skipif(shutil.which("dot") is None, reason="the README draws with Graphviz")
@pytest.mark.parametrize("page", ["README.md", "docs/tutorial.md"])
def test_fresh_clone_prints_what_the_docs_show(clone, page):
    """Each command the page shows prints, in a fresh clone, exactly what the page shows."""
    text = (clone / page).read_text()
    blocks = _shown_blocks(text)
    assert len(blocks) == len(gen_pages.marked_commands(text)) >= 3
    for command, shown in blocks:
        _, output = docrun.run_shown(command, clone, source_root=clone)
        assert output == shown, f"{page}: `{command}` prints something else in a fresh clone"


def test_fresh_clone_has_what_the_docs_link_to(clone):
    for page in ["README.md", *(str(p.relative_to(clone)) for p in clone.glob("docs/*.md"))]:
        text = re.sub(r"```.*?```", "", (clone / page).read_text(), flags=re.S)
        for link in re.findall(r"\]\(([^)#\s]+)", text):
            if not link.startswith(("http://", "https://")):
                target = (clone / page).parent / link
                assert target.exists(), f"{page} links to {link}, missing from a fresh clone"


def test_fresh_clone_runs_the_main_commands_analysis(clone):
    """The analysis half of the README's main command works on the clone's zoo."""
    block = (clone / "README.md").read_text().split("<!-- main-command -->")[1]
    command = re.search(r"```sh\n(.*?)\n```", block, re.S).group(1)
    steps = [s.strip() for s in command.split("&&") if s.strip().startswith("archc summary")]
    assert steps
    for step in steps:
        status, output = docrun.run_shown(step, clone, source_root=clone)
        assert status == 0 and "params:" in output, output


@pytest.mark.slow
def test_newcomer_walkthrough_in_a_clean_venv(tmp_path):
    """The README's main command, verbatim, in a fresh clone and a new virtual environment
    (no system site-packages), then the README's and tutorial's commands from that venv."""
    clone = _fresh_clone(tmp_path)
    block = (clone / "README.md").read_text().split("<!-- main-command -->")[1]
    command = re.search(r"```sh\n(.*?)\n```", block, re.S).group(1)
    env = {
        k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")
    }
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if "venv" not in p
    )
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", command],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "138,357,544" in done.stdout  # VGG D's parameters, as torchvision's vgg16
    assert (clone / "build" / "resnet_18" / "model.py").is_file()
    venv_archc = clone / ".venv" / "bin" / "archc"
    for page in ["README.md", "docs/tutorial.md"]:
        for shown_command, shown in _shown_blocks((clone / page).read_text()):
            with_venv = dict(
                env,
                PATH=f"{venv_archc.parent}{os.pathsep}{env['PATH']}",
                COLUMNS=str(docrun.COLUMNS),
                NO_COLOR="1",
            )
            run = subprocess.run(
                ["bash", "-c", shown_command],
                cwd=clone,
                env=with_venv,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            output = "\n".join(line.rstrip() for line in run.stdout.splitlines())
            assert output == shown, f"{page}: `{shown_command}` differs in the clean venv"


def test_outputs_get_ordinary_file_permissions(tmp_path):
    """A newcomer's diagram is readable like any file they write (not 0600 as staged)."""
    mask = os.umask(0o022)
    os.umask(mask)
    spec = ROOT / "docs" / "examples" / "tiny_resnet.yaml"
    status, output = docrun.run_shown(f"archc graph {spec} -o {tmp_path / 'net.svg'}", tmp_path)
    assert status == 0, output
    for name in ("net.dot", "net.svg"):
        if (tmp_path / name).exists():
            assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~mask, name
    assert (tmp_path / "net.dot").exists()


def test_unnamed_layers_are_not_called_network(write_spec):
    """A newcomer's first typo, in an unnamed layer, names the layer's kind, not the network."""
    from click.testing import CliRunner

    from archc.cli import main

    path = write_spec("network: net\ninput: [3, 8, 8]\nlayers:\n  - {type: conv, out: 4}\n")
    result = CliRunner().invoke(main, ["check", str(path)])
    assert result.exit_code == 1
    assert ":4:5: error[E-MISSING-FIELD]: conv: missing required field 'kernel'" in result.output
    assert "'network'" not in result.output

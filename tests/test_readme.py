"""The README never lies: its spec, outputs and diagram are the real ones, its commands
work, and the figures it shows agree with torch itself."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "docs" / "tools"))

import docrun  # noqa: E402
import gen_pages  # noqa: E402
import make_docs  # noqa: E402

README = ROOT / "README.md"
STALE = "is stale: run `python docs/tools/make_docs.py` and commit the result"


# The README shows `archc graph` rendering with Graphviz (.ci/run installs it).
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot missing")


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory) -> tuple[str, Path]:
    """The README regenerated in a scratch copy of the repository, and that copy."""
    root = make_docs.scratch_copy(tmp_path_factory.mktemp("repo"))
    return gen_pages.fill(README.read_text(), root), root


@needs_dot
def test_readme_shows_the_real_spec_and_outputs(regenerated):
    text, _ = regenerated
    assert README.read_text() == text, f"README.md {STALE}"


@needs_dot
def test_readme_diagram_is_current(regenerated):
    """The committed diagram is what `archc graph` draws now (the SVG checked where the
    installed Graphviz is the one that drew it, since layouts differ between versions)."""
    _, root = regenerated
    for pattern in make_docs.PRODUCTS:
        for fresh in root.glob(pattern):
            committed = ROOT / fresh.relative_to(root)
            assert make_docs.same_product(committed, fresh), f"{committed} {STALE}"
    assert (root / "docs/examples/tiny_resnet.dot").exists()
    assert "](docs/examples/tiny_resnet.svg)" in README.read_text()


@needs_dot
def test_readme_commands_exit_as_shown():
    commands = gen_pages.marked_commands(README.read_text())
    assert any(c.startswith("archc summary") for c in commands)
    assert any(c.startswith("archc graph") for c in commands)
    with tempfile.TemporaryDirectory() as tmp:
        root = make_docs.scratch_copy(Path(tmp))
        for command in commands:
            status, output = docrun.run_shown(command, root)
            assert status == (1 if "broken" in command else 0), (command, output)
            assert "Traceback" not in output


def _fenced_after(marker: str) -> str:
    text = README.read_text()
    block = text.split(marker, 1)[1]
    match = re.match(r"\s*```sh\n(.*?)\n```", block, flags=re.S)
    assert match, f"no ```sh block after {marker}"
    return match.group(1)


def test_setup_blocks_are_marked_and_ci_runs_the_test_command():
    main_command = _fenced_after("<!-- main-command -->")
    test_command = _fenced_after("<!-- test-command -->")
    for command in (main_command, test_command):
        assert "pip install torch==2.13.0" in command
        assert "python3 -m venv .venv" in command
    assert "archc summary" in main_command and test_command.endswith("pytest -n auto")
    # .ci/run extracts the test command with awk; it must find exactly this block.
    awk = (
        "/<!-- test-command -->/{found=1; next} found && /^```sh/{inblock=1; next} "
        "inblock && /^```/{exit} inblock{print}"
    )
    extracted = subprocess.run(["awk", awk, str(README)], capture_output=True, text=True)
    assert extracted.stdout.strip() == test_command


def test_readme_says_what_ci_installs_and_why():
    """The browser tests skipped unless a reader knew to install chromium-driver: the
    README's test paragraph names every package .ci/run installs, and .ci/run runs the
    suite in parallel as the README does."""
    ci = (ROOT / ".ci" / "run").read_text()
    installed = set(re.findall(r"apt-get install -y -qq ([\w -]+?) >", ci))
    packages = {p for line in installed for p in line.split()}
    assert packages == {"graphviz", "chromium", "chromium-driver"}
    paragraph = README.read_text().split("<!-- test-command -->", 1)[1].split("\n## ", 1)[0]
    for package in packages:
        assert f"`{package}`" in paragraph, package
    assert "tests/test_browser.py" in paragraph and "-n auto" in paragraph


def test_readme_main_command_zoo_files_exist():
    for path in re.findall(r"archc \w+ (\S+\.yaml)", _fenced_after("<!-- main-command -->")):
        assert (ROOT / path).is_file(), path


# --- the figures the README shows, against torch itself --------------------------------


def _tiny_resnet_in_torch():
    """docs/examples/tiny_resnet.yaml written by hand in plain torch, same module names."""
    from torch import nn

    class Basic(nn.Module):
        def __init__(self, cin, planes, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.relu = nn.ReLU()
            self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.shortcut = None
            if stride != 1 or cin != planes:
                self.shortcut = nn.Sequential(
                    nn.Conv2d(cin, planes, 1, stride, bias=False), nn.BatchNorm2d(planes)
                )
            self.relu_1 = nn.ReLU()

        def forward(self, x):
            y = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
            return self.relu_1(y + (self.shortcut(x) if self.shortcut is not None else x))

    class TinyResNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 16, 3, padding=1, bias=False)
            self.batchnorm = nn.BatchNorm2d(16)
            self.relu = nn.ReLU()
            self.stage1 = Basic(16, 16, 1)
            self.stage2 = Basic(16, 32, 2)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.flatten = nn.Flatten()
            self.fc = nn.Linear(32, 10)

        def forward(self, x):
            x = self.stage2(self.stage1(self.relu(self.batchnorm(self.stem(x)))))
            return self.fc(self.flatten(self.pool(x)))

    return TinyResNet()


@pytest.mark.torch
def test_readme_figures_agree_with_torch():
    torch = pytest.importorskip("torch")
    from click.testing import CliRunner
    from torch import nn

    from archc.cli import main

    result = CliRunner().invoke(
        main, ["summary", str(ROOT / "docs/examples/tiny_resnet.yaml"), "--json"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    model = _tiny_resnet_in_torch().eval()
    shapes, macs = {}, []

    def hook(name):
        def record(module, inputs, output):
            shapes[name] = list(output.shape[1:])
            if isinstance(module, nn.Conv2d):
                k = (
                    module.in_channels
                    // module.groups
                    * module.kernel_size[0]
                    * module.kernel_size[1]
                )
                macs.append(output[0].numel() * k)
            elif isinstance(module, nn.Linear):
                macs.append(module.in_features * module.out_features)

        return record

    for name, module in model.named_modules():
        if name and not list(module.children()):
            module.register_forward_hook(hook(name))
    with torch.no_grad():
        out = model(torch.zeros(1, *summary["input_shape"]))
    params = sum(p.numel() for p in model.parameters())
    buffers = sum(b.numel() for b in model.buffers())
    assert summary["totals"]["params"] == params == 19_994
    assert summary["totals"]["buffer_elements"] == buffers
    assert summary["totals"]["macs"] == sum(macs)
    assert summary["output_shape"] == list(out.shape[1:])
    rows = {row["name"]: row for row in summary["layers"]}
    assert set(shapes) <= set(rows)
    for name, shape in shapes.items():
        assert rows[name]["output_shape"] == shape, name
    state = {k: list(v.shape) for k, v in model.state_dict().items()}
    assert {k: s for k, s, _ in summary["state_dict"]} == state

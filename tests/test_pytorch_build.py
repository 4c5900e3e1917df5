"""`archc build` with the PyTorch target: folders a fresh Python imports, byte-identical
rebuilds, and generated files that pass ruff."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import archc
from archc.backends.pytorch import generate_source
from archc.spec.loader import folder_name, load_spec
from tests.conftest import ROOT, SPECS

pytest.importorskip("torch")


def archc_build(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run `archc build ...` in a fresh process."""
    command = [str(Path(sys.executable).parent / "archc"), "build", *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)


def fresh_python(code: str, *args: str) -> subprocess.CompletedProcess:
    """Run Python code in a new interpreter, outside the repository."""
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, cwd="/", timeout=600
    )


def test_built_folder_imports_and_runs_in_a_fresh_process(tmp_path):
    done = archc_build("specs/alexnet.yaml", "--target", "pytorch", "-o", str(tmp_path))
    assert done.returncode == 0, done.stderr
    folder = tmp_path / "alexnet_lecture"
    assert sorted(p.name for p in folder.iterdir()) == ["__init__.py", "model.py"]
    # model.py is standalone: it imports torch and nothing else.
    tree = ast.parse((folder / "model.py").read_text())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert imported <= {"torch"}
    run = fresh_python(
        "import sys, torch\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "from alexnet_lecture import AlexNetLecture\n"
        "model = AlexNetLecture().eval()\n"
        "print(tuple(model(torch.randn(2, 3, 227, 227)).shape))\n"
        "print('archc' in sys.modules)\n",
        str(tmp_path),
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["(2,", "1000)", "False"]


IMPORT_AND_RUN = """
import importlib, json, sys, torch
sys.path.insert(0, sys.argv[1])
for folder, name, shape, out in json.loads(sys.argv[2]):
    cls = getattr(importlib.import_module(folder), name)
    real = folder == "lenet5_paper"
    with torch.device("cpu" if real else "meta"):
        model = cls().eval()
        y = model(torch.randn(2, *shape))
    assert list(y.shape) == [2, *out], (folder, y.shape)
    assert not real or bool(torch.isfinite(y).all())
print(len(json.loads(sys.argv[2])))
"""


def jobs_for(specs: list[Path]) -> list[list]:
    """[folder, class, input shape, output shape] of every variant of these specs."""
    jobs = []
    for path in specs:
        for variant in load_spec(path).variant_names():
            graph = archc.load(path, variant).graph
            folder = folder_name(graph.network, graph.variant)
            jobs.append(
                [folder, graph.class_name, list(graph.input_shape), list(graph.output_shape)]
            )
    return jobs


def import_and_run(out: Path, jobs: list[list]) -> None:
    """A fresh Python imports every built folder and runs a forward pass: big models on
    `meta` (no memory), LeNet-5 for real on the CPU."""
    assert {p.name for p in out.iterdir() if p.is_dir()} == {j[0] for j in jobs}
    run = fresh_python(IMPORT_AND_RUN, str(out), json.dumps(jobs))
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == str(len(jobs))


@pytest.mark.slow
def test_whole_zoo_builds_and_every_folder_imports(tmp_path):
    done = archc_build("specs/", "--all-variants", "--target", "pytorch", "-o", str(tmp_path))
    assert done.returncode == 0, done.stderr
    import_and_run(tmp_path, jobs_for(sorted(SPECS.glob("*.yaml"))))


def test_rebuilding_gives_byte_identical_files_that_import(tmp_path):
    specs = [SPECS / "alexnet.yaml", SPECS / "googlenet.yaml", SPECS / "lenet5.yaml"]
    outputs = []
    for n, seed in enumerate(("1", "2")):
        out = tmp_path / f"run{n}"
        env = dict(os.environ, PYTHONHASHSEED=seed)
        done = archc_build(
            *map(str, specs), "--all-variants", "--target", "pytorch", "-o", str(out), env=env
        )
        assert done.returncode == 0, done.stderr
        outputs.append({p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*.py"))})
    assert outputs[0].keys() == outputs[1].keys() and len(outputs[0]) >= 14
    for path, data in outputs[0].items():
        assert outputs[1][path] == data, path
    import_and_run(tmp_path / "run0", jobs_for(specs))
    graph = archc.load(SPECS / "resnet.yaml", "50").graph
    again = archc.load(SPECS / "resnet.yaml", "50").graph
    assert generate_source(graph) == generate_source(again)


def test_generated_zoo_passes_ruff_check_and_format(tmp_path):
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed (dev extras)")
    for path in sorted(SPECS.glob("*.yaml")):
        for variant in load_spec(path).variant_names():
            graph = archc.load(path, variant).graph
            folder = tmp_path / folder_name(graph.network, graph.variant)
            folder.mkdir()
            from archc.backends.pytorch import write_target

            write_target(graph, folder, {})
    config = ["--config", str(ROOT / "pyproject.toml")]
    check = subprocess.run([ruff, "check", *config, str(tmp_path)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    fmt = subprocess.run(
        [ruff, "format", "--check", "--diff", *config, str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


LAYER_SCALE_IN_A_SEQUENTIAL = """\
archc: 1
network: scaled_net
input: [8, 6, 6]
blocks:
  scaled:
    sequential: true
    layers:
      - {type: conv, out: 8, kernel: 3}
      - {type: layer_scale, over: channels}
      - {type: relu}
      - {type: conv, out: 4, kernel: 1}
layers:
  - {type: scaled}
"""


def test_an_unnamed_layer_scale_in_a_sequential_takes_its_kinds_name(tmp_path):
    """As in torchvision's blocks, the scale is the attribute `layer_scale` and only the
    modules are numbered (it used to be numbered too: `add_module("1", nn.Parameter)`)."""
    import torch
    from torch import nn

    class Reference(nn.Module):  # torch's own naming of such a module
        def __init__(self) -> None:
            super().__init__()
            self.add_module("0", nn.Conv2d(8, 8, 3))
            self.layer_scale = nn.Parameter(torch.full((8, 1, 1), 1e-6))
            self.add_module("1", nn.ReLU())
            self.add_module("2", nn.Conv2d(8, 4, 1))

    spec = tmp_path / "scaled.yaml"
    spec.write_text(LAYER_SCALE_IN_A_SEQUENTIAL)
    done = archc_build(str(spec), "--target", "pytorch", "-o", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    run = fresh_python(
        "import sys, torch\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "from scaled_net_default.model import SCALED_NET\n"
        "model = SCALED_NET()\n"
        "print(tuple(model(torch.randn(1, 8, 6, 6)).shape))\n"
        "print(*model.state_dict())\n",
        str(tmp_path / "out"),
    )
    assert run.returncode == 0, run.stderr
    shape, keys = run.stdout.splitlines()
    assert shape == "(1, 4, 4, 4)"
    assert keys.split() == [f"scaled.{key}" for key in Reference().state_dict()]

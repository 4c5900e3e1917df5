"""Training from the spec: the `training:` section, `--set`, `trainable`, and the generated
train.py, run for real (one process, two gloo processes under torchrun, and LeNet-5 on
scikit-learn's handwritten digits, then fine-tuned by replacing its head)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import archc
from archc.backends.train_script import render
from archc.cli import main
from archc.spec.loader import load_spec
from tests.conftest import ROOT, SPECS

SMALL = """\
network: small
input: [1, 12, 12]
params: {finetune: false, num_classes: 3}
variants:
  base: {}
  quick: {training: {lr: 0.5, augment: {hflip: true}}}
training:
  optimizer: sgd
  lr: 0.1
  momentum: 0.9
  schedule: {type: step, step_size: 2}
  augment: {random_crop: true, crop_padding: 1}
layers:
  - name: features
    trainable: false
    layers:
      - {type: conv, out: 4, kernel: 3}
      - relu
      - {type: conv, out: 4, kernel: 3, trainable: true}
      - relu
  - {type: block2, trainable: "not finetune"}
  - flatten
  - {name: fc, type: linear, out: num_classes}
blocks:
  block2:
    layers:
      - {name: conv, type: conv, out: 2, kernel: 3}
      - {name: relu, type: relu}
"""
# Parameters of SMALL by PyTorch's formulas (out * in * k * k + out per conv):
FIRST_CONV = 4 * 1 * 9 + 4  # 40, frozen with its Sequential
SECOND_CONV = 4 * 4 * 9 + 4  # 148, trainable: true inside the frozen Sequential
BLOCK_CONV = 2 * 4 * 9 + 2  # 74, frozen when finetune is true
FC = 2 * 6 * 6 * 3 + 3  # 219: 2 maps of 6x6 into 3 classes


def _summary(path, *args):
    result = CliRunner().invoke(main, ["summary", str(path), "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


# --- the spec side (no torch) ----------------------------------------------------------


def test_trainable_is_inherited_from_sequentials_and_blocks(write_spec):
    path = write_spec(SMALL)
    totals = _summary(path)["totals"]
    assert totals["params"] == FIRST_CONV + SECOND_CONV + BLOCK_CONV + FC
    assert totals["trainable_params"] == SECOND_CONV + BLOCK_CONV + FC
    frozen = _summary(path, "--set", "finetune=true")["totals"]
    assert frozen["trainable_params"] == SECOND_CONV + FC


def test_training_freeze_setting_freezes_modules(write_spec):
    path = write_spec(SMALL)
    totals = _summary(path, "--set", "training.freeze=[fc, block2]")["totals"]
    assert totals["trainable_params"] == SECOND_CONV
    result = CliRunner().invoke(main, ["check", str(path), "--set", "training.freeze=[fcc]"])
    assert result.exit_code == 1
    assert "error[E-FREEZE-UNKNOWN]" in result.output and "did you mean 'fc'" in result.output


def test_set_overrides_parameters_with_yaml_values(write_spec):
    path = write_spec(SMALL)
    data = _summary(path, "--set", "num_classes=7")
    assert data["output_shape"] == [7]
    assert data["layers"][-1]["params"] == 2 * 6 * 6 * 7 + 7
    vgg = _summary(
        SPECS / "vgg.yaml",
        "--variant",
        "A",
        "--set",
        "config=[conv3-8, maxpool, conv3-16, maxpool]",
    )
    # Two convolutions, then the classifier over 16 x 56 x 56 (224 halved twice).
    assert [row["name"] for row in vgg["layers"][:5]] == [
        "features.0",
        "features.1",
        "features.2",
        "features.3",
        "features.4",
    ]
    assert vgg["layers"][7]["params"] == 16 * 56 * 56 * 4096 + 4096


def test_set_errors_are_reported_not_raised(write_spec):
    path = write_spec(SMALL)
    runner = CliRunner()
    unknown = runner.invoke(main, ["summary", str(path), "--set", "num_clases=7"])
    assert unknown.exit_code == 1
    assert re.search(r"spec\.yaml:3:1: error\[E-UNKNOWN-PARAM\]: --set num_clases", unknown.output)
    assert "did you mean 'num_classes'" in unknown.output
    for bad in ("num_classes", "=3", "num_classes=[1, 2", "num_classes={a: 1}"):
        result = runner.invoke(main, ["check", str(path), "--set", bad])
        assert result.exit_code == 2, bad
        assert "Traceback" not in result.output
    wrong_type = runner.invoke(main, ["check", str(path), "--set", "training.lr=fast"])
    assert wrong_type.exit_code == 1
    assert "error[E-" in wrong_type.output and "lr" in wrong_type.output


def test_training_section_merges_variant_and_command_line(write_spec):
    path = write_spec(SMALL)
    base = archc.load(path, "base").graph.training
    assert (base.optimizer, base.lr, base.momentum) == ("sgd", 0.1, 0.9)
    assert base.schedule.type == "step" and base.schedule.step_size == 2
    quick = archc.load(path, "quick").graph.training
    # The variant changes lr and one augmentation flag; the rest is the spec's.
    assert (quick.lr, quick.momentum) == (0.5, 0.9)
    assert (quick.augment.hflip, quick.augment.random_crop, quick.augment.crop_padding) == (
        True,
        True,
        1,
    )
    changed = archc.load(
        path, "quick", params={"training.schedule.type": "plateau", "training.batch_size": 4}
    ).graph.training
    assert changed.schedule.type == "plateau" and changed.batch_size == 4
    assert archc.load(SPECS / "lenet5.yaml").graph.training is None


def test_bad_training_settings_are_located(write_spec):
    text = SMALL.replace("optimizer: sgd", "optimizer: rmsprop")
    result = CliRunner().invoke(main, ["check", str(write_spec(text))])
    assert result.exit_code == 1
    line = text.splitlines().index("  optimizer: rmsprop") + 1
    assert re.search(rf"spec\.yaml:{line}:\d+: error\[E-", result.output), result.output
    assert "Traceback" not in result.output


def test_alexnet_spec_carries_the_papers_recipe():
    # Krizhevsky et al. 2012, section 5: batch 128, momentum 0.9, weight decay 0.0005,
    # learning rate 0.01 divided by 10 when the validation error stopped improving.
    for variant in ("lecture", "paper", "torchvision"):
        t = archc.load(SPECS / "alexnet.yaml", variant).graph.training
        assert (t.optimizer, t.lr, t.momentum, t.weight_decay, t.batch_size) == (
            "sgd",
            0.01,
            0.9,
            0.0005,
            128,
        )
        assert (t.schedule.type, t.schedule.factor, t.schedule.monitor) == (
            "plateau",
            0.1,
            "val_error",
        )
    # Section 4.2: dropout with probability 0.5 in the first two fully connected layers.
    rates = [
        row["hyper"]
        for row in archc.load(SPECS / "alexnet.yaml").summary()["layers"]
        if row["type"] == "dropout"
    ]
    assert rates == ["p 0.5", "p 0.5"]


def test_schema_describes_the_training_section():
    result = CliRunner().invoke(main, ["schema"])
    schema = json.loads(result.output)
    training = schema["$defs"]["Training"]["properties"]
    assert training["optimizer"]["enum"] == ["sgd", "adam", "adamw"]
    assert {
        "lr",
        "momentum",
        "weight_decay",
        "schedule",
        "batch_size",
        "epochs",
        "augment",
        "label_smoothing",
        "freeze",
    } <= set(training)
    variant = schema["$defs"]["VariantSpec"]["properties"]
    assert "training" in variant


def test_build_writes_train_py_by_default_only_with_a_training_section(write_spec, tmp_path):
    path = write_spec(SMALL)
    runner = CliRunner()
    out = tmp_path / "out"
    assert (
        runner.invoke(main, ["build", str(path), "-o", str(out), "--target", "summary"]).exit_code
        == 0
    )
    assert not (out / "small_base" / "train.py").exists()  # not asked for
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    for spec in (path, SPECS / "lenet5.yaml"):  # the default targets
        result = runner.invoke(main, ["build", str(spec), "-o", str(out)])
        assert result.exit_code == 0, result.output
    assert (out / "small_base" / "train.py").exists()
    assert (out / "small_base" / "model.py").exists()
    assert (out / "lenet5_paper" / "model.py").exists()
    assert not (out / "lenet5_paper" / "train.py").exists()  # lenet5.yaml has no training:
    explicit = runner.invoke(
        main, ["build", str(SPECS / "lenet5.yaml"), "-o", str(out), "--target", "train"]
    )
    assert explicit.exit_code == 0 and (out / "lenet5_paper" / "train.py").exists()


# --- train.py, run for real ------------------------------------------------------------

torch = pytest.importorskip("torch")
np = pytest.importorskip("numpy")

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}


def _build(spec, out, *args) -> Path:
    result = CliRunner().invoke(
        main, ["build", str(spec), "-o", str(out), "--target", "pytorch,train", *args]
    )
    assert result.exit_code == 0, result.output
    (folder,) = [p for p in Path(out).iterdir() if p.is_dir()]
    return folder


def _train(script, *args, cwd, torchrun=False, timeout=300) -> subprocess.CompletedProcess:
    launcher = (
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
        if torchrun
        else [sys.executable]
    )
    done = subprocess.run(
        [*launcher, str(script), *map(str, args)],
        cwd=cwd,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def _metrics(run: Path) -> list[dict]:
    """train.py's per-epoch metrics (one JSON object a line)."""
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def _digest(state) -> str:
    # The same recipe as train.py's --verify-replicas, computed here from the checkpoint.
    hasher = hashlib.sha256()
    for name, tensor in state.items():
        hasher.update(name.encode())
        hasher.update(tensor.contiguous().numpy().tobytes())
    return hasher.hexdigest()


def test_generated_train_py_is_deterministic_lint_clean_and_formatted(write_spec, tmp_path):
    path = write_spec(SMALL)
    first = _build(path, tmp_path / "a", "--variant", "quick") / "train.py"
    second = _build(path, tmp_path / "b", "--variant", "quick") / "train.py"
    assert first.read_bytes() == second.read_bytes()
    assert '"lr": 0.5' in first.read_text()
    ruff = Path(sys.executable).parent / "ruff"
    if not ruff.exists():
        pytest.skip("ruff is not installed (dev extras)")
    # Every zoo network that outputs class scores, so that no slot's length (class names,
    # folder names, training settings) tips a line over the formatter's width.
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "small_quick.py").write_bytes(first.read_bytes())
    for spec in sorted(SPECS.glob("*.yaml")):
        for variant in load_spec(spec).variant_names():
            graph = archc.load(spec, variant).graph
            if len(graph.output_shape) == 1:
                (scripts / f"{spec.stem}_{variant}.py").write_text(render(graph))
    assert len(list(scripts.iterdir())) > 20
    config = ["--no-cache", "--config", str(ROOT / "pyproject.toml")]
    for command in (["check"], ["format", "--check", "--diff"]):
        done = subprocess.run(
            [str(ruff), *command, *config, str(scripts)], capture_output=True, text=True
        )
        assert done.returncode == 0, done.stdout + done.stderr


def test_generated_model_honours_trainable(write_spec, tmp_path):
    path = write_spec(SMALL)
    folder = _build(path, tmp_path, "--set", "finetune=true")
    summary = archc.load(path, params={"finetune": True}).summary()
    sys.path.insert(0, str(folder))
    try:
        import model as generated
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop("model", None)
    net = getattr(generated, summary["class_name"])()
    trainable = sum(p.numel() for p in net.parameters() if p.requires_grad)
    assert trainable == summary["totals"]["trainable_params"] == SECOND_CONV + FC


def _import(path: Path, name: str):
    """Import a generated file (and the model.py beside it) as a fresh module."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop("model", None)
        if str(path.parent) in sys.path:
            sys.path.remove(str(path.parent))
    return module


@pytest.mark.parametrize("ending, kind", [("", "logits"), ("  - soft-max\n", "probabilities")])
def test_train_py_reads_the_output_as_class_scores(write_spec, tmp_path, ending, kind):
    text = SMALL.replace("blocks:\n", ending + "blocks:\n", 1)
    folder = _build(write_spec(text), tmp_path)
    train = _import(folder / "train.py", f"train_{kind}")
    assert train.OUTPUT == kind
    logits = torch.randn(5, 3)
    labels = torch.tensor([0, 2, 1, 1, 0])
    output = logits.softmax(1) if kind == "probabilities" else logits
    # The loss train.py minimises is the cross-entropy of the logits behind the output.
    loss = torch.nn.functional.cross_entropy(train.to_scores(output), labels)
    assert torch.allclose(loss, torch.nn.functional.cross_entropy(logits, labels), atol=1e-6)


def test_lenet5_paper_rbf_penalties_are_negated(tmp_path):
    folder = _build(SPECS / "lenet5.yaml", tmp_path)
    train = _import(folder / "train.py", "train_rbf")
    assert train.OUTPUT == "penalties"
    penalties = torch.tensor([[3.0, 1.0, 2.0]])
    assert train.to_scores(penalties).argmax(1).item() == 1  # the nearest centre wins


@pytest.fixture(scope="module")
def small_data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    x = rng.random((48, 1, 32, 32), dtype=np.float32)
    y = rng.integers(0, 10, 48)
    np.savez(folder / "small.npz", x=x, y=y)
    return folder / "small.npz"


def test_torchrun_two_gloo_processes_agree_and_resume_where_they_stopped(tmp_path, small_data):
    folder = _build(
        SPECS / "lenet5.yaml",
        tmp_path / "build",
        "--variant",
        "modern",
        "--set",
        "training.momentum=0.9",
        "--set",
        "training.schedule.type=step",
        "--set",
        "training.schedule.step_size=1",
        "--set",
        "training.schedule.gamma=0.5",
        "--set",
        "training.batch_size=8",
    )
    script = folder / "train.py"
    common = [small_data, "--val-split", "0.25"]
    # Uninterrupted: 2 epochs of 3 steps per process (18 of the 36 training examples each).
    whole = _train(
        script,
        *common,
        "--epochs",
        "2",
        "--out",
        "whole",
        "--verify-replicas",
        cwd=tmp_path,
        torchrun=True,
    )
    replicas = re.findall(r"replica (\d)/2: sha256 ([0-9a-f]{64})", whole.stdout)
    assert sorted(rank for rank, _ in replicas) == ["0", "1"]
    state = torch.load(tmp_path / "whole" / "model.pt", weights_only=True)
    assert {digest for _, digest in replicas} == {_digest(state)}
    # The agreement is not that of untouched weights: training moved them.
    sys.path.insert(0, str(folder))
    try:
        import model as generated
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop("model", None)
    torch.manual_seed(0)
    initial = generated.LeNet5Modern().state_dict()
    assert not torch.equal(initial["c1.weight"], state["c1.weight"])

    # Interrupted after epoch 1, then resumed: the same weights, bit for bit.
    _train(script, *common, "--epochs", "1", "--out", "parts", cwd=tmp_path, torchrun=True)
    resumed = _train(
        script,
        *common,
        "--epochs",
        "2",
        "--out",
        "parts",
        "--resume",
        tmp_path / "parts" / "last.pt",
        cwd=tmp_path,
        torchrun=True,
    )
    assert "resumed from" in resumed.stderr and "after epoch 1" in resumed.stderr
    assert "epoch 1/2" not in resumed.stdout and "epoch 2/2" in resumed.stdout
    again = torch.load(tmp_path / "parts" / "model.pt", weights_only=True)
    assert all(torch.equal(state[k], again[k]) for k in state)
    lines = _metrics(tmp_path / "parts")
    assert [m["epoch"] for m in lines] == [1, 2]
    assert [m["lr"] for m in lines] == [0.01, 0.005]  # the step schedule came back too
    checkpoint = torch.load(tmp_path / "parts" / "last.pt", weights_only=True)
    assert checkpoint["epoch"] == 2 and checkpoint["optimizer"]["state"]  # momentum buffers
    assert not [p for p in (tmp_path / "parts").iterdir() if p.name.startswith(".")]


THREADS_AFTER_MAIN = """\
import os, sys
sys.path.insert(0, sys.argv[1])
import train
train.main(sys.argv[2:])
names = sorted(open(f"/proc/self/task/{task}/comm").read().strip()
               for task in os.listdir("/proc/self/task"))
# A file per process: under torchrun (python -u) two processes' prints can interleave.
with open(f"threads_{os.environ['RANK']}.txt", "w") as handle:
    handle.write(" ".join(names))
"""


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="lists threads through /proc")
def test_torchrun_train_py_stops_gloo_threads_before_the_interpreter_exits(tmp_path, small_data):
    # A gloo thread still alive when the interpreter shuts down may be freeing a finished
    # collective's tensors, which needs the GIL: the process then aborts ("terminate called
    # without an active exception"), after all the work, now and then (it failed CI once).
    # train.py must leave no such thread behind once main() returns.
    folder = _build(SPECS / "lenet5.yaml", tmp_path / "build", "--variant", "modern")
    wrapper = tmp_path / "threads_after_main.py"
    wrapper.write_text(THREADS_AFTER_MAIN)
    _train(
        wrapper,
        folder,
        small_data,
        "--epochs",
        "1",
        "--max-steps",
        "2",
        cwd=tmp_path,
        torchrun=True,
    )
    reports = [(tmp_path / f"threads_{rank}.txt").read_text() for rank in (0, 1)]
    assert all(reports) and all("gloo" not in report for report in reports), reports


def test_normalize_must_match_the_input_channels(tmp_path):
    result = CliRunner().invoke(
        main,
        [
            "build",
            str(SPECS / "lenet5.yaml"),
            "-v",
            "modern",
            "--target",
            "train",
            "-o",
            str(tmp_path),
            "--set",
            "training.normalize=[[0.5, 0.5, 0.5], [0.2, 0.2, 0.2]]",
        ],
    )
    assert result.exit_code == 1
    assert "gives 3 means and 3 stds, but the input has 1 channel(s)" in " ".join(
        result.output.split()
    )
    assert not (tmp_path / "lenet5_modern" / "train.py").exists()


def test_train_py_explains_data_and_weights_that_do_not_fit(tmp_path, small_data):
    folder = _build(SPECS / "lenet5.yaml", tmp_path / "build", "--variant", "modern")
    np.savez(tmp_path / "tiny.npz", x=np.zeros((4, 8, 8), np.float32), y=np.zeros(4, int))
    torch.save({"c1.weight": torch.zeros(6, 1, 5, 5)}, tmp_path / "partial.pt")
    for args, message in [
        (["tiny.npz"], "examples are [1, 8, 8], but the network takes [1, 32, 32]"),
        (
            [small_data, "--init", "partial.pt"],
            '--init partial.pt does not fit LeNet5Modern: Missing key(s) in state_dict: "c1.bias"',
        ),
    ]:
        done = subprocess.run(
            [sys.executable, str(folder / "train.py"), *map(str, args)],
            cwd=tmp_path,
            env=ENV,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 1 and message in done.stderr, done.stderr
        assert "Traceback" not in done.stderr


def test_image_folder_training(tmp_path):
    image = pytest.importorskip("PIL.Image")
    folder = _build(
        SPECS / "lenet5.yaml",
        tmp_path / "build",
        "--variant",
        "modern",
        "--set",
        "training.augment.random_crop=true",
        "--set",
        "training.augment.hflip=true",
        "--set",
        "training.normalize=[[0.5], [0.25]]",
    )
    rng = np.random.default_rng(1)
    for label in ("cat", "dog"):
        (tmp_path / "images" / label).mkdir(parents=True)
        for i in range(3):
            pixels = rng.integers(0, 255, (40, 36, 3), dtype=np.uint8)
            image.fromarray(pixels).save(tmp_path / "images" / label / f"{i}.png")
    done = _train(
        folder / "train.py",
        "images",
        "--val",
        "images",
        "--epochs",
        "1",
        "--batch-size",
        "2",
        "--out",
        "run",
        cwd=tmp_path,
    )
    (metrics,) = _metrics(tmp_path / "run")
    assert metrics["epoch"] == 1 and "val_acc" in metrics
    assert "epoch 1/1" in done.stdout


# --- LeNet-5 on scikit-learn's handwritten digits ------------------------------------

DIGITS_TRAINING = """
training:
  optimizer: adam
  lr: 0.002
  batch_size: 16
  epochs: 12
  schedule: {type: cosine}
  augment: {random_crop: true, crop_padding: 2}
"""


def _lenet_spec(tmp: Path) -> Path:
    """specs/lenet5.yaml with a num_classes parameter (for the new head) and a recipe."""
    text = (SPECS / "lenet5.yaml").read_text()
    if "num_classes" not in text:
        text = text.replace(
            "params:\n  modern: false\n", "params:\n  modern: false\n  num_classes: 10\n"
        )
        text = text.replace(
            "{name: fc, type: linear, out: 10, when: modern}",
            "{name: fc, type: linear, out: num_classes, when: modern}",
        )
    assert "out: num_classes" in text
    path = tmp / "lenet5.yaml"
    path.write_text(text + DIGITS_TRAINING)
    return path


def _digits(tmp: Path, relabel=None) -> tuple[Path, Path]:
    """The 1,797 8x8 digits, upsampled to 32x32, split 75/25 (fixed seed)."""
    datasets = pytest.importorskip("sklearn.datasets")
    digits = datasets.load_digits()
    x = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16
    x = torch.nn.functional.interpolate(x, size=32, mode="bilinear", align_corners=False)
    y = digits.target if relabel is None else relabel(digits.target)
    order = np.random.default_rng(0).permutation(len(y))
    test, train = order[:450], order[450:]
    paths = tmp / "train.npz", tmp / "test.npz"
    np.savez(paths[0], x=x[train].numpy(), y=y[train])
    np.savez(paths[1], x=x[test].numpy(), y=y[test])
    return paths


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("digits")
    spec = _lenet_spec(tmp)
    folder = _build(spec, tmp / "build", "--variant", "modern")
    train, test = _digits(tmp)
    _train(folder / "train.py", train, "--val", test, "--out", tmp / "run", cwd=tmp)
    metrics = _metrics(tmp / "run")
    return spec, tmp / "run" / "model.pt", metrics


def test_lenet5_modern_learns_handwritten_digits(pretrained):
    _, _, metrics = pretrained
    assert len(metrics) == 12
    assert metrics[-1]["val_acc"] >= 0.97, metrics[-1]
    assert sum(m["seconds"] for m in metrics) < 60
    print(f"LeNet-5 on digits: {metrics[-1]}, {sum(m['seconds'] for m in metrics):.1f} s")


def test_fine_tuning_a_new_head_on_a_new_split_of_labels(pretrained, tmp_path):
    spec, weights, _ = pretrained
    # The new problem: even vs odd digits (chance: about 50%).
    train, test = _digits(tmp_path, relabel=lambda y: y % 2)
    init = tmp_path / "init.pt"
    result = CliRunner().invoke(
        main,
        [
            "transfer",
            str(weights),
            "--from",
            f"{spec}#modern",
            "--to",
            f"{spec}#modern",
            "--set",
            "num_classes=2",
            "--plan",
            "head",
            "-o",
            str(init),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "copied 8 tensors" in result.output
    frozen = ["--set", "num_classes=2", "--set", "training.freeze=[c1, c3, c5, f6]"]
    summary = _summary(spec, "--variant", "modern", *frozen)
    assert summary["totals"]["trainable_params"] == 84 * 2 + 2  # F6's 84 units -> 2 classes
    folder = _build(
        spec,
        tmp_path / "build",
        "--variant",
        "modern",
        *frozen,
        "--set",
        "training.epochs=4",
        "--set",
        "training.lr=0.01",
    )
    _train(folder / "train.py", train, "--val", test, "--init", init, "--out", "run", cwd=tmp_path)
    start = torch.load(init, weights_only=True)
    end = torch.load(tmp_path / "run" / "model.pt", weights_only=True)
    for key in start:
        if key.startswith("fc."):
            assert not torch.equal(start[key], end[key]), key
        else:
            assert torch.equal(start[key], end[key]), key
    metrics = _metrics(tmp_path / "run")
    assert metrics[-1]["val_acc"] >= 0.9, metrics[-1]
    print(f"fine-tuned head: {metrics[-1]}")

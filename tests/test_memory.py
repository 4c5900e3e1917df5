"""Training memory (archc.passes.memory) against what torch itself keeps and allocates.

What autograd keeps is measured on the generated model with
`torch.autograd.graph.saved_tensors_hooks`, counting each storage once (parameters and
buffers left out: they are counted as weights), and attributed to the module running when
it was saved; archc's figure for each layer must equal it, at two batch sizes.
"""

from __future__ import annotations

import collections
import json
import math

import pytest
from click.testing import CliRunner

import archc
from archc.cli import main
from archc.passes.memory import OPTIMIZER_STATES, plan
from archc.spec.loader import load_spec
from tests.conftest import SPECS

torch = pytest.importorskip("torch")
from torch.autograd.graph import saved_tensors_hooks  # noqa: E402

#: Networks up to this many MACs per example run in the default suite; the rest are slow.
QUICK_MACS = 2e9


def _zoo() -> list:
    cases = []
    for path in sorted(SPECS.glob("*.yaml")):
        for variant in load_spec(path).variant_names():
            macs = archc.load(path, variant).summary()["totals"]["macs"]
            marks = [] if macs <= QUICK_MACS else [pytest.mark.slow]
            cases.append(pytest.param(str(path), variant, marks=marks, id=f"{path.stem}-{variant}"))
    return cases


def measure_saved(model, x) -> dict[str, int]:
    """Bytes autograd keeps in a training forward pass, per module path (unique storages,
    parameters and buffers excluded), attributed to the innermost module running."""
    names = {module: name for name, module in model.named_modules()}
    running: list[str] = []

    def enter(module, args):
        running.append(names[module])

    def leave(module, args, output):
        running.pop()

    handles = []
    for module in model.modules():
        handles.append(module.register_forward_pre_hook(enter))
        handles.append(module.register_forward_hook(leave))
    weights = {t.untyped_storage().data_ptr() for t in [*model.parameters(), *model.buffers()]}
    seen: set[int] = set()
    kept: collections.Counter = collections.Counter()

    def pack(tensor):
        storage = tensor.untyped_storage()
        key = storage.data_ptr()
        if key not in weights and key not in seen:
            seen.add(key)
            kept[running[-1] if running else ""] += storage.nbytes()
        return tensor

    try:
        with saved_tensors_hooks(pack, lambda tensor: tensor):
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    return kept


def _owner(path: str, places: set[str]) -> str:
    """The nearest enclosing path among `places` (the root is "")."""
    while path and path not in places:
        path = path.rpartition(".")[0]
    return path


def _compare(spec: str, variant: str, batch: int, params: dict | None = None) -> None:
    net = archc.load(spec, variant, params)
    graph = net.graph
    model = archc.compile(spec, variant, params)
    model.train()
    torch.manual_seed(0)
    x = torch.randn(batch, *graph.input_shape)
    measured = measure_saved(model, x)
    predicted = plan(graph, batch, device="cpu")
    # Group both sides by archc's layers: a layer made of several modules (a connection
    # table's per-map convolutions) is one row; work done in a block's forward (an add, a
    # concatenation, a product) belongs to the block.
    modules = set(dict(model.named_modules()))
    ours: collections.Counter = collections.Counter()
    for node in graph.layers():
        ours[_owner(node.path, modules)] += predicted.saved_per_layer[node.id]
    places = set(ours) | {""}
    theirs: collections.Counter = collections.Counter()
    for path, nbytes in measured.items():
        theirs[_owner(path, places)] += nbytes
    differing = {
        place: (ours[place], theirs[place])
        for place in set(ours) | set(theirs)
        if ours[place] != theirs[place]
    }
    assert differing == {}, f"{spec} {variant} at batch {batch}: (archc, torch) {differing}"
    assert predicted.saved == sum(measured.values())


@pytest.mark.parametrize(("spec", "variant"), _zoo())
def test_saved_tensors_equal_what_torch_keeps(spec, variant):
    for batch in (1, 3):
        _compare(spec, variant, batch)


def test_frozen_layers_keep_nothing_for_backward(write_spec):
    """A frozen stem reads an input that needs no gradient: autograd records nothing."""
    path = write_spec(
        """network: frozen
input: [3, 16, 16]
layers:
  - {name: stem, type: sequential, trainable: false, layers: [
      {type: conv, out: 8, kernel: 3, padding: 1}, batchnorm, relu, {type: maxpool, kernel: 2}]}
  - {name: head, type: conv, out: 4, kernel: 3}
  - relu
  - flatten
  - {name: fc, type: linear, out: 10}
"""
    )
    _compare(str(path), None, 2)
    graph = archc.load(path).graph
    kept = plan(graph, 2)
    stem = [n for n in graph.layers() if n.path.startswith("stem.")]
    assert stem and all(kept.saved_per_layer[n.id] == 0 for n in stem)
    # No gradient and no optimizer state for the frozen weights.
    trainable = sum(p.numel() for p in archc.compile(path).parameters() if p.requires_grad)
    assert plan(graph, 2, optimizer="adam").optimizer_state == 2 * 4 * trainable


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZER_STATES))
def test_optimizer_state_is_what_torch_allocates(optimizer):
    spec = str(SPECS / "resnet_cifar.yaml")
    model = archc.compile(spec, "20")
    make = {
        "sgd": lambda p: torch.optim.SGD(p, lr=0.1),
        "momentum": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9),
        "adam": lambda p: torch.optim.Adam(p),
        "adamw": lambda p: torch.optim.AdamW(p),
    }[optimizer]
    opt = make(model.parameters())
    model(torch.randn(2, 3, 32, 32)).sum().backward()
    opt.step()
    # Adam's per-parameter step counter is a scalar, not state proportional to the model.
    allocated = sum(
        value.numel() * value.element_size()
        for state in opt.state.values()
        for value in state.values()
        if torch.is_tensor(value) and value.dim() > 0
    )
    assert plan(archc.load(spec, "20").graph, 2, optimizer=optimizer).optimizer_state == allocated
    grads = sum(p.grad.numel() * p.grad.element_size() for p in model.parameters())
    assert plan(archc.load(spec, "20").graph, 2).gradients == grads


@pytest.mark.parametrize(
    ("spec", "variant", "batch"),
    [
        ("lenet5", "paper", 4),
        ("alexnet", "torchvision", 3),
        ("resnet", "18", 2),
        ("googlenet", "torchvision", 2),
        ("vgg", "A-BN", 2),
    ],
)
def test_torchinfo_figures_equal_torchinfos_own(spec, variant, batch):
    torchinfo = pytest.importorskip("torchinfo")
    path = SPECS / f"{spec}.yaml"
    graph = archc.load(path, variant).graph
    model = archc.compile(path, variant)
    stats = torchinfo.summary(model, input_size=(batch, *graph.input_shape), verbose=0)
    ours = plan(graph, batch).torchinfo
    assert ours["input"] == stats.total_input
    assert ours["forward_backward"] == stats.total_output_bytes
    assert ours["params"] == stats.total_param_bytes
    assert ours["total"] == stats.total_input + stats.total_output_bytes + stats.total_param_bytes


def test_the_largest_batch_is_the_last_that_fits():
    graph = archc.load(SPECS / "vgg.yaml", "A").graph
    budget = 24 * 2**30
    best = plan(graph, 1, optimizer="momentum").largest_batch(budget)
    assert plan(graph, best, optimizer="momentum").peak <= budget
    assert plan(graph, best + 1, optimizer="momentum").peak > budget


def test_batch_statistics_do_not_grow_with_the_batch():
    """BatchNorm keeps a mean and an inverse deviation per channel whatever the batch."""
    graph = archc.load(SPECS / "resnet_cifar.yaml", "20").graph
    one, two = plan(graph, 1), plan(graph, 2)
    channels = sum(n.shape[0] for n in graph.layers() if n.type == "batchnorm")
    assert 2 * one.saved - two.saved == 2 * channels * 4


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("batch", [8, 32])
def test_predicted_peak_bounds_a_real_training_step_on_cuda(batch):
    """On a GPU: the predicted peak against torch.cuda.max_memory_allocated() over a real
    step (forward, backward, SGD with momentum), from a clean allocator state."""
    spec = SPECS / "resnet.yaml"
    graph = archc.load(spec, "18").graph
    model = archc.compile(spec, "18").cuda().train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x = torch.randn(batch, *graph.input_shape, device="cuda")
    for _ in range(2):  # the second step has optimizer state, as every later one
        opt.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        model(x).sum().backward()
        opt.step()
    measured = torch.cuda.max_memory_allocated() - x.numel() * 4
    predicted = plan(graph, batch, optimizer="momentum").peak
    # Allocator rounding (512-byte blocks) and cuDNN workspaces are not modelled.
    assert abs(predicted - measured) <= 0.1 * measured, (predicted, measured)


def test_summary_json_reports_memory():
    result = CliRunner().invoke(
        main, ["summary", str(SPECS / "vgg.yaml"), "--variant", "A", "--json", "--batch", "8"]
    )
    assert result.exit_code == 0, result.output
    memory = json.loads(result.output)["memory"]
    graph = archc.load(SPECS / "vgg.yaml", "A").graph
    expected = plan(graph, 8)
    assert memory["batch"] == 8
    assert memory["peak_bytes"] == expected.peak
    assert memory["torchinfo"]["input_size_mb"] == round(
        8 * math.prod(graph.input_shape) * 4 / 1e6, 2
    )


def test_summary_prints_the_largest_batch_for_each_variant():
    result = CliRunner().invoke(
        main,
        ["summary", str(SPECS / "vgg.yaml"), "--all-variants", "--memory", "24", "--json"],
    )
    assert result.exit_code == 0, result.output
    rows = {row["variant"]: row for row in json.loads(result.output)["variants"]}
    assert list(rows) == load_spec(SPECS / "vgg.yaml").variant_names()
    for name, row in rows.items():
        graph = archc.load(SPECS / "vgg.yaml", name).graph
        best = row["largest_batch"]
        assert plan(graph, best).peak <= 24 * 2**30 < plan(graph, best + 1).peak


def test_summary_table_shows_what_each_layer_keeps():
    result = CliRunner().invoke(
        main, ["summary", str(SPECS / "lenet5.yaml"), "--batch", "2", "--device", "cpu"]
    )
    assert result.exit_code == 0, result.output
    assert "kept for backward" in result.output
    assert "Forward/backward pass size (MB)" in result.output
    # c1 keeps its input: 2 images of 1x32x32 at 4 bytes.
    row = next(line for line in result.output.splitlines() if line.startswith("│ c1 "))
    assert row.rstrip("│ ").endswith(f"{2 * 32 * 32 * 4:,}")


@pytest.mark.parametrize(
    "arguments",
    [["--all-variants"], ["--all-variants", "--batch", "2", "--variant", "A"], ["--batch", "0"]],
)
def test_memory_options_are_checked(arguments):
    result = CliRunner().invoke(main, ["summary", str(SPECS / "vgg.yaml"), *arguments])
    assert result.exit_code == 2


#: Small networks that use every layer kind the zoo's CPU-sized members may not reach.
KIND_SPECS = {
    "windows": """network: tiny_swin
input: [3, 32, 32]
blocks:
  swin_block:
    params: {shift: 0, dim: "in_shape[2]"}
    layers:
      - {name: norm1, type: layernorm, over: last}
      - {name: attn, type: window_attention, heads: 2, window: 4, shift: shift}
      - {name: stochastic_depth, type: stochastic_depth, p: 0.1}
      - {name: add, type: add, inputs: [input, stochastic_depth]}
      - {name: norm2, type: layernorm, over: last}
      - {name: mlp, type: linear, out: dim, over: last}
      - {name: add_2, type: add, inputs: [add, mlp]}
layers:
  - {name: stem, type: conv, out: 16, kernel: 4, stride: 4}
  - {type: permute, dims: [0, 2, 3, 1]}
  - {name: block0, type: swin_block}
  - {name: block1, type: swin_block, shift: 2}
  - {name: merge, type: patch_merging}
  - {name: block2, type: swin_block, shift: 2}
  - {type: permute, dims: [0, 3, 1, 2]}
  - {name: pool, type: adaptive_avgpool}
  - flatten
  - {name: head, type: linear, out: 10}
""",
    "tokens-and-attention": """network: tiny_vit
input: [3, 32, 32]
blocks:
  encoder:
    layers:
      - {name: ln_1, type: layernorm}
      - {name: self_attention, type: self_attention, heads: 4}
      - {name: add1, type: add, inputs: [self_attention, input]}
      - {name: ln_2, type: layernorm}
      - name: mlp
        type: sequential
        layers: [{type: linear, out: 64}, gelu, {type: linear, out: 32}]
      - {name: add2, type: add, inputs: [mlp, add1]}
layers:
  - {name: conv_proj, type: conv, out: 32, kernel: 8, stride: 8}
  - map_to_tokens
  - {name: class_token, type: class_token}
  - {name: pos_embedding, type: pos_embedding}
  - {name: layers, type: encoder, repeat: 2}
  - {name: ln, type: layernorm}
  - {type: select_token, index: 0}
  - {name: head, type: linear, out: 10}
""",
    "channels-last-and-gates": """network: tiny_modern
input: [3, 32, 32]
blocks:
  cn:
    layers:
      - {name: dw, type: conv, out: 16, kernel: 7, padding: 3, groups: 16}
      - {type: permute, dims: [0, 2, 3, 1]}
      - {name: norm, type: layernorm, over: last, eps: 1.0e-6}
      - {name: fc1, type: linear, out: 64, over: last}
      - gelu
      - {name: fc2, type: linear, out: 16, over: last}
      - {type: permute, dims: [0, 3, 1, 2]}
      - {name: layer_scale, type: layer_scale, over: channels, value: 1.0e-6}
      - {name: stochastic_depth, type: stochastic_depth, p: 0.1}
      - {name: add, type: add, inputs: [stochastic_depth, input]}
  se:
    layers:
      - {name: pool, type: adaptive_avgpool}
      - {name: fc1, type: conv, out: 4, kernel: 1}
      - silu
      - {name: fc2, type: conv, out: 16, kernel: 1}
      - {name: gate, type: hardsigmoid}
      - {name: scale, type: multiply, inputs: [gate, input]}
  shuffle:
    layers:
      - {name: x1, type: channel_split, index: 0, inputs: input}
      - {name: x2, type: channel_split, index: 1, inputs: input}
      - {name: branch2, type: conv, out: 8, kernel: 1, inputs: x2}
      - {name: gn, type: groupnorm, groups: 2}
      - {name: act, type: hardswish}
      - {name: cat, type: concat, inputs: [x1, act]}
      - {type: channel_shuffle, groups: 2}
layers:
  - {name: stem, type: conv, out: 16, kernel: 4, stride: 4}
  - {name: norm, type: layernorm, over: channels, eps: 1.0e-6}
  - {name: block, type: cn}
  - {name: se, type: se}
  - {name: shuffle, type: shuffle}
  - {name: to_tokens, type: map_to_tokens}
  - {name: back, type: tokens_to_map}
  - {name: pool, type: adaptive_avgpool, size: 2}
  - flatten
  - {name: fc, type: linear, out: 10}
""",
}


@pytest.mark.parametrize("name", sorted(KIND_SPECS))
def test_every_kind_keeps_what_torch_keeps(name, write_spec):
    path = write_spec(KIND_SPECS[name])
    for batch in (1, 3):
        _compare(str(path), None, batch)


@pytest.mark.parametrize("name", sorted(KIND_SPECS))
def test_torchinfo_figures_for_every_kind(name, write_spec):
    torchinfo = pytest.importorskip("torchinfo")
    path = write_spec(KIND_SPECS[name])
    graph = archc.load(path).graph
    stats = torchinfo.summary(archc.compile(path), input_size=(2, *graph.input_shape), verbose=0)
    ours = plan(graph, 2).torchinfo
    assert ours["forward_backward"] == stats.total_output_bytes
    assert ours["params"] == stats.total_param_bytes


def test_the_report_charts_memory_through_the_network():
    from archc.backends.memory_chart import memory_chart_svg

    graph = archc.load(SPECS / "resnet.yaml", "18").graph
    chart = memory_chart_svg(graph)
    # ResNet-18's largest output is conv1's, 112x112x64 at fp32 (3.06 MiB).
    assert f"largest: conv1, {112 * 112 * 64 * 4 / 2**20:,.2f} MiB" in chart
    assert chart.count('class="bar') == len(graph.layers())
    kept = plan(graph, 1).saved
    assert f"to {kept / 2**20:,.2f} MiB per example" in chart


def test_the_memory_chart_stays_small_for_deep_networks(write_spec):
    from archc.backends.memory_chart import MAX_BARS, memory_chart_svg

    path = write_spec(
        "network: deep\ninput: [4, 8, 8]\nlayers:\n"
        "  - {name: body, type: conv, out: 4, kernel: 3, padding: 1, repeat: 5000}\n"
    )
    chart = memory_chart_svg(archc.load(path).graph)
    assert chart.count('class="bar') <= MAX_BARS
    assert len(chart) < 200_000

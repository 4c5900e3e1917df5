"""Generated models at run time: torch.compile without graph breaks, channels_last with
bf16 autocast, in-place activations that keep autograd intact, and DDP across processes."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap

import pytest

import archc
from archc.backends.pytorch import compile_module, generate_source
from tests.conftest import ROOT, SPECS

torch = pytest.importorskip("torch")

#: A small spec with what a real one has: a block whose projection exists in some
#: instances only, an add and a concat, a Sequential chain, a functional flatten.
TINY = """\
network: tiny
input: [3, 16, 16]
blocks:
  res:
    params: {out: ~, stride: 1}
    layers:
      - {name: conv1, type: conv, out: out, kernel: 3, stride: stride, padding: 1, bias: false}
      - {name: bn1, type: batchnorm}
      - {name: relu, type: relu}
      - {name: conv2, type: conv, out: out, kernel: 3, padding: 1, bias: false}
      - {name: bn2, type: batchnorm}
      - name: proj
        inputs: input
        when: stride != 1 or in_channels != out
        layers:
          - {type: conv, out: out, kernel: 1, stride: stride, bias: false}
          - batchnorm
      - {name: add, type: add, inputs: [bn2, proj]}
      - {name: relu_out, type: relu}
  mix:
    params: {out: ~}
    layers:
      - {name: left, type: conv, out: out, kernel: 1, inputs: input}
      - {name: right, type: maxpool, kernel: 3, stride: 1, padding: 1, inputs: input}
      - {name: cat, type: concat, inputs: [left, right]}
layers:
  - {name: stem, type: conv, out: 8, kernel: 3, padding: 1}
  - {name: relu, type: relu}
  - {name: stage1, type: res, out: 8, repeat: 2}
  - {name: stage2, type: res, out: 16, stride: 2, repeat: 2, overrides: {1: {stride: 1}}}
  - {name: mix, type: mix, out: 8}
  - {name: pool, type: adaptive_avgpool}
  - flatten
  - {name: fc, type: linear, out: 10}
"""


@pytest.fixture
def tiny(write_spec):
    return archc.load(write_spec(TINY, "tiny.yaml"))


def test_tiny_spec_folds_blocks_into_one_class_with_an_optional_projection(tiny):
    source = generate_source(tiny.graph)
    assert source.count("class Res(nn.Module):") == 1
    # The projection only some instances have is passed in by the caller (issue 18).
    assert "proj=None) -> None:" in source and "self.proj = proj" in source
    assert source.count("proj=nn.Sequential(") == 1
    assert "torch.cat([left, right], 1)" in source


def test_a_hand_made_block_honours_its_arguments(tiny):
    """Issue 18: the class folded the projection's `stride=2` (true of every instance that
    had one) into a constant behind a `proj=True` flag, so `Res(8, 16, stride=1, proj=True)`
    built a strided projection and crashed in forward. The caller now builds the child, and
    every value the class makes from its arguments is honoured."""
    from archc.backends.pytorch import load_source

    module = load_source(generate_source(tiny.graph), "tiny_hand_made")
    nn = torch.nn
    x = torch.randn(2, 8, 8, 8)
    projection = nn.Sequential(nn.Conv2d(8, 16, 1, bias=False), nn.BatchNorm2d(16))
    block = module.Res(8, 16, stride=1, proj=projection).eval()
    assert block(x).shape == (2, 16, 8, 8)
    strided = nn.Sequential(nn.Conv2d(8, 32, 1, stride=2, bias=False), nn.BatchNorm2d(32))
    assert module.Res(8, 32, stride=2, proj=strided).eval()(x).shape == (2, 32, 4, 4)
    assert module.Res(8, 8).eval()(x).shape == (2, 8, 8, 8)  # identity shortcut


def test_torch_compile_fullgraph_matches_eager(tiny):
    torch.manual_seed(0)
    model = compile_module(tiny.graph).eval()
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        expected = model(x)
        torch._dynamo.reset()
        # fullgraph=True raises on any graph break: none may occur. Dynamo's tracing is
        # what is tested; aot_eager skips inductor's C++ build (a minute on a small CPU).
        compiled = torch.compile(model, fullgraph=True, backend="aot_eager")
        got = compiled(x)
    assert torch.allclose(got, expected, atol=1e-5, rtol=1e-4)


def test_channels_last_and_bf16_autocast_on_cpu():
    torch.manual_seed(0)
    model = archc.compile(SPECS / "resnet_cifar.yaml", "20").eval()
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        reference = model(x)
        model = model.to(memory_format=torch.channels_last)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = model(x.to(memory_format=torch.channels_last))
    assert y.dtype == torch.bfloat16
    kernels = [p for p in model.parameters() if p.dim() == 4]
    assert all(k.is_contiguous(memory_format=torch.channels_last) for k in kernels)
    # bf16 keeps about 3 significant digits; the logits must agree to that.
    error = (y.float() - reference).abs().max() / reference.abs().max()
    assert error < 0.05


def test_inplace_only_where_safe(write_spec):
    spec = write_spec(
        "network: chain\ninput: [4, 8, 8]\nlayers:\n"
        "  - {name: first, type: relu}\n"  # reads the network's input: never in place
        "  - {name: conv, type: conv, out: 4, kernel: 3, padding: 1}\n"
        "  - {name: after_conv, type: relu}\n"  # the conv's output, read once: in place
        "  - {name: again, type: relu}\n"  # autograd keeps a ReLU's output: not in place
        "  - {name: squash, type: sigmoid}\n"
        "  - {name: after_sigmoid, type: relu}\n"  # sigmoid's output is kept too
        "  - {name: flat, type: flatten}\n"
        "  - {name: fc, type: linear, out: 3}\n",
    )
    net = archc.load(spec)
    source = generate_source(net.graph)
    assert "self.first = nn.ReLU()\n" in source
    assert "self.after_conv = nn.ReLU(inplace=True)\n" in source
    assert "self.again = nn.ReLU()\n" in source
    assert "self.after_sigmoid = nn.ReLU()\n" in source
    model = compile_module(net.graph).train()
    x = torch.randn(2, 4, 8, 8, requires_grad=True)
    before = x.detach().clone()
    model(x).sum().backward()  # an unsafe in-place op would raise here
    assert torch.equal(x.detach(), before)
    assert all(p.grad is not None for p in model.parameters())


def test_training_step_through_blocks_with_inplace_activations(tiny):
    model = compile_module(tiny.graph).train()
    x = torch.randn(4, 3, 16, 16)
    loss = torch.nn.functional.cross_entropy(model(x), torch.tensor([0, 1, 2, 3]))
    loss.backward()
    assert torch.isfinite(loss)
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


DDP_SCRIPT = """\
import sys
import torch
import torch.distributed as dist
# Imported before init_process_group, and the model dropped before destroy_process_group,
# so that nothing holds the process group and its gloo threads end before the
# interpreter does (see train.py's main).
import torch.distributed.nn  # noqa: F401
from torch.nn.parallel import DistributedDataParallel

import archc

dist.init_process_group("gloo")
rank = dist.get_rank()
torch.manual_seed(rank)  # different initial weights: DDP must broadcast rank 0's
model = DistributedDataParallel(archc.compile(sys.argv[1]))
optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
start = torch.cat([p.detach().flatten() for p in model.module.parameters()])
for step in range(2):
    torch.manual_seed(100 * rank + step)  # each replica sees its own batch
    x, y = torch.randn(4, 3, 16, 16), torch.randint(0, 10, (4,))
    optimizer.zero_grad()
    torch.nn.functional.cross_entropy(model(x), y).backward()
    optimizer.step()
flat = torch.cat([p.detach().flatten() for p in model.module.parameters()])
gathered = [torch.zeros_like(flat) for _ in range(2)]
dist.all_gather(gathered, flat)
if rank == 0:
    # Equal replicas after training on different batches, and training did move them.
    print("RESULT", torch.equal(gathered[0], gathered[1]), not torch.equal(flat, start))
del model
dist.destroy_process_group()
"""


def _torchrun(tmp_path, script_text: str) -> subprocess.CompletedProcess:
    """Run a script on the tiny spec in two gloo processes; it must exit cleanly."""
    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY)
    script = tmp_path / "script.py"
    script.write_text(script_text)
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        str(script),
        str(spec),
    ]
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, textwrap.shorten(done.stderr, 3000)
    return done


def test_ddp_two_process_training_step_keeps_replicas_equal(tmp_path):
    done = _torchrun(tmp_path, DDP_SCRIPT)
    assert "RESULT True True" in done.stdout, done.stdout + done.stderr[-2000:]


FSDP_SCRIPT = """\
import sys
import torch
import torch.distributed as dist
import torch.distributed.nn  # noqa: F401  (before init_process_group: see train.py)
from torch.distributed.fsdp import fully_shard
from torch.nn.parallel import DistributedDataParallel

import archc

dist.init_process_group("gloo")
rank = dist.get_rank()


def build():
    torch.manual_seed(0)
    return archc.compile(sys.argv[1])


ddp = DistributedDataParallel(build())
fsdp = build()
start = {k: v.clone() for k, v in fsdp.state_dict().items()}
sharded = [name for name, child in fsdp.named_children() if any(True for _ in child.parameters())]
for name in sharded:
    fully_shard(fsdp.get_submodule(name))
fully_shard(fsdp)
optimizers = [torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9) for m in (ddp, fsdp)]
for step in range(3):
    torch.manual_seed(100 * rank + step)
    x, y = torch.randn(4, 3, 16, 16), torch.randint(0, 10, (4,))
    for model, optimizer in zip((ddp, fsdp), optimizers):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
# Parameters are DTensor shards; BatchNorm buffers stay whole tensors.
full = {k: getattr(v, "full_tensor", lambda v=v: v)() for k, v in fsdp.state_dict().items()}
reference = ddp.module.state_dict()
same = sorted(full) == sorted(reference) and all(
    torch.allclose(full[k].float(), reference[k].float(), rtol=1e-4, atol=1e-6) for k in full
)
moved = any(not torch.equal(full[k], start[k]) for k in full if k.endswith("weight"))
worst = max(float((full[k].float() - reference[k].float()).abs().max()) for k in full)
if rank == 0:
    print("RESULT", same, moved, len(sharded), f"{worst:.2e}")
del ddp, fsdp, optimizers
dist.destroy_process_group()
"""


def test_fsdp2_sharding_per_block_trains_as_ddp_does(tmp_path):
    # fully_shard on each top-level child with parameters (stem, the two stages of residual
    # blocks, the inception-like mix, fc), then on the root: the sharded model must learn
    # exactly what DistributedDataParallel learns from the same batches (both average the
    # gradients over the processes; BatchNorm statistics stay per process in both).
    done = _torchrun(tmp_path, FSDP_SCRIPT)
    result = re.search(r"RESULT (\w+) (\w+) (\d+) (\S+)", done.stdout)
    assert result, done.stdout + done.stderr[-2000:]
    same, moved, sharded, worst = result.groups()
    assert (same, moved, sharded) == ("True", "True", "5"), done.stdout
    assert float(worst) <= 1e-6

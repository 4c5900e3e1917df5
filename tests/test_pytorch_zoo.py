"""Every zoo spec and variant, generated and run on the `meta` device: the static analysis
(shapes, parameter and buffer counts, state_dict keys) must agree with what torch builds."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

import archc
from archc.backends.pytorch import compile_module
from archc.spec.loader import load_spec

torch = pytest.importorskip("torch")

SPECS = Path(__file__).resolve().parent.parent / "specs"


def zoo() -> list[tuple[str, str]]:
    """(spec path, variant) for every variant of every spec in specs/ at collection time."""
    cases = []
    for path in sorted(SPECS.glob("*.yaml")):
        for variant in load_spec(path).variant_names():
            cases.append((str(path), variant))
    return cases


@pytest.mark.parametrize(("spec", "variant"), zoo(), ids=lambda v: Path(str(v)).stem)
def test_generated_model_matches_static_analysis(spec, variant):
    check_against_analysis(archc.load(spec, variant))


def check_against_analysis(net: archc.Network) -> None:
    """Build the generated model on `meta`, run it with hooks, and compare with the analysis."""
    graph, summary = net.graph, net.summary()
    model = compile_module(graph, device="meta")
    modules = dict(model.named_modules())
    seen: dict[str, tuple[int, ...]] = {}

    def hook(name):
        def record(module, args, output):
            assert name not in seen, f"{name} called twice"
            if isinstance(output, tuple):  # nn.MultiheadAttention: (output, weights)
                output = output[0]
            seen[name] = tuple(output.shape)

        return record

    by_path = {n.path: n for n in graph.layers()}
    for name in by_path.keys() & modules.keys():
        modules[name].register_forward_hook(hook(name))
    x = torch.empty(2, *graph.input_shape, device="meta")
    with torch.no_grad():
        y = model.eval()(x)
    assert tuple(y.shape) == (2, *graph.output_shape)

    # Every leaf module is a layer of the spec (or a part of one, as a connection table's
    # per-map convolutions), and every layer with a module produced the predicted volume.
    leaves = [name for name, m in modules.items() if name and not list(m.children())]
    for name in leaves:
        prefixes = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 2)}
        assert prefixes & by_path.keys(), f"module {name} is no layer of the spec"
    assert seen.keys() == by_path.keys() & modules.keys()
    for name, shape in seen.items():
        assert shape == (2, *by_path[name].shape), name

    totals = summary["totals"]
    assert sum(p.numel() for p in model.parameters()) == totals["params"]
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert trainable == totals["trainable_params"]
    assert sum(b.numel() for b in model.buffers()) == totals["buffer_elements"]
    state = [[k, list(v.shape)] for k, v in model.state_dict().items()]
    assert state == [[k, shape] for k, shape, _ in summary["state_dict"]]
    assert math.prod(graph.output_shape) == y[0].numel()

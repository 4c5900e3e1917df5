"""Copied block instances (passes/block_memo.py) are exactly what expanding them gives.

Every graph is compared with the one the expansion builds when no instance is ever copied:
node by node (path, kind, volume, inputs, place, fields, trainable, init) and module by
module, and then by the figures archc prints from them.
"""

from __future__ import annotations

import pytest

from archc.backends.summary import summary_dict
from archc.diagnostics import Reporter, SpecError
from archc.ir.graph import Module, Node
from archc.passes import block_memo
from archc.pipeline import analyse, load
from archc.spec.loader import load_spec
from tests.conftest import ROOT

ZOO = [
    (path, variant)
    for path in sorted((ROOT / "specs").glob("*.yaml"))
    for variant in load_spec(path).variant_names()
]


def _no_copies(monkeypatch):
    monkeypatch.setattr(block_memo, "instance_key", lambda *args: None)


def _node(node: Node) -> tuple:
    return (
        node.id,
        node.kind,
        node.path,
        node.name,
        node.type,
        node.shape,
        node.span,
        tuple(node.inputs),
        node.fields,
        node.trainable,
        node.init,
        node.init_span,
        node.parent.path if node.parent else None,
        [(t.name, t.shape, t.buffer) for t in node.tensors],
        vars(node.counts),
        node.receptive_field,
    )


def _module(module: Module) -> tuple:
    return (
        module.kind,
        module.name,
        module.path,
        module.span,
        module.block,
        module.args,
        module.input,
        module.output,
        module.parent.path if module.parent else None,
        [child.path for child in module.children],
    )


def _everything(graph) -> tuple:
    modules = [graph.root, *(c for c in graph.root.walk() if isinstance(c, Module))]
    walked = [c.id for c in graph.root.walk() if isinstance(c, Node)]
    return (
        [_node(n) for n in graph.nodes],
        [_module(m) for m in modules],
        walked,
        graph.output,
        summary_dict(graph),
    )


@pytest.mark.parametrize("path, variant", ZOO, ids=[f"{p.stem}-{v}" for p, v in ZOO])
def test_copied_instances_equal_expanded_ones(path, variant, monkeypatch):
    copied = _everything(load(path, variant))
    _no_copies(monkeypatch)
    assert copied == _everything(load(path, variant))


def test_resnet152_copies_most_of_its_blocks(monkeypatch):
    """The memo is in use: ResNet-152's 50 bottlenecks come in 8 distinct configurations."""
    expanded = []
    real = block_memo.clone

    def counting(template, module, input_id, nodes):
        expanded.append(module.path)
        return real(template, module, input_id, nodes)

    monkeypatch.setattr(block_memo, "clone", counting)
    graph = load(ROOT / "specs" / "resnet.yaml", "152")
    assert len(graph.layers()) == 515  # torchvision's resnet152 (reference fixtures)
    assert len(expanded) == 50 - 8


def _graph(write_spec, text: str):
    return load(write_spec(text))


def test_index_tells_copies_apart_when_a_block_reads_it(write_spec, monkeypatch):
    """Copies of a `repeat:` receive equal volumes; `index` alone makes them differ."""
    spec = """
network: t
input: [3, 8, 8]
blocks:
  unit:
    layers:
      - {type: conv, out: 3, kernel: "1 + 2 * index", padding: index}
layers:
  - {type: unit, repeat: 3}
"""
    kernels = [n.fields.kernel for n in _graph(write_spec, spec).nodes[1:]]
    assert kernels == [(1, 1), (3, 3), (5, 5)]
    _no_copies(monkeypatch)
    assert [n.fields.kernel for n in _graph(write_spec, spec).nodes[1:]] == kernels


def test_entries_passed_as_a_parameter_keep_their_own_lines(write_spec):
    """Two instances given equal lists of entries written on different lines: each copy's
    layers point at the lines of its own list."""
    graph = _graph(
        write_spec,
        """
network: t
input: [3, 8, 8]
blocks:
  wrap:
    params: {body: ~}
    layers: [{name: inner, layers: $body}]
layers:
  - type: wrap
    body:
      - {type: conv, out: 3, kernel: 1}
  - type: wrap
    body:
      - {type: conv, out: 3, kernel: 1}
""",
    )
    assert [n.span.line for n in graph.nodes[1:]] == [11, 14]


def test_a_copy_of_an_instance_with_warnings_repeats_the_warnings(write_spec):
    """Instances with diagnostics are never copied, so each reports its own."""
    reporter = Reporter()
    path = write_spec(
        """
network: t
input: [3, 9, 9]
blocks:
  pool:
    layers:
      - {type: maxpool, kernel: 2, stride: 2}
      - relu
layers:
  - {name: a, type: pool}
  - {name: c, type: pool, inputs: input}
  - {type: concat, inputs: [a, c]}
"""
    )
    try:
        analyse(load_spec(path, reporter), None, reporter)
    except SpecError:
        pass
    warned = sorted(
        d.message.split(":")[0] for d in reporter.diagnostics if d.severity == "warning"
    )
    assert warned == ["maxpool 'a.maxpool'", "maxpool 'c.maxpool'"]


def test_copies_respect_the_layer_limit(write_spec, monkeypatch):
    """A copy that would pass archc's layer limit is expanded instead, which reports it."""
    monkeypatch.setattr("archc.passes.expand.MAX_LAYERS", 10)
    path = write_spec(
        """
network: t
input: [3, 8, 8]
blocks:
  unit:
    layers: [relu, relu, relu]
layers:
  - {type: unit, repeat: 4}
"""
    )
    with pytest.raises(SpecError) as caught:
        load(path)
    assert [d.code for d in caught.value.diagnostics] == ["E-LIMIT-LAYERS"]

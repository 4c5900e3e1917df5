"""Find layers whose output reaches no network output, and say so where they are written.

A dead layer still costs what the summary counts for it (the generated module holds its
parameters and computes it in forward), but it changes nothing the network returns: almost
always a mistake. The usual one is a merge that `when:` leaves out: a left-out entry stands
for its first input, so `inputs: [input, conv]` on an add that is left out makes the block
an identity and the conv dead (MobileNetV2's inverted residual, written with the shortcut
first). A W-DEAD-LAYER warning names every dead layer, one warning per block instance (so
a mistake in a block repeated 17 times reads as 17 lines, not 150): `archc check` prints
it, `--strict` fails on it, and the summary marks the layers and totals what is dead.
"""

from __future__ import annotations

from archc.diagnostics import Reporter
from archc.ir.graph import INPUT, Graph, Module, Node


def find_dead(graph: Graph, reporter: Reporter) -> None:
    """Fill `graph.dead` and warn about each dead layer, in execution order."""
    live = {graph.output}
    for node in reversed(graph.nodes):
        if node.id in live:
            live.update(node.inputs)
    graph.dead = {n.id for n in graph.nodes if n.kind != INPUT and n.id not in live}
    if not graph.dead:
        return
    # The layers that a left-out merge would have read, had it been kept.
    skipped: dict[int, str] = {}
    for label, span, inputs in graph.left_out_merges:
        first = graph.nodes[inputs[0]].path
        for value in inputs[1:]:
            skipped.setdefault(
                value,
                f"it feeds {label} (line {span.line}), which `when:` leaves out; a left-out "
                f"entry stands for its first input ('{first}'), so nothing reads this one. "
                "Put the branch that is always there first, or leave this branch out too",
            )
    groups: dict[int, list[Node]] = {}
    owners: dict[int, Module | None] = {}
    all_dead: dict[int, bool] = {}
    for node in graph.nodes:
        if node.id in graph.dead:
            owner = _instance(node, graph.dead, all_dead)
            groups.setdefault(id(owner), []).append(node)
            owners[id(owner)] = owner
    consumers = graph.consumers()
    for key, nodes in groups.items():
        _warn(reporter, owners[key], nodes, skipped, consumers)


def _instance(node: Node, dead: set[int], all_dead: dict[int, bool]) -> Module | None:
    """The block instance a dead layer is reported with: the outermost one around it that
    is dead as a whole (a dead inverted residual, not each conv-norm-act unit inside it),
    else the nearest one (None: outside any block)."""

    def whole(module: Module) -> bool:
        if id(module) not in all_dead:
            all_dead[id(module)] = all(
                child.id in dead for child in module.walk() if isinstance(child, Node)
            )
        return all_dead[id(module)]

    found = None
    parent = node.parent
    while parent is not None:
        if parent.kind == "block":
            if found is not None and not whole(parent):
                break
            found = parent
        parent = parent.parent
    return found


def _warn(
    reporter: Reporter,
    owner: Module | None,
    nodes: list[Node],
    skipped: dict[int, str],
    consumers: dict[int, list[int]],
) -> None:
    """One warning for the dead layers of one block instance (or of the network's own
    layers), at the entry of the instance's body that holds the layer a left-out merge
    would have read (else the last of them): a line of the block that reads wrong."""
    tip = next((n for n in nodes if n.id in skipped), nodes[-1])
    entry: Node | Module = tip
    while entry.parent is not None and entry.parent is not owner and entry.parent.kind != "root":
        entry = entry.parent
    prefix = f"{owner.path}." if owner is not None and owner.path else ""
    names = ", ".join(f"{n.type} '{n.path.removeprefix(prefix)}'" for n in nodes)
    params = sum(n.counts.params for n in nodes)
    macs = sum(n.counts.macs for n in nodes)
    where = f"{owner.block} '{owner.path}'" if owner is not None else "the network"
    what = "1 layer reaches" if len(nodes) == 1 else f"{len(nodes)} layers reach"
    message = f"{where}: {what} no output of the network: {names}"
    if params or macs:
        message += f" ({params:,} parameters and {macs:,} MACs, still counted in the totals)"
    notes = []
    if tip.id in skipped:
        notes.append(skipped[tip.id])
    elif not consumers[tip.id]:
        notes.append(
            f"nothing reads '{tip.path}' (does an entry name another input by mistake, or "
            "leave out with `when:` the entry that reads it?)"
        )
    reporter.warning("W-DEAD-LAYER", message, entry.span, *notes)

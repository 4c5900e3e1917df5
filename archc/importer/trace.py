"""A PyTorch module, traced with torch.fx, as a tree of scopes: one per module that holds
others (its entries in call order), each leaf module or function call one entry.

Every entry knows the values it reads; `resolve` then names them as a spec must, within
the entry's own scope: an earlier entry's name, a child scope's name (its output), or
`input` (what the scope received). A module that reads two tensors from outside itself,
or whose results leave it by two ways, cannot be one spec entry and is reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from archc.importer.mapping import Unmapped, function_name, map_function, map_module
from archc.spec.names import layer_name_problem


@dataclass
class Gap:
    """Something the importer could not map, at a module path."""

    path: str
    what: str


class TraceFailed(Exception):
    """torch.fx stopped inside the model; `gap` says where and why."""

    def __init__(self, gap: Gap):
        super().__init__(gap.what)
        self.gap = gap


@dataclass
class Item:
    """One layer entry: what it is, the fx values it reads, the value it makes."""

    name: str
    entry: dict[str, Any]
    reads: list[Any]
    value: Any
    path: str
    #: Names of the values read, once resolved in the item's scope.
    inputs: list[str] = field(default_factory=list)


@dataclass
class Scope:
    """A module holding other modules (the network itself at path "")."""

    path: str
    name: str
    module: Any
    items: list[Item | Scope] = field(default_factory=list)
    parent: Scope | None = None
    input_value: Any = None
    output_value: Any = None
    inputs: list[str] = field(default_factory=list)
    output: str | None = None

    @property
    def is_sequential(self) -> bool:
        """Whether the module is an nn.Sequential (a chain with numbered children)."""
        return type(self.module).__name__ == "Sequential"

    def contains(self, other: Scope) -> bool:
        """Whether `other` is this scope or inside it."""
        while other is not None:
            if other is self:
                return True
            other = other.parent
        return False


@dataclass
class Traced:
    """The tree of a traced model, and what could not be mapped."""

    root: Scope
    gaps: list[Gap]


def trace(model: Any, partial: bool = False) -> Traced:
    """Trace `model` with torch.fx and build its scope tree (torch is imported here).

    With `partial`, what cannot be mapped becomes an identity entry whose `doc:` says what
    it stands for, so the rest of the model can still be written out."""
    import operator

    import torch.fx as fx

    class Locating(fx.Tracer):
        """A tracer that knows which module it is in when tracing fails."""

        def __init__(self) -> None:
            super().__init__()
            self.inside: list[str] = []

        def call_module(self, module, forward, args, kwargs):
            self.inside.append(self.path_of_module(module))
            result = super().call_module(module, forward, args, kwargs)
            self.inside.pop()
            return result

    tracer = Locating()
    try:
        graph = tracer.trace(model)
    except Exception as exc:  # noqa: BLE001 - fx raises many kinds; each is reported alike
        where = tracer.inside[-1] if tracer.inside else ""
        detail = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        raise TraceFailed(
            Gap(
                where,
                f"torch.fx cannot trace it ({type(exc).__name__}: {detail}): data-dependent "
                "control flow, or Python on tensor sizes the tracer cannot follow",
            )
        ) from None
    modules = dict(model.named_modules())
    root = Scope("", "", model)
    scopes = {"": root}
    gaps: list[Gap] = []
    producer: dict[Any, Item | None] = {}
    owner: dict[Any, Scope] = {}
    network_input = None
    names: dict[int, set[str]] = {}
    #: Values that are another value under a new name: `attn(x, x, x)[0]`.
    alias: dict[Any, Any] = {}

    def scope_for(path: str) -> Scope:
        if path in scopes:
            return scopes[path]
        parent_path = path.rpartition(".")[0]
        parent = scope_for(parent_path)
        scope = Scope(path, path.rpartition(".")[2], modules[path], parent=parent)
        check_name(scope.name, path)
        parent.items.append(scope)
        scopes[path] = scope
        return scope

    def check_name(name: str, path: str) -> None:
        # Numbered children (nn.Sequential's) are written unnamed; any other name must be
        # one archc accepts, or the spec could not regenerate the key (RegNet's block1-0).
        problem = None if name.isdigit() else layer_name_problem(name)
        if problem:
            gaps.append(Gap(path, f"module name {name!r} cannot name an archc entry: {problem}"))

    def unique(scope: Scope, base: str) -> str:
        taken = names.setdefault(id(scope), set())
        name, k = base, 1
        while name in taken:
            name, k = f"{base}_{k}", k + 1
        taken.add(name)
        return name

    for node in graph.nodes:
        stack = list((node.meta.get("nn_module_stack") or {}).keys())
        if node.op == "placeholder":
            if network_input is not None:
                gaps.append(Gap("", "a model with more than one input"))
            network_input = node
            owner[node] = root
            producer[node] = None
            continue
        if node.op == "output":
            root.output_value = alias.get(node.args[0], node.args[0])
            continue
        if node.op == "get_attr":
            if node.users:
                gaps.append(Gap(node.target, "a tensor read directly in forward (get_attr)"))
            continue
        if node.op == "call_function" and node.target is operator.getitem and not node.users:
            continue  # an unpacked result nobody reads: `x, _ = attention(...)`
        reads = [alias.get(v, v) for v in _tensor_args(node)]
        if _is_token_flatten(node):
            alias[node] = reads[0]  # x.flatten(2).transpose(1, 2): one map_to_tokens
            continue
        if (
            node.op == "call_function"
            and node.target is operator.getitem
            and reads
            and reads[0] in producer
            and producer[reads[0]] is not None
            and producer[reads[0]].entry.get("type") == "self_attention"
            and node.args[1] == 0
        ):
            alias[node] = reads[0]  # nn.MultiheadAttention returns (output, weights)
            continue
        try:
            if node.op == "call_module":
                entry = map_module(modules[node.target])
                path = node.target
                container = path.rpartition(".")[0]
                name = path.rpartition(".")[2]
            else:
                entry = map_function(node.target, _concrete(node.args), _concrete(node.kwargs))
                container = stack[-1] if stack else ""
                path = f"{container}.{node.name}" if container else node.name
                name = function_name(node.target).rstrip("_")
        except Unmapped as exc:
            inside = stack[-1] if stack else ""
            where = node.target if node.op == "call_module" else _dotted(inside, node.name)
            gaps.append(Gap(where, str(exc)))
            if not partial or not reads:
                continue
            entry = {"type": "identity", "doc": f"TODO: {exc} (archc import has no kind for it)"}
            container = (
                where.rpartition(".")[0]
                if node.op == "call_module"
                else (stack[-1] if stack else "")
            )
            path, name, reads = where, where.rpartition(".")[2], reads[:1]
        if entry.get("type") == "self_attention":
            reads = reads[:1]  # query, key and value are one tensor
        scope = scope_for(container)
        item = Item(unique(scope, name), entry, reads, node, path)
        check_name(item.name, path)
        scope.items.append(item)
        producer[node] = item
        owner[node] = scope
    traced = Traced(root, gaps)
    if not gaps or partial:
        _resolve(root, owner, network_input, gaps)
    return traced


def _dotted(container: str, name: str) -> str:
    return f"{container}.{name}" if container else name


def _is_token_flatten(node: Any) -> bool:
    """`x.flatten(2)` read only by `.transpose(1, 2)`: a map becoming a token sequence."""
    if node.op not in ("call_method", "call_function") or function_name(node.target) != "flatten":
        return False
    start = node.args[1] if len(node.args) > 1 else node.kwargs.get("start_dim")
    users = list(node.users)
    return (
        start == 2
        and len(users) == 1
        and function_name(users[0].target) == "transpose"
        and tuple(users[0].args[1:3]) == (1, 2)
    )


def _tensor_args(node: Any) -> list[Any]:
    import torch.fx as fx

    found: list[Any] = []

    def visit(value: Any) -> None:
        if isinstance(value, fx.Node):
            found.append(value)
        elif isinstance(value, (list, tuple)):
            for item in value:
                visit(item)

    for value in (*node.args, *node.kwargs.values()):
        visit(value)
    return found


def _concrete(value: Any) -> Any:
    """Arguments with fx nodes replaced by None: mappers read only the constants."""
    import torch.fx as fx

    if isinstance(value, fx.Node):
        return None
    if isinstance(value, (list, tuple)):
        return type(value)(_concrete(v) for v in value)
    if isinstance(value, dict):
        return {k: _concrete(v) for k, v in value.items()}
    return value


def _resolve(root: Scope, owner: dict, network_input: Any, gaps: list[Gap]) -> None:
    """Name every value an item reads, in its own scope; find scope inputs and outputs."""
    item_of: dict[Any, Item] = {}
    scope_of: dict[Any, Scope] = {}

    def index(scope: Scope) -> None:
        for item in scope.items:
            if isinstance(item, Scope):
                index(item)
            else:
                item_of[item.value] = item
                scope_of[item.value] = scope

    index(root)
    root.input_value = network_input

    def name_in(scope: Scope, value: Any, reader: str) -> str | None:
        if value is network_input and scope is root:
            return "input"
        home = scope_of.get(value)
        if home is scope:
            return item_of[value].name
        if home is not None and scope.contains(home):
            # Made inside a child: the child (and each scope between) returns it.
            inner, child = home, None
            while inner is not scope:
                if inner.output_value is None:
                    inner.output_value = value
                elif inner.output_value is not value:
                    gaps.append(Gap(inner.path, "a module whose results leave it by two ways"))
                    return None
                inner, child = inner.parent, inner
            return child.name
        # From outside: the scope's input.
        if scope.input_value is None:
            scope.input_value = value
        elif scope.input_value is not value:
            gaps.append(Gap(scope.path, f"a module that reads two tensors (at {reader})"))
            return None
        return "input"

    def walk(scope: Scope) -> None:
        for item in scope.items:
            if isinstance(item, Scope):
                walk(item)
            else:
                item.inputs = [name_in(scope, v, item.path) or "?" for v in item.reads]

    def connect(scope: Scope) -> None:
        # Children first: naming a grandchild's input may make it this child's input too.
        children = [item for item in scope.items if isinstance(item, Scope)]
        for child in children:
            connect(child)
        for child in children:
            if child.input_value is not None:
                child.inputs = [name_in(scope, child.input_value, child.path) or "?"]

    walk(root)
    root.output = name_in(root, root.output_value, "output")
    connect(root)

    def outputs(scope: Scope) -> None:
        for item in scope.items:
            if isinstance(item, Scope):
                if item.output_value is None:
                    gaps.append(Gap(item.path, "a module whose result is never used"))
                else:
                    item.output = _name_within(item, item.output_value, scope_of, item_of)
                outputs(item)

    outputs(root)


def _name_within(scope: Scope, value: Any, scope_of: dict, item_of: dict) -> str:
    home = scope_of[value]
    if home is scope:
        return item_of[value].name
    child = home
    while child.parent is not scope:
        child = child.parent
    return child.name

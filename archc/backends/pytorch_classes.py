"""From the module tree to classes: one nn.Module class per block kind, nn.Sequential for chains.

Every container that is not a plain chain (the network, each block instance, a Sequential
whose entries branch) is rendered as an *instance*: its attributes (constructor
expressions) and its forward statements. Instances of the same block are then folded into
one class whose constructor takes the numbers that differ (`in_channels`, `planes`,
`stride`) and a flag per child that only some instances have (`downsample=True`), as
torchvision's Bottleneck does. Instances that cannot be folded (different structure) get
classes of their own, so the result is always faithful to the graph.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field
from typing import Any

from archc.backends.pytorch_code import (
    Stmt,
    comment_block,
    doc_text,
    render,
    source_location,
    statement,
)
from archc.backends.pytorch_forward import MODULE_CALL, forward_statements, steps_of
from archc.backends.pytorch_unify import Mismatch, contains_slot, resolve, unify
from archc.ir.graph import Graph, Module, Node
from archc.layers.base import SELF, TorchCode
from archc.pycode import (
    Attr,
    Call,
    Const,
    Expr,
    IfExp,
    IsNone,
    Name,
    check_identifier,
    dotted,
    fill,
    flat,
    python_literal,
    self_attribute,
)

ROOT_KEY = ("root",)


@dataclass
class Instance:
    """One container as rendered on its own: attributes, forward, dataflow, call values."""

    module: Module
    attrs: dict[str, Expr]
    forward: list[Any]  # pytorch_forward.Statement
    refs: dict[str, list[str]]  # child -> what it reads (child names or "input")
    output: str
    comments: list[str | None]  # per forward statement: spec location
    shapes: list[str]  # per forward statement: output volume
    params: dict[str, Any]  # what the class constructor may take
    docs: dict[str, str]  # child -> its entry's `doc:`


@dataclass
class ClassDef:
    """A generated class: constructor parameters, attributes, forward and docstring."""

    name: str
    doc: str
    signature: list[tuple[str, str | None]]  # (parameter, default source or None)
    #: (name, expression, None), or (name, None, parameter) for a child passed in
    attrs: list[tuple[str, Expr | None, str | None]]
    forward: list[tuple[Stmt, str | None]]  # (statement, comment)
    members: list[Instance] = field(default_factory=list)
    calls: dict[int, Call] = field(default_factory=dict)  # id(module) -> constructor call
    notes: dict[str, str] = field(default_factory=dict)  # attribute -> its `doc:` comment
    #: forward statement index -> the `doc:` of a step with no attribute (`add`, `flatten`)
    forward_notes: dict[int, str] = field(default_factory=dict)


class Generator:
    """Renders a graph's module tree into class definitions, innermost first."""

    def __init__(self, graph: Graph, reserved: set[str]):
        self.graph = graph
        self.codes: dict[int, TorchCode] = {}
        for node in graph.layers():
            shapes = [graph.nodes[i].shape for i in node.inputs]
            self.codes[node.id] = node.layer.torch(node.fields, shapes, node.shape)
        self.consumers = graph.consumers()
        self.classes: list[ClassDef] = []
        self.by_key: dict[tuple, list[ClassDef]] = {}
        self.class_of: dict[int, ClassDef] = {}
        self.names = set(reserved)
        self.defaults: dict[str, dict[str, str]] = {}
        self._chains: dict[int, bool] = {}
        self.inplace = self._inplace_decisions()

    # --- the tree -------------------------------------------------------------------
    def is_chain(self, module: Module) -> bool:
        """Whether a Sequential scope is a pure chain that nn.Sequential can hold."""
        if id(module) not in self._chains:
            self._chains[id(module)] = self._is_chain(module)
        return self._chains[id(module)]

    def _is_chain(self, module: Module) -> bool:
        if not (module.kind == "sequential" or module.numbered) or not module.children:
            return False
        previous = module.input
        for k, child in enumerate(module.children):
            if child.name != str(k):
                return False
            if isinstance(child, Node):
                code = self.codes[child.id]
                # nn.Sequential calls each module on one input; a layer used any other way
                # (a parameter added or prepended, attention called as f(x, x, x)) cannot be in one.
                if len(child.inputs) != 1 or code.module is None or code.call != MODULE_CALL:
                    return False
                reads, out = child.inputs[0], child.id
            else:
                reads, out = child.input, child.output
            if reads != previous:
                return False
            if k < len(module.children) - 1 and not self._only_read_by(out, module.children[k + 1]):
                return False
            previous = out
        return previous == module.output

    def _only_read_by(self, value: int, child: Module | Node) -> bool:
        """Whether every reader of `value` is `child` or inside it."""
        for reader in self.consumers[value]:
            item = self.graph.nodes[reader]
            while item is not None and item is not child:
                item = item.parent
            if item is None:
                return False
        return True

    def class_key(self, module: Module) -> tuple:
        """Instances with the same key are candidates for one class."""
        if module.kind == "root":
            return ROOT_KEY
        if module.kind == "block":
            return ("block", module.block)
        owner, relative = self._owner(module)
        return ("seq", self.class_key(owner) if owner else ROOT_KEY, relative)

    def _owner(self, item: Module | Node) -> tuple[Module | None, str]:
        """The nearest enclosing class container and the path relative to it."""
        parts = [item.name]
        parent = item.parent
        while parent is not None and self.is_chain(parent):
            parts.append(parent.name)
            parent = parent.parent
        return parent, ".".join(reversed(parts))

    def _inplace_decisions(self) -> dict[int, bool]:
        """In place where safe in every instance of the class the layer's code is shared by."""
        safe: dict[tuple, bool] = {}
        keys: dict[int, tuple] = {}
        for node in self.graph.layers():
            if not self.codes[node.id].inplace:
                continue
            owner, relative = self._owner(node)
            key = (self.class_key(owner) if owner else ROOT_KEY, relative)
            keys[node.id] = key
            safe[key] = safe.get(key, True) and self._safe_inplace(node)
        return {nid: safe[key] for nid, key in keys.items()}

    def _safe_inplace(self, node: Node) -> bool:
        value = node.inputs[0]
        while True:
            if len(self.consumers[value]) != 1 or value == 0:
                return False
            parent = node.parent
            while parent is not None:
                if parent.input == value:
                    return False  # the block's input: its caller may still need it
                parent = parent.parent
            producer = self.graph.nodes[value]
            code = self.codes[producer.id]
            if code.saves_output:
                return False
            if not code.view:
                return True
            value = producer.inputs[0]

    # --- expressions ----------------------------------------------------------------
    def node_expr(self, node: Node) -> Expr:
        """The constructor of a layer, with its in-place slot filled."""
        code = self.codes[node.id]
        return fill(code.module, [], None, inplace=self.inplace.get(node.id, False))

    def comment(self, span, output: Node) -> str:
        """`vgg.yaml:14  -> 224x224x64`."""
        return f"{source_location(span)}  -> {output.volume}"

    def child_expr(self, child: Module | Node) -> Expr:
        """The constructor expression of a child: a layer, a Sequential or a class call."""
        if isinstance(child, Node):
            return self.node_expr(child)
        if self.is_chain(child):
            items, comments = [], []
            for item in child.children:
                items.append(self.child_expr(item))
                output = item if isinstance(item, Node) else self.graph.nodes[item.output]
                comments.append(self.comment(item.span, output))
            notes = [item.doc for item in child.children]
            return Call(dotted("nn.Sequential"), items, [], True, comments, notes)
        return self.call_for(child)

    def _shape(self, value: int):
        return self.graph.nodes[value].shape

    def call_for(self, module: Module) -> Call:
        """The constructor call of a block (or branching Sequential) instance."""
        if id(module) not in self.class_of:
            self.finalize(self.class_key(module))
        return self.class_of[id(module)].calls[id(module)]

    # --- instances and classes ------------------------------------------------------
    def instance(self, module: Module) -> Instance:
        """Render one container on its own."""
        codes = {c.id: self.codes[c.id] for c in module.children if isinstance(c, Node)}
        steps = steps_of(module, codes)
        attrs: dict[str, Expr] = {}
        docs: dict[str, str] = {}
        for child, step in zip(module.children, steps, strict=True):
            if step.attr:
                attrs[child.name] = self.child_expr(child)
            if child.doc:
                docs[child.name] = child.doc
        statements = forward_statements(steps, module.input, module.output)
        producer = {s.output: s.name for s in steps}
        producer.setdefault(module.input, "input")
        refs = {s.name: [producer.get(v, "input") for v in s.inputs] for s in steps}
        comments = [
            self._loc(module.children[st.step].span) if st.step is not None else None
            for st in statements
        ]
        shapes = [self.graph.nodes[st.value].volume for st in statements]
        params: dict[str, Any] = {"in_channels": self._shape(module.input)[0]}
        for key, value in module.args.items():
            params[key] = _frozen(value)
        return Instance(
            module,
            attrs,
            statements,
            refs,
            producer.get(module.output, "input"),
            comments,
            shapes,
            params,
            docs,
        )

    def _loc(self, span) -> str:
        return source_location(span)

    def modules_with_key(self, key: tuple) -> list[Module]:
        """Every container of the graph with this class key, in tree order."""
        found = [self.graph.root] if key == ROOT_KEY else []
        for item in self.graph.root.walk():
            if isinstance(item, Module) and not self.is_chain(item):
                if item.kind != "root" and self.class_key(item) == key:
                    found.append(item)
        return found

    def finalize(self, key: tuple) -> None:
        """Build the class(es) for every instance with this key.

        Instances are first clustered by their structure with the numbers left out (cheap),
        and whole clusters are folded together, so a 600-block network folds in linear time.
        """
        clusters: dict[tuple, list[Instance]] = {}
        for module in self.modules_with_key(key):
            inst = self.instance(module)
            clusters.setdefault(_structure(inst), []).append(inst)
        groups: list[ClassDef] = []
        for cluster in clusters.values():
            for part in self._fold_parts(key, cluster):
                for index, cls in enumerate(groups):
                    trial = self._fold(key, cls.members + part, cls.name)
                    if trial is not None:
                        groups[index] = trial
                        break
                else:
                    groups.append(self._fold(key, part, self._class_name(key, len(groups))))
        for cls in groups:
            for member in cls.members:
                self.class_of[id(member.module)] = cls
            self.classes.append(cls)
        self.by_key[key] = groups

    def _fold_parts(self, key: tuple, cluster: list[Instance]) -> list[list[Instance]]:
        """The cluster as one part if it folds, else one part per instance."""
        if len(cluster) == 1 or self._fold(key, cluster, "_") is not None:
            return [cluster]
        return [[inst] for inst in cluster]

    def _class_name(self, key: tuple, n: int) -> str:
        if key == ROOT_KEY:
            return self.graph.class_name
        else:
            raw = key[1] if key[0] == "block" else key[2].split(".")[-1]
            name = "".join(p[:1].upper() + p[1:] for p in re.split(r"[^A-Za-z0-9]+", raw) if p)
            if not name or not name[0].isalpha():
                name = "Block" + name
        base, k = name, 1 + n
        if n:
            name = f"{base}{k}"
        while name in self.names:
            k += 1
            name = f"{base}{k}"
        self.names.add(name)
        return name

    def _fold(self, key: tuple, members: list[Instance], name: str) -> ClassDef | None:
        """One class for these instances, or None if they cannot share one."""
        order: list[str] = []
        for inst in members:
            previous = -1
            for attr in inst.attrs:
                if attr in order:
                    previous = order.index(attr)
                else:
                    previous += 1
                    order.insert(previous, attr)
        full = next((m for m in members if len(m.attrs) == len(order)), None)
        if full is None:
            return None
        optional = [a for a in order if any(a not in m.attrs for m in members)]
        if set(optional) & _held_tensors(members):
            return None  # `x if self.t is None else ...` is written for modules, not tensors
        inline = set(full.refs) - set(order)  # merges and functional forms
        if any(not inline <= set(m.refs) for m in members):
            return None
        for inst in members:
            if not self._same_dataflow(full, inst):
                return None
        try:
            attrs, signature = self._parameterize(key, members, order, optional)
        except Mismatch:
            if len(members) == 1:
                raise
            return None
        flags = self._flags(optional, {p for p, _ in signature})
        # A child only some instances have is built by the caller and passed in (as
        # torchvision passes `downsample`), so the class never makes it from values that
        # happen to hold where it exists (`stride=2` when every such instance strides by 2).
        signature += [(flags[a], "None") for a in optional]
        attr_rows = [(a, attrs.get(a), flags.get(a)) for a in order]
        forward = self._forward(full, members, optional)
        doc = self._doc(key, full)
        if optional:
            passed = ", ".join(f"`{flags[a]}`" for a in optional)
            doc += f" The caller builds {passed} where an instance has it (None leaves it out)."
        cls = ClassDef(name, doc, signature, attr_rows, forward, members)
        # Every instance's entry is the same line of the spec, so the first doc found is the
        # doc of all of them.
        for attr in order:
            doc = next((m.docs[attr] for m in members if attr in m.docs), None)
            if doc is not None:
                cls.notes[attr] = doc
        for k, st in enumerate(full.forward):
            name = full.module.children[st.step].name if st.step is not None else None
            if name is not None and name not in order:  # documented where it runs
                doc = next((m.docs[name] for m in members if name in m.docs), None)
                if doc is not None:
                    cls.forward_notes[k] = doc
        for inst in members:
            cls.calls[id(inst.module)] = self._call(cls, inst, flags)
        return cls

    def _same_dataflow(self, full: Instance, inst: Instance) -> bool:
        def resolve_ref(ref: str) -> str:
            while ref != "input" and ref not in inst.refs and ref in full.refs:
                ref = full.refs[ref][0]  # a left-out entry stands for its first input
            return ref

        for child, refs in inst.refs.items():
            if child not in full.refs or [resolve_ref(r) for r in full.refs[child]] != refs:
                return False
        return resolve_ref(full.output) == inst.output

    def _parameterize(self, key, members, order, optional):
        attrs: dict[str, Expr] = {}
        used: set[str] = set()
        params = {i: m.params for i, m in enumerate(members)}
        for attr in order:
            if attr in optional:
                continue
            exprs = {i: m.attrs[attr] for i, m in enumerate(members) if attr in m.attrs}
            unified = unify(exprs, self.defaults)
            if contains_slot(unified):
                unified = resolve(unified, {i: params[i] for i in exprs}, used)
            attrs[attr] = unified
        signature = []
        declared = self._declared(key)
        names = ["in_channels", *[n for n in members[0].params if n != "in_channels"]]
        required = [n for n in names if n in used and declared.get(n) is None]
        optional = [n for n in names if n in used and declared.get(n) is not None]
        signature = [(n, None) for n in required] + [(n, declared[n]) for n in optional]
        return attrs, signature

    def _declared(self, key: tuple) -> dict[str, str | None]:
        """Literal defaults of a block's parameters, as source text (None: required)."""
        if key[0] != "block":
            return {}
        block = self.graph.blocks.get(key[1])
        result: dict[str, str | None] = {}
        for name, default in (getattr(block, "params", None) or {}).items():
            literal = isinstance(default, (int, float, bool))
            result[name] = python_literal(default) if literal else None
        return result

    def _flags(self, optional: list[str], taken: set[str]) -> dict[str, str]:
        flags = {}
        for attr in optional:
            flag = attr if _is_identifier(attr) else f"module_{attr}"
            # A parameter must not hide a class or helper `__init__` calls.
            while flag in taken or flag in flags.values() or flag in self.names | {"in_channels"}:
                flag = f"module_{flag}"
            flags[attr] = flag
        return flags

    def _forward(self, full: Instance, members: list[Instance], optional: list[str]):
        steps = full.module.children
        rows = []
        for k, st in enumerate(full.forward):
            code = st.code
            if st.step is not None and steps[st.step].name in optional:
                # A child passed as None is left out: its input goes on.
                value = code.value
                guard = IfExp(value.args[0], IsNone(value.func), value)
                code = Stmt(guard, target=code.target, returns=code.returns)
            shapes: list[str] = []
            for inst in members:
                shape = self._shape_of(inst, full, k)
                if shape and shape not in shapes:
                    shapes.append(shape)
            loc = full.comments[k]
            rows.append((code, f"{loc}  -> {', '.join(shapes)}" if loc else None))
        return rows

    def _shape_of(self, inst: Instance, full: Instance, k: int) -> str | None:
        """The volume statement k of the full instance produces in another instance."""
        st = full.forward[k]
        if inst is full:
            return full.shapes[k]
        if st.step is None:
            return inst.shapes[-1]
        name = full.module.children[st.step].name
        for j, other in enumerate(inst.forward):
            if other.step is not None and inst.module.children[other.step].name == name:
                return inst.shapes[j]
        return None

    def _call(self, cls: ClassDef, inst: Instance, flags: dict[str, str]) -> Call:
        args: list[Expr] = []
        kwargs: list[tuple[str, Expr]] = []
        for param, default in cls.signature:
            if param in flags.values():
                attr = next(a for a, f in flags.items() if f == param)
                if attr in inst.attrs:
                    kwargs.append((param, inst.attrs[attr]))
                continue
            value = Const(inst.params[param])
            if default is None:
                args.append(value)
            elif flat(value) != default:
                kwargs.append((param, value))
        return Call(Name(cls.name), args, kwargs)

    def _doc(self, key: tuple, inst: Instance) -> str:
        if key[0] == "block":
            block = self.graph.blocks.get(key[1])
            text = (getattr(block, "description", "") or "").strip()
            return text or f"The `{key[1]}` block of {self.graph.network}."
        if key[0] == "seq":
            return f"The `{key[2]}` branches of {self.graph.network}."
        return ""

    # --- emission -------------------------------------------------------------------
    def class_lines(self, cls: ClassDef, doc: str | None = None, tail: list[str] | None = None):
        """The source lines of one class."""
        lines = [f"class {check_identifier(cls.name)}(nn.Module):"]
        lines += docstring(doc or cls.doc, "    ")
        lines.append("")
        params = ", ".join(
            ["self"]
            + [
                check_identifier(p) if d is None else f"{check_identifier(p)}={d}"
                for p, d in cls.signature
            ]
        )
        header = f"    def __init__({params}) -> None:"
        if len(header) <= 100:
            lines.append(header)
        else:
            lines.append("    def __init__(")
            lines += [f"        {p}," for p in params.split(", ")]
            lines.append("    ) -> None:")
        lines.append("        super().__init__()")
        for name, expr, flag in cls.attrs:
            if name in cls.notes:
                lines += comment_block(cls.notes[name], "        ")
            lines += _assign(name, expr if flag is None else Name(flag), "        ")
        lines += tail or []
        lines.append("")
        lines.append("    def forward(self, x: torch.Tensor) -> torch.Tensor:")
        for k, (code, comment) in enumerate(cls.forward):
            if k in cls.forward_notes:
                lines += comment_block(cls.forward_notes[k], "        ")
            lines += statement(code, "        ", comment)
        return lines


def _held_tensors(members: list[Instance]) -> set[str]:
    """Names of the tensors (layer scale, class token) the instances hold as attributes."""
    return {
        child.name
        for inst in members
        for child in inst.module.children
        if isinstance(child, Node) and any(t.name == SELF for t in child.tensors)
    }


def _frozen(value: Any) -> Any:
    """YAML lists as tuples, as layers write pairs and tables in code."""
    if isinstance(value, list):
        return tuple(_frozen(v) for v in value)
    return value


def _structure(inst: Instance) -> tuple:
    """What an instance looks like with its numbers left out."""
    shapes = tuple(re.sub(r"\d+", "#", flat(e)) for e in inst.attrs.values())
    return tuple(inst.attrs), tuple(st.code.text() for st in inst.forward), shapes


def _assign(name: str, expr: Expr, indent: str) -> list[str]:
    """`self.name = expr`, or `self.add_module("0", expr)` for a numbered child."""
    target = self_attribute(name)
    if isinstance(target, Attr):
        return render(expr, indent, f"{flat(target)} = ")
    return render(Call(dotted("self.add_module"), [Const(name), expr]), indent)


def _is_identifier(name: str) -> bool:
    return isinstance(self_attribute(name), Attr)


def docstring(text: str, indent: str) -> list[str]:
    """A docstring wrapped to the line length (one line if it fits)."""
    text = doc_text(text)
    one = f'{indent}"""{text}"""'
    if len(one) <= 100:
        return [one]
    paragraphs = textwrap.wrap(text, 100 - len(indent) - 3)
    return (
        [f'{indent}"""{paragraphs[0]}']
        + [f"{indent}{line}" for line in paragraphs[1:]]
        + [f'{indent}"""']
    )

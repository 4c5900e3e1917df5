"""Expand a spec's variant into a Graph: blocks, repeats, notation and names, with shapes.

Expansion and shape inference are one walk rather than two passes, on purpose: a block may
depend on the volume it receives (`when: in_channels != 4 * planes` adds a projection
shortcut only where the shape changes, the ResNet paper's option B), so a block cannot be
expanded before its input's shape is known. Each layer's shape comes from its kind's own
rule (`LayerKind.infer`); counting and receptive fields are separate passes over the result.

Scoping: a `layers:` list (the network's, a block body's, a Sequential's) is a scope. An
entry reads the previous entry's output unless `inputs:` names earlier entries of the same
scope (or `input`, the scope's input). Names decide module paths, so a spec can reproduce
torchvision's state_dict keys exactly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal, get_args, get_origin

from pydantic import ValidationError

from archc.diagnostics import Reporter, Span, SpecError, did_you_mean, quote
from archc.ir.graph import INPUT, LAYER, MERGE, Graph, Module, Node
from archc.layers import REGISTRY, LayerKind, Shape, ShapeError, match_notation
from archc.layers.base import fmt_shape
from archc.passes import block_memo
from archc.spec import params as param_values
from archc.spec.expr import BudgetExceeded, ExprError, evaluate
from archc.spec.expr import budget as expression_budget
from archc.spec.loader import Spec, Variant
from archc.spec.model import ENTRY_KEYS
from archc.spec.names import copy_name_problem, layer_name_problem
from archc.spec.source import LocDict, LocList
from archc.spec.validate import locate, report_validation

# Expansion costs about 0.1 ms per layer, so these bound `archc check` to seconds on any
# input; the zoo's largest network (ResNet-1202 for CIFAR) has under 4,000 layers.
MAX_LAYERS = 100_000
MAX_REPEAT = 10_000
#: The largest size of any axis of a volume (channels, height, width, features).
MAX_SIZE = 1_000_000
MAX_BLOCK_DEPTH = 32


@dataclass
class Scope:
    """One `layers:` list being expanded."""

    container: Module
    sequential: bool
    ctx: dict[str, Any]
    names: dict[str, int | None] = field(default_factory=dict)
    declared: dict[str, Span] = field(default_factory=dict)
    used: set[str] = field(default_factory=set)
    #: Next free suffix per default name (`relu_7`), so naming n entries stays linear.
    counters: dict[str, int] = field(default_factory=dict)
    #: Names archc gave unnamed entries (`relu_1`), with the entry's place: the summary
    #: shows them, but `inputs:` may not name them (inserting a layer would renumber them).
    generated: dict[str, Span] = field(default_factory=dict)
    #: Tensors held by the container (layer scale): a Sequential's numbers skip them.
    held: int = 0
    #: Whether entries train by default: `trainable: false` on a Sequential or a block
    #: instance freezes everything inside it unless an entry says otherwise.
    trainable: bool = True
    #: The `init:` in force (value and where it is written): set on a Sequential or a block
    #: instance, it applies to every layer inside unless an entry says otherwise.
    init: tuple[Any, Span] | None = None


def _init_of(entry: LocDict, scope: Scope) -> tuple[Any, Span] | None:
    """The entry's own `init:` with its place, else the one its scope inherited."""
    if "init" in entry:
        return entry["init"], entry.value_span("init")
    return scope.init


class Expander:
    """Expands one variant of a spec into a Graph, reporting every problem found."""

    def __init__(self, spec: Spec, variant: Variant, reporter: Reporter):
        self.spec = spec
        self.variant = variant
        self.reporter = reporter
        self.nodes: list[Node] = []
        self.block_stack: list[str] = []
        self.limit_hit = False
        self.left_out_merges: list[tuple[str, Span, list[int]]] = []
        self.functions = spec.functions
        self.words = _text_words(spec)
        self.cost_reported = False  # the expression budget ran out (reported once)
        # Deep networks repeat a few layer configurations many times (ResNet-152: 515 layers,
        # a few dozen distinct ones). Validated fields are shared between equal values, and
        # a volume worked out once per (fields, input volumes): the kinds' rules are pure.
        self.fields_memo: dict[Any, Any] = {}
        self.shape_memo: dict[Any, tuple[Shape, str | None, Any]] = {}
        # Block instances that must expand alike are copied (see passes/block_memo.py).
        self.block_memo: dict[Any, block_memo.Template] = {}
        # `index` (a repeat's copy number) only tells copies apart if a spec reads it.
        self._unread = (
            frozenset()
            if block_memo.mentions(
                "index", spec.raw, variant.params, *(b.raw for b in spec.blocks.values())
            )
            else frozenset({"index"})
        )

    # --- entry point ----------------------------------------------------------------
    def run(self) -> Graph:
        """Expand the whole network; raise SpecError if anything was wrong."""
        spec, variant = self.spec, self.variant
        ctx = param_values.resolve(
            variant.params, variant.param_spans, self.reporter, self.functions, self.words
        )
        self.reporter.check()
        shape = self._input_shape(ctx)
        root = Module("root", "", "", spec.raw.span)
        self.reporter.check()
        self.nodes.append(Node(0, INPUT, "input", "input", shape, variant.input_span))
        scope = Scope(root, sequential=False, ctx=ctx)
        output = self.scope(spec.raw["layers"], scope, 0)
        self.reporter.check()
        if output is None:
            raise SpecError(self.reporter.diagnostics)
        if output == 0:
            made = len(self.nodes) - 1
            self.reporter.error(
                "E-EMPTY-NETWORK",
                "the network has no layers (every entry was left out)"
                if not made
                else f"the network's output is its input: none of its {made} layers reaches "
                "it (a merge that `when:` leaves out stands for its first input)",
                spec.raw.value_span("layers"),
            )
            self.reporter.check()
        return Graph(
            network=spec.network,
            variant=variant.name,
            class_name=variant.class_name,
            spec_path=spec.display,
            input_shape=shape,
            nodes=self.nodes,
            root=root,
            output=output,
            description=variant.description,
            params=ctx,
            init=spec.file.init,
            blocks={n: b.spec for n, b in spec.blocks.items()},
            training=variant.training,
            left_out_merges=self.left_out_merges,
        )

    def _input_shape(self, ctx: dict[str, Any]) -> tuple[int, ...]:
        raw = self.variant.input
        span = self.variant.input_span
        values = []
        for i, item in enumerate(raw):
            item_span = raw.item_span(i) if isinstance(raw, LocList) else span
            value = self.value(item, ctx, item_span)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                self.reporter.error(
                    "E-INPUT",
                    f"input sizes must be positive integers, got {quote(value)}",
                    item_span,
                )
                value = 1
            elif value > MAX_SIZE:
                self.reporter.error(
                    "E-LIMIT-SIZE",
                    f"input size {value:,} is above archc's limit of {MAX_SIZE:,}",
                    item_span,
                )
                value = 1
            values.append(value)
        if len(values) not in (1, 3):
            self.reporter.error(
                "E-INPUT",
                f"input must be [channels, height, width] (or [features]), got {list(raw)}",
                span,
            )
        return tuple(values)

    # --- scopes -----------------------------------------------------------------------
    def scope(self, entries: Any, scope: Scope, input_id: int | None) -> int | None:
        """Expand a list of entries in order; return the id of its output node."""
        scope.names["input"] = input_id
        scope.container.input = input_id if input_id is not None else 0
        for entry in entries:
            if isinstance(entry, LocDict) and isinstance(entry.get("name"), str):
                scope.declared.setdefault(entry["name"], entry.value_span("name"))
        previous = input_id
        for i, entry in enumerate(entries):
            span = entries.item_span(i) if isinstance(entries, LocList) else scope.container.span
            previous = self.entry(entry, span, scope, previous)
            if self.limit_hit:
                break
        if previous is not None:
            scope.container.output = previous
        return previous

    def entry(self, entry: Any, span: Span, scope: Scope, previous: int | None) -> int | None:
        """Expand one entry of a layers list; return its output node id."""
        if isinstance(entry, str):
            return self._string_entry(entry.strip(), span, scope, previous)
        if not isinstance(entry, LocDict):
            self.reporter.error(
                "E-ENTRY",
                f"a layer entry is a name (`relu`, `conv3-64`) or a mapping with a type, "
                f"not {type(entry).__name__} {quote(entry)}",
                span,
            )
            return None
        if "name" in entry and not self._valid_name(entry["name"], entry.value_span("name")):
            return None
        if "names" in entry and "repeat" not in entry:
            self.reporter.error(
                "E-UNKNOWN-FIELD",
                f"{self._entry_label(entry, scope)}: 'names' names the copies of a `repeat`; "
                "this entry has none",
                entry.key_span("names"),
            )
            return None
        name = entry.get("name")
        inputs = self._inputs(entry, scope, previous)
        if "when" in entry:
            keep = self.value(entry["when"], scope.ctx, entry.value_span("when"))
            if keep is _FAILED:
                return None
            if keep is _UNKNOWN:
                keep = True  # checked as if kept; its output is unknown either way
            if not isinstance(keep, bool):
                self.reporter.error(
                    "E-TYPE",
                    f"{self._entry_label(entry, scope)}: when: expected true or false, "
                    f"got {quote(keep)}",
                    entry.value_span("when"),
                )
                return None
            if not keep:
                # A left-out entry stands for its (first) input, so references still work.
                bypass = inputs[0] if inputs else None
                if len(inputs) > 1 and all(i is not None for i in inputs):
                    label = self._entry_label(entry, scope)
                    self.left_out_merges.append((label, entry.span, list(inputs)))
                if name is not None:
                    scope.names[name] = bypass
                return bypass
        doc = entry.get("doc")
        if doc is not None and not isinstance(doc, str):
            self.reporter.error(
                "E-TYPE",
                f"{self._entry_label(entry, scope)}: doc: expected text, got {quote(doc)} "
                "(quote it to keep it as written)",
                entry.value_span("doc"),
            )
        # Entries whose inputs failed are still checked (type, fields), but not shaped, so
        # one mistake does not hide the others nor cascade into spurious shape errors.
        children = scope.container.children
        made = len(children)
        if "repeat" in entry:
            output = self._repeat(entry, scope, inputs)
        else:
            output = self._single(entry, scope, inputs, index=None)
        if isinstance(doc, str) and doc.strip() and len(children) > made:
            # The first thing the entry made (its Sequential, when a named entry repeats).
            children[made].doc = doc
        if name is not None:
            scope.names[name] = output
        return output

    def _string_entry(
        self, text: str, span: Span, scope: Scope, previous: int | None
    ) -> int | None:
        if text.startswith("$"):
            value = self.value(text, scope.ctx, span)
            if value is _FAILED or value is _UNKNOWN:
                return None
            if isinstance(value, list):
                for i, item in enumerate(value):
                    item_span = value.item_span(i) if isinstance(value, LocList) else span
                    previous = self.entry(item, item_span, scope, previous)
                return previous
            if not isinstance(value, (str, LocDict)):
                self.reporter.error("E-ENTRY", f"'{text}' is {quote(value)}, not a layer", span)
                return None
            return self.entry(value, span, scope, previous)
        if text in REGISTRY or text in self.spec.blocks:
            entry = LocDict(span)
            entry["type"] = text
            entry.key_spans["type"] = entry.value_spans["type"] = span
            return self.entry(entry, span, scope, previous)
        notation = match_notation(text)
        if notation is None:
            choices = [*REGISTRY, *self.spec.blocks]
            self.reporter.error(
                "E-UNKNOWN-KIND",
                f"unknown layer {quote(text)}: not a layer kind, a block, or paper notation "
                "(conv3-64, conv1-256, maxpool, LRN, FC-4096, soft-max)",
                span,
                did_you_mean(text, choices),
            )
            return None
        kind, fields = notation
        entry = LocDict(span)
        entry["type"] = kind.type
        entry.update(fields)
        for key in entry:
            entry.key_spans[key] = entry.value_spans[key] = span
        output = self.entry(entry, span, scope, previous)
        after = self.variant.notation.get(kind.type) or []
        for i, extra in enumerate(after):
            extra_span = after.item_span(i) if isinstance(after, LocList) else span
            output = self.entry(extra, extra_span, scope, output)
        return output

    # --- names and inputs ---------------------------------------------------------
    def _valid_name(self, name: Any, span: Span) -> bool:
        problem = layer_name_problem(name)
        if problem:
            self.reporter.error("E-NAME-INVALID", problem, span)
            return False
        return True

    @staticmethod
    def _entry_label(entry: LocDict, scope: Scope | None = None) -> str:
        """How a diagnostic names an entry before it is expanded: `conv 'conv1'`, or its
        type and scope when it has no name (the span gives the line)."""
        kind = entry.get("type") if isinstance(entry.get("type"), str) else "entry"
        if isinstance(entry.get("name"), str):
            return f"{kind} '{entry['name']}'"
        if scope is not None and scope.container.path:
            return f"{kind} in '{scope.container.path}'"
        return kind

    def _inputs(self, entry: LocDict, scope: Scope, previous: int | None) -> list[int | None]:
        if "inputs" not in entry:
            return [previous]
        raw = entry["inputs"]
        names = [raw] if isinstance(raw, str) else raw
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            self.reporter.error(
                "E-TYPE",
                f"{self._entry_label(entry, scope)}: inputs: expected a name or a list of names",
                entry.value_span("inputs"),
            )
            return [None]
        result = []
        for i, name in enumerate(names):
            span = names.item_span(i) if isinstance(names, LocList) else entry.value_span("inputs")
            if name in scope.names:
                result.append(scope.names[name])
            elif name in scope.declared:
                later = scope.declared[name]
                self.reporter.error(
                    "E-CYCLE",
                    f"{self._entry_label(entry, scope)}: input '{name}' is defined later "
                    f"(line {later.line}); an entry can only "
                    "read earlier entries, or the graph would have a cycle",
                    span,
                )
                result.append(None)
            elif name in scope.generated:
                where = scope.generated[name]
                self.reporter.error(
                    "E-NAME-UNDEFINED",
                    f"{self._entry_label(entry, scope)}: input '{name}' is a generated name "
                    f"(of the unnamed entry at line {where.line}); generated names can't be "
                    "referenced, since inserting a layer would renumber them",
                    span,
                    f"name that entry (`name: my_{name}`) and write `inputs: [my_{name}]`",
                )
                result.append(None)
            else:
                known = [n for n in scope.names if n]
                self.reporter.error(
                    "E-NAME-UNDEFINED",
                    f"{self._entry_label(entry, scope)}: input '{name}' is not defined in "
                    "this scope",
                    span,
                    did_you_mean(name, known),
                    "names visible here: " + ", ".join(sorted(known)),
                )
                result.append(None)
        return result

    def _child_name(
        self, entry: LocDict, scope: Scope, default: str, held: bool = False
    ) -> str | None:
        """The entry's name in its scope; `held`: a tensor the container holds."""
        name = entry.get("name")
        container = scope.container
        if name is None:
            if scope.sequential and not held:
                name = str(len(container.children) - scope.held)
            else:
                n = scope.counters.get(default, 0)
                name = default if n == 0 else f"{default}_{n}"
                while name in scope.used or name in scope.declared or layer_name_problem(name):
                    n += 1
                    name = f"{default}_{n}"
                scope.counters[default] = n + 1
            scope.generated[name] = entry.span
        elif name in scope.used:
            self.reporter.error(
                "E-NAME-DUPLICATE",
                f"name '{name}' is already used in this scope",
                entry.value_span("name"),
            )
            return None
        scope.used.add(name)
        scope.held += held
        return name

    def _path(self, container: Module, name: str) -> str:
        return f"{container.path}.{name}" if container.path else name

    # --- kinds of entries ---------------------------------------------------------
    def _single(
        self, entry: LocDict, scope: Scope, inputs: list[int | None], index: int | None
    ) -> int | None:
        type_name = entry.get("type")
        if isinstance(type_name, str) and type_name.startswith("$"):
            type_name = self.value(type_name, scope.ctx, entry.value_span("type"))
            if type_name is _FAILED or type_name is _UNKNOWN:
                return None
        if type_name is None and "layers" in entry or type_name == "sequential":
            return self._sequential(entry, scope, inputs)
        if type_name is None:
            self.reporter.error(
                "E-MISSING-FIELD",
                "entry has no 'type' (a layer kind, a block name, or `sequential`)",
                entry.span,
            )
            return None
        if not isinstance(type_name, str):
            self.reporter.error(
                "E-TYPE", f"type: expected a name, got {quote(type_name)}", entry.value_span("type")
            )
            return None
        if type_name in self.spec.blocks:
            return self._block(type_name, entry, scope, inputs)
        kind = REGISTRY.get(type_name)
        if kind is None:
            self.reporter.error(
                "E-UNKNOWN-KIND",
                f"unknown layer type '{type_name}'",
                entry.value_span("type"),
                did_you_mean(type_name, [*REGISTRY, *self.spec.blocks, "sequential"]),
            )
            return None
        return self._layer(kind, entry, scope, inputs)

    def _layer(
        self, kind: LayerKind, entry: LocDict, scope: Scope, inputs: list[int | None]
    ) -> int | None:
        if len(self.nodes) > MAX_LAYERS:  # nodes[0] is the input, not a layer
            self._limit(entry.span)
            return None
        bad_keys = [k for k in entry if k in ("repeat", "overrides", "layers")]
        raw_fields = {k: v for k, v in entry.items() if k not in ENTRY_KEYS}
        # Before naming, an unnamed entry is known by its kind and where it is (the span
        # gives the line); "conv 'network'" would read as if the network were the conv.
        label = (
            f"{kind.type} '{entry['name']}'"
            if entry.get("name")
            else f"{kind.type} in '{scope.container.path}'"
            if scope.container.path
            else kind.type
        )
        if bad_keys:
            self.reporter.error(
                "E-UNKNOWN-FIELD",
                f"{label}: '{bad_keys[0]}' does not apply to a single layer",
                entry.key_span(bad_keys[0]),
            )
            return None
        count = len(inputs)
        if count < kind.min_inputs or (kind.max_inputs is not None and count > kind.max_inputs):
            want = (
                f"at least {kind.min_inputs}" if kind.max_inputs is None else str(kind.min_inputs)
            )
            self.reporter.error(
                "E-INPUTS",
                f"{label} takes {want} input(s), got {count}",
                entry.value_span("inputs") if "inputs" in entry else entry.span,
            )
            return None
        values = {}
        literals = _literals(kind)
        for key, value in raw_fields.items():
            if isinstance(value, str) and value.lower() in literals.get(key, ()):
                values[key] = value
                continue
            if (
                key in literals
                and isinstance(value, str)
                and value.strip().isidentifier()
                and value.strip() not in scope.ctx
            ):
                # A misspelled word (`padding: full`) is not an unknown parameter.
                options = ", ".join(f"'{v}'" for v in sorted(literals[key]))
                self.reporter.error(
                    "E-FIELD-VALUE",
                    f"{label}: {key}: '{value}' is not one of {options} (nor a parameter)",
                    entry.value_span(key),
                    did_you_mean(value.lower(), literals[key]),
                )
                values[key] = _FAILED
                continue
            values[key] = self.value(value, scope.ctx, entry.value_span(key))
        if any(v is _FAILED or v is _UNKNOWN for v in values.values()):
            return None  # an unknown value (read from an unknown volume) is not checked
        fields = self._fields(kind, values, entry, label)
        if fields is None:
            return None
        if any(i is None for i in inputs):
            inputs = self._recovered(kind, fields, inputs)
            if inputs is None:
                return None
        name = self._child_name(entry, scope, kind.type, kind.held_by_parent)
        if name is None:
            return None
        path = self._path(scope.container, name)
        label = f"{kind.type} '{path}'"
        shapes = [self.nodes[i].shape for i in inputs]
        known = self._shape(kind, fields, shapes, entry, label)
        if known is None:
            return None
        shape, uneven = known
        if uneven:
            self.reporter.warning(
                "W-UNEVEN-WINDOW",
                f"{label}: window does not tile its {fmt_shape(shapes[0])} input: {uneven}",
                entry.span,
            )
        init = _init_of(entry, scope)
        trainable = self._trainable(entry, scope, label)
        if trainable is None:
            return None
        node = Node(
            id=len(self.nodes),
            kind=MERGE if kind.max_inputs is None else LAYER,
            name=name,
            path=path,
            shape=shape,
            span=entry.span,
            layer=kind,
            fields=fields,
            inputs=list(inputs),
            parent=scope.container,
            trainable=trainable,
            init=init[0] if init else None,
            init_span=init[1] if init else None,
        )
        self.nodes.append(node)
        scope.container.children.append(node)
        return node.id

    def _recovered(self, kind: LayerKind, fields: Any, inputs: list[int | None]) -> list | None:
        """After an error, the inputs a merge can go on with when some of its inputs are
        unknown (a misspelled or forward reference), or None to leave its output unknown.

        As a type checker goes on past a failed expression, a merge whose rule gives its
        known input's volume back for any number of copies of it (an add) has that volume
        whatever the missing inputs were, so later, independent mistakes still surface.
        Other kinds stay unknown rather than guess (a concat's width would be a guess)."""
        known = [i for i in inputs if i is not None]
        if not known or not self.reporter.errors:
            return None
        shape = self.nodes[known[0]].shape
        try:
            if kind.infer(fields, [shape] * len(inputs)) != shape:
                return None
        except ShapeError:
            return None
        return [known[0] if i is None else i for i in inputs]

    def _fields(self, kind: LayerKind, values: dict[str, Any], entry: LocDict, label: str) -> Any:
        """The kind's validated fields for these values (shared between equal values), or
        None after reporting why they are invalid."""
        key = block_memo.frozen((kind.type, values), located=False)
        fields = self.fields_memo.get(key) if key is not None else None
        if fields is None:
            try:
                fields = kind.Fields.model_validate(values)
            except ValidationError as exc:
                report_validation(exc, kind.Fields, entry, self.reporter, entry.span, label)
                return None
            if key is not None:
                self.fields_memo[key] = fields
        return fields

    def _shape(
        self, kind: LayerKind, fields: Any, shapes: list[Shape], entry: LocDict, label: str
    ) -> tuple[Shape, str | None] | None:
        """The output volume and uneven-window remark, or None after reporting a problem."""
        # Equal values share one fields object (see _fields); the memo keeps each fields
        # object it has seen alive, so an id() in its keys is never reused for another.
        key = (id(fields), *shapes)
        known = self.shape_memo.get(key)
        if known is not None:
            return known[0], known[1]
        try:
            shape = kind.infer(fields, shapes)
        except ShapeError as exc:
            span = entry.value_span(exc.field) if exc.field in entry else entry.span
            if exc.field == "inputs" and "inputs" in entry:
                span = entry.value_span("inputs")
            self.reporter.error(exc.code, f"{label}: {exc.message}", span)
            return None
        if min(shape) < 1:
            self.reporter.error(
                "E-SHAPE-EMPTY",
                f"{label}: the volume shrinks to nothing ({fmt_shape(shapes[0])} -> "
                f"{fmt_shape(shape)})",
                entry.span,
            )
            return None
        if max(shape) > MAX_SIZE:
            # Absurd sizes would make the counts (and any generated model) exhaust memory.
            self.reporter.error(
                "E-LIMIT-SIZE",
                f"{label}: output volume {fmt_shape(shape)} has a size above archc's limit of "
                f"{MAX_SIZE:,}",
                entry.span,
            )
            return None
        uneven = kind.uneven(fields, shapes)
        self.shape_memo[key] = (shape, uneven, fields)
        return shape, uneven

    def _sequential(self, entry: LocDict, scope: Scope, inputs: list[int | None]) -> int | None:
        extra = [k for k in entry if k not in ENTRY_KEYS]
        if extra:
            self.reporter.error(
                "E-UNKNOWN-FIELD",
                f"sequential: unknown field '{extra[0]}'",
                entry.key_span(extra[0]),
                "a sequential takes name, inputs, when and layers",
            )
            return None
        body = entry.get("layers")
        if isinstance(body, str):
            body = self.value(body, scope.ctx, entry.value_span("layers"))
            if body is _FAILED or body is _UNKNOWN:
                return None
        if not isinstance(body, list):
            self.reporter.error(
                "E-TYPE",
                f"layers: expected a list of layers, got {quote(body)}",
                entry.value_span("layers"),
            )
            return None
        name = self._child_name(entry, scope, "sequential")
        if name is None:
            return None
        module = Module(
            "sequential",
            name,
            self._path(scope.container, name),
            entry.span,
            parent=scope.container,
        )
        scope.container.children.append(module)
        trainable = self._trainable(entry, scope, f"sequential '{module.path}'")
        if trainable is None:
            return None
        inner = Scope(
            module, sequential=True, ctx=scope.ctx, trainable=trainable, init=_init_of(entry, scope)
        )
        return self.scope(body, inner, inputs[0] if len(inputs) == 1 else None)

    def _trainable(self, entry: LocDict, scope: Scope, label: str) -> bool | None:
        """The entry's `trainable` (an expression, so `--set` can freeze), else its scope's."""
        if "trainable" not in entry:
            return scope.trainable
        value = self.value(entry["trainable"], scope.ctx, entry.value_span("trainable"))
        if value is _FAILED or value is _UNKNOWN:
            return None
        if not isinstance(value, bool):
            self.reporter.error(
                "E-TYPE",
                f"{label}: trainable: expected true or false, got {quote(value)}",
                entry.value_span("trainable"),
            )
            return None
        return value

    def _repeat(self, entry: LocDict, scope: Scope, inputs: list[int | None]) -> int | None:
        span = entry.value_span("repeat")
        count = self.value(entry["repeat"], scope.ctx, span)
        if count is _FAILED:
            return None
        if count is _UNKNOWN or any(i is None for i in inputs):
            # The volume is unknown (an earlier error): check one copy, as written.
            if count is _UNKNOWN or (isinstance(count, int) and 0 < count <= MAX_REPEAT):
                template = _without(entry, ("repeat", "overrides", "name", "inputs"))
                saved = scope.ctx
                scope.ctx = dict(saved, index=0)
                try:
                    self._single(template, scope, [None], 0)
                finally:
                    scope.ctx = saved
            if count is _UNKNOWN:
                return None
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            self.reporter.error(
                "E-FIELD-VALUE",
                f"{self._entry_label(entry, scope)}: repeat: expected a count "
                f"of 0 or more, got {quote(count)}",
                span,
            )
            return None
        if any(i is None for i in inputs):
            return None
        layers = len(self.nodes) - 1  # nodes[0] is the input
        if count > MAX_REPEAT or layers + count > MAX_LAYERS:
            limit = (
                f"archc's limit of {MAX_REPEAT:,}"
                if count > MAX_REPEAT
                else f"the {MAX_LAYERS - layers:,} layers left of archc's limit of "
                f"{MAX_LAYERS:,} per network"
            )
            self.reporter.error(
                "E-LIMIT-REPEAT",
                f"{self._entry_label(entry, scope)}: repeat: {count:,} copies is more than {limit}",
                span,
            )
            return None
        overrides = self._overrides(entry, count)
        if overrides is None:
            return None
        template = _without(entry, ("repeat", "overrides", "name", "inputs", "names"))
        target, previous = scope, inputs[0] if inputs else None
        if "name" in entry:
            name = self._child_name(entry, scope, "")
            if name is None:
                return None
            module = Module(
                "sequential",
                name,
                self._path(scope.container, name),
                entry.span,
                parent=scope.container,
            )
            scope.container.children.append(module)
            target = Scope(
                module,
                sequential=True,
                ctx=scope.ctx,
                trainable=scope.trainable,
                init=_init_of(entry, scope),
            )
            module.input = previous if previous is not None else 0
        saved = target.ctx
        try:
            for index in range(count):
                # `index` is visible to the copy's expressions (and its block's body).
                target.ctx = dict(saved, index=index)
                copy = _merged(template, overrides.get(index))
                if "names" in entry:
                    copy = self._named_copy(copy, entry, target.ctx)
                    if copy is None:
                        return None
                previous = self._single(copy, target, [previous], index)
                if previous is None or self.limit_hit:
                    return None
        finally:
            target.ctx = saved
        if target is not scope and previous is not None:
            target.container.output = previous
        return previous

    def _named_copy(self, copy: LocDict, entry: LocDict, ctx: dict[str, Any]) -> LocDict | None:
        """The copy with the name `names:` gives it (`denselayer{index + 1}`), or None after
        reporting why that name cannot be made."""
        span = entry.value_span("names")
        template = entry["names"]
        if not isinstance(template, str):
            self.reporter.error(
                "E-TYPE",
                f"{self._entry_label(entry)}: names: expected text such as "
                f"'layer{{index + 1}}', got {template!r}",
                span,
            )
            return None
        pieces = _template_parts(template)
        if pieces is None:
            self.reporter.error(
                "E-TYPE",
                f"names: '{template}' has a brace without its pair; expressions go in "
                "braces: 'layer{index + 1}'",
                span,
            )
            return None
        parts = []
        for text, expression in pieces:
            parts.append(text)
            if expression is None:
                continue
            value = self.value(expression, ctx, span)
            if value is _FAILED:
                return None
            if not isinstance(value, (int, str)) or isinstance(value, bool):
                self.reporter.error(
                    "E-TYPE",
                    f"names: '{{{expression}}}' is {value!r}; a name is made of text and "
                    "whole numbers",
                    span,
                )
                return None
            parts.append(str(value))
        name = "".join(parts)
        problem = copy_name_problem(name)
        if problem:
            self.reporter.error("E-NAME-INVALID", f"names: {problem}", span)
            return None
        named = _without(copy, ())
        named["name"] = name
        named.key_spans["name"] = entry.key_span("names")
        named.value_spans["name"] = span
        return named

    def _overrides(self, entry: LocDict, count: int) -> dict[int, LocDict] | None:
        raw = entry.get("overrides")
        if raw is None:
            return {}
        if not isinstance(raw, LocDict):
            self.reporter.error(
                "E-TYPE",
                f"{self._entry_label(entry)}: overrides: expected a "
                "mapping {index: {field: value}}",
                entry.value_span("overrides"),
            )
            return None
        result = {}
        for key, change in raw.items():
            try:
                index = int(key)
            except ValueError:
                index = None
            if index is None or not -count <= index < count:
                self.reporter.error(
                    "E-FIELD-VALUE",
                    f"{self._entry_label(entry)}: overrides: '{key}' is not a copy index "
                    f"(0..{count - 1}, or negative)",
                    raw.key_span(key),
                )
                return None
            if not isinstance(change, LocDict):
                self.reporter.error(
                    "E-TYPE",
                    f"{self._entry_label(entry)}: overrides: {key}: expected a mapping of fields",
                    raw.value_span(key),
                )
                return None
            result[index % count] = change
        return result

    def _block(
        self, block_name: str, entry: LocDict, scope: Scope, inputs: list[int | None]
    ) -> int | None:
        block = self.spec.blocks[block_name]
        label = f"block '{block_name}'"
        if block_name in self.block_stack:
            chain = " -> ".join(self.block_stack + [block_name])
            self.reporter.error(
                "E-BLOCK-RECURSION",
                f"{label} instantiates itself: {chain}",
                entry.value_span("type"),
            )
            return None
        if len(self.block_stack) >= MAX_BLOCK_DEPTH:
            self.reporter.error(
                "E-LIMIT-DEPTH",
                f"blocks nest deeper than {MAX_BLOCK_DEPTH} levels",
                entry.value_span("type"),
            )
            return None
        if len(inputs) != 1:
            self.reporter.error(
                "E-INPUTS",
                f"{label} takes one input, got {len(inputs)}",
                entry.value_span("inputs"),
            )
            return None
        declared = block.spec.params
        args = {k: v for k, v in entry.items() if k not in ENTRY_KEYS}
        ok = True
        for key in args:
            if key not in declared:
                self.reporter.error(
                    "E-BLOCK-ARGS",
                    f"{label} has no parameter '{key}'",
                    entry.key_span(key),
                    did_you_mean(key, declared),
                    "parameters: " + (", ".join(declared) or "none"),
                )
                ok = False
        for key, default in declared.items():
            if default is None and key not in args:
                self.reporter.error(
                    "E-BLOCK-ARGS", f"{label} needs a value for '{key}'", entry.span
                )
                ok = False
        if not ok:
            return None
        input_shape = self.nodes[inputs[0]].shape if inputs[0] is not None else None
        ctx = dict(scope.ctx)
        ctx.pop("index", None)
        ctx.pop(_UNKNOWNS, None)  # recomputed for this block's own parameters
        values = {k: self.param_value(v, scope.ctx, entry.value_span(k)) for k, v in args.items()}
        if any(v is _FAILED for v in values.values()):
            return None
        ctx.update(values)
        ctx["in_channels"] = input_shape[0] if input_shape else _UNKNOWN
        ctx["in_shape"] = list(input_shape) if input_shape else _UNKNOWN
        if "index" in scope.ctx:
            ctx["index"] = scope.ctx["index"]
        raw_params = block.raw.get("params") or LocDict(block.span)
        for key, default in declared.items():
            if key not in values:
                value = self.param_value(default, _with_unknowns(ctx), raw_params.value_span(key))
                if value is _FAILED:
                    return None
                ctx[key] = values[key] = value
        if input_shape is None or any(v is _UNKNOWN for v in values.values()):
            return self._unshaped_block(block_name, entry, ctx)
        name = self._child_name(entry, scope, block_name)
        if name is None:
            return None
        module = Module(
            "block",
            name,
            self._path(scope.container, name),
            entry.span,
            block=block_name,
            args=values,
            parent=scope.container,
            numbered=block.spec.sequential,
        )
        scope.container.children.append(module)
        trainable = self._trainable(entry, scope, label)
        if trainable is None:
            return None
        init = _init_of(entry, scope)
        key = block_memo.instance_key(
            block_name, ctx, input_shape, trainable, init, self.block_stack, self._unread
        )
        template = self.block_memo.get(key) if key is not None else None
        if template is not None and len(self.nodes) + template.end - template.start <= (
            MAX_LAYERS + 1  # nodes[0] is the input
        ):
            offset = len(self.nodes) - template.start
            for label, where, ids in template.left_out:
                moved = [block_memo.moved_id(template, i, offset, inputs[0]) for i in ids]
                self.left_out_merges.append((label, where, moved))
            return block_memo.clone(template, module, inputs[0], self.nodes)
        inner = Scope(
            module, sequential=block.spec.sequential, ctx=ctx, trainable=trainable, init=init
        )
        start, reported = len(self.nodes), len(self.reporter.diagnostics)
        left_out_start = len(self.left_out_merges)
        self.block_stack.append(block_name)
        try:
            output = self.scope(block.raw["layers"], inner, inputs[0])
        finally:
            self.block_stack.pop()
        if output is not None and block.spec.output is not None:
            out_name = block.spec.output
            if out_name not in inner.names:
                self.reporter.error(
                    "E-NAME-UNDEFINED",
                    f"{label}: output '{out_name}' is not an entry of it",
                    block.raw.value_span("output"),
                    did_you_mean(out_name, inner.names),
                )
                return None
            output = inner.names[out_name]
            module.output = output if output is not None else module.output
        if (
            key is not None
            and output is not None
            and len(self.reporter.diagnostics) == reported
            and not self.limit_hit
            and block_memo.covers(module, start, len(self.nodes))
        ):
            self.block_memo[key] = block_memo.Template(
                module,
                start,
                len(self.nodes),
                inputs[0],
                output,
                keep=(ctx, init),
                left_out=self.left_out_merges[left_out_start:],
            )
        return output

    def _unshaped_block(self, block_name: str, entry: LocDict, ctx: dict) -> None:
        """Check a block's body whose input volume is unknown (an earlier entry failed), so
        a mistake before the block does not hide an independent one inside it. Values that
        read the unknown volume (`in_channels`) are unknown and not checked; nothing is
        added to the graph, which an earlier error has already condemned."""
        module = Module("block", "", "", entry.span, block=block_name)
        inner = Scope(module, sequential=False, ctx=_with_unknowns(ctx), trainable=True)
        self.block_stack.append(block_name)
        try:
            self.scope(self.spec.blocks[block_name].raw["layers"], inner, None)
        finally:
            self.block_stack.pop()
        return None

    # --- values ---------------------------------------------------------------------
    def value(self, value: Any, ctx: dict[str, Any], span: Span) -> Any:
        """Resolve a YAML value: strings are expressions (`$name` is a parameter)."""
        if isinstance(value, str):
            text = value.strip()
            unknown = ctx.get(_UNKNOWNS)
            if unknown and not unknown.isdisjoint(_WORD.findall(text)):
                return _UNKNOWN
            if text.startswith("$"):
                key = text[1:]
                if key in ctx:
                    return ctx[key]
                self.reporter.error(
                    "E-EXPR-NAME",
                    f"unknown parameter '{key}'",
                    span,
                    did_you_mean(key, ctx),
                )
                return _FAILED
            try:
                return evaluate(text, ctx, self.functions)
            except ExprError as exc:
                if isinstance(exc, BudgetExceeded):
                    if self.cost_reported:  # every later expression fails the same way
                        return _FAILED
                    self.cost_reported = True
                self.reporter.error(exc.code, str(exc), span)
                return _FAILED
        if isinstance(value, LocList):
            items = [self.value(item, ctx, value.item_span(i)) for i, item in enumerate(value)]
            if any(item is _FAILED for item in items):
                return _FAILED
            if any(item is _UNKNOWN for item in items):
                return _UNKNOWN
            result = LocList(value.span)
            result.extend(items)
            result.item_spans = list(value.item_spans)
            return result
        return value

    def param_value(self, value: Any, ctx: dict[str, Any], span: Span) -> Any:
        """A block parameter's value: a word a spec uses as text (`act: relu6`) as written,
        anything else resolved as `value` does."""
        if isinstance(value, str) and param_values.is_text(value, ctx, self.words):
            return value
        return self.value(value, ctx, span)

    def _limit(self, span: Span) -> None:
        if not self.limit_hit:
            self.limit_hit = True
            self.reporter.error(
                "E-LIMIT-LAYERS", f"network expands to more than {MAX_LAYERS:,} layers", span
            )


class _Failed:
    def __repr__(self) -> str:
        return "<failed>"


_FAILED = _Failed()


class _Unknown:
    def __repr__(self) -> str:
        return "<unknown>"


#: The value of an expression that reads an unknown volume (see Expander._unshaped_block):
#: not an error of its own, so it is reported nowhere and checked against nothing.
_UNKNOWN = _Unknown()
#: The context key naming the parameters whose values are unknown ("_" hides it from the
#: names an expression error lists).
_UNKNOWNS = "_unknown"
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _with_unknowns(ctx: dict[str, Any]) -> dict[str, Any]:
    """The context with its unknown parameters listed under _UNKNOWNS (for Expander.value)."""
    unknown = frozenset(k for k, v in ctx.items() if v is _UNKNOWN)
    if not unknown:
        return ctx
    return {**ctx, _UNKNOWNS: unknown}


def _template_parts(template: str) -> list[tuple[str, str | None]] | None:
    """`layer{index + 1}x` as [("layer", "index + 1"), ("x", None)]; None if a brace is
    left open or closed without opening."""
    parts = []
    for match in re.finditer(r"([^{}]*)(?:\{([^{}]*)\}|$)", template):
        if match.group(0) or match.group(2) is not None:
            parts.append((match.group(1), match.group(2)))
    rebuilt = "".join(t + ("" if e is None else "{" + e + "}") for t, e in parts)
    return parts if rebuilt == template else None


def _text_words(spec: Spec) -> set[str]:
    """Words a parameter may hold as text: layer kinds, blocks, and fields' literal words."""
    words = {*REGISTRY, *spec.blocks, "sequential"}
    for kind in REGISTRY.values():
        for values in _literals(kind).values():
            words |= values
    return words


def _literals(kind: LayerKind) -> dict[str, set[str]]:
    """String values a kind's fields accept as written (`padding: same`)."""
    cached = getattr(kind, "_literal_cache", None)
    if cached is None:
        # Read from the type annotations, not from model_json_schema(): generating a JSON
        # Schema costs ~10 ms per process, a twentieth of `archc check`'s start-up.
        cached = {}
        for name, field in kind.Fields.model_fields.items():
            values = _literal_strings(field.annotation)
            for meta in field.metadata:
                values |= _literal_strings(getattr(meta, "json_schema_input_type", None))
            if values:
                cached[name] = values
        kind._literal_cache = cached
    return cached


def _literal_strings(annotation: Any) -> set[str]:
    """The string members of every `Literal[...]` inside a type annotation."""
    if get_origin(annotation) is Literal:
        return {arg for arg in get_args(annotation) if isinstance(arg, str)}
    found: set[str] = set()
    for arg in get_args(annotation):
        found |= _literal_strings(arg)
    return found


def _without(entry: LocDict, keys: tuple[str, ...]) -> LocDict:
    result = LocDict(entry.span)
    for key, value in entry.items():
        if key not in keys:
            result[key] = value
            result.key_spans[key] = entry.key_span(key)
            result.value_spans[key] = entry.value_span(key)
    return result


def _merged(entry: LocDict, change: LocDict | None) -> LocDict:
    if not change:
        return entry
    result = _without(entry, ())
    for key, value in change.items():
        result[key] = value
        result.key_spans[key] = change.key_span(key)
        result.value_spans[key] = change.value_span(key)
    return result


def expand(spec: Spec, variant: Variant, reporter: Reporter) -> Graph:
    """Expand `variant` of `spec` into a shape-checked Graph; raise SpecError on errors.

    All of the expansion's expressions draw on one budget of steps (archc.spec.expr), so a
    cheap expression repeated a hundred thousand times is bounded as a whole."""
    with expression_budget():
        return Expander(spec, variant, reporter).run()


__all__ = ["expand", "Expander", "locate", "MAX_LAYERS", "MAX_REPEAT"]

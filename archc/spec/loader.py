"""Load a spec file (and the block files it imports) into a `Spec`, and pick a variant."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archc.diagnostics import Reporter, Span, SpecError, did_you_mean, quote
from archc.spec.functions import SpecFunction, load_functions
from archc.spec.model import ENTRY_KEYS, BlockFile, BlockSpec, SpecFile, VariantSpec
from archc.spec.names import (
    MAX_NAME_LENGTH,
    class_name_problem,
    layer_name_problem,
    param_name_problem,
    shadows_generated_code,
)
from archc.spec.source import LocDict, decode_text, parse_yaml, read_text
from archc.spec.validate import validate

if TYPE_CHECKING:
    from archc.training import Training

DEFAULT_VARIANT = "default"
MAX_IMPORT_DEPTH = 16

#: A network name: it names folders and appears in generated code, so plain ASCII only.
_NETWORK_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


@dataclass
class Block:
    """A block definition with its raw (located) data, for expansion."""

    name: str
    spec: BlockSpec
    raw: LocDict
    span: Span


@dataclass
class Variant:
    """One variant's resolved settings: parameters, input, class name, notation."""

    name: str
    params: dict[str, Any]
    param_spans: dict[str, Span]
    input: Any
    input_span: Span
    class_name: str
    notation: dict[str, Any]
    description: str
    #: The resolved `training:` settings, or None when neither spec nor variant has any.
    training: Training | None = None


@dataclass
class Spec:
    """A loaded, structurally valid spec file: the starting point of every command."""

    path: Path
    display: str
    file: SpecFile
    raw: LocDict
    blocks: dict[str, Block] = field(default_factory=dict)
    #: Its `functions:` and those of the files it imports, by name, with where each is.
    functions: dict[str, SpecFunction] = field(default_factory=dict)
    #: Problems with function definitions: reported with each variant's analysis, so a
    #: bad function leaves the rest of the spec checked (a call to it says it is unknown).
    function_problems: list = field(default_factory=list)
    function_spans: dict[str, Span] = field(default_factory=dict)

    @property
    def network(self) -> str:
        """The network's name."""
        return self.file.network

    def variant_names(self) -> list[str]:
        """Variant names, the default first."""
        names = list(self.file.variants) or [DEFAULT_VARIANT]
        default = self.default_variant()
        return [default] + [n for n in names if n != default]

    def default_variant(self) -> str:
        """The variant used when none is asked for."""
        if self.file.default is not None:
            return self.file.default
        return next(iter(self.file.variants), DEFAULT_VARIANT)

    def variant(
        self, name: str | None, reporter: Reporter, overrides: dict[str, Any] | None = None
    ) -> Variant:
        """Resolve a variant's settings (following `extends`); raise SpecError if unknown.

        `overrides` are command-line settings (`--set num_classes=10`), applied last: keys
        name the spec's parameters, or `training.FIELD` for a training setting.
        """
        name = self.default_variant() if name is None else str(name)
        variants = self.file.variants
        raw_variants = self.raw.get("variants") or LocDict(self.raw.span)
        if variants and name not in variants or not variants and name != DEFAULT_VARIANT:
            known = ", ".join(self.variant_names())
            # A name from the command line has no place in the file: point at the variants.
            span = (
                self.raw.value_span("default")
                if name == self.file.default
                else self.raw.key_span("variants")
            )
            reporter.error(
                "E-UNKNOWN-VARIANT",
                f"network '{self.network}' has no variant '{name}' (variants: {known})",
                span,
                did_you_mean(name, self.variant_names()),
            )
            raise SpecError(reporter.diagnostics)
        chain: list[str] = []
        current: str | None = name if variants else None
        while current is not None:
            if current in chain:
                # Told from the cycle's first variant in the file, whichever variant was
                # asked for, so checking each variant reports the cycle once.
                cycle = chain[chain.index(current) :]
                order = list(variants)
                start = cycle.index(min(cycle, key=order.index))
                cycle = cycle[start:] + cycle[:start]
                reporter.error(
                    "E-VARIANT-CYCLE",
                    f"variant '{cycle[0]}' extends itself through "
                    + " -> ".join([*cycle, cycle[0]]),
                    raw_variants.value_span(cycle[0]),
                )
                raise SpecError(reporter.diagnostics)
            if current not in variants:
                reporter.error(
                    "E-UNKNOWN-VARIANT",
                    f"variant '{chain[-1]}' extends unknown variant '{current}'",
                    raw_variants[chain[-1]].value_span("extends"),
                    did_you_mean(current, variants),
                )
                raise SpecError(reporter.diagnostics)
            chain.append(current)
            current = variants[current].extends
        params = dict(self.file.params)
        spans = {k: self.raw["params"].value_span(k) for k in params} if params else {}
        # The raw (located) lists, so that a bad size is reported at the size itself.
        input_value, input_span = (
            self.raw.get("input", self.file.input),
            self.raw.value_span("input"),
        )
        class_name = self.file.class_name
        class_span = self.raw.value_span("class_name")
        notation = dict(self.file.notation)
        description = self.file.description
        training = _training_dump(self.file.training)
        for vname in reversed(chain):
            v: VariantSpec = variants[vname]
            raw = raw_variants[vname]
            raw_params = raw.get("params") or LocDict(raw.span)
            for key, value in v.params.items():
                if key not in self.file.params:
                    reporter.error(
                        "E-UNKNOWN-PARAM",
                        f"variant '{vname}' sets '{key}', which the spec's params do not declare",
                        raw_params.key_span(key),
                        did_you_mean(key, self.file.params),
                    )
                    continue
                params[key] = value
                spans[key] = raw_params.value_span(key)
            if v.input is not None:
                input_value, input_span = raw.get("input", v.input), raw.value_span("input")
            if v.class_name is not None:
                class_name = v.class_name
                class_span = raw.value_span("class_name")
            if v.notation is not None:
                notation = dict(v.notation)
            if v.description:
                description = v.description
            if v.training is not None:
                from archc.training import merge_training

                training = merge_training(training, _training_dump(v.training))
        if overrides:
            training = self._override(overrides, params, spans, training, reporter)
        reporter.check()
        if class_name is not None:
            problem = class_name_problem(class_name)
            if problem:
                reporter.error("E-NAME-INVALID", f"class_name: {problem}", class_span)
                raise SpecError(reporter.diagnostics)
        if class_name is None or not variants:
            base = class_name or _identifier(self.network).upper()
            class_name = base if not variants else f"{base}_{_identifier(name).upper()}"
            while shadows_generated_code(class_name):
                # A derived name that would shadow a helper (network `rbf`: class `RBF`).
                class_name += "_"
        return Variant(
            name,
            params,
            spans,
            input_value,
            input_span,
            class_name,
            notation,
            description,
            self._training(training, reporter),
        )

    def _override(
        self,
        overrides: dict[str, Any],
        params: dict[str, Any],
        spans: dict[str, Span],
        training: dict[str, Any] | None,
        reporter: Reporter,
    ) -> dict[str, Any] | None:
        """Apply `--set KEY=VALUE` settings to the resolved parameters and training."""
        # A command-line value has no place in the file; point at what it replaces.
        where = self.raw.key_span("params") if "params" in self.raw else Span(self.display)
        for key, value in overrides.items():
            if key.startswith("training."):
                path = key.split(".")[1:]
                change: dict[str, Any] = {}
                node = change
                for part in path[:-1]:
                    node = node.setdefault(part, {})
                node[path[-1]] = value
                from archc.training import merge_training

                training = merge_training(training, change)
            elif key in self.file.params:
                params[key] = value
                spans[key] = where
            else:
                reporter.error(
                    "E-UNKNOWN-PARAM",
                    f"--set {key}: network '{self.network}' has no parameter '{key}' "
                    f"(parameters: {', '.join(self.file.params) or 'none'})",
                    where,
                    did_you_mean(key, [*self.file.params, "training."]),
                )
        return training

    def _training(self, settings: dict[str, Any] | None, reporter: Reporter) -> Training | None:
        """Validate the merged training settings (a variant or --set may have changed them)."""
        if settings is None:
            return None
        raw = self.raw.get("training")
        span = self.raw.value_span("training") if raw is not None else Span(self.display)
        from archc.training import Training

        result = validate(Training, settings, reporter, span, "training")
        reporter.check()
        return result


def _validate_training_sections(
    file: SpecFile | None, raw: LocDict, reporter: Reporter, display: str
) -> None:
    """Check the spec's and each variant's `training:` against archc.training's models, and
    put the validated settings in `file`. Those models are imported (and built) only here,
    for specs that have such a section: most do not, and `archc check` starts faster."""
    sections: list[tuple[str, ...]] = []
    if isinstance(raw.get("training"), LocDict):
        sections.append(("training",))
    variants = raw.get("variants")
    if isinstance(variants, LocDict):
        for name, variant in variants.items():
            if isinstance(variant, LocDict) and isinstance(variant.get("training"), LocDict):
                sections.append(("variants", name, "training"))
    if not sections:
        return
    from archc.training import Training

    for path in sections:
        what = f"spec '{display}'" if len(path) == 1 else f"variant '{path[1]}'"
        settings = validate(Training, raw, reporter, raw.span, what, path)
        if file is None or settings is None:
            continue
        if len(path) == 1:
            file.training = settings
        else:
            file.variants[path[1]].training = settings


def _training_dump(training: Training | None) -> dict[str, Any] | None:
    """The settings a `training:` section states (defaults left out, so merging keeps the
    base's values for what a variant does not mention)."""
    return None if training is None else training.model_dump(exclude_unset=True)


def _valid_params(block: str, raw: LocDict, reporter: Reporter) -> bool:
    """Whether every parameter name of a block can be a parameter of its generated class's
    `__init__`; report each one that cannot, at the name."""
    params = raw.get("params")
    ok = True
    for key in params if isinstance(params, LocDict) else ():
        problem = param_name_problem(key, ENTRY_KEYS.keys())
        if problem is not None:
            reporter.error(
                "E-NAME-INVALID", f"block '{block}': parameter {problem}", params.key_span(key)
            )
            ok = False
    return ok


def _identifier(text: str) -> str:
    out = "".join(c if c.isascii() and c.isalnum() else "_" for c in text)
    out = "_".join(part for part in out.split("_") if part) or "net"
    return out if not out[0].isdigit() else f"N{out}"


#: Longest build folder name: far below the 255 bytes file systems allow, with room for
#: the hidden staging names built beside it (`.NAME.staging-PID-XXXXXXXX`).
MAX_FOLDER_NAME = 96
#: Hex digits of the hash that ends a shortened folder name.
FOLDER_HASH_LENGTH = 10


def folder_name(network: str, variant: str) -> str:
    """The build folder of a variant: network and variant, lower case, runs of other
    characters replaced by `_` (CONTRACT.md).

    A name longer than MAX_FOLDER_NAME is cut and ends in `_` and a short hash of the
    network and variant as written, so long variant names keep distinct folders; a name
    with nothing left (a variant of punctuation alone) becomes `archc_` and that hash.
    """
    import hashlib
    import re

    name = re.sub(r"[^a-z0-9]+", "_", f"{network}_{variant}".lower()).strip("_")
    if name and len(name) <= MAX_FOLDER_NAME:
        return name
    text = f"{network}\0{variant}".encode(errors="surrogatepass")
    digest = hashlib.sha256(text).hexdigest()[:FOLDER_HASH_LENGTH]
    head = name[: MAX_FOLDER_NAME - FOLDER_HASH_LENGTH - 1].rstrip("_") or "archc"
    return f"{head}_{digest}"


def load_spec(
    path: str | os.PathLike,
    reporter: Reporter | None = None,
    data: bytes | None = None,
    import_root: str | os.PathLike | None = None,
) -> Spec:
    """Read, parse and structurally validate a spec and its imports; raise SpecError.

    `data`: the spec's bytes, when they come from elsewhere than the file (an editor's
    unsaved buffer on standard input); `path` then names it and places its imports.
    `import_root`: the folder `imports:` may read from (and below); by default the spec's
    own folder. Nothing outside it is read, whatever the paths or symbolic links say.
    """
    reporter = reporter or Reporter()
    path = Path(path)
    display = str(path)
    root = _import_root(path, import_root, reporter)
    if data is None:
        text = read_text(path, display, reporter)
    else:
        text = decode_text(data, display, reporter)
    raw = parse_yaml(text, display, reporter) if text is not None else None
    reporter.check()
    if raw is None:  # parse_yaml reported why
        raise SpecError(reporter.diagnostics)
    file = validate(SpecFile, raw, reporter, raw.span, f"spec '{display}'")
    _validate_training_sections(file, raw, reporter, display)
    reporter.check()
    if len(file.network) > MAX_NAME_LENGTH or not _NETWORK_NAME.fullmatch(file.network):
        reporter.error(
            "E-NAME-INVALID",
            f"network: {file.network[:MAX_NAME_LENGTH]!r} is not a plain name (ASCII letters, "
            f"digits, _ and -, at most {MAX_NAME_LENGTH} characters); it names folders and "
            "generated code",
            raw.value_span("network"),
        )
        raise SpecError(reporter.diagnostics)
    spec = Spec(path, display, file, raw)
    _collect_blocks(spec, path, raw, file.blocks, file.imports, reporter, [_resolved(path)], root)
    if not file.layers:
        reporter.error("E-EMPTY-NETWORK", "the network has no layers", raw.value_span("layers"))
    if file.default is not None and file.variants and file.default not in file.variants:
        reporter.error(
            "E-UNKNOWN-VARIANT",
            f"default variant '{file.default}' is not among the variants "
            f"({', '.join(file.variants)})",
            raw.value_span("default"),
            did_you_mean(file.default, file.variants),
        )
    reporter.check()
    return spec


def _collect_blocks(
    spec: Spec,
    path: Path,
    raw: LocDict,
    blocks: dict[str, BlockSpec],
    imports: list[str],
    reporter: Reporter,
    stack: list[Path],
    root: ImportRoot,
) -> None:
    raw_blocks = raw.get("blocks") or LocDict(raw.span)
    for name, block in blocks.items():
        if name in spec.blocks:
            reporter.error(
                "E-BLOCK-DUPLICATE",
                f"block '{name}' is defined twice (also at {spec.blocks[name].span})",
                raw_blocks.key_span(name),
            )
            continue
        problem = layer_name_problem(name)
        if problem is not None:
            # A block's name is its instances' default module name: generated code and
            # state_dict keys, so it follows the rule of layer names.
            reporter.error(
                "E-NAME-INVALID", f"block name: {problem[:200]}", raw_blocks.key_span(name)
            )
            continue
        if not _valid_params(name, raw_blocks[name], reporter):
            continue
        spec.blocks[name] = Block(name, block, raw_blocks[name], raw_blocks.key_span(name))
    _collect_functions(spec, raw, reporter)
    raw_imports = raw.get("imports") or []
    for i, target in enumerate(imports):
        span = raw_imports.item_span(i) if hasattr(raw_imports, "item_span") else raw.span
        target_path = _confined_import(root, path, target, span, reporter)
        if target_path is None:
            continue
        if target_path in stack:
            chain = " -> ".join(p.name for p in stack + [target_path])
            reporter.error("E-IMPORT-CYCLE", f"circular import: {chain}", span)
            continue
        if len(stack) > MAX_IMPORT_DEPTH:
            reporter.error("E-LIMIT-IMPORTS", f"imports nest deeper than {MAX_IMPORT_DEPTH}", span)
            continue
        if not target_path.exists():
            reporter.error("E-IMPORT", f"imported block file {quote(target)} does not exist", span)
            continue
        display = os.path.relpath(target_path)
        sub = Reporter()
        text = read_text(target_path, display, sub)
        data = parse_yaml(text, display, sub) if text is not None else None
        if data is not None:
            block_file = validate(BlockFile, data, sub, data.span, f"block file '{display}'")
            if block_file is not None:
                _collect_blocks(
                    spec,
                    target_path,
                    data,
                    block_file.blocks,
                    block_file.imports,
                    sub,
                    stack + [target_path],
                    root,
                )
        for diagnostic in sub.diagnostics:
            reporter._add(diagnostic)


def _collect_functions(spec: Spec, raw: LocDict, loading: Reporter) -> None:
    """Add the `functions:` of one file (the spec or an imported one) to the spec's; their
    problems wait in `spec.function_problems` for the analysis."""
    reporter = Reporter()
    _add_functions(spec, raw, reporter)
    spec.function_problems += reporter.diagnostics


def _add_functions(spec: Spec, raw: LocDict, reporter: Reporter) -> None:
    section = raw.get("functions")
    for name, function in load_functions(raw, reporter).items():
        span = section.key_span(name)
        if name in spec.functions:
            reporter.error(
                "E-FUNCTION-DUPLICATE",
                f"function '{name}' is defined twice (also at {spec.function_spans[name]})",
                span,
            )
            continue
        spec.functions[name] = function
        spec.function_spans[name] = span


def _resolved(path: Path) -> Path:
    """`path` with symbolic links and `..` resolved, as far as that is possible."""
    try:
        return path.resolve()
    except (OSError, RuntimeError, ValueError):  # a link loop, a NUL in the name
        return Path(os.path.abspath(path))


@dataclass(frozen=True)
class ImportRoot:
    """The folder a spec's imports are confined to, and how messages name it."""

    path: Path
    label: str


def _import_root(
    path: Path, import_root: str | os.PathLike | None, reporter: Reporter
) -> ImportRoot:
    """The folder imports are confined to: the declared one, else the spec's own folder."""
    if import_root is None:
        return ImportRoot(_resolved(path.parent), "the spec's folder")
    root = _resolved(Path(import_root))
    if not root.is_dir():
        reporter.error(
            "E-IMPORT-PATH",
            f"import root {quote(str(import_root))} is not a folder",
            Span(str(path)),
        )
        raise SpecError(reporter.diagnostics)
    return ImportRoot(root, f"the import root {quote(str(import_root))}")


def _confined_import(
    root: ImportRoot, importer: Path, target: str, span: Span, reporter: Reporter
) -> Path | None:
    """The resolved path of an import, or None (reported) when it would leave the root.

    An import is a path relative to the importing file. It is resolved, symbolic links
    included, before it is compared with the root, so `..`, an absolute path and a link
    that points outside are refused alike, and the file is never opened.
    """
    where = f"imports are read from {root.label} and below"
    problem = None
    if not target.strip() or "\0" in target:
        problem = f"{quote(target)} is not a file path"
    elif os.path.isabs(target) or target.startswith("~"):
        problem = f"{quote(target)} is an absolute path; {where}, relative to the importing file"
    if problem is None:
        resolved = _resolved(importer.parent / target)
        if not resolved.is_relative_to(root.path):
            how = "through '..'" if ".." in Path(target).parts else "through a symbolic link"
            problem = f"{quote(target)} leads outside {root.label} {how}; {where}"
        else:
            return resolved
    reporter.error(
        "E-IMPORT-PATH",
        problem,
        span,
        "keep block files beside the spec (or below it), or pass --import-root FOLDER",
    )
    return None

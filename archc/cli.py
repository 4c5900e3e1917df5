"""The `archc` command line (click). Backends are imported inside the commands that use them,
so `archc check` and `archc summary` never import torch."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import click

from archc.diagnostics import Reporter, SpecError, one_line, print_diagnostics


def _fail(diagnostics) -> None:
    print_diagnostics(diagnostics, sys.stderr)
    sys.exit(1)


def _analyse(
    spec_path: str, variant: str | None, reporter: Reporter, overrides=None, import_root=None
):
    from archc.pipeline import analyse
    from archc.spec.loader import load_spec

    spec = load_spec(spec_path, reporter, import_root=import_root)
    return spec, analyse(spec, variant, reporter, overrides)


def _parse_sets(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict:
    """`--set KEY=VALUE` options as a dict; each value is read as YAML (10, 0.5, [1, 2]),
    under the same limits as a spec's values."""
    from archc.diagnostics import quote
    from archc.spec.source import parse_value

    result = {}
    for item in values:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {quote(item)}", ctx, param)
        reporter = Reporter()
        value = parse_value(text, f"--set {key}", reporter) if text.strip() else None
        if reporter.errors:
            problem = reporter.errors[0].message
            raise click.BadParameter(
                f"{quote(key)}: {quote(text)} is not a YAML value archc takes ({problem})",
                ctx,
                param,
            )
        if isinstance(value, dict):
            raise click.BadParameter(
                f"{key}: give a number, text, boolean or list, not a "
                "mapping (set nested keys one by one: training.lr=0.1)",
                ctx,
                param,
            )
        result[key] = value
    return result


def _set_option(function):
    return click.option(
        "--set",
        "overrides",
        multiple=True,
        callback=_parse_sets,
        metavar="KEY=VALUE",
        help="Override a spec parameter (num_classes=10) or a training setting "
        "(training.lr=0.1); repeatable.",
    )(function)


def _import_root_option(function):
    return click.option(
        "--import-root",
        type=click.Path(exists=True, file_okay=False),
        default=None,
        metavar="FOLDER",
        help="Folder the spec's `imports:` may read from, and below (default: the spec's own "
        "folder). Nothing outside it is read, whatever paths or symbolic links say.",
    )(function)


class _SafeGroup(click.Group):
    """A click group that never lets a Python traceback reach the user.

    Spec problems that escape a command as SpecError are printed as diagnostics (exit 1);
    anything else is a bug in archc: one line asking for a report, exit status 3.
    ARCHC_DEBUG=1 shows the traceback instead.
    """

    def invoke(self, ctx: click.Context):
        import os

        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except BrokenPipeError:
            # The reader went away (`archc explain | head`): nothing is wrong with archc.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(0)
        except SpecError as exc:
            _fail(exc.diagnostics)
        except Exception as exc:  # noqa: BLE001 - the last line of defence, on purpose
            if os.environ.get("ARCHC_DEBUG") == "1":
                raise
            text = (str(exc).splitlines() or [""])[0][:200]
            print(
                f"archc: internal error: {type(exc).__name__}: {text} (please report this, "
                "with the spec; "
                "ARCHC_DEBUG=1 shows the traceback)",
                file=sys.stderr,
            )
            sys.exit(3)


@click.group(cls=_SafeGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="archc")
def main() -> None:
    """archc: write a CNN once as YAML; get its analysis, PyTorch code, ONNX and diagrams."""


@main.command()
@click.argument("specs", nargs=-1, required=True, type=click.Path())
@click.option("--variant", "-v", help="Check only this variant (default: every variant).")
@click.option(
    "--all-variants", is_flag=True, help="Check every variant of each spec (the default)."
)
@click.option(
    "--strict",
    is_flag=True,
    help="Fail (exit 1) on warnings too, such as dead layers (W-DEAD-LAYER): for CI.",
)
@click.option(
    "--stdin-filename",
    metavar="PATH",
    help="With SPEC `-` (read from standard input): the file the text is, for diagnostics "
    "and block imports (an editor's unsaved buffer).",
)
@_set_option
@_import_root_option
def check(
    specs: tuple[str, ...],
    variant: str | None,
    all_variants: bool,
    strict: bool,
    stdin_filename: str | None,
    overrides: dict,
    import_root: str | None,
) -> None:
    """Validate specs (files, or folders of *.yaml) and print every diagnostic. `-` reads a
    spec from standard input. Every variant is checked unless --variant names one; a
    problem found only in another variant than the default says which."""
    from archc.pipeline import analyse
    from archc.spec.loader import load_spec

    if specs.count("-") > 1:
        raise click.UsageError("standard input (-) can be read once")
    if stdin_filename is not None and "-" not in specs:
        raise click.UsageError("--stdin-filename names the spec read from standard input (-)")
    diagnostics: list = []
    sources: dict[str, str] = {}
    checked = 0

    def collect(reporter: Reporter, variant_name: str | None = None) -> None:
        for found in reporter.diagnostics:
            if found in diagnostics:
                continue  # the same problem in the default variant, or a spec-wide one
            if variant_name is not None:
                found = replace(found, notes=(f"in variant '{variant_name}'", *found.notes))
                if found in diagnostics:
                    continue
            diagnostics.append(found)

    # Each file and each variant gets its own Reporter: one spec's errors must not stop
    # the next one from being checked (a Reporter's stage checks see every error in it).
    for path in _spec_files(specs):
        reporter = Reporter()
        try:
            if path == "-":
                from archc.reading import read_stream

                data = read_stream(sys.stdin.buffer)
                name = stdin_filename or "<stdin>"
                sources[name] = data.decode("utf-8", errors="replace")
                spec = load_spec(name, reporter, data, import_root)
            else:
                spec = load_spec(path, reporter, import_root=import_root)
        except SpecError:
            collect(reporter)
            continue
        collect(reporter)
        names = spec.variant_names() if all_variants or variant is None else [variant]
        for k, name in enumerate(names):
            reporter = Reporter()
            try:
                analyse(spec, name, reporter, overrides)
                checked += 1
            except SpecError:
                pass
            collect(reporter, name if k > 0 and len(names) > 1 else None)
    print_diagnostics(diagnostics, sys.stderr, sources)
    if any(d.severity == "error" for d in diagnostics):
        sys.exit(1)
    if strict and diagnostics:
        click.echo(f"--strict: {len(diagnostics)} warning(s) fail the check", err=True)
        sys.exit(1)
    click.echo(f"ok: {checked} network{'s' if checked != 1 else ''} checked", err=True)


@main.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--variant", "-v", help="Variant to summarize.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--markdown", "as_markdown", is_flag=True, help="Print the summary as Markdown.")
@click.option(
    "--depth",
    type=click.IntRange(min=1),
    default=None,
    help="Fold modules nested deeper than N levels into one row each (1: top-level entries "
    "only); with --json, adds a `folded` list beside the full `layers`.",
)
@click.option(
    "--batch",
    type=click.IntRange(min=1, max=2**31),
    default=None,
    help="Training memory at this batch size: what each layer keeps for the backward "
    "pass, the peak of a training step, and torchinfo's figures (docs/memory.md).",
)
@click.option(
    "--optimizer",
    type=click.Choice(["sgd", "momentum", "adam", "adamw"]),
    default="sgd",
    show_default=True,
    help="Optimizer whose state the training memory counts (momentum: SGD with momentum).",
)
@click.option(
    "--dtype",
    type=click.Choice(["float32", "bfloat16", "float16"]),
    default="float32",
    show_default=True,
    help="Activation precision: float32, or 16-bit autocast (weights stay float32).",
)
@click.option(
    "--device",
    type=click.Choice(["cuda", "cpu"]),
    default="cuda",
    show_default=True,
    help="Where training runs (dropout keeps a 1-byte mask on CUDA, 4 bytes on the CPU).",
)
@click.option(
    "--memory",
    "budget",
    type=click.FloatRange(min=0, min_open=True, max=2**40),
    default=None,
    metavar="GIB",
    help="Memory of the device in GiB: print the largest batch size whose training step "
    "fits (with --all-variants, for each variant).",
)
@click.option(
    "--all-variants",
    is_flag=True,
    help="With --batch or --memory: one row of training memory per variant of the family.",
)
@_set_option
@_import_root_option
def summary(
    spec: str,
    variant: str | None,
    as_json: bool,
    as_markdown: bool,
    depth: int | None,
    batch: int | None,
    optimizer: str,
    dtype: str,
    device: str,
    budget: float | None,
    all_variants: bool,
    overrides: dict,
    import_root: str | None,
) -> None:
    """Print a per-layer table (volumes, params, MACs, memory, receptive field) and totals."""
    from archc.backends import summary as backend

    if as_json and as_markdown:
        raise click.UsageError("--json and --markdown are exclusive")
    planning = batch is not None or budget is not None
    if all_variants and not planning:
        raise click.UsageError("--all-variants needs --batch or --memory")
    if all_variants and variant is not None:
        raise click.UsageError("--all-variants and --variant are exclusive")
    settings = {"batch": batch or 1, "dtype": dtype, "optimizer": optimizer, "device": device}
    if all_variants:
        _memory_table(spec, settings, budget, overrides, as_json)
        return
    reporter = Reporter()
    try:
        _, graph = _analyse(spec, variant, reporter, overrides, import_root)
    except SpecError as exc:
        _fail(exc.diagnostics)
    if reporter.warnings:
        print_diagnostics(reporter.warnings, sys.stderr)
    memory = None
    if planning:
        from archc.passes.memory import plan

        memory = plan(graph, **settings)
    if as_json:
        document = backend.summary_dict(graph, depth, memory)
        if budget is not None:
            document["memory"]["budget_gib"] = budget
            document["memory"]["largest_batch"] = memory.largest_batch(int(budget * 2**30))
        click.echo(json.dumps(document, indent=2))
    elif as_markdown:
        click.echo(backend.to_markdown(graph, depth, memory), nl=False)
    else:
        from rich.console import Console

        console = Console()
        if console.is_terminal:
            backend.print_table(graph, console, depth, memory=memory)
        else:
            # A pipe or a log file is as wide as the table needs: no figure is ever cut.
            needed = backend.table_width(graph, depth, memory)
            wide = Console(width=max(needed, console.width))
            backend.print_table(graph, wide, depth, fit=False, memory=memory)
        if budget is not None:
            click.echo(_fits_line(memory, budget))


def _fits_line(memory, budget: float) -> str:
    best = memory.largest_batch(int(budget * 2**30))
    if best == 0:
        return f"does not fit in {budget:g} GiB even at batch 1"
    return f"largest batch that fits in {budget:g} GiB: {best:,}"


def _memory_table(spec_path: str, settings: dict, budget: float | None, overrides, as_json):
    """`summary --all-variants`: one row of training memory per variant."""
    from archc.backends.summary import human, size_text
    from archc.passes.memory import plan
    from archc.pipeline import analyse
    from archc.spec.loader import load_spec

    reporter = Reporter()
    try:
        spec = load_spec(spec_path, reporter)
    except SpecError as exc:
        _fail(exc.diagnostics)
    rows = []
    for name in spec.variant_names():
        try:
            graph = analyse(spec, name, reporter, overrides)
        except SpecError:
            continue
        memory = plan(graph, **settings)
        params = sum(n.counts.params for n in graph.nodes)
        best = memory.largest_batch(int(budget * 2**30)) if budget is not None else None
        rows.append((name, params, memory.peak, best))
    if reporter.errors:
        _fail(reporter.diagnostics)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "spec": spec_path,
                    **settings,
                    "budget_gib": budget,
                    "variants": [
                        {"variant": n, "params": p, "peak_bytes": peak, "largest_batch": best}
                        for n, p, peak, best in rows
                    ],
                },
                indent=2,
            )
        )
        return
    from rich.console import Console
    from rich.table import Table

    title = (
        f"{spec.network}: training memory at batch {settings['batch']} "
        f"({settings['dtype']}, {settings['optimizer']}, {settings['device']})"
    )
    table = Table(title=title, title_justify="left", header_style="bold")
    table.add_column("variant")
    table.add_column("params", justify="right")
    table.add_column(f"peak at batch {settings['batch']}", justify="right")
    if budget is not None:
        table.add_column(f"largest batch in {budget:g} GiB", justify="right")
    for name, params, peak, best in rows:
        cells = [name, human(params), size_text(peak)]
        if budget is not None:
            cells.append(human(best) if best else "does not fit")
        table.add_row(*cells)
    Console(width=max(Console().width, 100)).print(table)


@main.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@_import_root_option
def variants(spec: str, import_root: str | None) -> None:
    """List the spec's variants, the default first."""
    from archc.spec.loader import load_spec

    reporter = Reporter()
    try:
        loaded = load_spec(spec, reporter, import_root=import_root)
    except SpecError as exc:
        _fail(exc.diagnostics)
    for name in loaded.variant_names():
        click.echo(one_line(name))


@main.command()
@click.argument("code", required=False)
def explain(code: str | None) -> None:
    """Explain a diagnostic code (E-SHAPE-ADD): what it means, an example, the fix; without
    CODE, list every code."""
    import json
    import textwrap
    from importlib import resources

    catalog = json.loads(resources.files("archc").joinpath("errors.json").read_text("utf-8"))
    if code is None:
        for name, entry in catalog.items():
            click.echo(f"{name:<24} {entry['title']}")
        return
    entry = catalog.get(code.strip().upper())
    if entry is None:
        from archc.diagnostics import did_you_mean

        hint = did_you_mean(code.strip().upper(), catalog)
        raise click.UsageError(
            f"unknown code '{code}'{'; ' + hint if hint else ''} (`archc explain` lists them)"
        )
    name = code.strip().upper()
    click.echo(f"{name}: {entry['title']}\n")
    click.echo(textwrap.fill(entry["explain"], 88) + "\n")
    if "spec" in entry:
        click.echo("For example:\n\n" + textwrap.indent(entry["spec"].rstrip(), "    ") + "\n")
    click.echo(textwrap.fill(f"Fix: {entry['fix']}", 88))


@main.command()
def schema() -> None:
    """Print the JSON Schema of the spec language (for editors)."""
    import json

    from archc.spec.schema import json_schema

    click.echo(json.dumps(json_schema(), indent=2))


def _spec_files(specs: tuple[str, ...]) -> list[str]:
    """The spec files named, a folder standing for its `*.yaml` files (as `build` takes)."""
    files: list[str] = []
    for item in specs:
        path = Path(item)
        if item != "-" and path.is_dir():
            found = sorted(path.glob("*.yaml"))
            if not found:
                raise click.UsageError(f"folder '{item}' holds no *.yaml spec")
            files.extend(str(p) for p in found)
        else:
            files.append(item)
    return files


@main.command()
@click.argument("specs", nargs=-1, required=True, type=click.Path())
@click.option("--variant", "-v", help="Variant to build (default: the spec's default).")
@click.option("--all-variants", is_flag=True, help="Build every variant.")
@click.option(
    "-o",
    "--output",
    "out",
    default="build",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Folder to write into.",
)
@click.option(
    "--target",
    "targets",
    default=None,
    help="Comma-separated: pytorch, onnx, graphviz, summary, train, report "
    "(default: all; train only for specs with a training: section).",
)
@click.option(
    "--check",
    "run_checks",
    is_flag=True,
    help="Verify the ONNX export (checker, shapes, onnxruntime parity).",
)
@click.option(
    "--weights",
    type=click.Path(dir_okay=False),
    default=None,
    metavar="CHECKPOINT",
    help="Export these trained weights (a state_dict, or train.py's checkpoint) to model.onnx "
    "instead of the seed-0 initial ones; checked as --check does. One spec and variant.",
)
@_set_option
@_import_root_option
def build(
    specs, variant, all_variants, out, targets, run_checks, weights, overrides, import_root
) -> None:
    """Generate the model folder of each spec variant (model.py, model.onnx, graph, summary).

    model.onnx holds the module's initial weights (seeded with 0, so builds are
    reproducible); --weights exports trained ones."""
    from archc.build import TARGETS, build_all

    if variant and all_variants:
        raise click.UsageError("--variant and --all-variants are exclusive")
    chosen = None if targets is None else [t.strip() for t in targets.split(",") if t.strip()]
    unknown = [t for t in chosen or [] if t not in TARGETS]
    if unknown or chosen == []:
        raise click.UsageError(
            f"unknown target {', '.join(unknown) or '(none)'}; choose from {', '.join(TARGETS)}"
        )
    files = _spec_files(specs)
    if weights is not None:
        if all_variants or len(files) != 1:
            raise click.UsageError("--weights holds one network's weights: give one spec")
        if chosen is not None and "onnx" not in chosen:
            raise click.UsageError("--weights sets model.onnx's weights: add the onnx target")
    ok = build_all(
        files, variant, all_variants, Path(out), chosen, run_checks, overrides, weights, import_root
    )
    sys.exit(0 if ok else 1)


@main.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--variant", "-v", help="Variant to draw.")
@click.option(
    "-o",
    "--output",
    "out",
    default=None,
    type=click.Path(dir_okay=False),
    help="FILE.svg, .png, .pdf or .dot (default: build/<folder>/graph.svg).",
)
@click.option(
    "--collapse",
    type=int,
    default=None,
    help="Draw blocks nested deeper than this level as single nodes (0: every block).",
)
@click.option(
    "--direction",
    type=click.Choice(["TB", "LR"]),
    default="TB",
    show_default=True,
    help="Top-down or left-to-right.",
)
@_set_option
@_import_root_option
def graph(spec, variant, out, collapse, direction, overrides, import_root) -> None:
    """Draw the network with Graphviz."""
    from archc.backends import graphviz as backend

    reporter = Reporter()
    try:
        _, analysed = _analyse(spec, variant, reporter, overrides, import_root)
    except SpecError as exc:
        _fail(exc.diagnostics)
    if reporter.warnings:
        print_diagnostics(reporter.warnings, sys.stderr)
    sys.exit(backend.draw_command(analysed, out, collapse=collapse, direction=direction))


def _spec_ref(text: str) -> tuple[str, str | None]:
    """`SPEC#VARIANT` (the variant may be left out: the spec's default)."""
    spec, sep, variant = text.rpartition("#")
    return (spec, variant or None) if sep else (text, None)


@main.command()
@click.argument("checkpoint", type=click.Path(dir_okay=False))
@click.option(
    "--from",
    "source",
    required=True,
    metavar="SPEC#VARIANT",
    help="The network the checkpoint holds weights of.",
)
@click.option(
    "--to", "target", required=True, metavar="SPEC#VARIANT", help="The network to initialise."
)
@click.option(
    "-o",
    "--output",
    "out",
    required=True,
    type=click.Path(dir_okay=False),
    help="Checkpoint (state_dict) to write.",
)
@click.option(
    "--plan",
    "recipe",
    default="names",
    show_default=True,
    type=click.Choice(["names", "head", "vgg"]),
    help="names: same module paths; head: same, output layer initialised; "
    "vgg: VGG's first-4-conv and last-3-FC pre-training recipe.",
)
@click.option(
    "--init",
    "init",
    multiple=True,
    metavar="PATH",
    help="Target module to initialise instead of copying; repeatable.",
)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Random seed of the target's fresh initialisation.",
)
@_set_option
@click.option(
    "--from-set",
    "source_overrides",
    multiple=True,
    callback=_parse_sets,
    metavar="KEY=VALUE",
    help="Like --set, for the source network.",
)
@_import_root_option
def transfer(
    checkpoint, source, target, out, recipe, init, seed, overrides, source_overrides, import_root
) -> None:
    """Initialise a network from another's trained weights, layer by layer (--set applies to
    the target)."""
    from rich.console import Console

    import archc.transfer  # noqa: F401 - the module (archc.transfer is also a function)

    tr = sys.modules["archc.transfer"]

    reporter = Reporter()
    try:
        source_path, source_variant = _spec_ref(source)
        _, source_graph = _analyse(
            source_path, source_variant, reporter, source_overrides, import_root
        )
        target_path, target_variant = _spec_ref(target)
        _, target_graph = _analyse(target_path, target_variant, reporter, overrides, import_root)
    except SpecError as exc:
        _fail(exc.diagnostics)
    if reporter.warnings:
        print_diagnostics(reporter.warnings, sys.stderr)
    try:
        plan = tr.plan_transfer(source_graph, target_graph, recipe, init)
        plan.check()
        if not plan.copies:
            raise tr.TransferError(
                f"plan '{recipe}' copies nothing from {plan.source} into "
                f"{plan.target}: they share no layer"
            )
        state = tr.load_state(checkpoint)
        tr.check_source(plan, state)
        import torch

        from archc.backends.pytorch import compile_module

        torch.manual_seed(seed)
        model = compile_module(target_graph)
        tr.transfer(state, model, plan)
    except tr.TransferError as exc:
        click.echo(f"archc: error: {one_line(str(exc))}", err=True)
        sys.exit(1)
    tr.print_plan(plan, Console(width=max(100, Console().width)))
    tr.save_state(model.state_dict(), out)
    click.echo(f"wrote {out}", err=True)


@main.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--variant", "-v", help="Variant to show first (the page switches between them).")
@click.option(
    "--port",
    "-p",
    type=click.IntRange(0, 65535),
    default=8000,
    show_default=True,
    help="Port to listen on (0: any free port).",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to bind; the default keeps the page on this machine.",
)
@_set_option
@_import_root_option
def serve(spec, variant, port, host, overrides, import_root) -> None:
    """Serve the spec's report on localhost; it reloads whenever the spec is saved."""
    from archc.serve import serve_command

    sys.exit(serve_command(spec, variant, host, port, overrides, import_root))


@main.command()
def lsp() -> None:
    """Run the language server on standard input/output (for editors; needs pygls)."""
    try:
        from archc.lsp.server import serve_stdio
    except ImportError as exc:
        click.echo(
            f"archc lsp needs the language-server extra: pip install 'archc[lsp]' ({exc})",
            err=True,
        )
        sys.exit(1)
    serve_stdio()


@main.command("import")
@click.argument("source", metavar="MODULE:FACTORY|FILE.onnx")
@click.option(
    "--input",
    "input_shape",
    default=None,
    metavar="C,H,W",
    help="The model's input volume without the batch axis (3,224,224); required for a "
    "PyTorch model, read from the graph's input for an ONNX file.",
)
@click.option(
    "--args",
    "call_args",
    default=None,
    metavar="JSON",
    help="Arguments for FACTORY: a JSON list (positional) or object (keywords), "
    "e.g. '{\"num_classes\": 10}'.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    default=None,
    help="Spec file to write (default: standard output).",
)
@click.option("--name", "network", default=None, help="The spec's network name.")
@click.option(
    "--partial",
    is_flag=True,
    help="Write what can be mapped; what cannot becomes an identity marked TODO.",
)
@click.option("--force", is_flag=True, help="Overwrite the -o file if it exists.")
def import_(source, input_shape, call_args, output, network, partial, force) -> None:
    """Write a spec for an existing PyTorch model (`torchvision.models:resnet18`) or an
    ONNX file (`model.onnx`).

    MODULE is imported and FACTORY called, so this runs that code: use it on models you
    trust. The model is built on the meta device where it allows (no weights allocated)
    and traced with torch.fx; module paths become entry names, so the spec regenerates the
    model's state_dict keys, which are checked before anything is written. An ONNX file is
    only parsed, never run (files over 2 GiB are refused); its initializer and node names
    give the module paths where the exporter kept them (torch's TorchScript exporter).
    """
    from archc.importer.cli import run_import

    sys.exit(run_import(source, input_shape, call_args, output, network, partial, force))


if __name__ == "__main__":
    main()

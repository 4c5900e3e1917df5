"""`archc import`: load the model a MODULE:FACTORY names, import it, write the spec."""

from __future__ import annotations

import importlib
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import click

from archc.diagnostics import one_line
from archc.importer import ImportFailed, from_module
from archc.importer.onnx_import import from_onnx


def run_import(
    source: str,
    input_shape: str | None,
    call_args: str | None,
    output: str | None,
    network: str | None,
    partial: bool,
    force: bool,
) -> int:
    """The command; returns its exit status (1 for a model that cannot be imported)."""
    onnx_file = source.lower().endswith(".onnx")
    if input_shape is None and not onnx_file:
        raise click.UsageError("--input C,H,W is required for a PyTorch model")
    shape = _shape(input_shape) if input_shape is not None else None
    if onnx_file and call_args is not None:
        raise click.UsageError("--args is for a PyTorch FACTORY, not an ONNX file")
    args, kwargs = _arguments(call_args)
    if output is not None and Path(output).exists() and not force:
        raise click.UsageError(f"{output} exists; --force overwrites it")
    try:
        if onnx_file:
            imported = from_onnx(source, shape, network, partial=partial)
        else:
            model = _model(source, args, kwargs)
            imported = from_module(model, shape, network, source=source, partial=partial)
    except ImportFailed as failure:
        for gap in failure.gaps:
            where = f"{source}:{gap.path}" if gap.path else source
            click.echo(f"{one_line(where)}: error: {one_line(gap.what)}", err=True)
        click.echo(f"archc import: {one_line(failure.message)}", err=True)
        if failure.gaps:
            click.echo("note: --partial writes the rest of the model", err=True)
        return 1
    for note in imported.notes:
        click.echo(f"{one_line(source)}:{one_line(note)} (left as an identity)", err=True)
    if output is None:
        click.echo(imported.text, nl=False)
        return 0
    _write(Path(output), imported.text)
    checked = (
        f"{imported.keys_checked} state_dict entries checked against the "
        + ("ONNX initializers" if onnx_file else "model")
        if imported.keys_checked
        else "not checked: "
        + ("no initializer names to check" if onnx_file and not imported.notes else "partial")
    )
    click.echo(f"wrote {output} ({checked})", err=True)
    return 0


def _shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(part) for part in text.replace("x", ",").split(","))
    except ValueError:
        raise click.BadParameter(f"{text!r}: expected C,H,W", param_hint="--input") from None
    if not 1 <= len(shape) <= 3 or any(not 0 < v <= 2**20 for v in shape):
        raise click.BadParameter(f"{text!r}: expected C,H,W", param_hint="--input")
    return shape


def _arguments(text: str | None) -> tuple[list[Any], dict[str, Any]]:
    if text is None:
        return [], {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not JSON: {exc.msg}", param_hint="--args") from None
    if isinstance(value, list):
        return value, {}
    if isinstance(value, dict):
        return [], value
    raise click.BadParameter("a JSON list or object", param_hint="--args")


def _model(source: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
    module_name, sep, factory_name = source.partition(":")
    if not sep or not module_name or not factory_name:
        raise click.BadParameter(f"{source!r}: expected MODULE:FACTORY", param_hint="SOURCE")
    # As `python -m` does: modules in the current folder can be imported.
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        factory: Any = importlib.import_module(module_name)
        for part in factory_name.split("."):
            factory = getattr(factory, part)
    except (ImportError, AttributeError) as exc:
        raise click.BadParameter(
            f"{source}: {type(exc).__name__}: {one_line(str(exc))}", param_hint="SOURCE"
        ) from None
    import torch

    try:
        # No weights are needed to read a model's structure: build it on the meta device.
        with torch.device("meta"):
            return factory(*args, **kwargs)
    except Exception:  # noqa: BLE001 - some models need real tensors at construction
        try:
            return factory(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - the user's code: report, don't trace back
            raise click.ClickException(
                f"{source}(...) raised {type(exc).__name__}: {one_line(str(exc))}"
            ) from None


def _write(path: Path, text: str) -> None:
    folder = path.parent if str(path.parent) else Path(".")
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=folder)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise

"""Pydantic validation with errors turned into located diagnostics."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from archc.diagnostics import Reporter, Span, did_you_mean, quote
from archc.spec.source import LocDict, LocList

M = TypeVar("M", bound=BaseModel)


def locate(data: Any, loc: tuple, default: Span, key: bool = False) -> Span:
    """The span of the value (or, with key=True, the key) at a pydantic error location."""
    span = getattr(data, "span", default)
    current = data
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        if isinstance(current, LocDict) and str(part) in current:
            span = current.key_span(str(part)) if (key and last) else current.value_span(str(part))
            current = current[str(part)]
        elif isinstance(current, LocList) and isinstance(part, int) and part < len(current):
            span = current.item_span(part)
            current = current[part]
        else:
            break
    return span


def validate(
    model: type[M], data: Any, reporter: Reporter, default: Span, what: str, at: tuple = ()
) -> M | None:
    """Validate `data` (or the value at path `at` inside it) against `model`; report every
    error at its place, named by its path from `data`; None on failure."""
    try:
        return model.model_validate(value_at(data, at))
    except ValidationError as exc:
        report_validation(exc, model, data, reporter, default, what, at)
        return None


def value_at(data: Any, path: tuple) -> Any:
    """The value at a path of keys and indices inside `data`."""
    for part in path:
        data = data[part]
    return data


def report_validation(
    exc: ValidationError,
    model: type[BaseModel],
    data: Any,
    reporter: Reporter,
    default: Span,
    what: str,
    path: tuple = (),
) -> None:
    """Turn each pydantic error into a diagnostic naming `what` and the field; `path` is
    where the validated value is inside `data` (errors are named from `data`)."""
    errors = _merge_union_errors(exc.errors(include_url=False))
    validated = value_at(data, path)
    for error in errors:
        inner = error["loc"]
        loc = (*path, *inner)
        kind = error["type"]
        where = ".".join(str(p) for p in loc)
        # A whole-model check ("kernel must be at least 1") has no location of its own;
        # point at the field it names, when the message starts with one.
        first = error["msg"].removeprefix("Value error, ").split(" ", 1)[0]
        named = inner or not isinstance(validated, LocDict) or first not in validated
        at = loc if named else (*path, first)
        what_here = _label(loc, what)
        if kind == "extra_forbidden":
            allowed = _allowed_keys(model, inner[:-1])
            reporter.error(
                "E-UNKNOWN-FIELD",
                f"{what_here}: unknown field '{loc[-1]}'",
                locate(data, loc, default, key=True),
                did_you_mean(str(loc[-1]), allowed),
                ("allowed: " + ", ".join(sorted(allowed))) if allowed else "",
            )
        elif kind == "missing":
            reporter.error(
                "E-MISSING-FIELD",
                f"{what_here}: missing required field '{where}'",
                locate(data, loc[:-1], default),
            )
        else:
            given = error.get("input")
            shown = "" if isinstance(given, (dict, list)) else f" (got {quote(given)})"
            message = error["msg"]
            if message.startswith("Value error, "):
                message = message[len("Value error, ") :]
            reporter.error(
                "E-FIELD-VALUE" if kind.startswith(_VALUE_KINDS) else "E-TYPE",
                f"{what_here}: {where}: {message}{shown}"
                if where
                else f"{what_here}: {message}{shown}",
                locate(data, at, default),
            )


def _merge_union_errors(errors: list[dict]) -> list[dict]:
    """Strip pydantic's internal path parts, and fold the per-member errors of a union
    ("should be a valid string", "should be a valid dictionary") into one."""
    merged: dict[tuple, dict] = {}
    for error in errors:
        loc = tuple(p for p in error["loc"] if not str(p).startswith(("function-", "tagged")))
        # pydantic reports union members as extra path parts; keep the user's own keys.
        loc = tuple(p for p in loc if not (isinstance(p, str) and p in _UNION_PARTS))
        error = dict(error, loc=loc)
        seen = merged.get(loc)
        if seen is None:
            merged[loc] = error
        elif seen["type"] not in ("extra_forbidden", "missing") and error["type"] not in (
            "extra_forbidden",
            "missing",
        ):
            extra = error["msg"].removeprefix("Input should be ")
            seen["msg"] = f"{seen['msg']}, or {extra}"
        else:
            merged[(*loc, len(merged))] = error  # distinct problems at one place: keep both
    return list(merged.values())


def _label(loc: tuple, what: str) -> str:
    """Name the block or variant an error is in, rather than the whole file."""
    if len(loc) >= 2 and loc[0] == "blocks":
        return f"block '{loc[1]}'"
    if len(loc) >= 2 and loc[0] == "variants":
        return f"variant '{loc[1]}'"
    return what


_VALUE_KINDS = (
    "value_error",
    "greater_than",
    "less_than",
    "literal_error",
    "too_short",
    "too_long",
    "multiple_of",
    "enum",
    "finite_number",
)

_UNION_PARTS = {
    "str",
    "int",
    "dict[str,any]",
    "list[...]",
    "literal['same','valid']",
    "tuple[int, int]",
    "float",
    "bool",
    "none",
}


def _allowed_keys(model: type[BaseModel], path: tuple) -> list[str]:
    current: Any = model
    keyed = False  # the last field was a dict of models (blocks, variants): skip its key
    for part in path:
        if isinstance(part, int) or not (
            isinstance(current, type) and issubclass(current, BaseModel)
        ):
            continue
        if keyed:
            keyed = False
            continue
        info = current.model_fields.get(str(part))
        if info is None:
            return []
        keyed = getattr(info.annotation, "__origin__", None) is dict
        current = _model_in(info.annotation)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _model_in(annotation: Any) -> Any:
    for arg in (*getattr(annotation, "__args__", ()), annotation):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
        for inner in getattr(arg, "__args__", ()):
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                return inner
    return annotation

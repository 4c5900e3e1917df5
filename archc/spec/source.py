"""YAML text to plain data that remembers where every key and value came from.

PyYAML's composer gives nodes with marks; we convert them ourselves (instead of
`yaml.safe_load`) so that each mapping and list carries the span of itself, of each key
and of each value. Conversion is also where the hostile-input limits live: only the
standard YAML tags, no duplicate keys, bounded alias expansion (the "billion laughs"),
bounded nesting and file size.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from archc.diagnostics import Reporter, Span, quote
from archc.gc_pause import paused_gc
from archc.reading import MAX_FILE_BYTES, ReadError, TooLarge, read_bounded

# Specs are written by people: the zoo's largest is under 10 KB. PyYAML reads about
# 100,000 values a second, so these limits keep reading any file to a few seconds.
MAX_NODES = 200_000
MAX_DEPTH = 64

_STANDARD_TAGS = {
    f"tag:yaml.org,2002:{name}"
    for name in ("str", "int", "float", "bool", "null", "map", "seq", "omap", "merge", "binary")
}
_SCALAR_TAGS = {f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null")}


class LocDict(dict):
    """A mapping from YAML, with the span of itself, of each key and of each value."""

    def __init__(self, span: Span):
        super().__init__()
        self.span = span
        self.key_spans: dict[str, Span] = {}
        self.value_spans: dict[str, Span] = {}

    def key_span(self, key: str) -> Span:
        """Where `key` is written (the mapping itself if it is absent)."""
        return self.key_spans.get(key, self.span)

    def value_span(self, key: str) -> Span:
        """Where the value of `key` is written (the mapping itself if it is absent)."""
        return self.value_spans.get(key, self.span)


class LocList(list):
    """A sequence from YAML, with the span of itself and of each item."""

    def __init__(self, span: Span):
        super().__init__()
        self.span = span
        self.item_spans: list[Span] = []

    def item_span(self, index: int) -> Span:
        """Where item `index` is written."""
        return self.item_spans[index] if 0 <= index < len(self.item_spans) else self.span


def span_of(value: object, default: Span) -> Span:
    """The span of a located container, or `default` for a plain scalar."""
    return getattr(value, "span", default)


class LimitExceeded(Exception):
    """A resource limit was hit while converting; carries the span and message."""

    def __init__(self, span: Span, message: str):
        super().__init__(message)
        self.span = span
        self.message = message


def read_spec_bytes(path: Path, display: str, reporter: Reporter) -> bytes | None:
    """A spec file's bytes, or None with the reason reported at the file."""
    try:
        return read_bounded(path)
    except TooLarge as exc:
        reporter.error(exc.code, exc.message, Span(display))
    except ReadError as exc:
        reporter.error(exc.code, f"cannot read '{display}': {exc.message}", Span(display))
    return None


def read_text(path: Path, display: str, reporter: Reporter) -> str | None:
    """Read a spec file as UTF-8, reporting missing, special, oversized and non-UTF-8 files."""
    data = read_spec_bytes(path, display, reporter)
    return None if data is None else decode_text(data, display, reporter)


def decode_text(data: bytes, display: str, reporter: Reporter) -> str | None:
    """Spec bytes (a file's, or standard input's) as text, reporting oversized and non-UTF-8
    input and characters YAML does not allow."""
    if len(data) > MAX_FILE_BYTES:
        reporter.error("E-LIMIT-FILE-SIZE", TooLarge(None).message, Span(display))
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[: exc.start]
        line = before.count(b"\n") + 1
        col = exc.start - (before.rfind(b"\n") + 1) + 1
        reporter.error(
            "E-ENCODING",
            f"spec is not UTF-8: byte 0x{data[exc.start]:02x} cannot be decoded",
            Span(display, line, col),
            "save the file as UTF-8",
        )
        return None
    bad = _NOT_YAML.search(text)
    if bad is not None:
        # PyYAML refuses these anywhere, comments included, with an exception that carries
        # no place; found here first, the user gets the line and column.
        start = bad.start()
        line = text.count("\n", 0, start) + 1
        col = start - (text.rfind("\n", 0, start) + 1) + 1
        char = bad.group()
        reporter.error(
            "E-YAML-CHAR",
            f"character {_char_name(char)} is not allowed in a spec (YAML refuses control "
            "characters and U+FFFE anywhere, comments included)",
            Span(display, line, col),
            'delete it, or write it as an escape inside a double-quoted string ("\\t")',
        )
        return None
    return text


#: What YAML 1.1 does not allow in a document (PyYAML's Reader.NON_PRINTABLE): C0 controls
#: but tab and line breaks, DEL, C1 controls but NEL, surrogates, U+FFFE and U+FFFF.
_NOT_YAML = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

_CHAR_NAMES = {0x0C: "form feed", 0x00: "NUL", 0x1B: "escape", 0x7F: "DEL", 0x08: "backspace"}


def _char_name(char: str) -> str:
    code = ord(char)
    name = _CHAR_NAMES.get(code)
    return f"U+{code:04X}" + (f" ({name})" if name else "")


@paused_gc()
def parse_yaml(text: str, display: str, reporter: Reporter) -> LocDict | None:
    """Parse YAML text into located data; report syntax errors and limits; None on failure."""
    parsed = _parse(text, display, reporter)
    if parsed is None:
        return None
    data, node = parsed
    if not isinstance(data, LocDict):
        reporter.error(
            "E-NOT-MAPPING",
            f"a spec must be a mapping (network:, input:, layers:, ...), not {_kind_of(data)}",
            _span(node, display),
        )
        return None
    return data


def parse_value(text: str, display: str, reporter: Reporter) -> object:
    """One YAML value (a `--set` value) as plain data, under the limits of a spec: standard
    tags, bounded nesting and size, no control characters; None (reported) on failure."""
    if _NOT_YAML.search(text) is not None:
        bad = _NOT_YAML.search(text).group()
        reporter.error("E-YAML-CHAR", f"character {_char_name(bad)} is not allowed", Span(display))
        return None
    parsed = _parse(text, display, reporter)
    return None if parsed is None else _plain(parsed[0])


def _plain(value: object) -> object:
    """Located data as plain dicts and lists."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _parse(text: str, display: str, reporter: Reporter) -> tuple[object, yaml.Node] | None:
    """Located data of a YAML document, and its root node; None (reported) on failure."""
    if text.startswith("\ufeff"):
        text = text[1:]
    loader, node = _compose_fast(text)
    if isinstance(node, yaml.MarkedYAMLError):
        # A large file's syntax error as libyaml words it: the pure-Python parser would
        # take many seconds to find the same place (17 s for 1 MiB).
        _report_yaml_error(node, display, reporter, text)
        return None
    if loader is None:
        loader = yaml.SafeLoader(text)
    try:
        try:
            if node is None:
                node = loader.get_single_node()
        except RecursionError:
            reporter.error("E-LIMIT-DEPTH", "YAML nesting is too deep to read", Span(display, 1, 1))
            return None
        except yaml.MarkedYAMLError as exc:
            _report_yaml_error(exc, display, reporter)
            return None
        except yaml.YAMLError as exc:
            reporter.error("E-YAML", f"invalid YAML: {exc}", Span(display))
            return None
        if node is None:
            reporter.error("E-EMPTY-FILE", "spec file is empty", Span(display, 1, 1))
            return None
        culprit, why = _expansion_culprit(node, MAX_NODES)
        if culprit is not None:
            # Counted on the composed nodes, where an alias is one shared node: a "billion
            # laughs" is refused before anything is expanded.
            reporter.error(
                "E-LIMIT-ALIAS" if why != "size" else "E-LIMIT-VALUES",
                {
                    "recursive": "this value contains itself through an alias (*name)",
                    "alias": f"this value expands to more than {MAX_NODES:,} YAML values "
                    "through aliases (*name); refusing to expand it",
                    "size": f"the spec holds more than {MAX_NODES:,} YAML values",
                }[why],
                _span(culprit, display),
            )
            return None
        converter = _Converter(loader, display, reporter)
        try:
            data = converter.convert(node, 0)
        except LimitExceeded as exc:
            reporter.error(
                "E-LIMIT-ALIAS" if "alias" in exc.message else "E-LIMIT-DEPTH",
                exc.message,
                exc.span,
            )
            return None
        if converter.failed:
            return None
        return data, node
    finally:
        loader.dispose()


#: Above this size, a syntax error is reported as libyaml found it, not re-found by the
#: pure-Python parser (about a second for this much YAML on a busy machine).
PYTHON_ERRORS_MAX_BYTES = 64 * 1024


def _compose_fast(
    text: str,
) -> tuple[yaml.BaseLoader | None, yaml.Node | yaml.MarkedYAMLError | None]:
    """Compose with libyaml (PyYAML's C parser) when it is there and the text parses.

    The C parser is 10-20x faster than the pure-Python one, which was most of the time of
    analysing a zoo spec. Its nodes carry the same marks. On a problem in a small file (or
    without libyaml) this returns (None, None) and the pure-Python parser runs instead, so
    the diagnostics of bad YAML are exactly those the messages were written for; in a large
    file, (None, the error).
    """
    fast = getattr(yaml, "CSafeLoader", None)
    if fast is None:
        return None, None
    loader = fast(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        loader.dispose()
        return None, (exc if len(text) > PYTHON_ERRORS_MAX_BYTES else None)
    except (yaml.YAMLError, RecursionError, MemoryError):
        loader.dispose()
        return None, None
    if node is None:
        loader.dispose()
        return None, None
    return loader, node


def _expansion_culprit(root: yaml.Node, limit: int) -> tuple[yaml.Node | None, str]:
    """The innermost node whose alias-expanded size exceeds `limit` and why ("recursive",
    "alias" or "size"), or (None, "") when the whole document stays within it."""
    sizes: dict[int, int] = {}
    active: set[int] = set()
    found: list[tuple[yaml.Node, str]] = []
    shared = False

    def size(node: yaml.Node) -> int:
        nonlocal shared
        key = id(node)
        if key in sizes:
            shared = True  # reached twice: an alias
            return sizes[key]
        if key in active:  # an alias to one of its own ancestors: endless
            found.append((node, "recursive"))
            return limit + 1
        active.add(key)
        if isinstance(node, yaml.SequenceNode):
            children = node.value
        elif isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        else:
            children = []
        total = 1
        for child in children:
            total += size(child)
            if total > limit:
                break
        active.discard(key)
        if total > limit and not found:
            found.append((node, "alias" if shared else "size"))
        sizes[key] = total
        return total

    size(root)
    return found[0] if found else (None, "")


def _unpaired_surrogate(text: str) -> str | None:
    """The first lone UTF-16 surrogate in the text, escaped (`\\ud800`), or None."""
    for char in text:
        if "\ud800" <= char <= "\udfff":
            return ascii(char)[1:-1]
    return None


def _kind_of(value: object) -> str:
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    return f"a {type(value).__name__} ({quote(value)})"


def _span(node: yaml.Node, display: str) -> Span:
    mark = node.start_mark
    return Span(display, mark.line + 1, mark.column + 1)


def _report_yaml_error(
    exc: yaml.MarkedYAMLError, display: str, reporter: Reporter, text: str = ""
) -> None:
    mark = exc.problem_mark or exc.context_mark
    span = Span(display, mark.line + 1, mark.column + 1) if mark else Span(display)
    problem = exc.problem or str(exc)
    if "maximum nesting depth" in problem:  # libyaml's own limit, past archc's (64)
        reporter.error("E-LIMIT-DEPTH", "YAML nesting is too deep to read", span)
        return
    if "\\t" in problem or "\t" in problem or _char_at(text, mark) == "\t":
        reporter.error(
            "E-YAML-TAB",
            "tab character in indentation; YAML indents with spaces only",
            span,
            "replace the tabs with spaces",
        )
        return
    context = f" ({exc.context})" if exc.context else ""
    start = exc.context_mark
    if exc.context and start and exc.problem_mark and start.line != exc.problem_mark.line:
        # The problem is often found lines after its cause (an unclosed bracket): say where.
        context = (
            f" ({exc.context} that starts at line {start.line + 1}, column {start.column + 1})"
        )
    reporter.error("E-YAML", f"invalid YAML: {problem}{context}", span)


#: Integers past this many bits (about 300 digits) are refused as written: every size and
#: count archc takes is below 10^15, and a diagnostic still shows them in full.
_MAX_INT_BITS = 1000


def _char_at(text: str, mark: yaml.Mark | None) -> str:
    """The character at a mark (libyaml's messages do not name it)."""
    if mark is None or not text:
        return ""
    start = 0
    for _ in range(mark.line):
        start = text.find("\n", start) + 1
        if start == 0:
            return ""
    index = start + mark.column
    return text[index] if index < len(text) else ""


class _Converter:
    """Turns composed YAML nodes into LocDict / LocList / scalars, enforcing limits."""

    def __init__(self, loader: yaml.SafeLoader, display: str, reporter: Reporter):
        self.loader = loader
        self.display = display
        self.reporter = reporter
        self.count = 0
        self.failed = False

    def convert(self, node: yaml.Node, depth: int, span: Span | None = None) -> object:
        """The value of `node`; `span` is its place when the caller has it already."""
        self.count += 1
        if span is None:
            span = _span(node, self.display)
        if self.count > MAX_NODES:
            raise LimitExceeded(
                span,
                f"spec expands to more than {MAX_NODES:,} YAML values "
                "(alias expansion or a very large file); refusing to continue",
            )
        if depth > MAX_DEPTH:
            raise LimitExceeded(span, f"YAML nesting deeper than {MAX_DEPTH} levels")
        if node.tag not in _STANDARD_TAGS:
            self.failed = True
            self.reporter.error(
                "E-YAML-TAG",
                f"tag '{node.tag}' is not allowed; specs use plain YAML values only",
                span,
            )
            return None
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, span, depth)
        if isinstance(node, yaml.SequenceNode):
            result = LocList(span)
            for item in node.value:
                item_span = _span(item, self.display)
                result.append(self.convert(item, depth + 1, item_span))
                result.item_spans.append(item_span)
            return result
        if node.tag not in _SCALAR_TAGS:
            self.failed = True
            self.reporter.error("E-YAML-TAG", f"tag '{node.tag}' is not allowed in a spec", span)
            return None
        try:
            value = self.loader.construct_object(node, deep=True)
        except (ValueError, OverflowError):
            # Python refuses integers of more than 4,300 digits (a guard against slow
            # conversions); no spec value needs a thousandth of that.
            self.failed = True
            self.reporter.error(
                "E-YAML-NUMBER",
                f"number of {len(str(node.value)):,} characters is too long to read",
                span,
                "archc's values are at most 10^15",
            )
            return None
        if isinstance(value, int) and value.bit_length() > _MAX_INT_BITS:
            # Hexadecimal and octal escape Python's digit limit; the text is the same
            # problem (and str() of such a number would raise later).
            self.failed = True
            self.reporter.error(
                "E-YAML-NUMBER",
                f"number of {len(str(node.value)):,} characters is too large",
                span,
                "archc's values are at most 10^15",
            )
            return None
        if isinstance(value, str) and not value.isascii() and _unpaired_surrogate(value):
            # Only a "\\ud800" escape makes one: no UTF-8 file (model.py, the report) can
            # hold it, so it is refused here rather than failing a build half-way.
            self.failed = True
            self.reporter.error(
                "E-YAML-TEXT",
                f"text holds an unpaired surrogate ({_unpaired_surrogate(value)}), which no "
                "UTF-8 file can hold",
                span,
                "write the character itself, or escape it whole (\\U0001F600, not \\ud83d\\ude00)",
            )
            return None
        return value

    def _mapping(self, node: yaml.MappingNode, span: Span, depth: int) -> LocDict:
        try:
            self.loader.flatten_mapping(node)
        except yaml.MarkedYAMLError as exc:
            self.failed = True
            _report_yaml_error(exc, self.display, self.reporter)
        result = LocDict(span)
        for key_node, value_node in node.value:
            key_span = _span(key_node, self.display)
            key = self.convert(key_node, depth + 1, key_span)
            if isinstance(key, (list, dict)) or key is None:
                self.failed = True
                self.reporter.error(
                    "E-YAML-KEY", "mapping keys must be plain names or numbers", key_span
                )
                continue
            # Variant names like `50:` arrive as ints; keys are always names to us.
            key = str(key).lower() if isinstance(key, bool) else str(key)
            if key in result:
                self.failed = True
                first = result.key_spans[key]
                self.reporter.error(
                    "E-YAML-DUPLICATE-KEY",
                    f"duplicate key '{key}' (first at line {first.line})",
                    key_span,
                )
                continue
            value_span = _span(value_node, self.display)
            result[key] = self.convert(value_node, depth + 1, value_span)
            result.key_spans[key] = key_span
            result.value_spans[key] = value_span
        return result

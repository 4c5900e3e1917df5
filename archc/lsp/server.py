"""`archc lsp`: the language server, over stdio, on pygls.

The server keeps the last analysis of each open spec (`Document`) and answers hover,
definition, completion, outline and code-action requests from it. Analysis runs after
each change once the user pauses typing (DEBOUNCE_SECONDS), on a worker thread, so the
event loop keeps answering requests while a large spec is analysed; a newer edit makes
an older analysis's results obsolete before they are published.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from pathlib import Path
from urllib.parse import unquote, urlparse

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from archc import __version__
from archc.diagnostics import ERROR, Span
from archc.lsp import features
from archc.lsp.document import Document, analyse_default, analyse_other_variants
from archc.lsp.text import Position, Range, from_utf16, to_utf16

DEBOUNCE_SECONDS = 0.15
_KINDS = {
    "kind": types.CompletionItemKind.Class,
    "block": types.CompletionItemKind.Module,
    "field": types.CompletionItemKind.Field,
    "key": types.CompletionItemKind.Keyword,
    "name": types.CompletionItemKind.Reference,
    "variant": types.CompletionItemKind.EnumMember,
}
_SYMBOLS = {
    "namespace": types.SymbolKind.Namespace,
    "class": types.SymbolKind.Class,
    "field": types.SymbolKind.Field,
    "enum": types.SymbolKind.EnumMember,
}


class SpecServer(LanguageServer):
    """pygls server holding the analysed documents and the pending analyses."""

    def __init__(self) -> None:
        super().__init__("archc", __version__)
        self.documents: dict[str, Document] = {}
        self.versions: dict[str, int] = {}
        self.pending: dict[str, asyncio.Task] = {}
        # One worker: analyses of one buffer never overlap, and a burst of edits queues
        # at most one analysis behind the running one (debounce drops the rest).
        self.analyser = concurrent.futures.ThreadPoolExecutor(max_workers=1)

    async def analyse(self, uri: str, delay: float) -> None:
        """Analyse the buffer after `delay` seconds and publish its diagnostics, unless a
        newer change arrives first: the default variant first, then the others."""
        if delay:
            await asyncio.sleep(delay)
        version = self.versions.get(uri, 0)
        text = self.workspace.get_text_document(uri).source
        loop = asyncio.get_running_loop()
        path = path_of(uri)
        document = await loop.run_in_executor(self.analyser, _safe, analyse_default, text, path)
        if self.versions.get(uri, 0) != version:
            return  # obsolete: a newer edit has its own analysis scheduled
        self.publish(uri, document)
        if document.spec is not None and len(document.spec.variant_names()) > 1:
            await loop.run_in_executor(self.analyser, _safe_more, document)
            if self.versions.get(uri, 0) == version:
                self.publish(uri, document)

    def publish(self, uri: str, document: Document) -> None:
        """Keep the document for requests and send its diagnostics."""
        self.documents[uri] = document
        self.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, diagnostics=lsp_diagnostics(document))
        )

    def schedule(self, uri: str) -> None:
        """(Re)start the analysis of a buffer. An edit to an idle buffer is analysed at
        once; edits arriving while one is waiting or running are coalesced (debounced)."""
        self.versions[uri] = self.versions.get(uri, 0) + 1
        waiting = self.pending.pop(uri, None)
        busy = waiting is not None and not waiting.done()
        if busy:
            waiting.cancel()
        delay = DEBOUNCE_SECONDS if busy else 0
        self.pending[uri] = asyncio.ensure_future(self.analyse(uri, delay))


def _safe(analyser, text: str, path: Path) -> Document:
    """Run an analysis, turning an unexpected failure into a diagnostic: the server must
    live on and keep answering."""
    try:
        return analyser(text, path)
    except Exception as exc:  # noqa: BLE001 - any bug must leave the server answering
        document = Document(path, str(path), text, text.split("\n"))
        _internal(document, exc)
        return document


def _safe_more(document: Document) -> None:
    try:
        analyse_other_variants(document)
    except Exception as exc:  # noqa: BLE001
        _internal(document, exc)


def _internal(document: Document, exc: Exception) -> None:
    logging.getLogger("archc.lsp").exception("analysis failed")
    document.reporter.error(
        "E-INTERNAL",
        f"archc could not analyse this spec ({type(exc).__name__}); please report it",
        Span(document.display),
    )


def path_of(uri: str) -> Path:
    """The file a `file:` URI names (other schemes: a path made of the URI's path)."""
    parsed = urlparse(uri)
    return Path(unquote(parsed.path or uri))


# --- protocol conversions -------------------------------------------------------------


def lsp_range(document: Document, value: Range) -> types.Range:
    """An archc range (code points) as a protocol range (UTF-16)."""
    lines = document.lines
    return types.Range(
        start=types.Position(value.start.line, to_utf16(lines, value.start)),
        end=types.Position(value.end.line, to_utf16(lines, value.end)),
    )


def lsp_diagnostics(document: Document) -> list[types.Diagnostic]:
    """The document's diagnostics; those in an imported file are shown at its import."""
    result = []
    for diagnostic in document.diagnostics:
        span = diagnostic.span
        message = diagnostic.message
        if span.file == document.display:
            where = document.span_range(span)
        else:
            where = _import_range(document, span.file)
            message = f"{span}: {message}"
        replacement = features.suggestion(diagnostic)
        result.append(
            types.Diagnostic(
                range=lsp_range(document, where),
                message="\n".join([message, *diagnostic.notes]),
                severity=(
                    types.DiagnosticSeverity.Error
                    if diagnostic.severity == ERROR
                    else types.DiagnosticSeverity.Warning
                ),
                code=diagnostic.code,
                source="archc",
                data={"replacement": replacement} if replacement else None,
            )
        )
    return result


def _import_range(document: Document, file: str) -> Range:
    """The line of the `imports:` item a file came through, else the first line."""
    spec = document.spec
    imports = spec.raw.get("imports") if spec is not None else None
    name = Path(file).name
    for i, target in enumerate(imports or []):
        if isinstance(target, str) and Path(target).name == name:
            return document.span_range(imports.item_span(i))
    return Range(Position(0, 0), Position(0, max(len(document.lines[0]), 1)))


def _position(server: SpecServer, uri: str, position: types.Position):
    document = server.documents.get(uri)
    if document is None:
        return None, None
    return document, from_utf16(document.lines, position.line, position.character)


# --- the server -----------------------------------------------------------------------


def make_server() -> SpecServer:
    """A server with every feature registered."""
    server = SpecServer()

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: SpecServer, params: types.DidOpenTextDocumentParams) -> None:
        ls.schedule(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: SpecServer, params: types.DidChangeTextDocumentParams) -> None:
        ls.schedule(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: SpecServer, params: types.DidSaveTextDocumentParams) -> None:
        ls.schedule(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: SpecServer, params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        ls.versions[uri] = ls.versions.get(uri, 0) + 1
        ls.documents.pop(uri, None)
        ls.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, diagnostics=[])
        )

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    def hover(ls: SpecServer, params: types.HoverParams) -> types.Hover | None:
        document, position = _position(ls, params.text_document.uri, params.position)
        text = features.hover(document, position) if document else None
        if text is None:
            return None
        return types.Hover(contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=text))

    @server.feature(types.TEXT_DOCUMENT_DEFINITION)
    def definition(ls: SpecServer, params: types.DefinitionParams) -> types.Location | None:
        document, position = _position(ls, params.text_document.uri, params.position)
        found = features.definition(document, position) if document else None
        if found is None:
            return None
        target = Document(found.path, str(found.path), "", [])
        if found.path == document.path:
            target = document
        return types.Location(uri=found.path.as_uri(), range=lsp_range(target, found.range))

    @server.feature(
        types.TEXT_DOCUMENT_COMPLETION,
        types.CompletionOptions(trigger_characters=[" ", ":", "[", ","]),
    )
    def completion(ls: SpecServer, params: types.CompletionParams) -> types.CompletionList:
        document, position = _position(ls, params.text_document.uri, params.position)
        items = features.completions(document, position) if document else []
        return types.CompletionList(
            is_incomplete=False,
            items=[
                types.CompletionItem(
                    label=item.label,
                    kind=_KINDS[item.kind],
                    detail=item.detail or None,
                    documentation=item.documentation or None,
                )
                for item in items
            ],
        )

    @server.feature(types.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    def document_symbol(
        ls: SpecServer, params: types.DocumentSymbolParams
    ) -> list[types.DocumentSymbol]:
        document = ls.documents.get(params.text_document.uri)
        if document is None:
            return []
        return [_symbol(document, s) for s in features.symbols(document)]

    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix]),
    )
    def code_action(ls: SpecServer, params: types.CodeActionParams) -> list[types.CodeAction]:
        actions = []
        for diagnostic in params.context.diagnostics:
            data = diagnostic.data if isinstance(diagnostic.data, dict) else {}
            replacement = data.get("replacement")
            if not isinstance(replacement, str):
                continue
            edit = types.TextEdit(range=diagnostic.range, new_text=replacement)
            actions.append(
                types.CodeAction(
                    title=f"Replace with '{replacement}'",
                    kind=types.CodeActionKind.QuickFix,
                    diagnostics=[diagnostic],
                    is_preferred=True,
                    edit=types.WorkspaceEdit(changes={params.text_document.uri: [edit]}),
                )
            )
        return actions

    return server


def _symbol(document: Document, symbol: features.Symbol) -> types.DocumentSymbol:
    where = lsp_range(document, symbol.range)
    return types.DocumentSymbol(
        name=symbol.name,
        kind=_SYMBOLS[symbol.kind],
        range=where,
        selection_range=where,
        detail=symbol.detail or None,
        children=[_symbol(document, c) for c in symbol.children or []],
    )


def serve_stdio() -> None:
    """Run the server on standard input and output until the client says exit."""
    # Logs go to stderr: stdout carries the protocol.
    logging.basicConfig(level=logging.WARNING)
    make_server().start_io()

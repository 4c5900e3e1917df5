"""`archc serve`: the report page of one spec on localhost, rebuilt whenever the spec is saved.

Standard library only: `http.server` in a thread. The server answers exactly two paths:
`/` (the report page of a variant, `/?variant=V`) and `/api/state` (a small JSON document
the page polls: the spec's version, whether it is valid, its diagnostics and variants). Any
other path is a 404, so nothing on disk is ever listed or served. It binds to 127.0.0.1 and
checks the Host header, so other machines and DNS-rebinding pages cannot read it.

The spec (and every file its last good build came from, i.e. its imports) is polled by
modification time and size; the version is a hash of their bytes, so the page reloads only
when the content changed. While the spec has errors the page keeps the last good diagram,
greyed out, under the diagnostics as `archc check` prints them.
"""

from __future__ import annotations

import hashlib
import html
import io
import json
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from archc.diagnostics import ERROR, Diagnostic, Reporter, SpecError, print_diagnostics

#: How often the command line's watcher looks at the spec's modification time.
POLL_S = 0.3
#: Results kept per version (one per variant viewed); unknown variant names are not cached.
MAX_CACHED = 64


@dataclass
class Result:
    """One variant of one version of the spec: its page, or why there is none."""

    ok: bool
    variant: str | None
    page: str | None = None
    diagnostics: list[dict[str, Any]] = field(default_factory=list)
    count_line: str = ""


def _count_line(diagnostics: list[Diagnostic]) -> str:
    buffer = io.StringIO()
    print_diagnostics(diagnostics, buffer)
    lines = buffer.getvalue().splitlines()
    return lines[-1] if lines else ""


def _source_line(path: str, line: int) -> str:
    try:
        lines = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    return lines[line - 1] if 0 < line <= len(lines) else ""


def diagnostics_json(diagnostics: list[Diagnostic]) -> list[dict[str, Any]]:
    """Diagnostics in `archc check`'s order and wording, each with its source line."""
    ordered = sorted(diagnostics, key=lambda d: (d.span, d.severity != ERROR, d.code))
    return [
        {
            "text": d.format(),
            "severity": d.severity,
            "file": d.span.file,
            "line": d.span.line,
            "col": d.span.col,
            "source": _source_line(d.span.file, d.span.line),
        }
        for d in ordered
    ]


class LiveSpec:
    """A spec file being watched: its version, variants and per-variant results."""

    def __init__(
        self, path: str, variant: str | None = None, overrides: dict[str, Any] | None = None
    ):
        self.path = path
        self.first_variant = variant
        self.overrides = overrides or {}
        self.lock = threading.RLock()
        self.variants: list[str] = []
        self.default: str | None = None
        self.version = ""
        self._watched: set[str] = {path}
        self._stamp: tuple = ()
        self._results: dict[str | None, Result] = {}
        self._good: dict[str, str] = {}

    # --- watching ----------------------------------------------------------------------
    def _stat(self) -> tuple:
        stamp = []
        for name in sorted(self._watched):
            try:
                st = Path(name).stat()
                stamp.append((name, st.st_mtime_ns, st.st_size))
            except OSError:
                stamp.append((name, None, None))
        return tuple(stamp)

    def refresh(self) -> bool:
        """Look at the watched files' modification times; True if the content changed."""
        with self.lock:
            stamp = self._stat()
            if stamp == self._stamp:
                return False
            self._stamp = stamp
            digest = hashlib.sha256()
            for name in sorted(self._watched):
                digest.update(name.encode() + b"\0")
                try:
                    digest.update(Path(name).read_bytes())
                except OSError:
                    digest.update(b"\0missing")
            version = digest.hexdigest()[:16]
            if version == self.version:
                return False
            self.version = version
            self._results.clear()
            return True

    # --- building ----------------------------------------------------------------------
    def result(self, variant: str | None = None) -> Result:
        """The result for a variant (None: the one asked for on the command line, else the
        spec's default) at the current version, building it if needed."""
        with self.lock:
            self.refresh()
            wanted = variant or self.first_variant
            if wanted in self._results:
                return self._results[wanted]
            result = self._build(wanted)
            if len(self._results) < MAX_CACHED and (wanted is None or wanted in self.variants):
                self._results[wanted] = result
            return result

    def _build(self, variant: str | None) -> Result:
        from archc.backends.report import report_html
        from archc.pipeline import analyse
        from archc.spec.loader import load_spec

        reporter = Reporter()
        try:
            spec = load_spec(self.path, reporter)
            self.variants = spec.variant_names()
            self.default = spec.default_variant()
            name = variant or self.default
            graph = analyse(spec, name, reporter, self.overrides or None)
        except SpecError as exc:
            found = list(reporter.diagnostics)
            found += [d for d in exc.diagnostics if d not in found]
            return Result(False, variant, None, diagnostics_json(found), _count_line(found))
        # Imported files count too: a save to any of them rebuilds the page.
        files = {n.span.file for n in graph.nodes} | {self.path}
        if files != self._watched:
            self._watched = files
            self._stamp = self._stat()
        live = {
            "version": self.version,
            "variant": graph.variant,
            "variants": self.variants,
            "spec": self.path,
            "has_graph": True,
        }
        page = report_html(graph, live=live)
        self._good[graph.variant] = page
        warnings = reporter.warnings
        return Result(True, graph.variant, page, diagnostics_json(warnings), _count_line(warnings))

    def state(self, variant: str | None) -> dict[str, Any]:
        """The document of /api/state."""
        result = self.result(variant)
        return {
            "version": self.version,
            "ok": result.ok,
            "spec": self.path,
            "variant": result.variant or variant or self.default,
            "variants": self.variants,
            "diagnostics": result.diagnostics,
            "count_line": result.count_line,
        }

    def page(self, variant: str | None) -> str:
        """The page for a variant: the current one, or the last good one while it is broken."""
        result = self.result(variant)
        if result.ok:
            return result.page
        name = variant or self.first_variant or self.default
        if name in self._good:
            return self._good[name]
        from archc.backends.report import waiting_page

        return waiting_page(
            self.path,
            {
                "version": "",
                "variant": name or "",
                "variants": self.variants,
                "spec": self.path,
                "has_graph": False,
            },
        )


# --- HTTP ---------------------------------------------------------------------------------

_CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'"
)


def _handler(live: LiveSpec, allowed_hosts: set[str], quiet: bool) -> type:
    class Handler(BaseHTTPRequestHandler):
        """Answers `/` and `/api/state`; everything else is 404."""

        server_version = "archc-serve"
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
            self._answer(body=True)

        def do_HEAD(self) -> None:  # noqa: N802
            self._answer(body=False)

        def _answer(self, body: bool) -> None:
            host = self.headers.get("Host")
            if host is not None and host.lower() not in allowed_hosts:
                self._send(403, "text/plain", b"forbidden host\n", body)
                return
            url = urlsplit(self.path)
            query = parse_qs(url.query)
            variant = query.get("variant", [None])[0] or None
            if url.path == "/":
                page = live.page(variant).encode("utf-8")
                self._send(200, "text/html; charset=utf-8", page, body)
            elif url.path == "/api/state":
                data = json.dumps(live.state(variant)).encode("utf-8")
                self._send(200, "application/json", data, body)
            else:
                text = f"not found: {html.escape(url.path)}\n".encode()
                self._send(404, "text/plain; charset=utf-8", text, body)

        def _send(self, status: int, kind: str, data: bytes, body: bool) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Content-Security-Policy", _CSP)
            self.end_headers()
            if body:
                self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            if not quiet:
                super().log_message(format, *args)

    return Handler


def start(
    spec: str,
    variant: str | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    quiet: bool = True,
    overrides: dict[str, Any] | None = None,
) -> tuple[ThreadingHTTPServer, LiveSpec, str]:
    """Start serving a spec in a background thread; return (server, live spec, URL)."""
    live = LiveSpec(spec, variant, overrides)
    live.result(variant)
    server = ThreadingHTTPServer((host, port), _handler(live, set(), quiet))
    server.daemon_threads = True
    bound = server.server_address[1]
    names = {host, "localhost", "127.0.0.1", "[::1]"}
    server.RequestHandlerClass = _handler(live, {f"{n}:{bound}".lower() for n in names}, quiet)
    threading.Thread(target=server.serve_forever, name="archc-serve", daemon=True).start()
    return server, live, f"http://{host}:{bound}/"


def serve_command(
    spec: str,
    variant: str | None,
    host: str,
    port: int,
    overrides: dict[str, Any] | None = None,
) -> int:
    """`archc serve`: serve until interrupted, printing a line whenever the spec changes."""
    from archc.spec.source import read_text

    reporter = Reporter()
    if read_text(Path(spec), spec, reporter) is None:
        print_diagnostics(reporter.diagnostics, sys.stderr)
        return 1
    try:
        server, live, url = start(spec, variant, host, port, quiet=True, overrides=overrides)
    except OSError as exc:
        print(f"error: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(f"serving {spec} on {url} (Ctrl+C to stop)", file=sys.stderr, flush=True)
    _report(live, variant)
    try:
        while True:
            time.sleep(POLL_S)
            if live.refresh():
                _report(live, variant)
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    finally:
        server.shutdown()
        server.server_close()
    return 0


def _report(live: LiveSpec, variant: str | None) -> None:
    result = live.result(variant)
    stamp = time.strftime("%H:%M:%S")
    if result.ok:
        print(f"[{stamp}] {live.path} [{result.variant}]: ok", file=sys.stderr, flush=True)
    else:
        print(f"[{stamp}] {live.path}: {result.count_line}", file=sys.stderr, flush=True)
        for item in result.diagnostics:
            print(item["text"], file=sys.stderr, flush=True)

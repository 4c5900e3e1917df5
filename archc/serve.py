"""`archc serve`: the report page of one spec on localhost, rebuilt whenever the spec is saved.

Standard library only: `http.server` in a thread. The server answers exactly two paths:
`/` (the report page of a variant, `/?variant=V`) and `/api/state` (a small JSON document
the page polls: the spec's version, whether it is valid, its diagnostics and variants). Any
other path is a 404, so nothing on disk is ever listed or served. It binds to 127.0.0.1, so
other machines cannot reach it, and checks the Host header against the names of the address
the request came in on, so a DNS-rebinding page (whose requests name its own host) cannot
read it. A Host that names this machine's loopback ("localhost") is believed only from a
loopback peer: with `--host 0.0.0.0`, a remote client that claims it is refused.

Every edit is survived: the spec is read as `archc check` reads it (bounded, regular files
only), so a FIFO or a link to /dev/zero put in its place is an error on the page, and a
failure inside archc is shown there too rather than ending the server.

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
    #: The version of the spec it is of.
    version: str = ""


@dataclass
class _Built:
    """What a build learnt besides its result, applied to the LiveSpec under its lock."""

    variants: list[str] | None = None
    default: str | None = None
    files: set[str] | None = None


def _count_line(diagnostics: list[Diagnostic]) -> str:
    buffer = io.StringIO()
    print_diagnostics(diagnostics, buffer)
    lines = buffer.getvalue().splitlines()
    return lines[-1] if lines else ""


#: The most characters of a source line the page shows under a diagnostic.
MAX_SOURCE_LINE = 400


def _source_line(path: str, line: int) -> str:
    from archc.reading import ReadError, read_bounded

    try:
        data = read_bounded(Path(path))
    except ReadError:
        return ""
    lines = data.decode("utf-8", errors="replace").splitlines()
    text = lines[line - 1] if 0 < line <= len(lines) else ""
    return text if len(text) <= MAX_SOURCE_LINE else text[:MAX_SOURCE_LINE] + "..."


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
        self,
        path: str,
        variant: str | None = None,
        overrides: dict[str, Any] | None = None,
        import_root: str | None = None,
    ):
        self.path = path
        self.first_variant = variant
        self.overrides = overrides or {}
        self.import_root = import_root
        self.lock = threading.RLock()
        self.variants: list[str] = []
        self.default: str | None = None
        self.version = ""
        self._watched: set[str] = {path}
        self._stamp: tuple = ()
        self._results: dict[str | None, Result] = {}
        self._good: dict[str, str] = {}
        #: One lock per (version, variant) being built: builds run outside `lock`, so a
        #: slow one (a large spec, valid or not) holds up only those waiting for it.
        self._building: dict[tuple[str, str | None], threading.Lock] = {}

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
                digest.update(name.encode(errors="surrogateescape") + b"\0")
                digest.update(_content(name))
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
        wanted = variant or self.first_variant
        with self.lock:
            self.refresh()
            version = self.version
            if wanted in self._results:
                return self._results[wanted]
            building = self._building.setdefault((version, wanted), threading.Lock())
        with building:
            with self.lock:
                if self.version == version and wanted in self._results:
                    return self._results[wanted]  # built meanwhile, by another request
            result, learnt = self._build(wanted, version)
            with self.lock:
                self._building.pop((version, wanted), None)
                if learnt.variants is not None:
                    self.variants, self.default = learnt.variants, learnt.default
                if learnt.files is not None and learnt.files != self._watched:
                    # Imported files count too: a save to any of them rebuilds the page.
                    self._watched = learnt.files
                    self._stamp = self._stat()
                if result.ok:
                    self._good[result.variant] = result.page
                cacheable = wanted is None or wanted in self.variants
                if self.version == version and len(self._results) < MAX_CACHED and cacheable:
                    self._results[wanted] = result
            return result

    def _build(self, variant: str | None, version: str) -> tuple[Result, _Built]:
        """Build a variant's result; touches no shared state (it runs outside `lock`)."""
        from archc.backends.report import report_html
        from archc.pipeline import analyse
        from archc.spec.loader import load_spec

        reporter = Reporter()
        learnt = _Built()
        try:
            spec = load_spec(self.path, reporter, import_root=self.import_root)
            learnt.variants, learnt.default = spec.variant_names(), spec.default_variant()
            name = variant or learnt.default
            graph = analyse(spec, name, reporter, self.overrides or None)
        except SpecError as exc:
            found = list(reporter.diagnostics)
            found += [d for d in exc.diagnostics if d not in found]
            return _failed(variant, found, version), learnt
        except Exception as exc:  # noqa: BLE001 - an archc bug must not end the server
            return _internal_error(self.path, variant, exc, version), learnt
        learnt.files = {n.span.file for n in graph.nodes} | {self.path}
        live = {
            "version": version,
            "variant": graph.variant,
            "variants": learnt.variants,
            "spec": self.path,
            "has_graph": True,
        }
        try:
            page = report_html(graph, live=live)
        except Exception as exc:  # noqa: BLE001 - as above
            return _internal_error(self.path, variant, exc, version), learnt
        warnings = reporter.warnings
        return Result(
            True, graph.variant, page, diagnostics_json(warnings), _count_line(warnings), version
        ), learnt

    def state(self, variant: str | None) -> dict[str, Any]:
        """The document of /api/state."""
        result = self.result(variant)
        return {
            "version": result.version,
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


def _content(name: str) -> bytes:
    """What a watched file holds, for the version hash: its bytes, or why it has none (a
    FIFO, a device or a missing file), read as archc reads specs: bounded, never blocking."""
    from archc.reading import ReadError, read_bounded

    try:
        return b"\1" + read_bounded(Path(name))
    except ReadError as exc:
        return b"\0" + exc.message.encode()


def _failed(variant: str | None, found: list[Diagnostic], version: str) -> Result:
    return Result(False, variant, None, diagnostics_json(found), _count_line(found), version)


def _internal_error(path: str, variant: str | None, exc: Exception, version: str) -> Result:
    """A failure inside archc, as the page and the terminal show it (the server lives on)."""
    from archc.diagnostics import Span

    text = (str(exc).splitlines() or [""])[0][:200]
    reporter = Reporter()
    reporter.error(
        "E-INTERNAL",
        f"internal error: {type(exc).__name__}: {text} (please report this, with the spec)",
        Span(path),
    )
    return _failed(variant, reporter.diagnostics, version)


# --- HTTP ---------------------------------------------------------------------------------

_CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'"
)


_LOOPBACK_NAMES = {"localhost", "127.0.0.1", "[::1]", "::1"}


def _split_host(host: str) -> tuple[str, str]:
    """A Host header's name and port (`[::1]:8000` -> `[::1]`, `8000`)."""
    host = host.strip().lower()
    if host.startswith("["):
        name, _, rest = host.partition("]")
        return name + "]", rest.removeprefix(":")
    name, _, port = host.rpartition(":") if host.count(":") == 1 else (host, "", "")
    return name, port


def _is_loopback(address: str) -> bool:
    import ipaddress

    try:
        return ipaddress.ip_address(address.split("%")[0]).is_loopback
    except ValueError:
        return False


def host_allowed(host: str | None, port: int, peer: str, local: str, names: set[str]) -> bool:
    """Whether a request's Host header may be answered.

    The check is against DNS rebinding: a browser names the host it thinks it talks to, so
    a page served from elsewhere can never send a name of this machine. The names accepted
    are those of the address the request came in on (`local`), the address bound, and this
    machine's names (`names`); the loopback names only from a loopback peer, since any
    other client can write "localhost" but only a local one really is.
    """
    if host is None:  # HTTP/1.0; every browser sends a Host
        return _is_loopback(peer)
    name, given_port = _split_host(host)
    if given_port != str(port):
        return False
    if name in _LOOPBACK_NAMES:
        return _is_loopback(peer)
    local_name = f"[{local}]" if ":" in local else local
    return name == local_name or name in names


def _handler(live: LiveSpec, port: int, names: set[str], quiet: bool) -> type:
    class Handler(BaseHTTPRequestHandler):
        """Answers `/` and `/api/state`; everything else is 404."""

        server_version = "archc-serve"
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
            self._answer(body=True)

        def do_HEAD(self) -> None:  # noqa: N802
            self._answer(body=False)

        def _answer(self, body: bool) -> None:
            local = self.connection.getsockname()[0]
            if not host_allowed(
                self.headers.get("Host"), port, self.client_address[0], local, names
            ):
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
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client left; nothing to tell it

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
    import_root: str | None = None,
) -> tuple[ThreadingHTTPServer, LiveSpec, str]:
    """Start serving a spec in a background thread; return (server, live spec, URL)."""
    live = LiveSpec(spec, variant, overrides, import_root)
    live.result(variant)
    server = _Server((host, port), _handler(live, 0, set(), quiet))
    bound = server.server_address[1]
    names = {host.lower(), f"[{host.lower()}]"} - {"0.0.0.0", "::", "[::]", "[0.0.0.0]"}
    if not (host.lower() in _LOOPBACK_NAMES or _is_loopback(host)):
        names |= _machine_names()  # reachable from elsewhere: the names others use for it
    server.RequestHandlerClass = _handler(live, bound, names - _LOOPBACK_NAMES, quiet)
    threading.Thread(target=server.serve_forever, name="archc-serve", daemon=True).start()
    return server, live, f"http://{host}:{bound}/"


def _machine_names() -> set[str]:
    """This machine's host names (what a browser elsewhere on the network may call it)."""
    import socket

    return {socket.gethostname().lower(), socket.getfqdn().lower()} - {""}


class _Server(ThreadingHTTPServer):
    """The HTTP server; a client that leaves mid-answer is not an error worth a traceback."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Ignore clients that disconnect; report anything else on one line."""
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, TimeoutError)):
            return
        print(f"archc serve: request failed: {type(error).__name__}: {error}", file=sys.stderr)


def serve_command(
    spec: str,
    variant: str | None,
    host: str,
    port: int,
    overrides: dict[str, Any] | None = None,
    import_root: str | None = None,
) -> int:
    """`archc serve`: serve until interrupted, printing a line whenever the spec changes."""
    from archc.diagnostics import one_line
    from archc.spec.source import read_text

    reporter = Reporter()
    if read_text(Path(spec), spec, reporter) is None:
        print_diagnostics(reporter.diagnostics, sys.stderr)
        return 1
    try:
        server, live, url = start(spec, variant, host, port, True, overrides, import_root)
    except OSError as exc:
        print(f"error: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(f"serving {one_line(spec)} on {url} (Ctrl+C to stop)", file=sys.stderr, flush=True)
    if not _is_loopback(server.server_address[0]):
        print(
            "note: the page is readable by anyone who can reach this address",
            file=sys.stderr,
            flush=True,
        )
    # The terminal keeps its own record of the version it last reported: the page's
    # requests refresh the spec too, and must not use up a change before it is printed.
    reported = _report(live, variant)
    try:
        while True:
            time.sleep(POLL_S)
            live.refresh()
            if live.version != reported:
                reported = _report(live, variant)
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    finally:
        server.shutdown()
        server.server_close()
    return 0


def _report(live: LiveSpec, variant: str | None) -> str:
    """Print the current result's line (and diagnostics); return the version it is of."""
    from archc.diagnostics import one_line

    result = live.result(variant)
    stamp = time.strftime("%H:%M:%S")
    path = one_line(live.path)
    if result.ok:
        print(f"[{stamp}] {path} [{one_line(result.variant)}]: ok", file=sys.stderr, flush=True)
    else:
        print(f"[{stamp}] {path}: {result.count_line}", file=sys.stderr, flush=True)
        for item in result.diagnostics:
            print(item["text"], file=sys.stderr, flush=True)
    return result.version

"""A minimal LSP client, as an editor is: JSON-RPC with Content-Length framing over the
stdio of a real `archc lsp` subprocess. Notifications the server sends are kept by method,
so a test can wait for the diagnostics of a given document."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class LspClient:
    """Drive `archc lsp` over stdio."""

    def __init__(self) -> None:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from archc.cli import main; main()", "lsp"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=ROOT,
        )
        self.next_id = 0
        self.responses: dict[int, dict] = {}
        self.notifications: queue.Queue = queue.Queue()
        self.lock = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    # --- framing ----------------------------------------------------------------------
    def _send(self, message: dict) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        self.process.stdin.write(f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        self.process.stdin.flush()

    def _read(self) -> None:
        stream = self.process.stdout
        while True:
            length = None
            while True:
                line = stream.readline()
                if not line:
                    return
                if line in (b"\r\n", b"\n"):
                    break
                name, _, value = line.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            message = json.loads(stream.read(length))
            if "id" in message and "method" not in message:
                with self.lock:
                    self.responses[message["id"]] = message
                    self.lock.notify_all()
            elif "id" in message:  # a request from the server (e.g. registerCapability)
                self._send({"id": message["id"], "result": None})
            else:
                self.notifications.put(message)

    # --- requests ---------------------------------------------------------------------
    def request(self, method: str, params: dict | None = None, timeout: float = 30) -> dict:
        """Send a request and wait for its response; returns the whole response message."""
        self.next_id += 1
        ident = self.next_id
        self._send({"id": ident, "method": method, "params": params or {}})
        deadline = time.monotonic() + timeout
        with self.lock:
            while ident not in self.responses:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no response to {method}")
                self.lock.wait(left)
            return self.responses.pop(ident)

    def notify(self, method: str, params: dict) -> None:
        """Send a notification."""
        self._send({"method": method, "params": params})

    def diagnostics(self, uri: str, timeout: float = 30) -> list[dict]:
        """Wait for the next publishDiagnostics for `uri`; return its diagnostics."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no diagnostics for {uri}")
            try:
                message = self.notifications.get(timeout=left)
            except queue.Empty:
                raise TimeoutError(f"no diagnostics for {uri}") from None
            if message.get("method") == "textDocument/publishDiagnostics":
                if message["params"]["uri"] == uri:
                    return message["params"]["diagnostics"]

    # --- lifecycle --------------------------------------------------------------------
    def initialize(self, root: Path) -> dict:
        """The initialize handshake; returns the server's capabilities."""
        response = self.request(
            "initialize",
            {"processId": os.getpid(), "rootUri": root.as_uri(), "capabilities": {}},
        )
        self.notify("initialized", {})
        return response["result"]["capabilities"]

    def open(self, path: Path, text: str, version: int = 1) -> str:
        """Open a document with this text; returns its URI."""
        uri = path.resolve().as_uri()
        item = {"uri": uri, "languageId": "yaml", "version": version, "text": text}
        self.notify("textDocument/didOpen", {"textDocument": item})
        return uri

    def change(self, uri: str, text: str, version: int) -> None:
        """Replace the whole text of a document."""
        self.notify(
            "textDocument/didChange",
            {"textDocument": {"uri": uri, "version": version}, "contentChanges": [{"text": text}]},
        )

    def at(self, method: str, uri: str, line: int, character: int) -> dict:
        """A position request (hover, definition, completion)."""
        params = {"textDocument": {"uri": uri}, "position": {"line": line, "character": character}}
        return self.request(method, params)

    def close(self) -> int:
        """shutdown + exit; returns the exit status."""
        try:
            self.request("shutdown", timeout=10)
            self.notify("exit", {})
            return self.process.wait(timeout=10)
        finally:
            if self.process.poll() is None:
                self.process.kill()

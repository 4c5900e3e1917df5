"""`archc serve` over HTTP (no browser): its two pages, reload on save, errors, safety."""

from __future__ import annotations

import http.client
import json
import os
import queue
import re
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from archc.cli import main
from archc.serve import start

SPEC = """\
network: small
input: [3, 32, 32]
default: narrow
params: {width: 8}
variants:
  narrow: {}
  wide: {params: {width: 16}}
layers:
  - {name: conv1, type: conv, out: width, kernel: 3, padding: 1}
  - relu
  - {name: pool, type: maxpool, kernel: 2, stride: 2}
  - flatten
  - {name: fc, type: linear, out: 10}
"""
# conv1: width*(3*3*3)+width; fc: 10*(width*16*16)+10 (the spec's own arithmetic)
PARAMS = {8: 8 * 27 + 8 + 10 * 8 * 256 + 10, 16: 16 * 27 + 16 + 10 * 16 * 256 + 10}


@pytest.fixture
def served(tmp_path):
    path = tmp_path / "small.yaml"
    path.write_text(SPEC)
    server, live, url = start(str(path))
    yield path, live, url
    server.shutdown()
    server.server_close()


def get(url: str, path: str, host: str | None = None) -> tuple[int, str, str]:
    parts = urllib.request.urlparse(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    conn.putrequest("GET", path, skip_host=host is not None)
    if host is not None:
        conn.putheader("Host", host)
    conn.endheaders()
    response = conn.getresponse()
    body = response.read().decode("utf-8", errors="replace")
    conn.close()
    return response.status, response.getheader("Content-Type") or "", body


def state(url: str, variant: str | None = None) -> dict:
    query = f"?variant={variant}" if variant else ""
    status, kind, body = get(url, "/api/state" + query)
    assert status == 200 and kind == "application/json"
    return json.loads(body)


def save(path: Path, text: str) -> None:
    # Some file systems keep modification times in whole seconds; a size change is seen
    # regardless, and the version is a hash of the content.
    path.write_text(text)


def test_serves_the_report_and_its_state(served):
    path, _, url = served
    assert url.startswith("http://127.0.0.1:")
    status, kind, page = get(url, "/")
    assert status == 200 and kind.startswith("text/html")
    assert 'id="archc-table"' in page and "connect-src 'self'" in page
    assert f"{PARAMS[8]:,}" in page
    first = state(url)
    assert first["ok"] and first["variant"] == "narrow"
    assert first["variants"] == ["narrow", "wide"]
    live = json.loads(re.search(r'id="archc-live">(.*?)</script>', page).group(1))
    assert live["version"] == first["version"]


def test_variant_switch(served):
    _, _, url = served
    status, _, page = get(url, "/?variant=wide")
    assert status == 200 and f"{PARAMS[16]:,}" in page
    assert state(url, "wide")["variant"] == "wide"
    bad = state(url, "huge")
    assert not bad["ok"] and "huge" in bad["diagnostics"][0]["text"]


def test_edit_break_fix(served, tmp_path):
    path, _, url = served
    before = state(url)
    save(path, SPEC.replace("width: 8}", "width: 16}"))
    changed = state(url)
    assert changed["ok"] and changed["version"] != before["version"]
    assert f"{PARAMS[16]:,}" in get(url, "/")[2]

    broken = SPEC.replace("kernel: 2, stride: 2", "kernel: 2, stride: 2, sride: 1")
    save(path, broken)
    failed = state(url)
    assert not failed["ok"]
    # The same lines `archc check` prints, in the same order.
    check = CliRunner().invoke(main, ["check", str(path)])
    assert check.exit_code == 1
    printed = [line for line in check.output.splitlines() if ": error[" in line]
    assert [d["text"].splitlines()[0] for d in failed["diagnostics"]] == printed
    assert failed["count_line"] == check.output.splitlines()[-1]
    line = broken.splitlines().index(next(x for x in broken.splitlines() if "sride" in x)) + 1
    assert failed["diagnostics"][0]["line"] == line
    assert "sride" in failed["diagnostics"][0]["source"]
    # The page keeps the last good diagram while the spec is broken.
    status, _, page = get(url, "/")
    assert status == 200 and f"{PARAMS[16]:,}" in page

    save(path, SPEC)
    fixed = state(url)
    assert fixed["ok"] and fixed["version"] == before["version"]


def test_serves_nothing_else(served):
    _, _, url = served
    for path in (
        "/small.yaml",
        "/../small.yaml",
        "/%2e%2e/small.yaml",
        "/etc/passwd",
        "//etc/passwd",
        "/api",
        "/api/",
        "/index.html",
        "/report.html",
        "/?x=/..",
    ):
        status, _, body = get(url, path)
        if path.startswith("/?"):
            assert status == 200
            continue
        assert status == 404, path
        assert "network:" not in body and "root:" not in body
    # A page on another site that rebinds its name to 127.0.0.1 is refused.
    assert get(url, "/", host="evil.example:80")[0] == 403
    parts = urllib.request.urlparse(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    conn.request("POST", "/", body=b"x")
    assert conn.getresponse().status == 501
    conn.close()


def test_broken_from_the_start(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(SPEC.replace("out: 10", "out: -1"))
    server, _, url = start(str(path))
    try:
        status, _, page = get(url, "/")
        assert status == 200 and "No valid version of this spec yet" in page
        assert not state(url)["ok"]
        save(path, SPEC)
        assert state(url)["ok"]
        assert 'id="archc-table"' in get(url, "/")[2]
    finally:
        server.shutdown()
        server.server_close()


def test_set_overrides_a_parameter(tmp_path):
    path = tmp_path / "small.yaml"
    path.write_text(SPEC)
    server, _, url = start(str(path), overrides={"width": 16})
    try:
        assert f"{PARAMS[16]:,}" in get(url, "/")[2]
    finally:
        server.shutdown()
        server.server_close()


def test_cli_serve_missing_spec(tmp_path):
    result = CliRunner().invoke(main, ["serve", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 1
    assert "nope.yaml" in result.output and "error[" in result.output


def test_cli_serve_runs_until_stopped(tmp_path):
    path = tmp_path / "small.yaml"
    path.write_text(SPEC)
    process = subprocess.Popen(
        [sys.executable, "-m", "archc.cli", "serve", str(path), "--port", "0", "-v", "wide"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stderr.readline()
        match = re.search(r"on (http://127\.0\.0\.1:\d+/)", line)
        assert match, line
        assert state(match.group(1))["variant"] == "wide"
        save(path, SPEC.replace("out: 10", "out: 0"))
        deadline = time.monotonic() + 10
        while "error[" not in (line := process.stderr.readline()) and time.monotonic() < deadline:
            pass
        assert "error[" in line
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_save_to_an_imported_file_rebuilds(tmp_path):
    (tmp_path / "blocks.yaml").write_text(
        "blocks:\n  unit:\n    params: {width: 8}\n    layers:\n"
        "      - {name: conv, type: conv, out: width, kernel: 3, padding: 1}\n      - relu\n"
    )
    path = tmp_path / "net.yaml"
    path.write_text(
        "network: net\ninput: [3, 8, 8]\nimports: [blocks.yaml]\nlayers:\n"
        "  - {name: u, type: unit}\n  - flatten\n  - {name: fc, type: linear, out: 2}\n"
    )
    server, _, url = start(str(path))
    try:
        first = state(url)
        assert first["ok"]
        # conv 3->8, 3x3 with bias: 8*27+8; fc 8*8*8 -> 2 with bias: 512*2+2
        assert f"{8 * 27 + 8 + 512 * 2 + 2:,}" in get(url, "/")[2]
        blocks = (tmp_path / "blocks.yaml").read_text()
        (tmp_path / "blocks.yaml").write_text(blocks.replace("width: 8", "width: 4"))
        second = state(url)
        assert second["ok"] and second["version"] != first["version"]
        assert f"{4 * 27 + 4 + 256 * 2 + 2:,}" in get(url, "/")[2]
    finally:
        server.shutdown()
        server.server_close()


# --------------------------------------------------------------------------- hostile edits


def replace_with(path: Path, kind: str) -> str:
    """Put something hostile where the spec was; return the code the page must show."""
    text = {
        "form feed": (SPEC + "# page\x0cbreak\n", "E-YAML-CHAR"),
        "escape in a key": (SPEC + "a\x1b[31m: 1\n", "E-YAML-CHAR"),
        "overflow": (SPEC.replace("out: width", "out: '1e15 ** 64'"), "E-LIMIT-EXPR"),
        "huge list": (
            SPEC.replace("out: width", "out: '[[[0]*10000]*10000]*10000'"),
            "E-LIMIT-EXPR",
        ),
        "long number": (SPEC.replace("width: 8}", "width: " + "9" * 5000 + "}"), "E-YAML-NUMBER"),
        "deep unary": (SPEC.replace("out: width", "out: '" + "-" * 498 + "1'"), "E-LIMIT-EXPR"),
    }.get(kind)
    if text is not None:
        save(path, text[0])
        return text[1]
    path.unlink()
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "link to /dev/zero":
        path.symlink_to("/dev/zero")
    return "E-FILE-KIND"


def wait_for(url: str, test, timeout: float = 20) -> dict:
    """The first state that passes `test` (saves are seen on the next request)."""
    deadline = time.monotonic() + timeout
    while True:
        current = state(url)
        if test(current) or time.monotonic() > deadline:
            return current
        time.sleep(0.1)


@pytest.mark.parametrize(
    "kind",
    [
        "form feed",
        "escape in a key",
        "overflow",
        "huge list",
        "long number",
        "deep unary",
        "fifo",
        "link to /dev/zero",
    ],
)
def test_serve_survives_every_edit_and_shows_the_error(served, kind):
    path, _, url = served
    assert state(url)["ok"]
    code = replace_with(path, kind)
    started = time.monotonic()
    broken = wait_for(url, lambda s: not s["ok"])
    assert time.monotonic() - started < 15
    assert not broken["ok"], kind
    assert f"error[{code}]" in broken["diagnostics"][0]["text"]
    assert len(json.dumps(broken)) < 20_000
    status, _, page = get(url, "/")
    assert status == 200 and f"{PARAMS[8]:,}" in page  # the last good diagram
    if path.is_symlink() or not path.is_file():
        path.unlink()
    save(path, SPEC.replace("width: 8}", "width: 16}"))
    fixed = wait_for(url, lambda s: s["ok"])
    assert fixed["ok"] and f"{PARAMS[16]:,}" in get(url, "/")[2]


def test_a_failure_inside_archc_is_shown_and_survived(served, monkeypatch):
    import archc.pipeline

    path, _, url = served

    def broken(*args, **kwargs):
        raise RuntimeError("a bug\nsecond line")

    monkeypatch.setattr(archc.pipeline, "analyse", broken)
    save(path, SPEC.replace("width: 8}", "width: 16}"))
    failed = state(url)
    assert not failed["ok"]
    assert (
        "error[E-INTERNAL]: internal error: RuntimeError: a bug" in failed["diagnostics"][0]["text"]
    )
    assert "second line" not in failed["diagnostics"][0]["text"]
    monkeypatch.undo()
    save(path, SPEC)
    assert state(url)["ok"]


def test_an_import_outside_the_folder_is_not_sent_to_the_page(tmp_path):
    (tmp_path / "secret.txt").write_text("SECRET-TOKEN-" + "z" * 5000)
    folder = tmp_path / "project"
    folder.mkdir()
    path = folder / "small.yaml"
    path.write_text(SPEC.replace("layers:\n", "imports: [../secret.txt]\nlayers:\n", 1))
    server, _, url = start(str(path))
    try:
        current = state(url)
        assert not current["ok"] and "error[E-IMPORT-PATH]" in current["diagnostics"][0]["text"]
        assert "SECRET" not in json.dumps(current) and "SECRET" not in get(url, "/")[2]
        path.write_text(SPEC.replace("layers:\n", "imports: [/etc/passwd]\nlayers:\n", 1))
        current = state(url)
        assert "E-IMPORT-PATH" in current["diagnostics"][0]["text"]
        assert "root:" not in json.dumps(current)
    finally:
        server.shutdown()
        server.server_close()


# --------------------------------------------------------------------------- Host header


@pytest.mark.parametrize(
    ("host", "peer", "local", "allowed"),
    [
        ("localhost:8000", "127.0.0.1", "127.0.0.1", True),
        ("127.0.0.1:8000", "127.0.0.1", "127.0.0.1", True),
        ("[::1]:8000", "::1", "::1", True),
        ("localhost:8000", "192.168.1.7", "192.168.1.2", False),  # a spoofed Host
        ("127.0.0.1:8000", "192.168.1.7", "192.168.1.2", False),
        ("192.168.1.2:8000", "192.168.1.7", "192.168.1.2", True),  # the address it came in on
        ("myhost:8000", "192.168.1.7", "192.168.1.2", True),  # this machine's name
        ("evil.example:8000", "127.0.0.1", "127.0.0.1", False),  # DNS rebinding
        ("evil.example:8000", "192.168.1.7", "192.168.1.2", False),
        ("localhost:9999", "127.0.0.1", "127.0.0.1", False),
        ("localhost", "127.0.0.1", "127.0.0.1", False),
        (None, "127.0.0.1", "127.0.0.1", True),
        (None, "192.168.1.7", "192.168.1.2", False),
    ],
)
def test_host_check(host, peer, local, allowed):
    from archc.serve import host_allowed

    assert host_allowed(host, 8000, peer, local, {"myhost"}) is allowed


def _outside_address() -> str | None:
    """An address of this machine other machines could use, if it has one."""
    import socket

    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("10.255.255.255", 1))
            address = probe.getsockname()[0]
    except OSError:
        return None
    return None if address.startswith("127.") else address


def test_a_server_on_every_address_does_not_believe_a_spoofed_localhost(tmp_path):
    path = tmp_path / "small.yaml"
    path.write_text(SPEC)
    server, _, url = start(str(path), host="0.0.0.0")
    port = server.server_address[1]
    try:
        local = f"http://127.0.0.1:{port}/"
        assert get(local, "/", host=f"localhost:{port}")[0] == 200
        assert get(local, "/", host=f"evil.example:{port}")[0] == 403
        address = _outside_address()
        if address is None:
            pytest.skip("this machine has no address but loopback")
        outside = f"http://{address}:{port}/"
        assert get(outside, "/", host=f"localhost:{port}")[0] == 403
        assert get(outside, "/api/state", host=f"127.0.0.1:{port}")[0] == 403
        assert get(outside, "/", host=f"{address}:{port}")[0] == 200
    finally:
        server.shutdown()
        server.server_close()


# --------------------------------------------------------------------------- the terminal


class Lines:
    """The lines a process writes on stderr, read by a thread so a test can wait for one."""

    def __init__(self, process: subprocess.Popen):
        self.queue: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, args=(process,), daemon=True).start()

    def _read(self, process: subprocess.Popen) -> None:
        for line in process.stderr:
            self.queue.put(line)

    def wait(self, test, timeout: float = 20) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.queue.get(timeout=0.2)
            except queue.Empty:
                continue
            self.seen.append(line)
            if test(line):
                return line
        raise AssertionError(f"no such line; seen: {self.seen}")


def serve_process(path: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "archc.cli", "serve", str(path), "--port", "0", *args],
        stderr=subprocess.PIPE,
        text=True,
    )


def test_the_terminal_prints_every_save_although_the_page_sees_it_first(tmp_path):
    """Issue 18: the page's polling used up a change, and the terminal never printed it."""
    path = tmp_path / "small.yaml"
    path.write_text(SPEC)
    process = serve_process(path)
    try:
        lines = Lines(process)
        url = re.search(r"on (http://\S+/)", lines.wait(lambda x: "serving" in x)).group(1)
        lines.wait(lambda x: x.rstrip().endswith(": ok"))
        edits = [
            (SPEC.replace("out: 10", "out: 0"), "1 error"),
            (SPEC.replace("width: 8}", "width: 16}"), ": ok"),
            (SPEC + "# \x0c\n", "1 error"),
            (SPEC, ": ok"),
        ]
        for text, expected in edits:
            before = state(url)["version"]
            save(path, text)
            # The page's poll is the first to see the change ...
            assert wait_for(url, lambda s, b=before: s["version"] != b)["version"] != before
            # ... and the terminal still prints its line.
            lines.wait(lambda x, e=expected: e in x and "[" in x)
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_client_that_disconnects_prints_no_traceback(tmp_path):
    import socket
    import struct

    path = tmp_path / "small.yaml"
    path.write_text(SPEC)
    process = serve_process(path)
    try:
        lines = Lines(process)
        url = re.search(r"on (http://\S+/)", lines.wait(lambda x: "serving" in x)).group(1)
        parts = urllib.request.urlparse(url)
        for _ in range(10):
            with socket.create_connection((parts.hostname, parts.port), timeout=10) as client:
                client.sendall(f"GET / HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n".encode())
                # Close with a reset while the page is being sent.
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        assert state(url)["ok"]
    finally:
        process.terminate()
        _, rest = process.communicate(timeout=10)
    text = "".join(lines.seen) + rest
    assert "Traceback" not in text and "Error" not in text, text


def test_a_slow_build_holds_up_only_those_waiting_for_it(served, monkeypatch):
    """Builds run outside the server's lock: a spec that takes seconds to analyse (or to
    refuse) does not stop the page of another variant from answering."""
    import archc.pipeline

    _, _, url = served
    assert state(url)["ok"]  # the default variant, built and kept
    real = archc.pipeline.analyse

    def slow(spec, variant, *args, **kwargs):
        if variant == "wide":
            time.sleep(4)
        return real(spec, variant, *args, **kwargs)

    monkeypatch.setattr(archc.pipeline, "analyse", slow)
    waiting = threading.Thread(target=state, args=(url, "wide"))
    waiting.start()
    time.sleep(0.5)
    started = time.monotonic()
    assert state(url)["ok"] and get(url, "/")[0] == 200
    assert time.monotonic() - started < 2
    waiting.join()
    assert state(url, "wide")["variant"] == "wide"

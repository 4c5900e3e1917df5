"""`archc serve` over HTTP (no browser): its two pages, reload on save, errors, safety."""

from __future__ import annotations

import http.client
import json
import re
import subprocess
import sys
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

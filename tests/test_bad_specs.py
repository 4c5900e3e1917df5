"""The corpus of broken specs (tests/bad_specs/): each gives exactly its expected diagnostics.

Every case is a small file whose header comment (or, where the file cannot carry one, a
`NAME.expect` sidecar) states what `archc check` must say:

    # archc bad spec: what is wrong
    # args: --variant larg                       (optional extra arguments)
    # expect: LINE:COL error[E-CODE] word | other words
    # expect: blocks/x.yaml:LINE:COL error[E-CODE] words   (a diagnostic in another file)

The locations were written by hand at the YAML node at fault, not copied from archc's
output. Each case must exit 1 with exactly these errors (same count, same place, same code,
the words in the message or its notes), no traceback, and no file written or changed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from archc.cli import main

CORPUS = Path(__file__).resolve().parent / "bad_specs"
EXPECT = re.compile(
    r"#\s*expect:\s*(?:(?P<file>[^\s:]+):)?(?P<line>\d+):(?P<col>\d+)\s+"
    r"error\[(?P<code>[A-Z0-9-]+)\]\s*(?P<words>.*)$"
)
DIAGNOSTIC = re.compile(
    r"^(?P<file>.+?):(?P<line>\d+):(?P<col>\d+): "
    r"(?P<severity>error|warning)\[(?P<code>[A-Z0-9-]+)\]: (?P<message>.*)$"
)


@dataclass
class Expected:
    file: str
    line: int
    col: int
    code: str
    words: list[str]


@dataclass
class Case:
    path: Path
    args: list[str]
    expected: list[Expected]


def _cases() -> list[Case]:
    cases = []
    for path in sorted(CORPUS.iterdir()):
        if path.suffix not in (".yaml", ".bin") or not path.is_file():
            continue
        sidecar = path.with_name(path.name + ".expect")
        header = sidecar.read_text() if sidecar.exists() else path.read_text()
        args, expected = [], []
        for line in header.splitlines():
            if not line.startswith("#"):
                break
            if line.startswith("# args:"):
                args = line.split(":", 1)[1].split()
            match = EXPECT.match(line)
            if match:
                words = [w.strip() for w in match["words"].split("|") if w.strip()]
                expected.append(
                    Expected(
                        match["file"] or path.name,
                        int(match["line"]),
                        int(match["col"]),
                        match["code"],
                        words,
                    )
                )
        assert expected, f"{path.name}: no '# expect:' line"
        cases.append(Case(path, args, expected))
    return cases


CASES = _cases()


def _snapshot(folder: Path) -> dict[str, tuple[int, bytes]]:
    return {
        str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.read_bytes())
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _blocks(stderr: str) -> list[tuple[re.Match, str]]:
    """Each error line with its message and notes as one text."""
    blocks: list[tuple[re.Match, str]] = []
    for line in stderr.splitlines():
        match = DIAGNOSTIC.match(line)
        if match:
            blocks.append((match, match["message"]))
        elif line.startswith("    note: ") and blocks:
            blocks[-1] = (blocks[-1][0], blocks[-1][1] + "\n" + line[10:])
    return [b for b in blocks if b[0]["severity"] == "error"]


def check_output(case: Case, exit_code: int, stdout: str, stderr: str) -> None:
    """Assert exit 1, exactly the expected errors (place, code, words), no traceback."""
    assert "Traceback" not in stdout + stderr, stderr
    assert "internal error" not in stderr, stderr
    assert exit_code == 1, f"exit {exit_code}\n{stderr}"
    errors = _blocks(stderr)
    shown = "\n".join(m.group(0) for m, _ in errors) or stderr
    assert len(errors) == len(case.expected), f"expected {len(case.expected)} error(s):\n{shown}"
    for want in case.expected:
        found = [
            (m, text) for m, text in errors if m["code"] == want.code and m["file"] == want.file
        ]
        assert found, f"no {want.code} in {want.file}:\n{shown}"
        places = [(int(m["line"]), int(m["col"])) for m, _ in found]
        assert (want.line, want.col) in places, (
            f"{want.code} expected at {want.line}:{want.col}, got {places}:\n{shown}"
        )
        text = next(
            text for m, text in found if (int(m["line"]), int(m["col"])) == (want.line, want.col)
        )
        for word in want.words:
            assert word in text, f"{want.code}: {word!r} missing from:\n{text}"


def test_corpus_is_large_enough():
    assert len(CASES) >= 80
    codes = {e.code for case in CASES for e in case.expected}
    assert len(codes) >= 30, sorted(codes)


@pytest.mark.parametrize("case", CASES, ids=[c.path.name for c in CASES])
def test_bad_spec(case: Case, monkeypatch):
    monkeypatch.chdir(CORPUS)
    before = _snapshot(CORPUS)
    result = CliRunner().invoke(main, ["check", case.path.name, *case.args])
    # CliRunner would swallow an exception that escaped main; it must not exist.
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    check_output(case, result.exit_code, result.stdout, result.stderr)
    assert _snapshot(CORPUS) == before, "the check wrote or changed a file"


SUBPROCESS_SAMPLE = [
    "yaml_python_tag.yaml",
    "not_utf8.bin",
    "add_channel_mismatch.yaml",
    "import_cycle.yaml",
    "unknown_variant_cli.yaml",
]


@pytest.mark.parametrize("name", SUBPROCESS_SAMPLE)
def test_bad_spec_in_a_real_process(name: str, tmp_path):
    """A few cases through the installed entry point, as a user runs it."""
    case = next(c for c in CASES if c.path.name == name)
    before = _snapshot(CORPUS)
    env = dict(os.environ, ARCHC_DEBUG="0")
    proc = subprocess.run(
        [sys.executable, "-c", "from archc.cli import main; main()", "check", name, *case.args],
        cwd=CORPUS,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    check_output(case, proc.returncode, proc.stdout, proc.stderr)
    assert _snapshot(CORPUS) == before
    assert not (CORPUS / "build").exists()


def test_summary_and_build_refuse_bad_specs_without_writing(tmp_path, monkeypatch):
    """The other commands give the same diagnostics and write nothing."""
    monkeypatch.chdir(CORPUS)
    case = next(c for c in CASES if c.path.name == "kernel_larger_than_input.yaml")
    out = tmp_path / "out"
    for args in (
        ["summary", case.path.name],
        ["summary", case.path.name, "--json"],
        ["build", case.path.name, "-o", str(out), "--target", "summary"],
    ):
        result = CliRunner().invoke(main, args)
        check_output(case, result.exit_code, result.stdout, result.stderr)
        assert result.stdout == ""
    assert not out.exists() or not any(out.iterdir())


def test_internal_error_is_one_line_and_exit_3(monkeypatch, tmp_path):
    """A bug in archc (not the spec) is one line asking for a report, exit status 3."""
    import archc.pipeline

    def broken(*args, **kwargs):
        raise ZeroDivisionError("simulated bug")

    spec = tmp_path / "ok.yaml"
    spec.write_text("network: t\ninput: [3, 8, 8]\nlayers: [relu]\n")
    monkeypatch.setattr(archc.pipeline, "analyse", broken)
    monkeypatch.delenv("ARCHC_DEBUG", raising=False)
    result = CliRunner().invoke(main, ["check", str(spec)])
    assert result.exit_code == 3
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "internal error" in lines[0] and "simulated bug" in lines[0]
    assert "please report" in lines[0]
    monkeypatch.setenv("ARCHC_DEBUG", "1")
    result = CliRunner().invoke(main, ["check", str(spec)])
    assert isinstance(result.exception, ZeroDivisionError)

"""Hostile YAML and resource attacks: each is refused with its own diagnostic, quickly, in
bounded memory, with no code run and nothing written.

The subprocess checks run `archc check` under a hard address-space limit (RLIMIT_AS) and a
timeout: a spec that made archc expand a bomb would die of MemoryError (exit 3, "internal
error") or time out instead of exiting 1 with the expected diagnostic.
"""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest

from archc.diagnostics import Reporter, SpecError
from archc.passes import expand as expand_module
from archc.pipeline import load
from archc.spec import source

MEMORY_LIMIT = 1 << 30  # 1 GiB of address space: archc check needs well under 100 MiB
BASE = "network: t\ninput: [3, 8, 8]\nlayers: [relu]\n"


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def run_check(path: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """`archc check` in a fresh process with bounded memory and time, in the spec's folder."""
    env = dict(os.environ)
    env.pop("ARCHC_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-c", "from archc.cli import main; main()", "check", path.name, *args],
        cwd=path.parent,
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=_limit_memory,
        env=env,
    )


def assert_refused(proc: subprocess.CompletedProcess, code: str, *words: str) -> str:
    """Exit 1 with `code` on stderr (and the words), no traceback, nothing on stdout."""
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out and "internal error" not in out, out
    assert proc.returncode == 1, out
    assert f": error[{code}]: " in proc.stderr, out
    for word in words:
        assert word in proc.stderr, out
    return proc.stderr


def codes(path: Path) -> list[str]:
    """The error codes of loading a spec in-process (SpecError is the only way to fail)."""
    try:
        load(path)
    except SpecError as exc:
        return [d.code for d in exc.diagnostics if d.severity == "error"]
    return []


# --------------------------------------------------------------------------- tags


@pytest.mark.parametrize(
    "tagged",
    [
        '!!python/object/apply:os.system ["touch CANARY"]',
        '!!python/object/new:os.system ["touch CANARY"]',
        "!!python/object:builtins.object {}",
        "!!python/name:os.system",
        "!!python/module:os",
        '!!python/tuple ["touch CANARY"]',
        "!!binary dG91Y2ggQ0FOQVJZ",
        "!!timestamp 2001-12-14",
        "!!set {a, b}",
        "!custom value",
        "!<tag:example.com,2000:app/x> value",
    ],
)
def test_non_standard_tags_are_refused(tagged, tmp_path, monkeypatch):
    spec = tmp_path / "tagged.yaml"
    spec.write_text(BASE + f"description: {tagged}\n")
    monkeypatch.chdir(tmp_path)
    assert codes(spec) == ["E-YAML-TAG"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tagged.yaml"]


def test_python_apply_tag_runs_nothing_in_a_real_process(tmp_path):
    canary = tmp_path / "CANARY"
    spec = tmp_path / "apply.yaml"
    spec.write_text(
        "network: t\ninput: [3, 8, 8]\n"
        f'description: !!python/object/apply:os.system ["touch {canary}"]\n'
        f'class_name: !!python/object/apply:subprocess.call [["touch", "{canary}"]]\n'
        "layers: [relu]\n"
    )
    stderr = assert_refused(run_check(spec), "E-YAML-TAG", "apply.yaml:3:14:", "apply.yaml:4:13:")
    assert stderr.count("error[E-YAML-TAG]") == 2
    assert not canary.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["apply.yaml"]


# --------------------------------------------------------------------------- aliases


def billion_laughs(levels: int = 9, width: int = 9) -> str:
    lines = [BASE.rstrip("\n"), "params:", '  a: &a ["lol"' + ', "lol"' * (width - 1) + "]"]
    previous = "a"
    for name in "bcdefghijklmnop"[: levels - 1]:
        lines.append(f"  {name}: &{name} [" + ", ".join([f"*{previous}"] * width) + "]")
        previous = name
    return "\n".join(lines) + "\n"


def test_billion_laughs_is_refused_fast_and_small(tmp_path):
    spec = tmp_path / "laughs.yaml"
    spec.write_text(billion_laughs())  # 9**9 = 387,420,489 strings once expanded
    tracemalloc.start()
    start = time.perf_counter()
    with pytest.raises(SpecError) as caught:
        load(spec)
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert [d.code for d in caught.value.diagnostics] == ["E-LIMIT-ALIAS"]
    diagnostic = caught.value.diagnostics[0]
    # The innermost value past the 200,000 limit: f (1 + 9 + 81 + ... + 9**6 = 597,871
    # values) on line 10, at its anchor.
    assert (diagnostic.span.line, diagnostic.span.col) == (10, 6)
    assert elapsed < 2.0
    assert peak < 20 * 1024 * 1024


def test_billion_laughs_in_a_real_process(tmp_path):
    spec = tmp_path / "laughs.yaml"
    spec.write_text(billion_laughs())
    assert_refused(run_check(spec), "E-LIMIT-ALIAS", "laughs.yaml:10:6:", "aliases")


def test_recursive_alias_is_refused(tmp_path):
    spec = tmp_path / "loop.yaml"
    spec.write_text(BASE + "params:\n  a: &a [1, *a]\n")
    assert_refused(run_check(spec), "E-LIMIT-ALIAS", "loop.yaml:5:6:", "contains itself")


def test_modest_aliases_are_still_allowed(tmp_path):
    spec = tmp_path / "shared.yaml"
    spec.write_text(
        "network: t\ninput: [3, 8, 8]\n"
        "params: {w: &w 8}\n"
        "layers:\n  - &c {type: conv, out: *w, kernel: 3, padding: 1}\n  - *c\n  - relu\n"
    )
    graph = load(spec)
    assert [n.shape for n in graph.layers()] == [(8, 8, 8), (8, 8, 8), (8, 8, 8)]


def test_many_values_without_aliases_are_refused_before_conversion(tmp_path, monkeypatch):
    # Lowered so the test is quick: PyYAML alone reads only ~100,000 values a second.
    monkeypatch.setattr(source, "MAX_NODES", 1000)
    spec = tmp_path / "wide.yaml"
    spec.write_text(BASE + "params:\n  t: [" + "0, " * 1000 + "0]\n")
    assert codes(spec) == ["E-LIMIT-VALUES"]
    spec.write_text(BASE + "params:\n  t: [" + "0, " * 900 + "0]\n")
    assert codes(spec) == []


# --------------------------------------------------------------------------- nesting


@pytest.mark.parametrize(
    ("opening", "closing"), [("[", "]"), ("{a: ", "}"), ("- ", "")], ids=["lists", "maps", "block"]
)
def test_deep_nesting_is_refused(opening, closing, tmp_path):
    depth = 100_000
    if opening == "- ":  # block sequences nest on one line: `- - - x`
        text = BASE + "params:\n  deep:\n    " + opening * depth + "x\n"
    else:
        text = BASE + "params: {deep: " + opening * depth + "1" + closing * depth + "}\n"
    spec = tmp_path / "deep.yaml"
    spec.write_text(text)
    start = time.perf_counter()
    proc = run_check(spec)
    assert_refused(proc, "E-LIMIT-DEPTH", "deep.yaml:", "nest")
    assert time.perf_counter() - start < 60


def test_nesting_just_past_the_limit_is_located(tmp_path):
    spec = tmp_path / "deep.yaml"
    levels = source.MAX_DEPTH + 5
    spec.write_text(BASE + "params: {deep: " + "[" * levels + "]" * levels + "}\n")
    with pytest.raises(SpecError) as caught:
        load(spec)
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.code == "E-LIMIT-DEPTH"
    # Root map is depth 0, params' map 1, the first list 2: the list at depth 65 is the
    # 64th bracket, at column 16 + 63 of line 4.
    assert (diagnostic.span.line, diagnostic.span.col) == (4, 16 + 63)


# --------------------------------------------------------------------------- file size


def test_huge_file_is_refused_by_size_without_reading_it(tmp_path, monkeypatch):
    spec = tmp_path / "huge.yaml"
    with spec.open("wb") as handle:  # a sparse 100 MB file: costs no disk
        handle.write(BASE.encode())
        handle.truncate(100 * 1024 * 1024)

    def no_reading(*args, **kwargs):
        raise AssertionError("the file was read")

    monkeypatch.setattr(Path, "read_bytes", no_reading)
    monkeypatch.setattr(Path, "read_text", no_reading)
    monkeypatch.setattr(Path, "open", no_reading)
    reporter = Reporter()
    assert source.read_text(spec, "huge.yaml", reporter) is None
    (diagnostic,) = reporter.diagnostics
    assert diagnostic.code == "E-LIMIT-FILE-SIZE"
    assert "104,857,600 bytes" in diagnostic.message


def test_huge_file_in_a_real_process(tmp_path):
    spec = tmp_path / "huge.yaml"
    with spec.open("wb") as handle:
        handle.write(BASE.encode())
        handle.truncate(100 * 1024 * 1024)
    assert_refused(
        run_check(spec, timeout=30), "E-LIMIT-FILE-SIZE", "huge.yaml:1:1:", "104,857,600"
    )


def test_file_just_over_the_limit_is_refused(tmp_path):
    spec = tmp_path / "big.yaml"
    spec.write_text(BASE + "#" * (source.MAX_FILE_BYTES - len(BASE) + 1))
    assert codes(spec) == ["E-LIMIT-FILE-SIZE"]
    spec.write_text(BASE + "#" * (source.MAX_FILE_BYTES - len(BASE) - 1))
    assert codes(spec) == []


# --------------------------------------------------------------------------- repeat and blocks


def test_repeat_of_a_billion_is_refused(tmp_path):
    spec = tmp_path / "repeat.yaml"
    spec.write_text("network: t\ninput: [3, 8, 8]\nlayers:\n  - {type: relu, repeat: 1000000000}\n")
    assert_refused(run_check(spec), "E-LIMIT-REPEAT", "repeat.yaml:4:26:", "1,000,000,000")


def test_nested_repeats_are_refused(tmp_path, monkeypatch):
    """Repeats of repeats: refused where the copies would pass MAX_LAYERS (lowered here so
    the test is quick)."""
    monkeypatch.setattr(expand_module, "MAX_LAYERS", 3000)
    spec = tmp_path / "nested.yaml"
    spec.write_text(
        "network: t\ninput: [3, 8, 8]\nblocks:\n  stage:\n    layers:\n"
        "      - {type: relu, repeat: 1000}\n"
        "layers:\n  - {type: stage, repeat: 10}\n"
    )
    with pytest.raises(SpecError) as caught:
        load(spec)
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.code == "E-LIMIT-REPEAT"
    assert (diagnostic.span.line, diagnostic.span.col) == (6, 30)
    assert re.search(r"1,000 copies is more than the \d+ layers left", diagnostic.message)


def fan_out(levels: int, width: int, with_repeat: bool) -> str:
    lines = ["network: t", "input: [3, 8, 8]", "blocks:"]
    for level in range(levels):
        inner = f"b{level + 1}" if level + 1 < levels else "relu"
        body = (
            f"[{{type: {inner}, repeat: {width}}}]"
            if with_repeat
            else ("[" + ", ".join([inner] * width) + "]")
        )
        lines.append(f"  b{level}: {{layers: {body}}}")
    lines.append("layers: [b0]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("with_repeat", "code"), [(True, "E-LIMIT-REPEAT"), (False, "E-LIMIT-LAYERS")]
)
def test_exponential_block_fan_out_hits_the_layer_limit(with_repeat, code, tmp_path, monkeypatch):
    """Ten copies at each of nine levels (10**9 layers): stopped at MAX_LAYERS (lowered
    here so the test is quick; the real limit is checked by the slow test below)."""
    monkeypatch.setattr(expand_module, "MAX_LAYERS", 3000)
    spec = tmp_path / "fan.yaml"
    spec.write_text(fan_out(9, 10, with_repeat))
    start = time.perf_counter()
    assert code in codes(spec)
    assert time.perf_counter() - start < 30


@pytest.mark.slow
def test_exponential_fan_out_in_a_real_process(tmp_path):
    spec = tmp_path / "fan.yaml"
    spec.write_text(fan_out(9, 10, False))
    assert_refused(run_check(spec, timeout=300), "E-LIMIT-LAYERS", "100,000 layers")


def test_block_chain_deeper_than_the_limit(tmp_path):
    depth = expand_module.MAX_BLOCK_DEPTH + 8
    lines = ["network: t", "input: [3, 8, 8]", "blocks:"]
    for level in range(depth):
        inner = f"b{level + 1}" if level + 1 < depth else "relu"
        lines.append(f"  b{level}: {{layers: [{inner}]}}")
    lines.append("layers: [b0]")
    spec = tmp_path / "chain.yaml"
    spec.write_text("\n".join(lines) + "\n")
    assert_refused(run_check(spec), "E-LIMIT-DEPTH", "blocks nest deeper than")


def test_block_recursion_through_a_parameter(tmp_path):
    spec = tmp_path / "rec.yaml"
    spec.write_text(
        "network: t\ninput: [3, 8, 8]\nparams: {inner: loop}\nblocks:\n"
        "  loop:\n    layers:\n      - relu\n      - {type: $inner}\n"
        "layers:\n  - loop\n"
    )
    assert codes(spec) == ["E-BLOCK-RECURSION"]


def test_import_chain_deeper_than_the_limit(tmp_path):
    from archc.spec.loader import MAX_IMPORT_DEPTH

    count = MAX_IMPORT_DEPTH + 4
    for i in range(count):
        follow = f"imports: [f{i + 1}.yaml]\n" if i + 1 < count else ""
        (tmp_path / f"f{i}.yaml").write_text(follow + "blocks: {}\n")
    spec = tmp_path / "main.yaml"
    spec.write_text(BASE + "imports: [f0.yaml]\n")
    assert_refused(run_check(spec), "E-LIMIT-IMPORTS", "imports nest deeper")


def test_huge_numbers_are_refused_not_crashed_on(tmp_path):
    spec = tmp_path / "big.yaml"
    spec.write_text(
        "network: t\ninput: [3, 8, 8]\nlayers:\n"
        "  - {name: conv1, type: conv, out: 100000000000000000000000, kernel: 3}\n"
    )
    stderr = assert_refused(run_check(spec), "E-LIMIT-SIZE", "big.yaml:4:5:", "conv 'conv1'")
    assert "1,000,000" in stderr
    spec.write_text("network: t\ninput: [3, 99999999999999999999, 8]\nlayers: [relu]\n")
    assert_refused(run_check(spec), "E-LIMIT-SIZE", "big.yaml:2:12:")


# --------------------------------------------------------------------------- what is read

ZERO_CMDS = [
    ("check", []),
    ("summary", []),
    ("variants", []),
    ("graph", ["-o", "out.dot"]),
    ("build", ["-o", "out", "--target", "summary"]),
]


def run_archc(
    cwd: Path, *args: str, timeout: float = 60, stdin=None
) -> subprocess.CompletedProcess:
    """Any `archc` command in a fresh process with bounded memory and time."""
    env = dict(os.environ)
    env.pop("ARCHC_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-c", "from archc.cli import main; main()", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=_limit_memory,
        env=env,
        stdin=stdin,
    )


def special_file(kind: str, folder: Path) -> Path:
    """A spec path that is not a regular file: a FIFO, a link to a device, a folder."""
    path = folder / "net.yaml"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "zero-link":
        path.symlink_to("/dev/zero")
    elif kind == "folder":
        path.mkdir()
    return path


@pytest.mark.parametrize("kind", ["fifo", "zero-link"])
@pytest.mark.parametrize(("command", "extra"), ZERO_CMDS)
def test_specs_that_are_not_regular_files_are_refused(kind, command, extra, tmp_path):
    """Reading a FIFO waits for a writer forever and /dev/zero never ends: both are refused
    before they are read, by every command that reads a spec."""
    special_file(kind, tmp_path)
    proc = run_archc(tmp_path, command, "net.yaml", *extra, timeout=30)
    assert_refused(proc, "E-FILE-KIND", "net.yaml:1:1:", "not a regular file")
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.dot").exists()


def test_a_device_inside_a_folder_build_is_refused(tmp_path):
    (tmp_path / "good.yaml").write_text(BASE)
    (tmp_path / "zero.yaml").symlink_to("/dev/zero")
    os.mkfifo(tmp_path / "pipe.yaml")
    proc = run_archc(tmp_path, "build", ".", "-o", "out", "--target", "summary", timeout=30)
    assert_refused(proc, "E-FILE-KIND", "zero.yaml:1:1:", "pipe.yaml:1:1:")


def test_dev_zero_and_its_python_api(tmp_path):
    import archc

    assert_refused(run_archc(tmp_path, "check", "/dev/zero"), "E-FILE-KIND", "character device")
    special_file("fifo", tmp_path)
    with pytest.raises(SpecError) as info:
        archc.load(tmp_path / "net.yaml")
    assert [d.code for d in info.value.diagnostics] == ["E-FILE-KIND"]


def test_standard_input_is_read_to_the_limit_only(tmp_path):
    with open("/dev/zero", "rb") as zero:
        proc = run_archc(tmp_path, "check", "-", stdin=zero, timeout=30)
    assert_refused(proc, "E-LIMIT-FILE-SIZE", "<stdin>:1:1:")


def test_a_file_whose_size_lies_is_read_to_the_limit_plus_one_byte(tmp_path, monkeypatch):
    """The size a file claims is not trusted (it may grow, or be a /proc file that says 0):
    the read itself stops one byte past the limit."""
    from archc import reading

    spec = tmp_path / "net.yaml"
    spec.write_text(BASE + "#" * 100)
    with pytest.raises(reading.TooLarge):  # the size it states is over the limit
        reading.read_bounded(spec, 40)
    reads = []
    real_read, real_fstat = os.read, os.fstat

    def claims_empty(fd):
        info = real_fstat(fd)
        return os.stat_result((info.st_mode, 0, 0, 1, 0, 0, 0, 0, 0, 0))

    monkeypatch.setattr(os, "read", lambda fd, n: reads.append(n) or real_read(fd, n))
    monkeypatch.setattr(os, "fstat", claims_empty)
    assert len(reading.read_bounded(spec, 40)) == 41
    assert sum(reads) == 41


# --------------------------------------------------------------------------- characters


@pytest.mark.parametrize(
    "char", ["\x00", "\x07", "\x0c", "\x1b", "\x7f", "\x9b", "\ufffe", "\uffff", "\x08"]
)
@pytest.mark.parametrize("where", ["comment", "value", "key"])
def test_control_characters_are_located(char, where, tmp_path):
    text = {
        "comment": f"{BASE}# a{char}b\n",
        "value": f"{BASE}description: a{char}b\n",
        "key": f"{BASE}a{char}b: 1\n",
    }[where]
    spec = tmp_path / "net.yaml"
    spec.write_text(text, encoding="utf-8")
    col = {"comment": 4, "value": 15, "key": 2}[where]
    with pytest.raises(SpecError) as info:
        load(spec)
    (diagnostic,) = info.value.diagnostics
    assert (diagnostic.code, diagnostic.span.line, diagnostic.span.col) == ("E-YAML-CHAR", 4, col)
    assert f"U+{ord(char):04X}" in diagnostic.message


def test_a_control_character_in_a_real_process(tmp_path):
    spec = tmp_path / "net.yaml"
    spec.write_text(f"{BASE}# page\x0cbreak \x1b[31m\ufffe\n", encoding="utf-8")
    stderr = assert_refused(run_check(spec), "E-YAML-CHAR", "net.yaml:4:7:", "form feed")
    assert not any(c in stderr for c in "\x0c\x1b\ufffe")


def test_escaped_control_characters_in_quoted_strings_are_text(tmp_path):
    spec = tmp_path / "net.yaml"
    spec.write_text(BASE + 'description: "a\\fb\\x1b[31m"\n')
    assert codes(spec) == []


# --------------------------------------------------------------------------- numbers


@pytest.mark.parametrize(
    "number", ["9" * 5000, "0x" + "f" * 20000, "-" + "1" * 400, "0" + "7" * 5000]
)
def test_integers_too_long_to_read_are_located(number, tmp_path):
    spec = tmp_path / "net.yaml"
    spec.write_text(f"{BASE}params: {{width: {number}}}\n")
    with pytest.raises(SpecError) as info:
        load(spec)
    (diagnostic,) = info.value.diagnostics
    assert (diagnostic.code, diagnostic.span.line, diagnostic.span.col) == ("E-YAML-NUMBER", 4, 17)
    assert len(diagnostic.message) < 100


@pytest.mark.parametrize(
    "value",
    ["[" * 3000 + "]" * 3000, "{a: " * 3000 + "1" + "}" * 3000, "9" * 5000, "a\x1bb"],
)
def test_set_values_are_read_under_a_specs_limits(value, tmp_path):
    (tmp_path / "net.yaml").write_text(BASE + "params: {width: 4}\n")
    proc = run_archc(tmp_path, "check", "net.yaml", "--set", f"width={value}")
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    assert "is not a YAML value archc takes" in proc.stderr
    assert len(proc.stderr) < 1000


def test_booleans_are_not_numbers(tmp_path):
    spec = tmp_path / "net.yaml"
    spec.write_text(
        "network: t\ninput: [3, 8, 8]\nlayers:\n"
        "  - {type: conv, out: true, kernel: 3}\n"
        "  - {type: dropout, p: true}\n"
        "  - {type: maxpool, kernel: 2, stride: false}\n"
    )
    stderr = assert_refused(run_check(spec), "E-FIELD-VALUE", "net.yaml:4:23:", "net.yaml:5:24:")
    assert "out must be a number, not true" in stderr and "p must be a number" in stderr
    assert "net.yaml:6:" in stderr
    spec.write_text(BASE + "training: {lr: true}\n")
    assert_refused(run_check(spec), "E-FIELD-VALUE", "net.yaml:4:", "lr must be a number")


# --------------------------------------------------------------------------- imports


def imports_tree(tmp_path: Path) -> Path:
    """A spec folder inside a parent that holds a 'secret' and a shared block file."""
    (tmp_path / "secret.yaml").write_text("SECRET-TOKEN-" + "x" * 5000 + "\n")
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "blocks.yaml").write_text("blocks:\n  unit:\n    layers: [relu]\n")
    project = tmp_path / "project"
    (project / "lib").mkdir(parents=True)
    (project / "lib" / "blocks.yaml").write_text("blocks:\n  unit:\n    layers: [relu]\n")
    return project


def import_spec(project: Path, target: str) -> Path:
    spec = project / "net.yaml"
    spec.write_text(f"network: t\ninput: [3, 8, 8]\nimports: [{target!r}]\nlayers: [unit]\n")
    return spec


@pytest.mark.parametrize(
    ("target", "why"),
    [
        ("{root}/secret.yaml", "absolute path"),
        ("/etc/passwd", "absolute path"),
        ("../secret.yaml", "through '..'"),
        ("lib/../../secret.yaml", "through '..'"),
        ("~/secret.yaml", "absolute path"),
        ("link.yaml", "through a symbolic link"),
        ("linked/secret.yaml", "through a symbolic link"),
    ],
)
def test_imports_are_confined_to_the_specs_folder(target, why, tmp_path):
    project = imports_tree(tmp_path)
    (project / "link.yaml").symlink_to(tmp_path / "secret.yaml")
    (project / "linked").symlink_to(tmp_path)
    spec = import_spec(project, target.format(root=tmp_path))
    stderr = assert_refused(run_check(spec), "E-IMPORT-PATH", "net.yaml:3:11:", why)
    assert "SECRET" not in stderr and "root:" not in stderr


def test_imports_inside_the_folder_and_links_that_stay_inside_are_read(tmp_path):
    project = imports_tree(tmp_path)
    (project / "alias.yaml").symlink_to(project / "lib" / "blocks.yaml")
    assert codes(import_spec(project, "lib/blocks.yaml")) == []
    assert codes(import_spec(project, "alias.yaml")) == []
    assert codes(import_spec(project, "lib/../lib/blocks.yaml")) == []


def test_an_imported_file_cannot_import_its_way_out(tmp_path):
    project = imports_tree(tmp_path)
    (project / "lib" / "blocks.yaml").write_text("imports: [../../secret.yaml]\nblocks: {}\n")
    stderr = assert_refused(run_check(import_spec(project, "lib/blocks.yaml")), "E-IMPORT-PATH")
    assert "lib/blocks.yaml:1:11:" in stderr and "SECRET" not in stderr


def test_import_root_lets_a_spec_share_a_parents_blocks(tmp_path):
    import archc

    project = imports_tree(tmp_path)
    spec = import_spec(project, "../shared/blocks.yaml")
    assert_refused(run_check(spec), "E-IMPORT-PATH")
    proc = run_check(spec, "--import-root", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert archc.load(spec, import_root=tmp_path).summary()["layers"][0]["type"] == "relu"
    with pytest.raises(SpecError):
        archc.load(spec)
    # The root confines, it does not open: a path past it is still refused.
    outside = import_spec(project, "../../outside.yaml")
    (tmp_path.parent / "outside.yaml").write_text("blocks: {}\n")
    assert_refused(run_check(outside, "--import-root", str(tmp_path)), "E-IMPORT-PATH")


@pytest.mark.parametrize(("command", "extra"), ZERO_CMDS)
def test_every_command_confines_imports(command, extra, tmp_path):
    project = imports_tree(tmp_path)
    import_spec(project, "../secret.yaml")
    proc = run_archc(project, command, "net.yaml", *extra)
    assert_refused(proc, "E-IMPORT-PATH", "net.yaml:3:11:")
    assert "SECRET" not in proc.stdout + proc.stderr


def test_a_file_that_is_not_a_mapping_is_quoted_short(tmp_path):
    project = imports_tree(tmp_path)
    (project / "notes.yaml").write_text("SECRET-TOKEN-" + "y" * 5000 + "\n")
    stderr = assert_refused(run_check(import_spec(project, "notes.yaml")), "E-NOT-MAPPING")
    assert "SECRET-TOKEN-" in stderr and "yyyy" * 30 not in stderr
    assert "(5,013 characters)" in stderr
    assert max(len(line) for line in stderr.splitlines()) < 300


# --------------------------------------------------------------------------- large invalid files


def test_a_large_invalid_file_is_not_reparsed_in_pure_python(tmp_path, monkeypatch):
    """A syntax error in a large file is reported as libyaml finds it: the pure-Python
    parser took 10-17 s to find it again in a 1 MiB spec."""
    import yaml

    if not hasattr(yaml, "CSafeLoader"):
        pytest.skip("libyaml is not installed")
    spec = tmp_path / "net.yaml"
    lines = "".join(f"  p{i}: [1, 2, 3, 4]\n" for i in range(40_000))
    spec.write_text(f"network: t\ninput: [3, 8, 8]\nparams:\n{lines}layers: [relu\n")
    assert spec.stat().st_size > 900_000

    class NoPurePython(yaml.SafeLoader):
        def __init__(self, *args, **kwargs):
            raise AssertionError("the pure-Python parser ran")

    monkeypatch.setattr(yaml, "SafeLoader", NoPurePython)
    with pytest.raises(SpecError) as info:
        load(spec)
    (diagnostic,) = info.value.diagnostics
    assert diagnostic.code == "E-YAML"
    assert diagnostic.span.line == 40_005
    assert "while parsing a flow sequence that starts at line 40004" in diagnostic.message


@pytest.mark.parametrize("digits", [19, 400, 4400])
@pytest.mark.parametrize("notation", ["conv3-{n}", "FC-{n}", "conv{n}-64"])
def test_numbers_in_paper_notation_of_any_length_are_located(notation, digits, tmp_path):
    spec = tmp_path / "net.yaml"
    layer = notation.format(n="9" * digits)
    spec.write_text(f"network: t\ninput: [3, 8, 8]\nlayers: [{layer}]\n")
    with pytest.raises(SpecError) as info:
        load(spec)
    assert [(d.span.line, d.span.col) for d in info.value.diagnostics] == [(3, 10)]
    assert all(len(d.message) < 300 for d in info.value.diagnostics)

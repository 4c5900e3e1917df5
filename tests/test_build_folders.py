"""Build folders: never shared, never written through a link, bounded names, one-rename commits.

A spec from a stranger chooses the network and variant names that name the folders
`archc build` writes, and its repository may come with a `build/` of its own. These tests
check that two builds of one invocation never share a folder (refused before anything is
written), that a long variant name still builds, that symbolic links are not followed, and
that each folder changes all at once: a process killed with SIGKILL at any point of the
commit leaves the old folder or the new one, never a mix.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from archc.cli import main
from archc.spec.loader import MAX_FOLDER_NAME, folder_name

SPEC = "network: tiny\ninput: [3, 16, 16]\nlayers:\n  - {type: conv, out: 4, kernel: 3}\n  - relu\n"
CHANGED = SPEC.replace("out: 4", "out: 6")


def build(*args: str):
    return CliRunner().invoke(main, ["build", *args, "--target", "summary"])


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (hidden ones included) and its bytes."""
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def params(folder: Path) -> int:
    return json.loads((folder / "summary.json").read_text())["totals"]["params"]


VARIANTS = """\
network: net
input: [3, 8, 8]
layers: [relu]
variants:
  a-b: {}
  ok: {}
  a_b: {}
  A B: {}
"""


def test_variants_sharing_a_folder_are_refused_before_writing(tmp_path):
    spec = tmp_path / "net.yaml"
    spec.write_text(VARIANTS)
    result = build(str(spec), "--all-variants", "-o", str(tmp_path / "out"))
    assert result.exit_code == 1
    lines = [line for line in result.stderr.splitlines() if "error[" in line]
    # Each later variant is reported at its own key, naming the first one's place.
    assert lines == [
        f"{spec}:7:3: error[E-BUILD-FOLDER]: variant 'a_b' and variant 'a-b' would both be "
        "built into the folder 'net_a_b'",
        f"{spec}:8:3: error[E-BUILD-FOLDER]: variant 'A B' and variant 'a-b' would both be "
        "built into the folder 'net_a_b'",
    ]
    assert f"the other one is at {spec}:5:3" in result.stderr
    assert not (tmp_path / "out").exists()  # not even `ok`, which had a folder of its own
    # One of them alone is built as usual, into the CONTRACT's folder.
    assert build(str(spec), "--variant", "A B", "-o", str(tmp_path / "out")).exit_code == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["net_a_b"]


def test_two_specs_with_the_same_network_are_refused(tmp_path):
    first, second = tmp_path / "one.yaml", tmp_path / "two.yaml"
    first.write_text(SPEC)
    second.write_text(CHANGED)
    result = build(str(first), str(second), "-o", str(tmp_path / "out"))
    assert result.exit_code == 1
    assert f"{second}:1:10: error[E-BUILD-FOLDER]: network 'tiny' variant 'default'" in (
        result.stderr
    )
    assert f"the other one is at {first}:1:10" in result.stderr
    assert not (tmp_path / "out").exists()
    # The same file twice is the same collision.
    assert build(str(first), str(first), "-o", str(tmp_path / "out")).exit_code == 1
    assert not (tmp_path / "out").exists()


def test_long_variant_names_get_bounded_distinct_folders(tmp_path):
    long_a, long_b = "x" * 200 + "a", "x" * 200 + "b"
    spec = tmp_path / "net.yaml"
    spec.write_text(
        f"network: net\ninput: [3, 8, 8]\nlayers: [relu]\nvariants:\n  {long_a}: {{}}\n"
        f"  {long_b}: {{}}\n  '!!': {{}}\n"
    )
    result = build(str(spec), "--all-variants", "-o", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    folders = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert len(folders) == 3
    assert all(len(name) <= MAX_FOLDER_NAME for name in folders)
    assert folder_name("net", long_a) in folders and folder_name("net", long_b) in folders
    assert folder_name("net", long_a).startswith("net_xxxx")
    # A name that keeps nothing but the network is still the network's: `net`, not empty.
    assert folder_name("net", "!!") == "net"
    assert folder_name("_", "!!").startswith("archc_")
    # Short names keep the CONTRACT's rule exactly.
    assert folder_name("vgg", "A-LRN") == "vgg_a_lrn"
    assert folder_name("resnet", "50-v1") == "resnet_50_v1"


def test_a_symlinked_folder_is_not_written_through(tmp_path):
    spec = tmp_path / "tiny.yaml"
    spec.write_text(SPEC)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "precious").write_text("keep")
    out = tmp_path / "out"
    out.mkdir()
    (out / "tiny_default").symlink_to(elsewhere)
    result = build(str(spec), "-o", str(out))
    assert result.exit_code == 1
    assert "tiny_default is a symbolic link" in result.stderr
    assert tree(elsewhere) == {"precious": b"keep"}
    assert (out / "tiny_default").is_symlink()
    # A symlinked output folder (`-o link`) is refused too.
    link = tmp_path / "link"
    link.symlink_to(elsewhere)
    result = build(str(spec), "-o", str(link))
    assert result.exit_code == 1
    assert "link is a symbolic link" in result.stderr
    assert tree(elsewhere) == {"precious": b"keep"}


def test_a_rebuild_keeps_other_files_and_drops_its_own_stale_ones(tmp_path):
    spec = tmp_path / "tiny.yaml"
    spec.write_text(SPEC)
    out = tmp_path / "out"
    assert build(str(spec), "-o", str(out)).exit_code == 0
    folder = out / "tiny_default"
    (folder / "notes.txt").write_text("mine")
    (folder / "graph.svg").write_text("<svg/>")  # another target's output: not rebuilt here
    spec.write_text(CHANGED)
    assert build(str(spec), "-o", str(out)).exit_code == 0
    assert (folder / "notes.txt").read_text() == "mine"
    assert (folder / "graph.svg").read_text() == "<svg/>"
    assert params(folder) == 6 * 3 * 3 * 3 + 6
    assert sorted(p.name for p in out.iterdir()) == ["tiny_default"]  # nothing left beside it


# A build killed with SIGKILL at a chosen point of the commit. `_exchange` is the one
# atomic rename on Linux; FALLBACK makes the build use the two-rename path of other systems.
KILLED = textwrap.dedent(
    """
    import os, signal, sys
    import archc.build as build
    from archc.cli import main

    where, spec, out = sys.argv[1:4]

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    real_swap, real_rename = build._swap, os.rename

    def swap(following, folder):
        if where == "before-swap":
            die()
        real_swap(following, folder)
        if where == "after-swap":
            die()

    def rename(src, dst):
        # the fallback's second rename: the old folder is aside, the new one not yet in place
        if where == "fallback-between" and ".next-" in str(src):
            die()
        real_rename(src, dst)

    build._swap = swap
    if where == "fallback-between":
        build._exchange = lambda first, second: False
        os.rename = rename
    sys.argv = ["archc", "build", spec, "-o", out, "--target", "summary"]
    main()
    """
)


@pytest.mark.parametrize("where", ["before-swap", "after-swap", "fallback-between"])
def test_sigkill_during_the_commit_leaves_old_or_new(tmp_path, where):
    spec = tmp_path / "tiny.yaml"
    spec.write_text(SPEC)
    out = tmp_path / "out"
    assert build(str(spec), "-o", str(out)).exit_code == 0
    folder = out / "tiny_default"
    old = tree(folder)
    spec.write_text(CHANGED)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run(
        [sys.executable, "-c", KILLED, where, str(spec), str(out)],
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    if where == "before-swap":
        assert tree(folder) == old
    elif where == "after-swap":
        assert params(folder) == 168 and set(tree(folder)) == set(old)
    else:
        # Between the fallback's two renames no folder is in place; the old one is whole
        # beside it, and the next build puts it back before building.
        assert not folder.exists()
        (aside,) = [p for p in out.iterdir() if ".previous-" in p.name]
        assert tree(aside) == old
    spec.write_text(CHANGED.replace("out: 6", "out: 5"))
    assert build(str(spec), "-o", str(out)).exit_code == 0
    assert sorted(p.name for p in out.iterdir()) == ["tiny_default"]
    assert params(folder) == 5 * 3 * 3 * 3 + 5


def test_the_fallback_commit_swaps_whole_folders(tmp_path, monkeypatch):
    """Where renameat2 is missing the two-rename path gives the same result."""
    import archc.build

    monkeypatch.setattr(archc.build, "_exchange", lambda first, second: False)
    spec = tmp_path / "tiny.yaml"
    spec.write_text(SPEC)
    out = tmp_path / "out"
    assert build(str(spec), "-o", str(out)).exit_code == 0
    spec.write_text(CHANGED)
    assert build(str(spec), "-o", str(out)).exit_code == 0
    assert params(out / "tiny_default") == 168
    assert sorted(p.name for p in out.iterdir()) == ["tiny_default"]


def test_graph_replaces_a_link_it_is_told_to_write_and_refuses_a_linked_build_folder(
    tmp_path, monkeypatch
):
    """`archc graph -o FILE` replaces a link at FILE (and at its .dot) instead of writing
    into what it points to; its default folder, build/<folder>/, is refused if a link."""
    monkeypatch.chdir(tmp_path)
    spec = tmp_path / "tiny.yaml"
    spec.write_text(SPEC)
    (tmp_path / "precious").write_text("keep")
    for name in ("g.dot", "g.svg"):
        (tmp_path / name).symlink_to(tmp_path / "precious")
    result = CliRunner().invoke(main, ["graph", str(spec), "-o", str(tmp_path / "g.svg")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "precious").read_text() == "keep"
    assert not (tmp_path / "g.dot").is_symlink()
    assert (tmp_path / "g.dot").read_text().startswith("digraph")
    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "tiny_default").symlink_to(tmp_path / "elsewhere")
    result = CliRunner().invoke(main, ["graph", str(spec)])
    assert result.exit_code == 1
    assert "tiny_default is a symbolic link" in result.stderr
    assert not (tmp_path / "elsewhere").exists()

"""Reading spec bytes safely: regular files only, and never more than the limit plus one byte.

A spec path comes from a stranger as often as the spec does (an import, a folder of specs, a
file replaced while `archc serve` watches it). `Path.read_bytes()` on `/dev/zero` never ends,
on a FIFO it waits for a writer forever, and `stat().st_size` says 0 for both; so the size
is never trusted: a file is opened without blocking, checked to be a regular file on the
open descriptor (not on the name, which may change in between), and read in chunks that
stop one byte past the limit. Standard input gets the same bound.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

# Specs are written by people: the zoo's largest is under 10 KB, and a megabyte of YAML
# already takes PyYAML a second.
MAX_FILE_BYTES = 1024 * 1024

_CHUNK = 64 * 1024


class ReadError(Exception):
    """A file could not be read as a spec; `code` and `message` make its diagnostic."""

    def __init__(self, code: str, message: str, note: str = ""):
        super().__init__(message)
        self.code = code
        self.message = message
        self.note = note


class TooLarge(ReadError):
    """A file over the limit; `size` is its size in bytes (None when it is only known to
    be over the limit, for a stream)."""

    def __init__(self, size: int | None, limit: int = MAX_FILE_BYTES):
        what = f"{size:,} bytes" if size is not None else f"more than {limit:,} bytes"
        super().__init__("E-LIMIT-FILE-SIZE", f"spec file is {what}; the limit is {limit:,}")
        self.size = size


def _kind(mode: int) -> str:
    """What a non-regular file is, in words."""
    for test, name in (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a named pipe (FIFO)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def read_bounded(path: Path, limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of a regular file of at most `limit` bytes; raise ReadError otherwise.

    Symbolic links are followed (a spec may be one), but what they lead to must be a
    regular file. Devices and FIFOs are refused before they are opened where the name
    already says so, and again on the open descriptor, so swapping the file in between
    does not help.
    """
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError) as exc:
        raise ReadError("E-FILE", _reason(exc)) from None
    if not stat.S_ISREG(mode):
        raise ReadError("E-FILE-KIND", f"it is {_kind(mode)}, not a regular file")
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except (OSError, ValueError) as exc:
        raise ReadError("E-FILE", _reason(exc)) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ReadError("E-FILE-KIND", f"it is {_kind(info.st_mode)}, not a regular file")
        if info.st_size > limit:  # refused unread; the bounded read below covers a file
            raise TooLarge(info.st_size, limit)  # that grows meanwhile
        return _read_limited(lambda size: os.read(fd, size), limit)
    except OSError as exc:
        raise ReadError("E-FILE", _reason(exc)) from None
    finally:
        os.close(fd)


def read_stream(stream: BinaryIO, limit: int = MAX_FILE_BYTES) -> bytes:
    """At most `limit + 1` bytes of a stream (standard input), whatever feeds it."""
    return _read_limited(stream.read, limit)


def _read_limited(read, limit: int) -> bytes:
    parts: list[bytes] = []
    total = 0
    while total <= limit:
        chunk = read(min(_CHUNK, limit + 1 - total))
        if not chunk:
            break
        parts.append(chunk)
        total += len(chunk)
    return b"".join(parts)


def _reason(exc: Exception) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror[:200]
    return str(exc)[:200]

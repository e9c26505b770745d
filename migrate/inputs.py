"""The export paths given on the command line, made safe to read twice (parse, then copy).

An import reads each input to plan it, and later copies it into the run's folder. A regular
file allows both. A pipe (``chat-migrate import <(cat export.json)``) or standard input (``-``)
can be read only once, so it is first copied, up to :data:`MAX_PIPED_BYTES`, into a private
temporary file that stands in for it; its label stays what the user typed. Anything else — a
device such as ``/dev/zero``, a socket, a directory — is refused before anything is read or
written (exit 2, one line).
"""

from __future__ import annotations

import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from .problems import BadInput

STDIN = "-"
MAX_PIPED_BYTES = 2 * 1024**3
CHUNK = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Input:
    """Where to read an export (``path``) and how to name it to the user (``label``)."""

    path: Path
    label: str


def _kind(mode: int) -> str:
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _spool(source: BinaryIO, label: str, folder: Path, number: int) -> Path:
    """Copy a pipe's bytes into ``folder`` (bounded), returning the copy."""
    name = "stdin" if label == STDIN else (Path(label).name or "pipe")
    destination = folder / f"{number:03d}-{name}"
    total = 0
    with destination.open("wb") as out:
        while chunk := source.read(CHUNK):
            total += len(chunk)
            if total > MAX_PIPED_BYTES:
                raise BadInput(
                    label, f"a pipe sending more than {MAX_PIPED_BYTES:,} bytes is not read"
                )
            out.write(chunk)
    return destination


def _classify(path: Path, label: str) -> str:
    """``file`` or ``pipe``; :class:`BadInput` for anything else."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise BadInput(label, "no such file") from None
    except OSError as exc:
        raise BadInput(label, f"cannot be read ({exc.strerror})") from None
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISFIFO(mode):
        return "pipe"
    if stat.S_ISDIR(mode):
        raise BadInput(label, "is a directory, not an export file")
    raise BadInput(label, f"is {_kind(mode)}, not a regular file (a pipe or '-' is read too)")


@contextmanager
def readable_inputs(paths: Sequence[Path]) -> Iterator[list[Input]]:
    """Every path as an :class:`Input` that can be read more than once; spooled copies are
    removed on exit. Standard input may be named (``-``) once."""
    folder: Path | None = None
    try:
        inputs: list[Input] = []
        for number, path in enumerate(paths, start=1):
            label = str(path)
            if label == STDIN:
                if any(i.label == STDIN for i in inputs):
                    raise BadInput(STDIN, "standard input can be read only once")
                if sys.stdin.isatty():
                    raise BadInput(STDIN, "standard input is a terminal, not an export")
                kind = "stdin"
            else:
                kind = _classify(path, label)
            if kind == "file":
                inputs.append(Input(path, label))
                continue
            if folder is None:
                folder = Path(tempfile.mkdtemp(prefix="chat-migrate-"))
            if kind == "stdin":
                spooled = _spool(sys.stdin.buffer, label, folder, number)
            else:
                try:
                    with path.open("rb") as source:
                        spooled = _spool(source, label, folder, number)
                except OSError as exc:
                    raise BadInput(label, f"cannot be read ({exc.strerror})") from None
            inputs.append(Input(spooled, label))
        yield inputs
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)


def as_input(item: Path | Input) -> Input:
    """A plain path is its own label."""
    return item if isinstance(item, Input) else Input(item, str(item))

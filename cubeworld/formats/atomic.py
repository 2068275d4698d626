"""Writes that leave either the old file or the new one, never a torn one.

Long jobs (generation, scoring, training, the web app's exports) write through these
helpers so that a kill at any moment loses at most the item in progress.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write `data` to `path` through a temporary file in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the usual file mode
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Pretty, key-sorted JSON, so equal objects give equal bytes."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def append_line(path: str | os.PathLike[str], line: str) -> None:
    """Append one complete line with a single write and fsync.

    A kill can at worst leave a final line without its newline; `read_complete_lines`
    drops such a line, so appended logs stay readable and resumable.
    """
    if "\n" in line:
        raise ValueError("append_line takes one line without newlines")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as f:
        f.write((line + "\n").encode("utf-8"))
        f.flush()
        os.fsync(f.fileno())


def read_complete_lines(path: str | os.PathLike[str]) -> list[str]:
    """Lines of `path` that end in a newline (a torn last line from a kill is dropped)."""
    path = Path(path)
    if not path.exists():
        return []
    data = path.read_bytes().decode("utf-8")
    lines = data.split("\n")
    return [line for line in lines[:-1] if line.strip()]


def truncate_torn_tail(path: str | os.PathLike[str]) -> None:
    """Cut a trailing line without newline, so further appends start on a fresh line."""
    path = Path(path)
    if not path.exists():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        cut = data.rfind(b"\n") + 1
        with open(path, "r+b") as f:
            f.truncate(cut)
            f.flush()
            os.fsync(f.fileno())


def append_jsonl(path: str | os.PathLike[str], record: dict[str, Any]) -> None:
    append_line(path, json.dumps(record, sort_keys=True))


def read_jsonl(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    for line in read_complete_lines(path):
        yield json.loads(line)


def write_jsonl(path: str | os.PathLike[str], records: Iterable[dict[str, Any]]) -> None:
    atomic_write_text(path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in records))

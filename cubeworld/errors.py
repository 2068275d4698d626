"""The toolkit's one error base class, and the output check every command makes first.

Why one base: every stage raises its own subclass (a bad set folder, an unknown model, a
malformed study config, ...), and the command line turns any of them into the same one
line and exit code 2 (`cubeworld.cli_errors.user_errors`). A message always names the
file, key or value at fault, so the line alone tells the user what to fix.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


class CubeworldError(ValueError):
    """A user-facing problem: bad input, a file that does not fit, an unwritable output.

    Subclasses exist per stage so callers can catch what they expect; the CLI catches
    this base. (A ValueError, so library callers that catch ValueError keep working.)
    """


class UnknownEntryError(CubeworldError):
    """A name that no registry entry has (a stimulus family, observer kind, analysis...)."""


class ConfigError(CubeworldError):
    """A setting that does not fit its typed config (`cubeworld.typed`): an unknown key, a
    wrong type, a value out of bounds; the message names the file, line and key."""


class OutputNotWritable(CubeworldError):
    """The output file or folder a command was asked to write cannot be written."""


def check_writable(path: str | os.PathLike[str], *, folder: bool = True) -> Path:
    """Fail now, before any work, if `path` (a folder, or a file when `folder=False`)
    cannot be created or written. Creates nothing that was not there: the probe file is
    written into the nearest existing ancestor folder and removed at once.
    """
    p = Path(path)
    if p.exists():
        if folder and not p.is_dir():
            raise OutputNotWritable(f"{p} exists and is not a folder")
        if not folder and p.is_dir():
            raise OutputNotWritable(f"{p} is a folder, expected a file path")
    probe_dir = p if (folder and p.is_dir()) else p.parent
    while not probe_dir.exists():
        if probe_dir.parent == probe_dir:
            break
        probe_dir = probe_dir.parent
    if not probe_dir.is_dir():
        raise OutputNotWritable(f"cannot write {p}: {probe_dir} is not a folder")
    if not folder and p.exists() and not os.access(p, os.W_OK):
        raise OutputNotWritable(f"cannot write {p}: permission denied")
    try:
        fd, probe = tempfile.mkstemp(prefix=".cubeworld-write-check-", dir=probe_dir)
    except OSError as e:
        raise OutputNotWritable(f"cannot write {p}: {e.strerror or e} ({probe_dir})") from None
    os.close(fd)
    os.unlink(probe)
    return p

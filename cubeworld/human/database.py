"""The study database as a file: opening it damaged or read-only, copying it, backing it up.

Why apart from the store: these are the things that can go wrong with the file itself (a
disk error, a copy taken mid-write, a read-only folder, a full disk), each turned into one
HumanStudyError that names the file and says what to do; the store (`store.py`) holds what
the study's rules do with the rows.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from cubeworld.human.errors import HumanStudyError

# SQLite's primary result codes for a file that is not (or no longer) a database.
_SQLITE_CORRUPT = 11
_SQLITE_NOTADB = 26


def iso(t: float | None) -> str:
    """UTC ISO 8601 of a Unix time; ValueError/OverflowError/OSError for an impossible one."""
    if t is None:
        return ""
    return datetime.fromtimestamp(t, tz=UTC).isoformat(timespec="milliseconds")


def is_damaged(e: sqlite3.Error) -> bool:
    """True for SQLite's "file is not a database" and "database disk image is malformed"."""
    code = getattr(e, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (_SQLITE_CORRUPT, _SQLITE_NOTADB)
    text = str(e)
    return "not a database" in text or "malformed" in text


def database_damaged(path: Path, e: sqlite3.Error) -> HumanStudyError:
    """One line: which file is damaged and how to get the answers back."""
    name = path.name
    return HumanStudyError(
        f"{path}: the study database is damaged ({e}); stop the server and copy {name}, "
        f"{name}-wal and {name}-shm together to a safe place (the -wal file holds the latest "
        f"answers), then put your latest backup (`cubeworld human backup`) in place of {name}, "
        f"or salvage it with `sqlite3 {name} .recover | sqlite3 recovered.sqlite` and use "
        f"recovered.sqlite as {name} (see 'A damaged database' in cubeworld/human/README.md)"
    )


def write_backup(source: sqlite3.Connection, dest: str | Path) -> Path:
    """SQLite's online backup of `source` into the file `dest`, written beside it and moved
    into place (`dest` is never half a database); a full disk is one line naming `dest`."""
    dest = Path(dest)
    tmp = dest.with_name(dest.name + ".partial")
    tmp.unlink(missing_ok=True)
    try:
        target = sqlite3.connect(tmp)
        try:
            source.backup(target)
            target.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        finally:
            target.close()
        tmp.replace(dest)
    except (sqlite3.OperationalError, OSError) as e:
        tmp.unlink(missing_ok=True)
        raise HumanStudyError(f"{dest}: cannot write the backup ({e})") from None
    return dest


@contextmanager
def damage_check(path: Path, *, reading: bool = False) -> Iterator[None]:
    """A damaged file, or one that cannot be opened at all, as one HumanStudyError naming it."""
    try:
        yield
    except sqlite3.DatabaseError as e:
        if is_damaged(e):
            raise database_damaged(path, e) from None
        if isinstance(e, sqlite3.OperationalError) and _cannot_open(e):
            raise HumanStudyError(f"{path}: cannot open the study database ({e}); {_hint(path, reading)}") from None
        raise


def _cannot_open(e: sqlite3.OperationalError) -> bool:
    text = str(e)
    return "unable to open" in text or "readonly database" in text or "disk I/O error" in text


def _hint(path: Path, reading: bool) -> str:
    if os.access(path.parent, os.W_OK):
        return "check the file's permissions and the disk"
    if not reading:
        return f"the folder {path.parent} is read-only; to serve the study, copy the folder somewhere writable"
    return (
        f"the folder {path.parent} is read-only and its {path.name}-wal file (answers not yet written into "
        f"{path.name}) needs a {path.name}-shm file beside it; copy the folder (every {path.name}* file) "
        "somewhere writable and run the command there"
    )


def copy_database(path: Path, into: sqlite3.Connection) -> None:
    """Copy the database at `path` into the connection `into`, creating nothing beside it.

    Without a -wal file nobody has the database open, and it is read as an immutable file
    (SQLite then creates no -wal or -shm); if a writer started meanwhile (a -wal appeared,
    or the file changed), it is read again the ordinary way, through the writer's WAL.
    """
    uri = "file:" + quote(str(path.resolve())) + "?mode=ro"
    wal = Path(f"{path}-wal")
    with damage_check(path, reading=True):
        if not wal.exists():
            before = path.stat()
            src = sqlite3.connect(uri + "&immutable=1", uri=True)
            try:
                src.backup(into)
            finally:
                src.close()
            after = path.stat()
            if not wal.exists() and (before.st_mtime_ns, before.st_size) == (after.st_mtime_ns, after.st_size):
                return
        src = sqlite3.connect(uri, uri=True, timeout=30)
        try:
            src.backup(into)
        finally:
            src.close()

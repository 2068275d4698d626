"""The command line's one way to fail: one line on stderr, exit code 2, nothing written.

Every stage's commands run their work inside `user_errors()`. It catches the toolkit's
`CubeworldError` (whatever the stage), a YAML syntax error already turned into one by
`cubeworld.formats.yamlfile`, and the permission and disk errors a user can fix, and
prints `error: <message>`. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import errno
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer

from cubeworld.errors import CubeworldError

USER_EXIT = 2
# OS errors that mean "the user's file system said no", not "cubeworld is broken".
_USER_ERRNOS = {
    errno.EACCES,
    errno.EPERM,
    errno.ENOSPC,
    errno.EROFS,
    errno.EDQUOT,
    errno.ENOENT,
    errno.ENOTDIR,
    errno.EISDIR,
    errno.EEXIST,
}


def fail(message: str) -> NoReturn:
    """Print `error: message` and exit with code 2."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(USER_EXIT)


def warn(message: str) -> None:
    typer.echo(f"warning: {message}", err=True)


def show_warnings(caught: list[warnings.WarningMessage]) -> None:
    """Print warnings caught with `warnings.catch_warnings(record=True)`, one line each."""
    for w in caught:
        warn(str(w.message))


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn a user-facing error into `error: ...` and exit code 2."""
    try:
        yield
    except CubeworldError as e:
        fail(str(e))
    except OSError as e:
        if e.errno in _USER_ERRNOS:
            where = f" {e.filename}" if e.filename else ""
            fail(f"cannot access{where}: {e.strerror or e}")
        raise

"""`cubeworld human migrate STUDY`: a database of an earlier cubeworld, rewritten in place.

Why a command and not a silent upgrade: a study's database is the only copy of what people
answered. The server refuses an earlier layout with one line naming this command; the
command backs the database up first (beside it, as it was), rewrites it in one transaction
(`cubeworld.human.schema.upgrade`, which compares row counts before and after) and says
what it did. Progress, export and backup read an earlier layout without it.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from cubeworld.human import schema
from cubeworld.human.database import damage_check, database_damaged, write_backup
from cubeworld.human.errors import HumanStudyError
from cubeworld.human.study import load_human_study


def migrate_study(study_dir: str | Path) -> list[str]:
    """Migrate the study's database to `schema.SCHEMA_VERSION`; returns lines to print."""
    study = load_human_study(study_dir)
    path = study.db_path
    if not path.exists():
        return [f"{path}: no database yet (nobody has started); nothing to migrate"]
    con = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        with damage_check(path):
            problems = [r[0] for r in con.execute("PRAGMA quick_check")]
            if problems != ["ok"]:
                raise database_damaged(path, sqlite3.DatabaseError(f"integrity check: {problems[0]}"))
            version = schema.version_of(con)
            if version is None or version == schema.SCHEMA_VERSION:
                return [f"{path}: already in this cubeworld's layout (version {schema.SCHEMA_VERSION}); nothing to do"]
            if version > schema.SCHEMA_VERSION:
                raise HumanStudyError(f"{path}: written by a newer cubeworld (version {version}); not migrated")
            backup = _backup_path(path, version)
            write_backup(con, backup)
            row = con.execute("SELECT value FROM meta WHERE key='design'").fetchone()
            design = row[0] if row is not None else study.config.design
            con.execute("BEGIN IMMEDIATE")
            try:
                notes = schema.upgrade(con, design)
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")
            (people,) = con.execute("SELECT COUNT(*) FROM participants").fetchone()
            (answers,) = con.execute("SELECT COUNT(*) FROM responses").fetchone()
    finally:
        con.close()
    return [
        f"{path}: migrated from version {version} to {schema.SCHEMA_VERSION} "
        f"({people} participant(s) and {answers} response(s), all kept)",
        f"the database as it was: {backup}",
        *(f"note: {n}" for n in notes),
    ]


def _backup_path(path: Path, version: int) -> Path:
    backup = path.with_name(f"{path.name}.v{version}-backup")
    if backup.exists():  # never overwrite an earlier backup
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        backup = path.with_name(f"{path.name}.v{version}-backup-{stamp}")
    return backup

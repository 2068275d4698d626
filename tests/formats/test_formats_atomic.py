"""Atomic writes leave the old file or the new one; appended logs survive a torn last line."""

from __future__ import annotations

import json
import os

import pytest

from cubeworld.formats import atomic
from cubeworld.formats.atomic import (
    append_jsonl,
    append_line,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    read_complete_lines,
    read_jsonl,
    truncate_torn_tail,
    write_jsonl,
)


def test_atomic_write_replaces_whole_files_with_the_usual_mode(tmp_path):
    path = tmp_path / "deep" / "er" / "f.txt"
    atomic_write_text(path, "first")
    atomic_write_text(path, "second")
    assert path.read_text() == "second"
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600
    assert [p.name for p in path.parent.iterdir()] == ["f.txt"]  # no temporary left


def test_a_failed_write_keeps_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "f.bin"
    atomic_write_bytes(path, b"old")

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "replace", broken_replace)
    with pytest.raises(OSError, match="No space"):
        atomic_write_bytes(path, b"new")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


def test_json_is_pretty_sorted_and_byte_stable(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    atomic_write_json(a, {"b": 1, "a": [1, 2]})
    atomic_write_json(b, {"a": [1, 2], "b": 1})
    assert a.read_bytes() == b.read_bytes() and a.read_text().endswith("\n")
    assert json.loads(a.read_text()) == {"a": [1, 2], "b": 1}


def test_append_line_takes_one_line(tmp_path):
    with pytest.raises(ValueError, match="one line"):
        append_line(tmp_path / "log", "two\nlines")
    assert not (tmp_path / "log").exists()


def test_a_torn_last_line_is_dropped_and_cut_before_appending(tmp_path):
    log = tmp_path / "sub" / "log.jsonl"
    append_jsonl(log, {"step": 1})
    append_jsonl(log, {"step": 2})
    with open(log, "ab") as f:  # a kill in the middle of a write
        f.write(b'{"step": 3, "lo')
    assert list(read_jsonl(log)) == [{"step": 1}, {"step": 2}]
    truncate_torn_tail(log)
    assert log.read_bytes().endswith(b"}\n") and len(read_complete_lines(log)) == 2
    append_jsonl(log, {"step": 3})
    assert [r["step"] for r in read_jsonl(log)] == [1, 2, 3]
    truncate_torn_tail(tmp_path / "missing")  # nothing to do, no error
    assert read_complete_lines(tmp_path / "missing") == []
    only_torn = tmp_path / "torn"
    only_torn.write_bytes(b"no newline at all")
    truncate_torn_tail(only_torn)
    assert only_torn.read_bytes() == b""


def test_blank_lines_are_skipped_and_jsonl_round_trips(tmp_path):
    log = tmp_path / "log.jsonl"
    log.write_text('{"a": 1}\n\n   \n{"a": 2}\n')
    assert [r["a"] for r in read_jsonl(log)] == [1, 2]
    write_jsonl(log, [{"b": 2, "a": 1}])
    assert log.read_text() == '{"a": 1, "b": 2}\n'

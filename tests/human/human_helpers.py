"""Helpers shared by the human-study tests: tiny stimulus sets drawn with PIL, free ports and
a real uvicorn server in a subprocess (killable).

They live here, not in conftest.py, so that `from human_helpers import make_set` works however
pytest collects several test folders (each with its own conftest.py); the fixtures stay in
conftest.py.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from PIL import Image, ImageDraw

from cubeworld.formats.answers import answer_for
from cubeworld.formats.sets import StimulusRow
from cubeworld.stimuli.families import get_family

HOST = "127.0.0.1"


def make_set(root: Path, n: int, domain: str = "tower", size: int = 48) -> Path:
    """A valid stimulus set of `n` small PNGs (alternating labels), as the stimuli stage writes."""
    task = get_family(domain)
    (root / "images").mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(n):
        falls = i % 2 == 0
        n_blocks = task.sizes[i % len(task.sizes)]
        img = Image.new("RGB", (size, size), (230, 230, 230))
        draw = ImageDraw.Draw(img)
        for b in range(n_blocks):  # a crude stack, offset by the index
            x = 8 + (i * 3 + b * 2) % 16
            draw.rectangle([x, size - 8 * (b + 1), x + 14, size - 8 * b - 1], fill=(200, 40 * (b % 6), 60))
        name = f"images/{domain}-{i:05d}.png"
        img.save(root / name)
        sid = f"{domain}-s0-n{n_blocks}-{i:05d}"
        row = StimulusRow(
            sid, name, domain, n_blocks, falls, answer_for(falls), task.prompt, extra={"scene": {"index": i}}
        )
        lines.append(json.dumps(row.to_record()))
    (root / "metadata.jsonl").write_text("\n".join(lines) + "\n")
    (root / "dataset.json").write_text(json.dumps({"name": f"tiny-{domain}", "domain": domain}))
    return root


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class ServerProcess:
    """`python -m cubeworld.human serve STUDY` in a subprocess: started, waited for, killed."""

    def __init__(self, study: Path, port: int | None = None, access_log: bool = False):
        self.study = Path(study)
        self.port = port or free_port()
        self.access_log = access_log
        self.proc: subprocess.Popen | None = None
        self.log = self.study / "server-test.log"

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self, timeout: float = 30.0) -> ServerProcess:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "cubeworld.human",
                    "serve",
                    str(self.study),
                    "--port",
                    str(self.port),
                    "--host",
                    HOST,
                    "--access-log" if self.access_log else "--no-access-log",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server did not start: {self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        """SIGKILL: the hardest crash, nothing is flushed or cleaned up."""
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


def start_participant(c: httpx.Client, pid: str, session: str = "", consent: bool = True) -> dict:
    """POST /api/session (and consent); the session view with its token and trials."""
    r = c.post("/api/session", json={"prolific_pid": pid, "study_id": "st", "session_id": session or f"s-{pid}"})
    assert r.status_code == 200, r.text
    s = r.json()
    if consent:
        assert (
            c.post("/api/consent", json={"agree": True}, headers={"X-Participant-Token": s["token"]}).status_code == 200
        )
    return s


def answer_body(trial: dict, request_id: str, response: int = 1, **extra) -> dict:
    return {
        "request_id": request_id,
        "stimulus_id": trial["stimulus_id"],
        "trial_index": trial["trial_index"],
        "response": response,
        "rt_ms": 812.5,
        "shown_at": 1.7e12,
        **extra,
    }


def db_counts(study: Path) -> tuple[int, int]:
    """(responses, participants) stored in a study's database."""
    import sqlite3

    con = sqlite3.connect(study / "study.sqlite")
    try:
        return (
            con.execute("SELECT COUNT(*) FROM responses").fetchone()[0],
            con.execute("SELECT COUNT(*) FROM participants").fetchone()[0],
        )
    finally:
        con.close()

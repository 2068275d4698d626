"""Fixtures of the human-study tests: tiny stimulus sets drawn with PIL, study folders, a real
uvicorn server in a subprocess (killable), and Debian's Chromium driven by Playwright.

All traffic goes to 127.0.0.1; the browser refuses every other host.
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
import pytest
from PIL import Image, ImageDraw

from cubeworld.formats.sets import StimulusRow
from cubeworld.formats.answers import answer_for
from cubeworld.stimuli.families import get_family

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
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
            draw.rectangle([x, size - 8 * (b + 1), x + 14, size - 8 * b - 1],
                           fill=(200, 40 * (b % 6), 60))
        name = f"images/{domain}-{i:05d}.png"
        img.save(root / name)
        sid = f"{domain}-s0-n{n_blocks}-{i:05d}"
        row = StimulusRow(sid, name, domain, n_blocks, falls, answer_for(falls), task.prompt,
                          extra={"scene": {"index": i}})
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

    def __init__(self, study: Path, port: int | None = None):
        self.study = Path(study)
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None
        self.log = self.study / "server-test.log"

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self, timeout: float = 30.0) -> "ServerProcess":
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "cubeworld.human", "serve", str(self.study),
                 "--port", str(self.port), "--host", HOST, "--no-access-log"],
                stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
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


@pytest.fixture
def tower_set(tmp_path: Path) -> Path:
    return make_set(tmp_path / "set", 6)


@pytest.fixture
def server_factory():
    servers: list[ServerProcess] = []

    def start(study: Path, port: int | None = None) -> ServerProcess:
        s = ServerProcess(study, port).start()
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.stop()


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (scripts/install.sh installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def new_page(browser):
    """A fresh browser context (own localStorage) per call; only 127.0.0.1 is reachable."""
    contexts = []

    def make():
        ctx = browser.new_context()
        ctx.route("**/*", lambda route: route.continue_()
                  if route.request.url.startswith(f"http://{HOST}:") else route.abort())
        contexts.append(ctx)
        page = ctx.new_page()
        page.set_default_timeout(15000)
        return page

    yield make
    for ctx in contexts:
        ctx.close()

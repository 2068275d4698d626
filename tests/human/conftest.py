"""Fixtures of the human-study tests: a tiny stimulus set, real uvicorn servers in
subprocesses, and Debian's Chromium driven by Playwright (helpers: human_helpers.py).

All traffic goes to 127.0.0.1; the browser refuses every other host.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from human_helpers import HOST, ServerProcess, make_set


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


@pytest.fixture
def new_page(browser):
    """A fresh browser context (own localStorage) per call; only 127.0.0.1 is reachable.

    Every page runs under the server's Content-Security-Policy; a test fails when the page
    broke it anywhere (Chromium reports each violation on the console), so the app is known
    to work with the policy, not merely to load with it.
    """
    contexts = []
    violations: list[str] = []

    def make():
        ctx = browser.new_context()
        ctx.route(
            "**/*",
            lambda route: route.continue_() if route.request.url.startswith(f"http://{HOST}:") else route.abort(),
        )
        contexts.append(ctx)
        page = ctx.new_page()
        page.set_default_timeout(15000)
        page.on("console", lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None)
        return page

    yield make
    for ctx in contexts:
        ctx.close()
    shown = [v[:300] for v in violations[:3]]
    assert not violations, f"the page broke its Content-Security-Policy: {shown}"

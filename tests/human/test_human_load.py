"""50 simulated participants answer at once over HTTP; the server is SIGKILLed and restarted
in the middle. Afterwards every acknowledged response is in the export exactly once."""

from __future__ import annotations

import random
import threading
import time
import uuid

import httpx
import pytest
from human_helpers import make_set

from cubeworld.formats.responses import read_responses
from cubeworld.human.export import export_study
from cubeworld.human.study import create_human_study

N_PARTICIPANTS = 50
K = 6


class Participant(threading.Thread):
    """Starts, consents, answers every trial and completes, retrying through outages."""

    def __init__(self, url: str, pid: str, acked: dict, lock: threading.Lock, seed: int):
        super().__init__(daemon=True)
        self.url, self.pid, self.acked, self.lock = url, pid, acked, lock
        self.rng = random.Random(seed)
        self.error: BaseException | None = None
        self.completed = False
        self.replays = 0

    def post(
        self, client: httpx.Client, path: str, body: dict, token: str | None = None, ok_codes: tuple[str, ...] = ()
    ) -> dict:
        """POST until the server answers; a network error or 5xx means retry the same body."""
        headers = {"X-Participant-Token": token} if token else {}
        deadline = time.monotonic() + 90
        while True:
            try:
                r = client.post(path, json=body, headers=headers)
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1 + self.rng.random() * 0.2)
                continue
            if r.status_code < 300:
                return r.json()
            if r.status_code < 500 and r.json().get("code") in ok_codes:
                self.replays += 1
                return r.json()
            raise AssertionError(f"{self.pid} {path}: {r.status_code} {r.text}")

    def run(self) -> None:
        try:
            with httpx.Client(base_url=self.url, timeout=10) as c:
                s = self.post(
                    c, "/api/session", {"prolific_pid": self.pid, "study_id": "load", "session_id": f"sess-{self.pid}"}
                )
                token = s["token"]
                self.post(c, "/api/consent", {"agree": True}, token)
                # Resume as a reload would: ask the server what is left (it may have changed
                # nothing, but the path is the browser's).
                s = self.post(
                    c,
                    "/api/session",
                    {"prolific_pid": self.pid, "study_id": "load", "session_id": f"sess-{self.pid}", "token": token},
                )
                for trial in s["trials"]:
                    response = self.rng.choice([1, 0])
                    body = {
                        "request_id": uuid.uuid4().hex,
                        "stimulus_id": trial["stimulus_id"],
                        "trial_index": trial["trial_index"],
                        "response": response,
                        "rt_ms": round(self.rng.uniform(300, 2000), 1),
                    }
                    self.post(c, "/api/responses", body, token, ok_codes=("duplicate_request",))
                    with self.lock:
                        self.acked[(self.pid, trial["stimulus_id"])] = response
                    time.sleep(self.rng.random() * 0.03)
                self.post(c, "/api/complete", {}, token)
                self.completed = True
        except BaseException as e:  # reported by the test
            self.error = e


@pytest.mark.slow
def test_load_50_participants_with_server_kill(tmp_path, server_factory):
    n_items = N_PARTICIPANTS * K
    study = create_human_study(
        make_set(tmp_path / "set", n_items, size=16), tmp_path / "study", "spread", items=K, seed=11
    )
    server = server_factory(study)
    acked: dict = {}
    lock = threading.Lock()
    people = [Participant(server.url, f"load{i:03d}", acked, lock, seed=i) for i in range(N_PARTICIPANTS)]
    for p in people:
        p.start()

    # Kill the server the hard way once about a third of the answers are acknowledged.
    deadline = time.monotonic() + 60
    while len(acked) < n_items // 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    acked_at_kill = len(acked)
    server.kill()
    assert 0 < acked_at_kill < n_items, "the kill must land in the middle of the load"
    time.sleep(0.5)
    server.start()
    for p in people:
        p.join(timeout=120)

    assert server.log.read_text().count("Started server process") == 2
    print(
        f"\n[load] acknowledged at kill: {acked_at_kill}/{n_items}; "
        f"replays answered 'already stored': {sum(p.replays for p in people)}"
    )
    errors = [f"{p.pid}: {p.error!r}" for p in people if p.error]
    assert not errors, errors[:3]
    assert all(p.completed for p in people)
    df = read_responses(export_study(study, tmp_path / "responses.csv")["responses"])
    exported = {(r.participant, r.stimulus_id): r.response for r in df.itertuples()}
    # Every acknowledged response is there, with the value sent, exactly once
    # (read_responses refuses duplicate (stimulus, participant) rows).
    assert len(acked) == n_items
    assert exported == acked
    # Spread design: every item answered by exactly one participant.
    assert df["stimulus_id"].is_unique and len(df) == n_items
    assert df.groupby("participant").size().eq(K).all()

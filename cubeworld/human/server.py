"""The study's web server: the jsPsych page, the participant API and the admin API.

Participant API (JSON; the token from /api/session goes in `X-Participant-Token`):
    POST /api/session    {prolific_pid, study_id, session_id, token?} -> start or resume
    POST /api/consent    {agree}
    POST /api/responses  {request_id, stimulus_id, trial_index, response, rt_ms, shown_at}
    POST /api/complete   -> {completion_url}
A participant can write only their own responses and reads nothing of anyone else's.

Admin API (`Authorization: Bearer <admin_token from study.yaml>` or `?token=`):
    GET /admin/progress, /admin/export/responses.csv, /admin/export/bonus.csv,
    /admin/export/participants.csv

Every refusal is a 4xx `{"error": "...", "code": "..."}` and stores nothing.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Literal
from urllib.parse import quote

from fastapi import FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from cubeworld.errors import CubeworldError
from cubeworld.human.assign import Trial
from cubeworld.human.errors import ApiError
from cubeworld.human.export import bonus_csv, build_tables, participants_csv, responses_csv
from cubeworld.human.store import Session, Store
from cubeworld.human.study import HumanStudy, load_human_study

WEB_DIR = Path(__file__).resolve().parent / "web"
SRC_DIR = WEB_DIR / "src"
VENDOR_DIR = WEB_DIR / "vendor"  # filled by `npm run build` (scripts/install.sh)


class FrontendMissing(CubeworldError):
    """The jsPsych bundle has not been built."""


def check_frontend(vendor_dir: Path | None = None) -> list[str]:
    """The built front-end files, or FrontendMissing saying how to build them."""
    vendor_dir = Path(vendor_dir) if vendor_dir is not None else VENDOR_DIR
    hint = "run scripts/install.sh (or `npm ci && npm run build` in cubeworld/human/web)"
    manifest = vendor_dir / "manifest.json"
    if not manifest.is_file():
        raise FrontendMissing(f"the web front end is not built ({manifest} is missing): {hint}")
    files = json.loads(manifest.read_text())["files"]
    missing = [f for f in files if not (vendor_dir / f).is_file()]
    if missing:
        raise FrontendMissing(f"the web front end is incomplete (missing {missing}): {hint}")
    return files


# -- request bodies ---------------------------------------------------------------------
class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SessionIn(_Body):
    prolific_pid: str = Field(max_length=64)
    study_id: str = Field(default="", max_length=64)
    session_id: str = Field(default="", max_length=64)
    token: str | None = Field(default=None, max_length=128)


class ConsentIn(_Body):
    agree: StrictBool


class ResponseIn(_Body):
    request_id: str = Field(max_length=64)
    stimulus_id: str = Field(max_length=300)
    trial_index: StrictInt = Field(ge=0)
    response: Literal["Yes", "No"]
    rt_ms: float | None = Field(default=None, ge=0)
    shown_at: float | None = Field(default=None, ge=0)  # client clock, ms since the epoch


# -- views ------------------------------------------------------------------------------
def _attention_text(expected: str) -> str:
    return (
        "<p class='cw-attention'>This is an attention check.</p>"
        f"<p class='cw-attention'>Please click the <b>{expected}</b> button.</p>"
    )


def _trial_view(trial: Trial) -> dict:
    view = {"trial_index": trial.position, "kind": trial.kind, "stimulus_id": trial.item_id}
    if trial.kind == "stimulus":
        view["image"] = "/images/" + quote(trial.item_id, safe="")
    else:
        view["html"] = _attention_text(trial.expected)
    return view


def _session_view(study: HumanStudy, s: Session) -> dict:
    cfg = study.config
    return {
        "token": s.token,
        "participant": s.participant,
        "status": s.status,
        "consented": s.consented,
        "total": s.total,
        "answered": s.answered,
        "trials": [_trial_view(t) for t in s.remaining],
        "deadline": s.deadline,
        "completion_url": s.completion_url,
        "completion_code": cfg.completion_code if s.completion_url else None,
        "study": {
            "name": cfg.name,
            "domain": cfg.domain,
            "prompt": cfg.prompt,
            "question": cfg.question,
            "consent_html": cfg.consent_html,
            "redirect_seconds": cfg.redirect_seconds,
            "image_height_px": cfg.image_height_px,
            "attention_checks": cfg.attention_checks,
            "time_limit_minutes": cfg.block_timeout_minutes if cfg.design == "spread" else None,
        },
    }


def _validation_message(exc: RequestValidationError) -> tuple[int, str]:
    errors = exc.errors()
    for e in errors:
        if e.get("type") == "json_invalid":
            return 400, f"malformed JSON body: {e.get('ctx', {}).get('error', e.get('msg'))}"
    parts = []
    for e in errors[:3]:
        loc = ".".join(str(x) for x in e.get("loc", ()) if x != "body") or "body"
        if e.get("type") == "extra_forbidden":
            parts.append(f"unknown field {loc!r} (extra fields are not accepted)")
        elif e.get("type") == "missing":
            parts.append(f"missing field {loc!r}")
        else:
            parts.append(f"{loc}: {e.get('msg')}")
    return 422, "invalid request: " + "; ".join(parts)


def create_app(study_dir: str | Path, *, require_frontend: bool = True) -> FastAPI:
    """The ASGI app of one study folder (check the front end is built unless told not to)."""
    study = load_human_study(study_dir)
    if require_frontend:
        check_frontend()
    store = Store(study)
    items = study.by_id()
    cfg = study.config
    app = FastAPI(title=f"cubeworld study {cfg.name}", docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.study = study
    app.state.store = store

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError):
        return JSONResponse(exc.body(), status_code=exc.status,
                            headers={"Cache-Control": "no-store"})

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        status, message = _validation_message(exc)
        return JSONResponse({"error": message, "code": "bad_request"}, status_code=status)

    @app.middleware("http")
    async def _no_store(request: Request, call_next):
        response = await call_next(request)
        if request.url.path.startswith(("/api/", "/admin/")):
            response.headers["Cache-Control"] = "no-store"
        return response

    # -- participant pages and API ----------------------------------------------------
    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(SRC_DIR / "index.html", headers={"Cache-Control": "no-store"})

    @app.post("/api/session")
    def session(body: SessionIn, user_agent: str = Header(default="")) -> dict:
        s = store.start_session(body.prolific_pid, body.study_id, body.session_id, body.token,
                                user_agent)
        return _session_view(study, s)

    @app.post("/api/consent")
    def consent(body: ConsentIn,
                x_participant_token: str | None = Header(default=None)) -> dict:
        store.consent(x_participant_token, body.agree)
        return {"ok": True}

    @app.post("/api/responses")
    def responses(body: ResponseIn,
                  x_participant_token: str | None = Header(default=None)) -> dict:
        return store.record(x_participant_token, body.request_id, body.stimulus_id,
                            body.trial_index, body.response, body.rt_ms, body.shown_at)

    @app.post("/api/complete")
    def complete(x_participant_token: str | None = Header(default=None)) -> dict:
        url = store.complete(x_participant_token)
        return {"completion_url": url, "completion_code": cfg.completion_code}

    @app.get("/images/{stimulus_id}", include_in_schema=False)
    def image(stimulus_id: str) -> FileResponse:
        item = items.get(stimulus_id)
        if item is None:
            raise ApiError(404, "unknown_image", f"no image {stimulus_id!r} in this study")
        return FileResponse(study.image_path(item), media_type="image/png",
                            headers={"Cache-Control": "private, max-age=3600"})

    # -- admin API --------------------------------------------------------------------
    def _admin(authorization: str | None, token: str | None) -> None:
        given = token
        if authorization and authorization.lower().startswith("bearer "):
            given = authorization[7:].strip()
        if not given:
            raise ApiError(401, "admin_token_required",
                           "admin token required (Authorization: Bearer <admin_token>)")
        if not secrets.compare_digest(given.encode(), cfg.admin_token.encode()):
            raise ApiError(403, "bad_admin_token", "wrong admin token")

    @app.get("/admin/progress")
    def progress(authorization: str | None = Header(default=None),
                 token: str | None = Query(default=None)) -> dict:
        _admin(authorization, token)
        return store.progress()

    @app.get("/admin/export/{table}")
    def export(table: str, authorization: str | None = Header(default=None),
               token: str | None = Query(default=None),
               completed_only: bool = Query(default=False)) -> Response:
        _admin(authorization, token)
        writers = {"responses.csv": responses_csv, "bonus.csv": bonus_csv,
                   "participants.csv": participants_csv}
        if table not in writers:
            raise ApiError(404, "unknown_table", f"no table {table!r}; one of {sorted(writers)}")
        tables = build_tables(study, store, completed_only=completed_only)
        return PlainTextResponse(writers[table](tables), media_type="text/csv")

    if VENDOR_DIR.is_dir():
        app.mount("/vendor", StaticFiles(directory=VENDOR_DIR), name="vendor")
    app.mount("/static", StaticFiles(directory=SRC_DIR), name="static")
    return app


def participant_url(host: str, port: int) -> str:
    """The study URL to paste into Prolific (Prolific fills in the {{%...%}} fields)."""
    return (f"http://{host}:{port}/?PROLIFIC_PID={{{{%PROLIFIC_PID%}}}}"
            f"&STUDY_ID={{{{%STUDY_ID%}}}}&SESSION_ID={{{{%SESSION_ID%}}}}")


def serve(study_dir: str | Path, host: str = "127.0.0.1", port: int = 8000,
          access_log: bool = True) -> None:
    """Run the study's server in this process until interrupted."""
    import uvicorn

    app = create_app(study_dir)
    study: HumanStudy = app.state.study
    print(f"[cubeworld] study {study.config.name!r} ({study.config.design} design, "
          f"{len(study.items)} items)", flush=True)
    print(f"[cubeworld] participant URL for Prolific: {participant_url(host, port)}", flush=True)
    print(f"[cubeworld] progress: http://{host}:{port}/admin/progress "
          f"(Authorization: Bearer <admin_token from study.yaml>)", flush=True)
    uvicorn.run(app, host=host, port=port, access_log=access_log, log_level="info")

"""The study's web server: the jsPsych page, the participant API and the admin API.

Participant API (JSON; the token from /api/session goes in `X-Participant-Token`):
    POST /api/session    {prolific_pid, study_id, session_id, token?} -> start or resume
    POST /api/consent    {agree}
    POST /api/responses  {request_id, stimulus_id, trial_index, response, rt_ms, shown_at}
    POST /api/complete   -> {completion_url}
A participant can write only their own responses and reads nothing of anyone else's.

Admin API (`Authorization: Bearer <admin_token from study.yaml>`; a header only, never the
URL, so the token stays out of access logs, browser histories and proxies):
    GET /admin/progress, /admin/export/responses.csv, /admin/export/bonus.csv,
    /admin/export/participants.csv, /admin/export/exclusions.json

Every refusal is a 4xx `{"error": "...", "code": "..."}` and stores nothing. Bodies larger
than `limits.MAX_BODY_BYTES` are refused with 413 before they are read; every response
carries the security headers of `SECURITY_HEADERS` (a Content-Security-Policy that runs only
the app's own scripts, no framing, no MIME sniffing, no referrer).
"""

from __future__ import annotations

import io
import json
import logging
import re
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import FastAPI, Header, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field, Strict, StrictBool, StrictInt, field_validator
from starlette.exceptions import HTTPException as StarletteHTTPException

from cubeworld.errors import CubeworldError
from cubeworld.formats.responses import RESPONSE_CHOICES, response_label
from cubeworld.human.assign import STIMULUS, Trial
from cubeworld.human.errors import ApiError, HumanStudyError
from cubeworld.human.export import (
    bonus_csv,
    build_tables,
    exclusions_json,
    participants_csv,
    problem_lines,
    responses_csv,
)
from cubeworld.human.limits import (
    MAX_BODY_BYTES,
    RT_MAX_MS,
    SHOWN_AT_MAX_MS,
    SHOWN_AT_MIN_MS,
    TOKEN_MAX_CHARS,
    TRIAL_INDEX_MAX,
)
from cubeworld.human.store import Session, Store
from cubeworld.human.study import HumanStudy, load_human_study

log = logging.getLogger("cubeworld.human.server")

# Sent with every response. The page runs only its own scripts (/static, /vendor) and talks
# only to its own origin. jsPsych's stylesheet embeds its font as data: URLs, and its
# plugins set a few inline style attributes (button margins, the preload bar), which
# style-src-attr allows without allowing any inline <style> element or script.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; style-src-attr 'unsafe-inline'; "
    "img-src 'self'; connect-src 'self'; font-src 'self' data:; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}

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

    @field_validator("*", mode="after")
    @classmethod
    def _unicode_text(cls, value):
        # JSON may carry lone surrogates ("\ud800"), which no database can store.
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError("must be valid Unicode text") from None
        return value


class SessionIn(_Body):
    prolific_pid: str = Field(max_length=64)
    study_id: str = Field(default="", max_length=64)
    session_id: str = Field(default="", max_length=64)
    token: str | None = Field(default=None, max_length=TOKEN_MAX_CHARS)


class ConsentIn(_Body):
    agree: StrictBool


# A JSON number (an integer or not), never a string ("12"), a bool or NaN/Infinity.
JsonNumber = Annotated[float, Strict()]


class ResponseIn(_Body):
    request_id: str = Field(max_length=64)
    stimulus_id: str = Field(max_length=300)
    trial_index: StrictInt = Field(ge=0, le=TRIAL_INDEX_MAX)
    response: StrictInt = Field(ge=0, le=1)  # the response code: 1 = Yes, 0 = No
    rt_ms: JsonNumber | None = Field(default=None, ge=0, le=RT_MAX_MS, allow_inf_nan=False)
    # The participant's clock, ms since 1970: between the years 2000 and 2100.
    shown_at: JsonNumber | None = Field(default=None, ge=SHOWN_AT_MIN_MS, le=SHOWN_AT_MAX_MS, allow_inf_nan=False)


# -- middleware (plain ASGI, so they also cover errors and static files) ------------------
class BodyLimit:
    """Refuse request bodies over `max_bytes` with 413 before reading them.

    A declared Content-Length over the limit is answered at once, without reading a byte;
    a body without one (chunked) is counted as it arrives and refused at the limit, so the
    server never holds more than `max_bytes` of anyone's body.
    """

    def __init__(self, app, max_bytes: int = MAX_BODY_BYTES):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                declared = -1
            if declared < 0 or declared > self.max_bytes:
                status, code = (413, "body_too_large") if declared > 0 else (400, "bad_request")
                body = json.dumps({"error": self._message(declared), "code": code}).encode()
                await send(
                    {
                        "type": "http.response.start",
                        "status": status,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close"),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        received = 0
        limit = self.max_bytes

        async def counted():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413, self._message(received))
            return message

        await self.app(scope, counted, send)

    def _message(self, size: int) -> str:
        if size < 0:
            return "malformed Content-Length header"
        return f"request body too large (over {self.max_bytes} bytes)"


class SecurityHeaders:
    """Add SECURITY_HEADERS to every response (pages, API, static files, errors), and
    `Cache-Control: no-store` to the API's, which are never to be kept by a cache.

    Also the last word on errors: an exception no handler answered becomes a JSON 500
    (`{"error", "code": "server_error"}`) here, with the headers, and its traceback goes
    to the log. (Starlette's own 500 is sent from outside every middleware, as bare text
    without the headers.)

    Plain ASGI rather than Starlette's BaseHTTPMiddleware, which wraps errors raised while
    a body is read (the 413 of BodyLimit) into exception groups that end as a 400.
    """

    def __init__(self, app):
        self.app = app
        self.headers = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        extra = list(self.headers)
        if scope.get("path", "").startswith(("/api/", "/admin/")):
            extra.append((b"cache-control", b"no-store"))
        names = {name for name, _ in extra}
        started = False

        async def with_headers(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message = dict(message)
                message["headers"] = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names] + extra
            await send(message)

        try:
            await self.app(scope, receive, with_headers)
        except Exception:
            log.exception("%s %s: unexpected error", scope.get("method", ""), redact(scope.get("path", "")))
            if started:  # the status line is out: nothing better than to end the connection
                raise
            body = json.dumps(
                {"error": "The server met an unexpected problem; please try again.", "code": "server_error"}
            ).encode()
            await with_headers(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
                }
            )
            await with_headers({"type": "http.response.body", "body": body})


# -- the favicon ----------------------------------------------------------------------------
@lru_cache(maxsize=1)
def favicon_ico() -> bytes:
    """A small icon of three stacked blocks (drawn here: no binary file to ship)."""
    from PIL import Image, ImageDraw

    img = Image.new("RGBA", (32, 32), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    for i, (x, colour) in enumerate([(5, (200, 60, 60)), (9, (60, 120, 200)), (7, (230, 180, 40))]):
        y = 30 - 9 * (i + 1)
        draw.rectangle([x, y, x + 17, y + 8], fill=colour + (255,), outline=(40, 40, 40, 255))
    buf = io.BytesIO()
    img.save(buf, format="ICO", sizes=[(16, 16), (32, 32)])
    return buf.getvalue()


# -- views ------------------------------------------------------------------------------
def _attention_text(correct_response: int) -> str:
    return (
        "<p class='cw-attention'>This is an attention check.</p>"
        f"<p class='cw-attention'>Please click the <b>{response_label(correct_response)}</b> button.</p>"
    )


def _trial_view(trial: Trial) -> dict:
    view = {"trial_index": trial.trial_index, "kind": trial.kind, "stimulus_id": trial.stimulus_id}
    if trial.kind == STIMULUS:
        view["image"] = "/images/" + quote(trial.stimulus_id, safe="")
    else:
        view["html"] = _attention_text(trial.correct_response)
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
        # The buttons, in order, with the response code each one sends: the page has no
        # answer words or codes of its own.
        "choices": [{"label": label, "response": code} for label, code in RESPONSE_CHOICES],
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
    store.check_integrity()
    items = study.by_id()
    cfg = study.config
    app = FastAPI(title=f"cubeworld study {cfg.name}", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.study = study
    app.state.store = store

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError):
        return JSONResponse(exc.body(), status_code=exc.status, headers={"Cache-Control": "no-store"})

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        status, message = _validation_message(exc)
        return JSONResponse({"error": message, "code": "bad_request"}, status_code=status)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        codes = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}
        return JSONResponse(
            {"error": str(exc.detail), "code": codes.get(exc.status_code, f"http_{exc.status_code}")},
            status_code=exc.status_code,
            headers=exc.headers,
        )

    @app.exception_handler(HumanStudyError)
    async def _study_broken(request: Request, exc: HumanStudyError):
        # E.g. a damaged database: the researcher reads the log, the participant a sentence.
        log.error("%s %s: %s", request.method, request.url.path, exc)
        return JSONResponse(
            {
                "error": "The study is not available right now (a problem on the "
                "server). Please try again in a few minutes.",
                "code": "server_problem",
            },
            status_code=503,
        )

    # -- participant pages and API ----------------------------------------------------
    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(SRC_DIR / "index.html", headers={"Cache-Control": "no-store"})

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(favicon_ico(), media_type="image/x-icon", headers={"Cache-Control": "public, max-age=86400"})

    @app.post("/api/session")
    def session(body: SessionIn, user_agent: str = Header(default="")) -> dict:
        s = store.start_session(body.prolific_pid, body.study_id, body.session_id, body.token, user_agent)
        return _session_view(study, s)

    @app.post("/api/consent")
    def consent(body: ConsentIn, x_participant_token: str | None = Header(default=None)) -> dict:
        store.consent(x_participant_token, body.agree)
        return {"ok": True}

    @app.post("/api/responses")
    def responses(body: ResponseIn, x_participant_token: str | None = Header(default=None)) -> dict:
        return store.record(
            x_participant_token,
            body.request_id,
            body.stimulus_id,
            body.trial_index,
            body.response,
            body.rt_ms,
            body.shown_at,
        )

    @app.post("/api/complete")
    def complete(x_participant_token: str | None = Header(default=None)) -> dict:
        url = store.complete(x_participant_token)
        return {"completion_url": url, "completion_code": cfg.completion_code}

    @app.get("/images/{stimulus_id}", include_in_schema=False)
    def image(stimulus_id: str) -> FileResponse:
        item = items.get(stimulus_id)
        if item is None:
            raise ApiError(404, "unknown_image", f"no image {stimulus_id!r} in this study")
        return FileResponse(
            study.image_path(item), media_type="image/png", headers={"Cache-Control": "private, max-age=3600"}
        )

    # -- admin API --------------------------------------------------------------------
    def _admin(authorization: str | None) -> None:
        given = None
        if authorization and authorization.lower().startswith("bearer "):
            given = authorization[7:].strip()
        if not given:
            raise ApiError(
                401,
                "admin_token_required",
                "admin token required (header Authorization: Bearer <admin_token>; never put it in the URL)",
            )
        if not secrets.compare_digest(given.encode("utf-8", "surrogatepass"), cfg.admin_token.encode()):
            raise ApiError(403, "bad_admin_token", "wrong admin token")

    @app.get("/admin/progress")
    def progress(authorization: str | None = Header(default=None)) -> dict:
        _admin(authorization)
        return store.progress()

    @app.get("/admin/export/{table}")
    def export(
        table: str, authorization: str | None = Header(default=None), completed_only: bool = Query(default=False)
    ) -> Response:
        _admin(authorization)
        writers = {
            "responses.csv": (responses_csv, "text/csv"),
            "bonus.csv": (bonus_csv, "text/csv"),
            "participants.csv": (participants_csv, "text/csv"),
            "exclusions.json": (exclusions_json, "application/json"),
        }
        if table not in writers:
            raise ApiError(404, "unknown_table", f"no table {table!r}; one of {sorted(writers)}")
        try:
            tables = build_tables(study, store, completed_only=completed_only)
        except HumanStudyError as e:  # e.g. a reaction-time rule but no reaction times
            raise ApiError(409, "export_refused", str(e)) from None
        for line in problem_lines(tables):
            log.warning("export: %s", line)
        writer, media_type = writers[table]
        return PlainTextResponse(
            writer(tables), media_type=media_type, headers={"X-Export-Problems": str(len(tables.problems))}
        )

    if VENDOR_DIR.is_dir():
        app.mount("/vendor", StaticFiles(directory=VENDOR_DIR), name="vendor")
    app.mount("/static", StaticFiles(directory=SRC_DIR), name="static")
    app.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES)
    app.add_middleware(SecurityHeaders)  # added last: outermost, so it covers the 413s too
    return app


# Query parameters whose value is a secret, whatever their spelling: token, access_token,
# api_key, key, authorization, auth, secret, password, passwd, pwd, signature, sig, ...
SECRET_PARAMETER = re.compile(
    r"(?i)((?:^|[?&;])[^=&;?\s\"]*(?:token|key|auth|secret|pass|pwd|signature|sig|credential|session_?key)"
    r"[^=&;?\s\"]*=)[^&;\s\"]*"
)
# A path segment shaped like a token (the admin and participant tokens are 32 URL-safe
# characters): the server never takes a secret in a path, so such a segment can only be a
# mistake, and it stays out of the log. Image and static paths name files, not secrets.
TOKEN_SEGMENT = re.compile(r"(?<=/)[A-Za-z0-9_-]{24,}(?=[/?\s\"]|$)")
FILE_PATHS = re.compile(r"^(?:/images/|/static/|/vendor/)")


def redact(text: str, secrets_: tuple[str, ...] = ()) -> str:
    """`text` (a logged request line or path) with secret-bearing query values, token-shaped
    path segments and the given secrets (e.g. the admin token) written as [redacted]."""
    for secret in secrets_:
        if secret:
            text = text.replace(secret, "[redacted]")
    text = SECRET_PARAMETER.sub(r"\1[redacted]", text)
    return " ".join(_redact_path(part) for part in text.split(" "))


def _redact_path(part: str) -> str:
    if not part.startswith("/") or FILE_PATHS.match(part):
        return part
    path, sep, query = part.partition("?")
    return TOKEN_SEGMENT.sub("[redacted]", path) + sep + query


class RedactSecrets(logging.Filter):
    """Blank secrets in logged URLs: whatever someone put into a URL stays out of the logs.

    Redacts any query parameter whose name says it holds a secret (token, key,
    authorization, secret, password, signature, ...), any token-shaped path segment, and
    the study's admin token wherever it appears.
    """

    def __init__(self, known_secrets: tuple[str, ...] = ()):
        super().__init__()
        self.known = tuple(s for s in known_secrets if s)

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a, self.known) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = redact(record.msg, self.known)
        return True


def participant_url(host: str, port: int) -> str:
    """The study URL to paste into Prolific (Prolific fills in the {{%...%}} fields)."""
    return (
        f"http://{host}:{port}/?PROLIFIC_PID={{{{%PROLIFIC_PID%}}}}"
        f"&STUDY_ID={{{{%STUDY_ID%}}}}&SESSION_ID={{{{%SESSION_ID%}}}}"
    )


def serve(study_dir: str | Path, host: str = "127.0.0.1", port: int = 8000, access_log: bool = True) -> None:
    """Run the study's server in this process until interrupted."""
    import uvicorn

    app = create_app(study_dir)
    study: HumanStudy = app.state.study
    print(
        f"[cubeworld] study {study.config.name!r} ({study.config.design} design, {len(study.items)} items)", flush=True
    )
    print(f"[cubeworld] participant URL for Prolific: {participant_url(host, port)}", flush=True)
    print(
        f"[cubeworld] progress: curl -H 'Authorization: Bearer <admin_token from study.yaml>' "
        f"http://{host}:{port}/admin/progress",
        flush=True,
    )
    config = uvicorn.Config(app, host=host, port=port, access_log=access_log, log_level="info")
    # After uvicorn configured logging (Config does), so that nothing replaces the filter.
    for name in ("uvicorn.access", "uvicorn.error", log.name):
        logging.getLogger(name).addFilter(RedactSecrets((study.config.admin_token,)))
    uvicorn.Server(config).run()

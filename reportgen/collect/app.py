"""The ASGI app of `reportgen collect` (Starlette): the start page, the trial page, the
state and answer API, the study's pictures by id, and the page's own script, style and font.

Nothing is served from a path in the request: pictures are looked up by stimulus id among
the study's, static files by name in a fixed list. Every page is rendered with autoescaping,
and the page's settings travel as JSON inside a ``<script type="application/json">`` whose
``<``, ``>`` and ``&`` are escaped, so no input becomes markup.
"""

from __future__ import annotations

import hmac
import importlib.util
import tomllib
from pathlib import Path
from typing import Any

import jinja2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from reportgen.collect.session import AnswerRejected, Sessions
from reportgen.collect.store import observer_problem
from reportgen.errors import ReportgenError
from reportgen.resources import resource_dir

#: Fixation before each stimulus, as in the cue-conflict lab protocol (Geirhos et al. 2019).
FIXATION_MS = 300
#: Where the page's files live (templates/collect/).
PAGE_DIR = resource_dir("templates") / "collect"
#: Pages and API replies: no script, style or font from anywhere but this server, no frames,
#: and no address (which may carry the session token) sent to another site.
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
        "base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
TOKEN_COOKIE = "reportgen_collect_token"


def load_strings(lang: str) -> dict[str, str]:
    """The page's strings in `lang` (templates/collect/<lang>.toml)."""
    with open(PAGE_DIR / f"{lang}.toml", "rb") as f:
        return tomllib.load(f)


def font_file() -> Path | None:
    """IPAexGothic from `matplotlib-fontja` (a dependency), for Japanese pages on machines
    without a Japanese font; found without importing the package, which restyles matplotlib."""
    spec = importlib.util.find_spec("matplotlib_fontja")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "fonts" / "ipaexg.ttf"
    return path if path.is_file() else None


def create_app(
    sessions: Sessions,
    *,
    lang: str,
    class_names: dict[str, str] | None = None,
    token: str | None = None,
    allowed_hosts: frozenset[str] | None = None,
) -> Starlette:
    """The app serving `sessions`.

    Parameters
    ----------
    lang : {'en', 'ja'}
        The page's language.
    class_names : class id -> name shown on its button (default: the id).
    token : str, optional
        When given, every request must carry it, as ``?token=`` (the address printed at
        start) or as the cookie the first such page sets.
    allowed_hosts : set of str, optional
        Host names the requests may be addressed to (without port); refusing others keeps a
        web page in the same browser from reaching a localhost server through DNS rebinding.
    """
    strings = load_strings(lang)
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(PAGE_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    page = env.get_template("page.html")
    settings = sessions.settings
    names = class_names or {}
    classes = [{"id": c, "name": names.get(c, c)} for c in sessions.pictures.classes]
    statics: dict[str, tuple[Path, str]] = {
        "collect.js": (PAGE_DIR / "collect.js", "text/javascript; charset=utf-8"),
        "collect.css": (PAGE_DIR / "collect.css", "text/css; charset=utf-8"),
    }
    if (font := font_file()) is not None:
        statics["ipaexg.ttf"] = (font, "font/ttf")

    def refused(request: Request) -> Response | None:
        if allowed_hosts is not None and request.url.hostname not in allowed_hosts:
            return Response("unknown host", status_code=421, headers=_HEADERS)
        if token is not None:
            given = request.query_params.get("token") or request.cookies.get(TOKEN_COOKIE, "")
            if not hmac.compare_digest(given.encode(), token.encode()):
                return Response(
                    "this server needs the session token of its address", 403, headers=_HEADERS
                )
        return None

    def html(text: str, status: int = 200) -> HTMLResponse:
        response = HTMLResponse(text, status_code=status, headers=_HEADERS)
        if token is not None:
            response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict")
        return response

    async def index(request: Request) -> Response:
        if (no := refused(request)) is not None:
            return no
        observer = request.query_params.get("observer")
        if observer is None or observer_problem(observer) is not None:
            invalid = observer is not None
            text = page.render(lang=lang, t=strings, observer=None, invalid=invalid)
            return html(text, 400 if invalid else 200)
        setup = {
            "observer": observer,
            "classes": classes,
            "strings": strings,
            "fixation_ms": FIXATION_MS,
            "duration_ms": settings.duration_ms,
            "mask_ms": settings.mask_ms,
        }
        return html(page.render(lang=lang, t=strings, observer=observer, setup=setup))

    def reply(data: Any, status: int = 200) -> JSONResponse:
        return JSONResponse(data, status_code=status, headers=_HEADERS)

    async def state(request: Request) -> Response:
        if (no := refused(request)) is not None:
            return no
        try:
            return reply(sessions.state(request.query_params.get("observer", "")))
        except AnswerRejected as err:
            return reply({"error": str(err)}, err.status)

    async def answer(request: Request) -> Response:
        if (no := refused(request)) is not None:
            return no
        try:
            payload = await request.json()
        except ValueError:
            return reply({"error": "the body is not JSON"}, 400)
        if not isinstance(payload, dict):
            return reply({"error": "the body is not a JSON object"}, 400)
        try:
            return reply(sessions.answer(request.query_params.get("observer", ""), payload))
        except AnswerRejected as err:
            return reply({"error": str(err)}, err.status)
        except ReportgenError as err:  # the disk refused the write: the page retries
            return reply({"error": "; ".join(err.problems)}, 503)

    async def image(request: Request) -> Response:
        if (no := refused(request)) is not None:
            return no
        ident = request.query_params.get("id", "")
        if ident not in sessions.pictures:
            return Response("not a stimulus of this study", 404, headers=_HEADERS)
        headers = {**_HEADERS, "Cache-Control": "private, max-age=3600"}
        return Response(sessions.pictures.png(ident), media_type="image/png", headers=headers)

    async def static(request: Request) -> Response:
        if (no := refused(request)) is not None:
            return no
        found = statics.get(request.path_params["name"])
        if found is None:
            return Response("not found", 404, headers=_HEADERS)
        path, media = found
        return FileResponse(path, media_type=media, headers=_HEADERS)

    return Starlette(
        routes=[
            Route("/", index),
            Route("/api/state", state),
            Route("/api/answer", answer, methods=["POST"]),
            Route("/image", image),
            Route("/static/{name}", static),
        ]
    )

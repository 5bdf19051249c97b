"""The web UI's pages and form handlers (spec §21), served by every worker's web server beside /api/0/.

Routes (registered by streams.worker, before the API's):
- `GET /` → 303 to the first project's stream (an empty page while there is no project yet);
- `GET /projects/{project_id}/issues/` the issue stream: query, sort, environment, cursors, sparklines;
- `GET /issues/{issue_id}/` the issue page (group id or short id);
- `POST /issues/{issue_id}/actions/` a button: made into a §20.8/§20.9 request to this worker's own API;
- `POST /ui/session/` enter or forget the API token; `GET /ui/static/ui.css` the stylesheet.

Pages are read-only without a token. Every form is checked (same origin, session CSRF token) before
anything else; a refused form is a 403 page, and nothing is sent to the API.
"""
from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
from aiohttp import web
from faust.web import Request, View
from psycopg_pool import PoolTimeout

from streams.web import tracker_actions
from streams.web.errors import ApiError
from streams.web.ui import client, reads
from streams.web.ui.actions import (
    ARCHIVE_MODES,
    FIELD_PREFIX,
    PRIORITIES,
    FormError,
    action_call,
    answer_flash,
    error_text,
)
from streams.web.ui.render import render
from streams.web.ui.session import (
    CSRF_COOKIE,
    CSRF_FIELD,
    FLASH_COOKIE,
    FLASH_SECONDS,
    TOKEN_COOKIE,
    Flash,
    cookie_flags,
    decode_flash,
    decode_token,
    encode_flash,
    encode_token,
    form_refusal,
    new_csrf_token,
    request_scheme,
    usable_token,
)
from streams.web.views import connection

log = logging.getLogger(__name__)

STYLESHEET = Path(__file__).with_name("static") / "ui.css"
# No script runs on these pages; styles and forms only from here; never framed (clickjacking a button).
SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": ("default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self';"
                                " frame-ancestors 'none'; base-uri 'none'"),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",  # pages carry the session's CSRF token
}


def _aio(request: Request) -> web.Request:
    return request  # type: ignore[return-value]  # Faust's aiohttp driver hands views aiohttp's own request


def _scheme(request: web.Request) -> str:
    return request_scheme(request.scheme, request.headers.get("X-Forwarded-Proto"))


def safe_next(path: str | None) -> str:
    """A path of this site to return to after a form; anything else (another host, `//x`) is the home page."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path or any(c < " " for c in path):
        return "/"
    return path


def issue_url(issue_id: str) -> str:
    return f"/issues/{quote(issue_id, safe='')}/"


def stream_url(project_id: int | str) -> str:
    return f"/projects/{quote(str(project_id), safe='')}/issues/"


class UiView(View):
    """A page of the UI: the session's cookies, the layout's context and HTML error pages."""

    def page(self, request: web.Request, template: str, *, status: int = 200, **context: Any) -> web.Response:
        csrf = request.cookies.get(CSRF_COOKIE)
        fresh = not csrf
        if fresh:
            csrf = new_csrf_token()
        flash = decode_flash(request.cookies.get(FLASH_COOKIE))
        html = render(
            template,
            csrf_field=CSRF_FIELD, csrf=csrf, signed_in=decode_token(request.cookies.get(TOKEN_COOKIE)) is not None,
            flash=flash, now=datetime.now(UTC), here=request.path_qs, **context,
        )
        response = web.Response(text=html, content_type="text/html", status=status, headers=SECURITY_HEADERS)
        flags = cookie_flags(_scheme(request)).as_kwargs()
        if fresh:
            response.set_cookie(CSRF_COOKIE, csrf, **flags)  # type: ignore[arg-type]
        if FLASH_COOKIE in request.cookies:
            response.del_cookie(FLASH_COOKIE, **flags)  # type: ignore[arg-type]  # shown once
        return response

    def error_page(self, request: web.Request, error: ApiError) -> web.Response:
        return self.page(request, "error.html", status=error.status, error=error, projects=[], project=None)

    async def guarded(self, request: web.Request, work: Any) -> web.Response:
        """`work`'s page, or the HTML page of the ApiError or Postgres failure it raised."""
        try:
            response: web.Response = await work
            return response
        except ApiError as error:
            return self.error_page(request, error)
        except (psycopg.OperationalError, PoolTimeout) as error:
            log.warning("ui: %s %s: postgres unavailable: %s", request.method, request.path, error)
            return self.error_page(request, ApiError(503, "unavailable", "PostgreSQL is unreachable: try again soon"))


def _redirect(request: web.Request, location: str, flash: Flash | None = None,
              *, token: str | None = None, forget_token: bool = False) -> web.Response:
    """303 See Other: the browser GETs `location`, which shows `flash` once."""
    response = web.Response(status=303, headers={"Location": location, **SECURITY_HEADERS})
    flags = cookie_flags(_scheme(request)).as_kwargs()
    if flash is not None:
        response.set_cookie(FLASH_COOKIE, encode_flash(flash), max_age=FLASH_SECONDS, **flags)  # type: ignore[arg-type]
    if token is not None:
        # A session cookie (no Max-Age): the token is entered once per browser session (spec §21).
        response.set_cookie(TOKEN_COOKIE, encode_token(token), **flags)  # type: ignore[arg-type]
    if forget_token:
        response.del_cookie(TOKEN_COOKIE, **flags)  # type: ignore[arg-type]
    return response


async def _checked_form(view: UiView, request: web.Request) -> tuple[Any, web.Response | None]:
    """The posted form, or the 403 page refusing it (cross-origin, or without the session's CSRF token)."""
    form = await request.post()
    refusal = form_refusal(request.cookies.get(CSRF_COOKIE), _field(form, CSRF_FIELD), request.headers.get("Origin"),
                           request.headers.get("Referer"), _scheme(request), request.host)
    if refusal is None:
        return form, None
    log.info("ui: refused %s %s: %s", request.method, request.path, refusal)
    return form, view.page(request, "error.html", status=403, projects=[], project=None,
                           error=ApiError(403, "forbidden", refusal))


def _field(form: Any, name: str) -> str | None:
    value = form.get(name)
    return value if isinstance(value, str) else None


def _api_base(request: web.Request, view: View) -> str:
    sockname = request.transport.get_extra_info("sockname") if request.transport is not None else None
    return client.api_base(sockname, int(view.app.conf.web_port))


class RootView(UiView):
    """`/`: the first project's stream (spec §21)."""

    async def get(self, request: Request) -> web.Response:  # type: ignore[override]
        aio = _aio(request)
        return await self.guarded(aio, self._root(aio))

    async def _root(self, request: web.Request) -> web.Response:
        async with await connection() as conn:
            known = await reads.projects(conn)
        if known:
            return web.Response(status=303, headers={"Location": stream_url(known[0].id)})
        empty = reads.StreamData(None, [], "", "date", "", [])
        return self.page(request, "stream.html", data=empty, projects=[], project=None, params=[])


class StreamView(UiView):
    """The issue stream of a project (spec §21, §20.5)."""

    async def get(self, request: Request, project_id: str) -> web.Response:  # type: ignore[override]
        aio = _aio(request)
        return await self.guarded(aio, self._stream(aio, project_id))

    async def _stream(self, request: web.Request, project_id: str) -> web.Response:
        if not (project_id.isascii() and project_id.isdigit()) or not 0 < int(project_id) < 2**63:
            raise ApiError(404, "not_found", f"no project {project_id}")
        params = [(key, value) for key, value in request.query.items() if isinstance(value, str)]
        async with await connection() as conn:
            data = await reads.read_stream(conn, int(project_id), params, datetime.now(UTC))
        status = data.error.status if data.error is not None else 200
        return self.page(request, "stream.html", status=status, data=data, projects=data.projects,
                         project=data.project, params=params)


class IssueView(UiView):
    """One issue (spec §21, §20.10): details, charts, evidence, latest occurrence, activity and the buttons."""

    async def get(self, request: Request, issue_id: str) -> web.Response:  # type: ignore[override]
        aio = _aio(request)
        return await self.guarded(aio, self._issue(aio, issue_id))

    async def _issue(self, request: web.Request, issue_id: str) -> web.Response:
        async with await connection() as conn:
            issue = await reads.read_issue(conn, issue_id, datetime.now(UTC))
            known = await reads.projects(conn)
        # spec §24.7: the configured trackers, the linked ticket and the forms' fields
        trackers = await tracker_actions.issue_tracker_forms(connection, issue_id,
                                                             f"{_scheme(request)}://{request.host}")
        project = next((p for p in known if str(p.id) == issue["project"]["id"]), None)
        return self.page(request, "issue.html", issue=issue, issue_ref=issue_id, projects=known, project=project,
                         priorities=PRIORITIES, archive_modes=ARCHIVE_MODES, trackers=trackers,
                         field_prefix=FIELD_PREFIX)


class IssueActionView(UiView):
    """A button of the issue page: the API request it stands for, then 303 back with the API's answer."""

    async def get(self, request: Request, issue_id: str) -> web.Response:  # type: ignore[override]
        # A bookmarked or reloaded form target: the page it belongs to, never a JSON 405.
        return web.Response(status=303, headers={"Location": issue_url(issue_id)})

    async def post(self, request: Request, issue_id: str) -> web.Response:  # type: ignore[override]
        aio = _aio(request)
        form, refused = await _checked_form(self, aio)
        if refused is not None:
            return refused
        back = issue_url(issue_id)
        token = decode_token(aio.cookies.get(TOKEN_COOKIE))
        if token is None:
            return _redirect(aio, back, Flash("error", "Enter the API token first: the page is read-only without it."))
        try:
            call = action_call(issue_id, {key: value for key, value in form.items() if isinstance(value, str)})
        except FormError as error:
            return _redirect(aio, back, Flash("error", str(error)))
        try:
            # ?wait=1: the redirect then shows the issue as the stream has applied the change (spec §20.8).
            answer = await client.call(_api_base(aio, self), call.method, call.path, token, call.body, {"wait": "1"})
        except client.ApiUnreachable as error:
            return _redirect(aio, back, Flash("error", f"{call.what} failed: the API did not answer ({error})."))
        log.info("ui: %s %s → %s %s: HTTP %s", call.what, issue_id, call.method, call.path, answer.status)
        flash = answer_flash(call, answer.status, answer.body)
        project = _field(form, "project") or ""
        if call.method == "DELETE" and 200 <= answer.status < 300 and project.isascii() and project.isdigit():
            back = stream_url(project)
        return _redirect(aio, back, flash, forget_token=answer.status == 401)


class SessionView(UiView):
    """Enter the API token once per browser session, or forget it (spec §21)."""

    async def get(self, request: Request) -> web.Response:  # type: ignore[override]
        return web.Response(status=303, headers={"Location": "/"})

    async def post(self, request: Request) -> web.Response:  # type: ignore[override]
        aio = _aio(request)
        form, refused = await _checked_form(self, aio)
        if refused is not None:
            return refused
        back = safe_next(_field(form, "next"))
        if _field(form, "action") == "signout":
            return _redirect(aio, back, Flash("info", "Signed out: the pages are read-only."), forget_token=True)
        token = usable_token(_field(form, "token"))
        if token is None:
            return _redirect(aio, back, Flash("error", "Enter the API token (printable ASCII)."))
        try:
            answer = await client.call(_api_base(aio, self), "POST", client.TOKEN_CHECK_PATH, token)
        except client.ApiUnreachable as error:
            return _redirect(aio, back, Flash("error", f"The API did not answer ({error})."))
        if answer.status in (401, 403) or answer.status >= 500:
            return _redirect(aio, back, Flash("error", f"Not signed in: {error_text(answer.status, answer.body)}"))
        return _redirect(aio, back, Flash("success", "Signed in: the buttons act with this token until you close"
                                                     " the browser or sign out."), token=token)


class StylesheetView(View):
    async def get(self, request: Request) -> web.Response:  # type: ignore[override]
        return web.Response(body=STYLESHEET.read_bytes(), content_type="text/css",
                            headers={"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"})


# (path, view), for streams.worker: before the API's catch-all, which only matches under /api/0/ anyway.
PAGES: tuple[tuple[str, type[View]], ...] = (
    ("/", RootView),
    ("/projects/{project_id}/issues/", StreamView),
    ("/issues/{issue_id}/", IssueView),
    ("/issues/{issue_id}/actions/", IssueActionView),
    ("/ui/session/", SessionView),
    ("/ui/static/ui.css", StylesheetView),
)

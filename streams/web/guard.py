"""The aiohttp middleware that applies `streams.web.auth` to every request of the worker's web server."""
from __future__ import annotations

from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web

from streams.web.auth import UNAUTHORIZED_HEADERS, request_refusal

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Middleware = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]


def auth_middleware(token: str | None) -> Middleware:
    """A middleware refusing what `request_refusal` refuses, with the §20.1.3 body, before routing."""

    @web.middleware
    async def check_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
        error = request_refusal(request.method, request.path, request.headers.get("Authorization"), token)
        if error is None:
            return await handler(request)
        headers = UNAUTHORIZED_HEADERS if error.status == 401 else {}
        return web.Response(body=orjson.dumps(error.body()), status=error.status,
                            content_type="application/json", headers=headers)

    return check_auth


def install(web_app: web.Application, token: str | None) -> None:
    """Put the check first, so no other middleware or handler runs for a refused request."""
    web_app.middlewares.insert(0, auth_middleware(token))

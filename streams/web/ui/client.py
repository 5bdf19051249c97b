"""The web UI as a client of its own worker's API (spec §21): one HTTP request with the session's bearer token.

The UI never produces group changes itself: its buttons are §20.8/§20.9 requests to /api/0/, so the API's
checks (token, visibility, body rules) and its single path into the stream apply to them unchanged.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

_TIMEOUT = aiohttp.ClientTimeout(total=20)  # above the API's own `?wait=1` bound of 10 s (spec §20.8)
# A mutating method on a path no resource serves: the API's auth check runs before routing, so the right
# token gets the catch-all 404, a wrong one 401, and a server without API_TOKEN 403 (streams.web.auth).
TOKEN_CHECK_PATH = "/api/0/ui/token-check/"


class ApiUnreachable(Exception):
    """The worker's own API did not answer (connection refused, timeout)."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes


def api_base(sockname: Any, fallback_port: int) -> str:
    """The URL of the server that took this request, from its socket's local address: the API is served by
    the same server, whatever --web-host and --web-port it was started with."""
    if isinstance(sockname, tuple) and len(sockname) >= 2:
        host, port = str(sockname[0]), int(sockname[1])
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return f"http://127.0.0.1:{port}"
        if address.is_unspecified:
            host = "127.0.0.1" if address.version == 4 else "::1"
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    return f"http://127.0.0.1:{fallback_port}"


async def call(base: str, method: str, path: str, token: str, body: dict[str, Any] | None = None,
               params: dict[str, str] | None = None) -> Answer:
    headers = {"Authorization": f"Bearer {token}"}
    data = None
    if body is not None:
        headers["Content-Type"] = "application/json"
        data = orjson.dumps(body)
    try:
        async with (
            aiohttp.ClientSession(timeout=_TIMEOUT) as session,
            session.request(method, base + path, headers=headers, data=data, params=params) as response,
        ):
            return Answer(response.status, await response.read())
    except (aiohttp.ClientError, TimeoutError) as error:
        raise ApiUnreachable(str(error) or type(error).__name__) from error

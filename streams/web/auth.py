"""Who may call what on the web server: the bearer token of mutations (spec §20.1.2) and of Faust's views (§10.3.3)."""
from __future__ import annotations

import hmac
import re

from streams.web.errors import ApiError

API_PREFIX = "/api/0/"
# Spec §20.1.2 names PUT, POST and DELETE; PATCH changes state too, so it is held to the same rule.
MUTATING_METHODS: frozenset[str] = frozenset({"PUT", "POST", "DELETE", "PATCH"})
# Faust's own views show table state, including groups of types whose visible flag is off (§10.3.3).
FAUST_STATE_PREFIXES: tuple[str, ...] = ("/table/", "/router/")
UNAUTHORIZED_HEADERS: dict[str, str] = {"WWW-Authenticate": "Bearer"}  # spec §20.1.3, with every 401
# Spec §24.6: a tracker's webhook is authenticated by the project's tracker secret, never by the bearer token.
TRACKER_WEBHOOK_PATH = re.compile(r"/api/0/projects/[^/]+/trackers/[^/]+/webhook/")


def configured_token(token: str | None) -> str | None:
    """The token to check against, or None: a blank setting is no token, never one that "" matches."""
    return token if token is not None and token.strip() else None


def bearer_matches(authorization: str | None, token: str) -> bool:
    """Whether `Authorization` is `Bearer <token>`; the comparison takes the same time wherever it differs."""
    if authorization is None:
        return False
    scheme, _, presented = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(presented.strip().encode(), token.encode())


def unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message)


def request_refusal(method: str, path: str, authorization: str | None, token: str | None) -> ApiError | None:
    """The §20.1.3 error that refuses this request before any route sees it, or None to let it through.

    Order (spec §20.1.2: *every* mutating method needs the token): the check runs before routing, so a
    mutation without the right token is a 401 (403 when no token is configured) whatever the path, and only
    an authorised one learns that a path is unknown (404) or takes no such method (405). A caller without
    the token cannot map the API's mutable routes.
    """
    token = configured_token(token)
    if method.upper() == "POST" and TRACKER_WEBHOOK_PATH.fullmatch(path):
        return None  # its handler checks the signature (streams.web.tracker_webhook); works without API_TOKEN
    if path.startswith(API_PREFIX) and method.upper() in MUTATING_METHODS:
        if token is None:
            # Never open by default: an operator has to choose a token before anything can change.
            return ApiError(403, "mutations_disabled", "Mutations are disabled: API_TOKEN is not configured")
        if not bearer_matches(authorization, token):
            return unauthorized("A mutation needs the header Authorization: Bearer <API_TOKEN>")
        return None
    if token is not None and path.startswith(FAUST_STATE_PREFIXES) and not bearer_matches(authorization, token):
        # Without a token these stay open as before: they are how operators and tests inspect table state.
        return unauthorized("Table and router views need the header Authorization: Bearer <API_TOKEN>")
    return None

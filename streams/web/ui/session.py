"""The web UI's browser session (spec §21): the API token cookie, the CSRF check of forms, flash messages.

Pure: headers and form fields in, decisions out. The API itself never reads a cookie (only the
`Authorization` header, spec §20.1.2), so the token cookie reaching /api/0/ authorises nothing there; the UI's
own form handlers are the only readers, and they refuse a form unless it carries the session's CSRF token
and comes from this same origin.
"""
from __future__ import annotations

import base64
import binascii
import hmac
import secrets
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

import orjson

TOKEN_COOKIE = "ip_token"  # the API token, entered once per browser session (spec §21)
CSRF_COOKIE = "ip_csrf"  # the per-session CSRF token; every form echoes it in CSRF_FIELD
FLASH_COOKIE = "ip_flash"  # the outcome of the last action, shown once by the page it redirects to
CSRF_FIELD = "csrf"
FLASH_SECONDS = 60  # a flash not shown within a minute (the redirect was not followed) is dropped
_MAX_FLASH_CHARS = 600  # cookies hold 4 KiB: an API message longer than this is cut
_MAX_TOKEN_CHARS = 1024

FlashKind = Literal["success", "info", "error"]


@dataclass(frozen=True)
class CookieFlags:
    """The attributes every cookie of the UI carries: never readable by scripts, never sent cross-site."""

    secure: bool
    httponly: bool = True
    samesite: str = "Strict"
    path: str = "/"

    def as_kwargs(self) -> dict[str, object]:
        """As aiohttp's `Response.set_cookie` takes them."""
        return {"secure": self.secure, "httponly": self.httponly, "samesite": self.samesite, "path": self.path}


def request_scheme(scheme: str, forwarded_proto: str | None) -> str:
    """The scheme the browser used: a TLS-terminating proxy says it in X-Forwarded-Proto.

    Trusting the header is safe here: it can only make cookies Secure and make the origin check expect
    https, and a cross-site attacker cannot set a header on the victim's browser request.
    """
    proto = (forwarded_proto or "").split(",")[0].strip().lower()
    return proto if proto in ("http", "https") else scheme.lower()


def cookie_flags(scheme: str) -> CookieFlags:
    return CookieFlags(secure=scheme == "https")


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def usable_token(text: str | None) -> str | None:
    """A token as typed into the sign-in form, trimmed; None when empty or not a header-safe value."""
    token = (text or "").strip()
    if not token or len(token) > _MAX_TOKEN_CHARS or not token.isascii() or not token.isprintable():
        return None
    return token


def _b64encode(data: bytes) -> str:
    # No padding: '=' is outside the characters http.cookies leaves unquoted, and a quoted value would come
    # back from the browser with its quotes.
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text.encode("ascii") + b"=" * (-len(text) % 4))


def encode_token(token: str) -> str:
    """The token as a cookie value: any printable ASCII survives the cookie syntax (no ';', ',', quotes)."""
    return _b64encode(token.encode("ascii"))


def decode_token(value: str | None) -> str | None:
    """The token a cookie holds, or None for no cookie or a value `encode_token` did not make."""
    if not value:
        return None
    try:
        return usable_token(_b64decode(value).decode("ascii"))
    except (ValueError, binascii.Error, UnicodeError):
        return None


def csrf_matches(cookie: str | None, field: str | None) -> bool:
    """The double-submit check: the form's hidden field equals the session's cookie, compared in constant time."""
    if not cookie or not field:
        return False
    return hmac.compare_digest(cookie.encode(), field.encode())


def same_origin(origin: str | None, referer: str | None, scheme: str, host: str) -> bool:
    """Whether the form was posted from this server's own pages.

    `Origin` decides when the browser sends it (every current browser does on a POST); else `Referer`'s
    origin. Neither, or `Origin: null` (a sandboxed or privacy-stripped context), is refused: a real page
    of ours always sends one of them.
    """
    expected = f"{scheme}://{host}".lower()
    if origin is not None and origin.strip():
        return origin.strip().lower() == expected
    if referer:
        parts = urlsplit(referer.strip())
        return bool(parts.scheme and parts.netloc) and f"{parts.scheme}://{parts.netloc}".lower() == expected
    return False


def form_refusal(
    csrf_cookie: str | None, csrf_field: str | None, origin: str | None, referer: str | None, scheme: str, host: str
) -> str | None:
    """Why a UI form is refused (403), or None to accept it."""
    if not same_origin(origin, referer, scheme, host):
        return "The form did not come from this site (Origin/Referer check failed)."
    if not csrf_matches(csrf_cookie, csrf_field):
        return "The form's session token is missing or stale: reload the page and try again."
    return None


@dataclass(frozen=True)
class Flash:
    kind: FlashKind
    text: str


def encode_flash(flash: Flash) -> str:
    """A cookie-safe value (base64url of JSON), the text cut to fit a cookie."""
    text = flash.text if len(flash.text) <= _MAX_FLASH_CHARS else flash.text[: _MAX_FLASH_CHARS - 1] + "…"
    return _b64encode(orjson.dumps([flash.kind, text]))


def decode_flash(value: str | None) -> Flash | None:
    """The flash a cookie holds, or None for no cookie or anything not made by `encode_flash`."""
    if not value:
        return None
    try:
        kind, text = orjson.loads(_b64decode(value))
    except (ValueError, TypeError, binascii.Error, UnicodeError, orjson.JSONDecodeError):
        return None
    if kind not in ("success", "info", "error") or not isinstance(text, str):
        return None
    return Flash(kind, text)

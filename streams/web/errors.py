"""API errors and their JSON body (spec §20.1.3): `{"code", "message", "details"}`."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson


class ApiError(Exception):
    """Raised anywhere below a view; the view turns it into the §20.1.3 body with `status`."""

    def __init__(self, status: int, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}


def not_found(message: str, **details: Any) -> ApiError:
    # One answer for "unknown" and "invisible" (§10.3.3): a hidden type's issues must not be told apart.
    return ApiError(404, "not_found", message, details)


def invalid_parameter(parameter: str, message: str) -> ApiError:
    return ApiError(400, "invalid_parameter", message, {"parameter": parameter})


def unavailable(message: str, **details: Any) -> ApiError:
    return ApiError(503, "unavailable", message, details)


def json_object(raw: bytes, invalid: Callable[[str, str], ApiError], shape: str) -> dict[str, Any]:
    """A request body that must be one JSON object; `invalid(path, message)` is the endpoint's 400, and `shape`
    says what the object should look like."""
    try:
        body = orjson.loads(raw) if raw.strip() else None
    except orjson.JSONDecodeError:
        raise invalid("", "The body is not valid JSON") from None
    if not isinstance(body, dict):
        raise invalid("", f"The body must be {shape}")
    return body

"""Errors of tracker plugins: registration and loading (spec §24.1), and failed tracker calls (§24.3)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class TrackerRegistrationError(ValueError):
    """A tracker class breaks a rule of §24.1 (slug, attributes, fields, clash); aborts worker start."""


class TrackerLoadError(RuntimeError):
    """An entry point of `issue_platform.trackers` could not be loaded; aborts worker start (§24.1, §9.5.3)."""


class InvalidForm(ValueError):
    """A create or link form (or a config) the tracker cannot use: §24.3's 400 `invalid_body`.

    `errors` maps a field name to one message, as the API's `details.errors` shows it.
    """

    def __init__(self, errors: Mapping[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__("; ".join(f"{name}: {message}" for name, message in self.errors.items()))


class MarkerSearchUnsupported(NotImplementedError):
    """The tracker has no `find_by_marker`: an in-doubt automatic ticket stays `in_doubt` for a person (§24.5)."""


class TrackerCallError(Exception):
    """A call to the tracker's service failed; carries what §24.3's error body needs.

    `status` is the service's HTTP status when it answered, else None. `in_doubt` tells §24.5 whether
    the ticket may exist anyway (timeout, 5xx, a connection lost mid-call, an unreadable success) or
    whether the failure proves nothing was created (no connection made, a 4xx answer).

    Messages never hold a secret config value: they are built from scrubbed text (spec §24.3.1).
    """

    api_status = 502
    code = "tracker_error"

    def __init__(self, tracker: str, message: str, *, status: int | None = None, in_doubt: bool) -> None:
        super().__init__(message)
        self.tracker = tracker
        self.message = message
        self.status = status
        self.in_doubt = in_doubt

    @property
    def details(self) -> dict[str, Any]:
        return {"tracker": self.tracker, "status": self.status}

    def body(self) -> dict[str, Any]:
        """The §20.1.3 body `{code, message, details}` answered with `api_status`."""
        return {"code": self.code, "message": self.message, "details": self.details}


class TrackerAnswerError(TrackerCallError):
    """The service answered an error status: 502 `tracker_error` with that status (§24.3)."""


class TrackerBadAnswer(TrackerCallError):
    """The service answered success but not what its API documents; the ticket may exist (§24.5)."""


class TrackerUnreachable(TrackerCallError):
    """No connection could be made (refused, unknown host, bad URL): nothing was sent (§24.5)."""


class TrackerConnectionLost(TrackerCallError):
    """The connection broke after the request was sent: the ticket may exist (§24.5)."""


class TrackerTimeout(TrackerCallError):
    """No answer within the call's timeout: 504 `tracker_timeout`; the ticket may have been created (§24.3)."""

    api_status = 504
    code = "tracker_timeout"

"""The one async HTTP client of all trackers: a per-call timeout, retries of idempotent calls only, and
failures mapped to the errors §24.3 answers (502 `tracker_error`, 504 `tracker_timeout`).

Nothing here puts a URL, header or answer text into a message or log line without scrubbing the call's
secret values first; connection failures are named by their kind only, since a secret webhook URL's host
would otherwise show (spec §24.3.1).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, Self

import aiohttp

from streams.trackers.config_secrets import scrub
from streams.trackers.errors import (
    TrackerAnswerError,
    TrackerCallError,
    TrackerConnectionLost,
    TrackerTimeout,
    TrackerUnreachable,
)

logger = logging.getLogger(__name__)

CALL_TIMEOUT_SECONDS = 10.0  # spec §24.3: a tracker call answers 504 after 10 s
GET_ATTEMPTS = 3
RETRY_DELAY_SECONDS = 0.5  # doubles after each failed attempt, within the call's timeout
# Answers worth asking again, and only for a GET: a POST that failed this way may have created the ticket.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
USER_AGENT = "issue-platform-trackers"  # GitHub refuses requests without a User-Agent
_DETAIL_CHARS = 300


@dataclass(frozen=True)
class TrackerRequest:
    """One call to a tracker's service. `what` names the call in messages (e.g. `POST /repos/a/b/issues`);
    a tracker whose URL is secret passes a description instead. `json` is encoded here; `body` is sent as
    is (a signed body must be the exact bytes that were signed)."""

    tracker: str
    service: str
    method: Literal["GET", "POST"]
    url: str
    what: str
    headers: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, str] | None = None
    json: Any = None
    body: bytes | None = None
    secrets: tuple[str, ...] = ()


@dataclass(frozen=True)
class TrackerAnswer:
    """A success answer: its status and its JSON body (None when empty or not JSON)."""

    status: int
    body: Any


class TrackerHttpClient:
    """Sends TrackerRequests on one aiohttp session, opened on first use in the running loop.

    `timeout_seconds` bounds the whole call, retries included. Only a GET is tried again (after a
    timeout-free failure: no connection, a broken connection, or a status in RETRY_STATUSES); a POST is
    tried once, because a failed create may have created the ticket (§24.5 handles that with markers).
    """

    def __init__(
        self,
        *,
        timeout_seconds: float = CALL_TIMEOUT_SECONDS,
        get_attempts: int = GET_ATTEMPTS,
        retry_delay_seconds: float = RETRY_DELAY_SECONDS,
    ) -> None:
        if timeout_seconds <= 0 or get_attempts < 1 or retry_delay_seconds < 0:
            raise ValueError("timeout_seconds > 0, get_attempts >= 1 and retry_delay_seconds >= 0 are required")
        self.timeout_seconds = timeout_seconds
        self.get_attempts = get_attempts
        self.retry_delay_seconds = retry_delay_seconds
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(self, request: TrackerRequest) -> TrackerAnswer:
        """The answer of a 2xx/3xx status, else the TrackerCallError that §24.3 turns into 502 or 504."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_seconds
        attempts = self.get_attempts if request.method == "GET" else 1
        for attempt in range(1, attempts + 1):
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise self._timeout(request)
            try:
                return await self._attempt(request, remaining)
            except TrackerCallError as error:
                if attempt == attempts or not _worth_retrying(error):
                    raise
                delay = self.retry_delay_seconds * 2 ** (attempt - 1)
                if loop.time() + delay >= deadline:
                    raise
                logger.warning(
                    "%s: %s failed (%s); trying again in %.1f s (attempt %d of %d)",
                    request.service, request.what, error.message, delay, attempt + 1, attempts,
                )
                await asyncio.sleep(delay)
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _attempt(self, request: TrackerRequest, timeout: float) -> TrackerAnswer:
        body = request.body
        headers = dict(request.headers)
        if request.json is not None:
            body = json.dumps(request.json).encode()
            headers.setdefault("Content-Type", "application/json")
        try:
            async with self._open_session().request(
                request.method,
                request.url,
                params=request.params,
                data=body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=timeout),
                allow_redirects=False,
            ) as response:
                raw = await response.read()
                status = response.status
        # `from None` throughout: aiohttp's own messages name the host and URL, which may be secret.
        except TimeoutError:
            raise self._timeout(request) from None
        except aiohttp.InvalidURL:
            raise TrackerUnreachable(
                request.tracker, f"{request.service}: the configured URL is not a valid URL.", in_doubt=False
            ) from None
        except aiohttp.ClientConnectorError as exc:
            message = f"Could not connect to {request.service} for {request.what} ({_kind(exc.os_error)})."
            raise TrackerUnreachable(request.tracker, scrub(message, request.secrets), in_doubt=False) from None
        except aiohttp.ClientError as exc:
            message = f"The connection to {request.service} broke during {request.what} ({_kind(exc)})"
            message += _may_exist(request)
            raise TrackerConnectionLost(request.tracker, scrub(message, request.secrets), in_doubt=True) from None
        parsed = _parse_json(raw)
        if status >= 400:
            detail = _error_detail(parsed, raw)
            message = f"{request.service} answered {status} to {request.what}" + (f": {detail}" if detail else ".")
            raise TrackerAnswerError(
                request.tracker, scrub(message, request.secrets), status=status, in_doubt=status >= 500
            )
        return TrackerAnswer(status=status, body=parsed)

    def _timeout(self, request: TrackerRequest) -> TrackerTimeout:
        message = f"{request.service} did not answer {request.what} within {self.timeout_seconds:g} s"
        return TrackerTimeout(request.tracker, scrub(message + _may_exist(request), request.secrets), in_doubt=True)

    def _open_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(headers={"User-Agent": USER_AGENT})
        return self._session


def _worth_retrying(error: TrackerCallError) -> bool:
    if isinstance(error, TrackerTimeout):
        return False  # the call's whole time is spent
    if isinstance(error, TrackerAnswerError):
        return error.status in RETRY_STATUSES
    return True


def _may_exist(request: TrackerRequest) -> str:
    return "; the ticket may have been created." if request.method == "POST" else "."


def _kind(exc: BaseException) -> str:
    return type(exc).__name__


def _parse_json(raw: bytes) -> Any:
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _error_detail(parsed: Any, raw: bytes) -> str:
    """One line from an error answer: GitHub's and GitLab's `message`, Jira's `errorMessages`/`errors`."""
    parts: list[str] = []
    if isinstance(parsed, Mapping):
        for key in ("message", "error", "error_description"):
            if isinstance(parsed.get(key), str | Mapping | list):
                parts.append(_flat(parsed[key]))
                break
        if isinstance(parsed.get("errorMessages"), list):
            parts.extend(str(message) for message in parsed["errorMessages"])
        if isinstance(parsed.get("errors"), Mapping | list):
            parts.append(_flat(parsed["errors"]))
    elif parsed is None:
        parts.append(raw.decode("utf-8", "replace"))
    detail = " ".join(" ".join(part for part in parts if part).split())
    return detail if len(detail) <= _DETAIL_CHARS else detail[: _DETAIL_CHARS - 1] + "…"


def _flat(value: Any) -> str:
    if isinstance(value, Mapping):
        return "; ".join(f"{key}: {_flat(item)}" for key, item in value.items())
    if isinstance(value, list):
        return "; ".join(_flat(item) for item in value)
    return str(value)

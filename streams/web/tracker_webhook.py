"""`POST /api/0/projects/{project_id}/trackers/{slug}/webhook/` (spec §24.6): a closed ticket resolves its issues.

Authenticated by the project's tracker secret alone (streams.web.auth exempts the path from the bearer token):
anything else is 401 and nothing is produced. Each group linked to the ticket gets a status change through the
grouping topic, as an API status change does (the owner applies it, §20.1.4), with activity source "tracker" and
actor "tracker:{slug}": closed → resolved (1/null), reopened → unresolved (0/3 ongoing). An unknown ticket: 200.
"""
from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from psycopg import AsyncConnection

from storage import queries
from storage.external_issues import groups_of_ticket
from storage.tracker_configs import read_tracker_config
from streams.core.enums import GroupStatus, GroupSubStatus
from streams.core.messages import api_status_change_message, encode
from streams.core.payload import ID_NAMESPACE
from streams.outbox import Outbox
from streams.services import trackers
from streams.topics import grouping_topic
from streams.trackers.inbound import INBOUND_TRACKERS, Header, WebhookRefused, read_inbound
from streams.web.auth import unauthorized
from streams.web.errors import not_found, unavailable

log = logging.getLogger(__name__)

Connect = Callable[[], Awaitable[AbstractAsyncContextManager[AsyncConnection[Any]]]]
TRACKER_SOURCE = "tracker"  # spec §24.6, §18.2


async def receive(connect: Connect, project_id: int, slug: str, header: Header, raw: bytes) -> tuple[int, Any]:
    if trackers.get(slug) is None or slug not in INBOUND_TRACKERS:
        raise not_found(f"no webhook for tracker {slug}")
    async with await connect() as conn:
        row = await read_tracker_config(conn, project_id, slug)
        try:
            state = read_inbound(slug, {} if row is None else row.config, header, raw)
        except WebhookRefused as error:
            log.info("api: %s webhook of project %s refused: %s", slug, project_id, error)
            raise unauthorized(str(error)) from None
        if state is None:
            return 200, {"message": "Nothing to do: the event closes or reopens no ticket.", "issues": []}
        links = await groups_of_ticket(conn, project_id, slug, state.external_ids)
        targets = await queries.target_rows(conn, [link.group_id for link in links])
    t = time.time()
    status, substatus = ((GroupStatus.RESOLVED, None) if state.closed
                         else (GroupStatus.UNRESOLVED, GroupSubStatus.ONGOING))
    outbox = Outbox()
    for target in targets:
        # A delivery sent again (same delivery id) is the same change: the owner applies it once (§2.4, §12.3).
        seed = f"{slug}:{state.delivery}:{target.id}:{state.closed}" if state.delivery else uuid.uuid4().hex
        message = api_status_change_message(change_id=uuid.uuid5(ID_NAMESPACE, seed).hex,
                                            generation=target.generation, t=t, new_status=status,
                                            new_substatus=substatus)
        message.update(activity_source=TRACKER_SOURCE, activity_actor=f"tracker:{slug}")
        outbox.add(grouping_topic, target.group_key, encode(message), timestamp=t)
    try:
        await outbox.send()
    except Exception as error:  # noqa: BLE001  # nothing was promised yet: the tracker delivers again
        log.warning("api: producing the %s webhook's status changes failed: %s", slug, error)
        raise unavailable("Kafka did not accept the status changes; deliver the webhook again",
                          checks={"kafka": "unavailable"}) from None
    issues = [str(target.id) for target in targets]
    log.info("api: %s webhook of project %s: ticket %s %s, issues %s", slug, project_id, state.external_ids[0],
             "closed" if state.closed else "reopened", ", ".join(issues) or "none")
    return 200, {"status": "resolved" if state.closed else "unresolved", "issues": issues}

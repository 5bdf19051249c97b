"""Every `ISSUE_PLATFORM_INPUT_TOPIC_CHECK_SECONDS`, on every worker: raise the input topic's marks, and stop
the worker if the topic went backwards or was accepted as new since it started (spec §2.4.10).

The marks must follow the topic while it grows, or a topic recreated after the last start would not look
backwards at the next one. A running worker that finds the topic recreated stops at once (exit status 2,
no further commit, the refusal line in its log): every record of the new topic it read on would be skipped
as read before, and its offsets committed past. A look that fails (broker or PostgreSQL away) changes
nothing and is tried again next time.
"""
from __future__ import annotations

import logging
import os
import sys

from streams.input_topic import InputTopicMissing, input_topic_name, look, running_incarnation
from streams.services import postgres
from streams.topic_admin import EXIT_REFUSED

log = logging.getLogger(__name__)


async def check_input_topic() -> None:
    topic = input_topic_name()
    try:
        pool = await postgres.get()
        async with pool.connection() as conn:
            found = await look(conn, topic, missing_is_empty=False)
    except InputTopicMissing:
        log.warning("input topic %s does not exist; its offsets are looked at again next time", topic)
        return
    except Exception as error:  # noqa: BLE001  # a missed look only delays the next one
        log.warning("input topic %s: comparing its end offsets with the recorded ones failed, trying again "
                    "next time: %s", topic, error)
        return
    if found.backwards:
        stop_worker(found.refusal())
    running = running_incarnation(topic)
    if found.incarnation != running:
        stop_worker(f"input topic {topic} was accepted as new (incarnation {found.incarnation}) while this worker "
                    f"ran incarnation {running}; start it again to read the new topic")


def stop_worker(line: str) -> None:
    log.critical("%s; stopping the worker before any later offset is committed", line)
    for handler in logging.getLogger().handlers:
        handler.flush()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(EXIT_REFUSED)

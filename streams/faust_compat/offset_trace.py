"""Diagnosis of Faust's offset handling, on with ISSUE_PLATFORM_OFFSET_TRACE=1 (off by default: it wraps
the consumer's fetch loop). Logs, per input partition: the offsets every seek set, the first record
delivered after it, the records Faust drops as already read ("ROFF"), the offsets it marks done as a gap,
and the fetched records it discards. It found the resume-before-seek gap fixed in streams/faust_compat/seek.py.
"""
from __future__ import annotations

import logging
from typing import Any

from faust.transport.consumer import Consumer

log = logging.getLogger("offset_trace")

# Set to 1 to log, per input partition, the records Faust drops, the gaps it marks done and the batch
# records it discards: the evidence behind the patches in streams/faust_compat.
OFFSET_TRACE_VARIABLE = "ISSUE_PLATFORM_OFFSET_TRACE"


def _is_input(topic: str) -> bool:
    return "changelog" not in topic


def apply() -> None:
    original_add_gap = Consumer._add_gap
    original_wait = Consumer._wait_next_records
    original_getmany = Consumer.getmany

    async def _add_gap(self: Any, tp: Any, offset_from: int, offset_to: int) -> None:
        if _is_input(tp.topic):
            log.warning("TRACE gap %s[%s] %s..%s (gen %s)", tp.topic, tp.partition, offset_from, offset_to - 1,
                        self.app.consumer_generation_id)
        await original_add_gap(self, tp, offset_from, offset_to)

    async def _wait_next_records(self: Any, timeout: float) -> Any:
        records, active = await original_wait(self, timeout)
        self._trace_batch = records
        self._trace_gen = self.app.consumer_generation_id
        return records, active

    async def getmany(self: Any, timeout: float) -> Any:
        self._trace_batch = None
        yielded: dict[Any, list[int]] = {}
        async for tp, message in original_getmany(self, timeout):
            if _is_input(tp.topic):
                r = self._read_offset[tp]
                if r is not None and message.offset < r:
                    log.warning("TRACE ROFF-drop %s[%s]@%s < read %s (gen %s)", tp.topic, tp.partition,
                                message.offset, r, self.app.consumer_generation_id)
            first = getattr(self, "_trace_first", set())
            if tp in first:
                first.discard(tp)
                log.warning("TRACE first after seek %s[%s]@%s (read %s, gen %s)", tp.topic.rsplit(".", 1)[-1],
                            tp.partition, message.offset, self._read_offset[tp], self.app.consumer_generation_id)
            yielded.setdefault(tp, []).append(message.offset)
            yield tp, message
        batch = getattr(self, "_trace_batch", None) or {}
        for tp, records in batch.items():
            if not _is_input(tp.topic) or not records:
                continue
            got = set(yielded.get(tp, ()))
            missing = [r.offset for r in records if r.offset not in got]
            if missing:
                log.warning("TRACE discarded %s[%s] %s..%s (%d records; batch gen %s, now %s, flow %s)",
                            tp.topic, tp.partition, missing[0], missing[-1], len(missing),
                            getattr(self, "_trace_gen", None), self.app.consumer_generation_id, self.flow_active)

    original_perform_seek = Consumer.perform_seek

    async def perform_seek(self: Any) -> None:
        await original_perform_seek(self)
        sought = {tp: self._read_offset.get(tp) for tp in self.assignment() if _is_input(tp.topic)}
        self._trace_first = set(sought)
        log.warning("TRACE seek (gen %s): %s", self.app.consumer_generation_id,
                    " ".join(f"{tp.topic.rsplit('.', 1)[-1]}[{tp.partition}]={o}" for tp, o in sorted(sought.items())))

    Consumer.perform_seek = perform_seek
    Consumer._add_gap = _add_gap
    Consumer._wait_next_records = _wait_next_records
    Consumer.getmany = getmany

"""Group changes exactly as the grouping owner emits them, for benchmarks and storage tests."""
from __future__ import annotations

import uuid
from typing import Any

from storage.changes import Change
from streams.core.decide import IncomingOccurrence, decide_occurrence, decide_quota_answer
from streams.core.fingerprint import group_key, hash_fingerprint
from streams.core.group_state import KeyState, TypeRules
from streams.core.grouping import OccurrenceFacts

RULES = TypeRules(type_id=2001, default_priority=25)
BASE_T = 1_700_000_000.0


def occurrence_json(project_id: int, fingerprint: str, occurrence_id: str) -> dict[str, Any]:
    return {
        "id": occurrence_id, "project_id": project_id, "fingerprint": hash_fingerprint([fingerprint]),
        "type": 2001, "issue_title": "Slow DB query", "subtitle": "SELECT * FROM orders", "culprit": "api.orders",
        "level": 30, "detection_time": BASE_T, "evidence_display": [{"name": "Duration", "value": "900 ms",
                                                                     "important": True}],
        "evidence_data": {"duration_ms": 900}, "priority": None, "assignee": None, "resource_id": None,
        "event_id": uuid.uuid4().hex,
    }


def group_changes(project_id: int, fingerprints: list[str], *, occurrences_each: int = 2) -> list[Change]:
    """For each fingerprint: the creation (quota request, grant) and then updates of the same group."""
    bodies: list[Change] = []
    for fingerprint in fingerprints:
        key = group_key(project_id, hash_fingerprint([fingerprint]))
        state = KeyState()
        for index in range(occurrences_each):
            occurrence_id = uuid.uuid4().hex
            facts = OccurrenceFacts(
                id=occurrence_id, project_id=project_id, type_id=2001, title="Slow DB query",
                subtitle="SELECT * FROM orders", culprit="api.orders", level=30, event_id="e" * 32,
                event_timestamp=BASE_T + index, platform="python", environment="prod", priority=None,
                assignee=None,
            )
            offset = state.offset + 1
            decision = decide_occurrence(
                state, IncomingOccurrence(facts, occurrence_json(project_id, fingerprint, occurrence_id), None),
                group_key=key, offset=offset, t=BASE_T + 100 + offset, rules=RULES, noise_before=None,
                seen=None, dedupe_seconds=3600,
            )
            bodies.extend(decision.changes)
            state = decision.state
            if decision.quota_request is not None:
                answer = decide_quota_answer(state, request_id=occurrence_id, granted=True, group_key=key,
                                             offset=state.offset + 1, t=BASE_T + 200, rules=RULES)
                bodies.extend(answer.changes)
                state = answer.state
    return bodies

"""The benchmark firehose's ground truth (bench/firehose.py) says what its messages really hold."""
from __future__ import annotations

from collections import Counter

import pytest

from bench.firehose import Firehose, FirehoseConfig, Kind, generate
from grouptypes import default_registry
from streams.core.payload import Occurrence, StatusChange, parse_payload
from streams.core.rejection import Rejection

CONFIG = FirehoseConfig(occurrences=3000, projects=50, seed=7)


@pytest.fixture(scope="module")
def firehose() -> Firehose:
    return generate(CONFIG)


def parse(value: bytes) -> object:
    return parse_payload(value, is_registered_type=default_registry.is_registered)


def test_same_seed_gives_the_same_bytes_and_truth() -> None:
    first, second = generate(CONFIG), generate(CONFIG)
    assert [(m.key, m.value, m.kind) for m in first.messages] == [(m.key, m.value, m.kind) for m in second.messages]
    assert first.truth == second.truth


def test_another_seed_gives_another_workload() -> None:
    assert generate(CONFIG).messages != generate(FirehoseConfig(occurrences=3000, projects=50, seed=8)).messages


def test_message_counts_are_the_configured_shares(firehose: Firehose) -> None:
    kinds = Counter(message.kind for message in firehose.messages)
    assert kinds[Kind.OCCURRENCE] + kinds[Kind.DUPLICATE] + kinds[Kind.INVALID] == CONFIG.occurrences
    assert kinds[Kind.DUPLICATE] == firehose.truth.duplicates == round(CONFIG.occurrences * CONFIG.duplicate_share)
    assert kinds[Kind.INVALID] == firehose.truth.dlq_entries == round(CONFIG.occurrences * CONFIG.invalid_share)
    assert kinds[Kind.STATUS_CHANGE] == firehose.truth.status_changes == CONFIG.status_changes
    assert kinds[Kind.OCCURRENCE] == firehose.truth.stored_occurrences
    assert len(firehose.occurrence_messages) == CONFIG.occurrences


def test_every_duplicate_repeats_an_earlier_occurrence_byte_for_byte(firehose: Firehose) -> None:
    sent: set[bytes] = set()
    for message in firehose.messages:
        if message.kind is Kind.DUPLICATE:
            assert message.value in sent
        elif message.kind is Kind.OCCURRENCE:
            assert message.value not in sent
            sent.add(message.value)


def test_invalid_messages_get_the_dlq_reason_the_truth_counts(firehose: Firehose) -> None:
    reasons: Counter[str] = Counter()
    for message in firehose.messages:
        outcome = parse(message.value)
        if message.kind is Kind.INVALID:
            assert isinstance(outcome, Rejection)
            assert outcome.reason == message.reason
            reasons[str(outcome.reason)] += 1
        elif message.kind is Kind.STATUS_CHANGE:
            assert isinstance(outcome, StatusChange)
        else:
            assert isinstance(outcome, Occurrence), outcome
    assert dict(reasons) == firehose.truth.dlq_by_reason


def test_groups_are_the_keys_past_their_noise_gate_with_every_occurrence_counted(firehose: Firehose) -> None:
    seen = Counter(m.group_key for m in firehose.messages if m.kind is Kind.OCCURRENCE)
    limits = {spec.group_key: spec.noise_limit for spec in firehose.keys}
    assert {key: group.times_seen for key, group in firehose.truth.groups.items()} == {
        key: count for key, count in seen.items() if count >= limits[key]}
    assert firehose.truth.held_back == sum(min(count, limits[key] - 1) for key, count in seen.items())
    gated = {spec.type_id for spec in firehose.keys if spec.noise_limit > 1}
    ungated = {spec.type_id for spec in firehose.keys if spec.noise_limit == 1}
    assert gated and ungated and firehose.truth.held_back > 0
    assert 2001 in ungated


def test_workload_has_hot_groups_and_a_long_tail_over_many_projects(firehose: Firehose) -> None:
    counts = sorted((group.times_seen for group in firehose.truth.groups.values()), reverse=True)
    assert counts[0] > 20 * counts[len(counts) // 2]
    assert sum(1 for count in counts if count == 1) > len(counts) // 4
    assert len({group.project_id for group in firehose.truth.groups.values()}) >= 50


def test_no_project_creates_more_groups_of_a_type_than_its_quota_allows(firehose: Firehose) -> None:
    created = Counter((group.project_id, group.type_id) for group in firehose.truth.groups.values())
    for (_, type_id), count in created.items():
        assert count < default_registry.get_by_type_id(type_id).creation_quota.limit


def test_status_changes_come_last_and_name_groups_that_exist(firehose: Firehose) -> None:
    kinds = [message.kind for message in firehose.messages]
    first_status = kinds.index(Kind.STATUS_CHANGE)
    assert all(kind is Kind.STATUS_CHANGE for kind in kinds[first_status:])
    changed = [m.group_key for m in firehose.status_change_messages]
    assert len(set(changed)) == len(changed) and set(changed) <= set(firehose.truth.groups)
    moved = {key for key, group in firehose.truth.groups.items() if group.status != 0}
    assert moved == set(changed)

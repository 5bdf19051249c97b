"""Which unanswered quota requests the owner's tick sends again (spec §2.4.11)."""
from __future__ import annotations

from streams.core.quota_retry import due_retries

A = ("1:" + "a" * 32, "a" * 32)
B = ("1:" + "b" * 32, "b" * 32)


def test_a_request_is_sent_again_only_once_seen_unanswered_for_the_period_then_every_period() -> None:
    first = due_retries([A], {}, now=100.0, retry_seconds=60)
    assert first.due == [] and first.noticed == {A: 100.0}  # just noticed: its answer may be on the way
    assert due_retries([A], first.noticed, now=159.0, retry_seconds=60).due == []
    again = due_retries([A], first.noticed, now=160.0, retry_seconds=60)
    assert again.due == [A] and again.noticed == {A: 160.0}
    assert due_retries([A], again.noticed, now=200.0, retry_seconds=60).due == []
    assert due_retries([A], again.noticed, now=220.0, retry_seconds=60).due == [A]


def test_an_answered_request_is_forgotten_and_a_new_one_starts_its_own_period() -> None:
    noticed = due_retries([A], {}, now=0.0, retry_seconds=60).noticed
    later = due_retries([B], noticed, now=70.0, retry_seconds=60)  # A answered meanwhile, B new
    assert later.due == [] and later.noticed == {B: 70.0}

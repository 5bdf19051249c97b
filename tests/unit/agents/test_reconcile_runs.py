"""The reconciler reads unaccounted offsets run by run (spec §2.4.13), never the span between two far apart."""
from __future__ import annotations

from streams.agents.reconcile import runs


def test_offsets_become_runs_of_consecutive_ones() -> None:
    assert runs([7, 3, 4, 5, 50_000_000, 9]) == [(3, 5), (7, 7), (9, 9), (50_000_000, 50_000_000)]
    assert runs([]) == []

"""CPU cost per record of the hole guard's sensor callback (streams/agents/holes.py), on the hot path.

Faust calls `on_message_in` of every sensor for every record it hands to a stream. This calls the guard's
the same way, for records in order over 4 guarded topics of 12 partitions each (and, separately, for a
topic it does not guard, the sink's), and subtracts the cost of calling a sensor that does nothing (Faust's
base `Sensor.on_message_in`), which every sensor adds. Reports nanoseconds of CPU time per record, the
best of `--repeat` runs (other load on the machine only ever adds time).

    .venv/bin/python -m bench.hole_guard --records 1000000
"""
from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from types import SimpleNamespace
from typing import Any

import orjson
from faust.sensors import Sensor
from faust.types import TP

from streams.agents.holes import StopOnHole
from streams.core.contiguity import GapPolicy

PARTITIONS = 12
GUARDED = ("b.ingest-occurrences", "b.issue-platform-grouping", "b.issue-platform-quota",
           "b.ingest-occurrences-dlq")
UNGUARDED = "b.issue-platform-group-changes"


@dataclass(frozen=True)
class GuardCost:
    records: int
    noop_sensor_ns: float  # per record: calling a sensor that does nothing
    guarded_ns: float  # per record, on top of that: an in-order record of a guarded topic
    unguarded_ns: float  # per record, on top of that: a record of a topic the guard ignores


def _deliveries(topics: tuple[str, ...], records: int) -> list[tuple[TP, int]]:
    """Round robin over the partitions, each in offset order from 0, as Faust's scheduler hands them."""
    tps = [TP(topic, partition) for topic in topics for partition in range(PARTITIONS)]
    return [(tps[index % len(tps)], index // len(tps)) for index in range(records)]


def _cpu_ns_per_record(on_message_in: Callable[[TP, int, Any], None], deliveries: list[tuple[TP, int]]) -> float:
    message = object()
    start = time.process_time_ns()
    for tp, offset in deliveries:
        on_message_in(tp, offset, message)
    return (time.process_time_ns() - start) / len(deliveries)


def _fresh_guard(topics: tuple[str, ...]) -> StopOnHole:
    guard = StopOnHole(SimpleNamespace(consumer=None), dict.fromkeys(GUARDED, GapPolicy.STRICT),
                       isolation_level="read_uncommitted")
    guard.sought({TP(topic, partition): 0 for topic in topics for partition in range(PARTITIONS)})
    return guard


def measure(records: int, repeat: int) -> GuardCost:
    guarded, unguarded = _deliveries(GUARDED, records), _deliveries((UNGUARDED,), records)
    noop = min(_cpu_ns_per_record(Sensor().on_message_in, guarded) for _ in range(repeat))
    guard_cost = min(_cpu_ns_per_record(_fresh_guard(GUARDED).on_message_in, guarded) for _ in range(repeat))
    other_cost = min(_cpu_ns_per_record(_fresh_guard(()).on_message_in, unguarded) for _ in range(repeat))
    return GuardCost(records, round(noop, 1), round(guard_cost - noop, 1), round(other_cost - noop, 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(orjson.dumps(asdict(measure(args.records, args.repeat))).decode())


if __name__ == "__main__":
    main()

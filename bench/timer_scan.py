"""How long one timer scan (spec §15.1) takes over the due-time index of 1,000,000 groups, against decoding every
group state as a scan without the index would.

Builds one RocksDB (rocksdict, raw mode, as Faust's store opens a table partition) holding the `timer-index`
entries of `--groups` groups, keys and values encoded as the table encodes them (JSON), then times
`streams.core.timers.due_entries` over it, read as streams.faust_compat.internals.table_items_after reads a
partition, at moments when `--due` entries are due. The mix of groups: 70 % unresolved and past NEW (an
auto_resolve entry), 15 % NEW (auto_resolve and ongoing), 10 % archived (half until escalating with a forecast
entry, half with a snooze_until), 5 % resolved (none); 200 projects, half of them with a resolve_age_hours.
For scale it also decodes `--decode-sample` stored group states (KeyState.from_dict of a real value's JSON)
and extrapolates to every group: what a scan that looked at each state would cost.

    .venv/bin/python -m bench.timer_scan                      # 1,000,000 groups
    .venv/bin/python -m bench.timer_scan --groups 100000 --due 1000
"""
from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Sequence
from typing import Any

import orjson
from rocksdict import Options, Rdict, WriteBatch

from streams.core.group_state import KeyState
from streams.core.grouping import Candidate, OccurrenceFacts, create_group
from streams.core.timers import (
    AUTO_RESOLVE,
    FORECAST,
    ONGOING,
    SNOOZE_EXPIRY,
    due_entries,
    index_key,
)

DAY = 86400.0
NOW = 1_800_000_000.0  # the scan's T: 2027-01-15


def build(path: str, groups: int, due: int, seed: int) -> tuple[Rdict, dict[int, int | None]]:
    """The index of `groups` groups, of which about `due` are due at NOW: every other entry lies in the future
    (or, for auto_resolve, within its project's age)."""
    rng = random.Random(seed)
    projects = {project: (rng.choice((24, 72, 168, 720)) if project % 2 else None) for project in range(1, 201)}
    db = Rdict(path, options=Options(raw_mode=True))
    batch = WriteBatch(raw_mode=True)
    due_share = due / groups

    def at(after: float, spread: float, is_due: bool) -> float:
        # A due entry lies before its limit; any other one up to `spread` after it.
        return after - rng.uniform(1, 3600) if is_due else after + rng.uniform(1, spread)

    for n in range(groups):
        project = rng.randint(1, 200)
        key = f"{project}:{n:032x}"
        is_due = rng.random() < due_share
        kind = rng.random()
        entries: list[tuple[str, float]] = []
        age = projects[project]
        if kind < 0.85:  # unresolved: auto_resolve by last_seen, due when last_seen ≤ NOW − A
            limit = NOW - (age or 24) * 3600.0
            entries.append((AUTO_RESOLVE, at(limit, 30 * DAY, is_due and age is not None)))
            if kind >= 0.70:  # NEW: ongoing 7 days after first_seen
                entries.append((ONGOING, at(NOW, 7 * DAY, is_due)))
        elif kind < 0.90:
            entries.append((FORECAST, at(NOW, DAY, is_due)))
        elif kind < 0.95:
            entries.append((SNOOZE_EXPIRY, at(NOW, 90 * DAY, is_due)))
        for check, when in entries:
            batch.put(orjson.dumps(index_key(check, project, when, key)), orjson.dumps(when))
        if n % 100_000 == 99_999:
            db.write(batch)
            batch = WriteBatch(raw_mode=True)
    db.write(batch)
    db.flush()
    return db, projects


def reader(db: Rdict) -> Any:
    """table_items_after over one RocksDB: keys ≥ `start` in order, `start` left out, decoded."""
    def read(start: bytes | None, limit: int) -> Sequence[tuple[bytes, Any, Any]]:
        chunk: list[tuple[bytes, Any, Any]] = []
        for raw_key, raw_value in db.items(from_key=start):
            if raw_key == start:
                continue
            chunk.append((raw_key, orjson.loads(raw_key), orjson.loads(raw_value)))
            if len(chunk) >= limit:
                break
        return chunk
    return read


def stored_state() -> bytes:
    """A group's stored value as the grouping owner writes it (JSON of KeyState.to_dict)."""
    facts = OccurrenceFacts(id="f" * 32, project_id=1, type_id=1006, title="File I/O on Main Thread",
                            subtitle="open('/etc/app.conf') blocked the UI thread", culprit="app.io.read_config",
                            level=30, event_id="e" * 32, event_timestamp=NOW, platform="python",
                            environment="production", priority=None, assignee=None)
    group, _ = create_group(Candidate(creator=facts, latest=facts, times_seen=1, first_seen=NOW, last_seen=NOW,
                                      environments=("production",)), group_key="1:" + "a" * 32, generation=0, t=NOW,
                            default_priority=50)
    state = KeyState(offset=123456, last_t=NOW, group=group, inputs={"ingest-occurrences:3": 987654},
                     timers={AUTO_RESOLVE: NOW, ONGOING: NOW + 7 * DAY})
    return orjson.dumps(state.to_dict())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--groups", type=int, default=1_000_000)
    parser.add_argument("--due", type=int, default=100, help="entries due at the scan (about)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--decode-sample", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=12)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-timer-scan-") as directory:
        started = time.perf_counter()
        db, projects = build(f"{directory}/timer-index.db", args.groups, args.due, args.seed)
        print(f"built the index of {args.groups:,} groups in {time.perf_counter() - started:.1f} s")
        read = reader(db)
        timings: list[float] = []
        found = 0
        for _ in range(args.repeat):
            started = time.perf_counter()
            found = len(due_entries(read, now=NOW, resolve_age_hours=projects.get, limit=10 ** 9))
            timings.append(time.perf_counter() - started)
        db.close()
    print(f"one scan over the index of {args.groups:,} groups, {found:,} entries due: "
          f"median {statistics.median(timings) * 1000:.1f} ms (min {min(timings) * 1000:.1f}, "
          f"max {max(timings) * 1000:.1f}; {args.repeat} scans)")

    value = stored_state()
    started = time.perf_counter()
    for _ in range(args.decode_sample):
        KeyState.from_dict(orjson.loads(value))
    per_state = (time.perf_counter() - started) / args.decode_sample
    print(f"for scale, decoding every group state instead: {per_state * 1e6:.1f} µs per state "
          f"({len(value)} bytes), {per_state * args.groups:.1f} s for {args.groups:,} groups")


if __name__ == "__main__":
    main()

-- The ledger (spec §2.4.13): which input offsets have a committed outcome, as offset ranges per input
-- partition. Each writer (the sink for every change that names its input, the dlq agent for every dead
-- letter) inserts the ranges of a batch in the transaction that stores the outcomes themselves, so an offset
-- is in the ledger exactly when its outcome is in the database. Ranges of different writers and batches are
-- merged later (`writer` 'merged'); an offset covered twice is an input with two outcomes.
CREATE TABLE ledger (
    topic         text NOT NULL,
    partition     int NOT NULL,
    first_offset  bigint NOT NULL,
    last_offset   bigint NOT NULL,
    writer        text NOT NULL,
    recorded_at   timestamptz NOT NULL DEFAULT now(),
    CHECK (first_offset <= last_offset)
);
CREATE INDEX ledger_position ON ledger (topic, partition, first_offset);

-- Input offsets the merge found covered by two outcomes (reported by `audit` as double_outcome).
CREATE TABLE ledger_doubles (
    topic         text NOT NULL,
    partition     int NOT NULL,
    first_offset  bigint NOT NULL,
    last_offset   bigint NOT NULL,
    found_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ledger_doubles_position ON ledger_doubles (topic, partition, first_offset);

-- Whether the deployment had stored anything when the ledger began: a fresh one accounts for every input
-- offset from the first; an upgraded one from the ingest offsets committed when the ledger first saw them.
CREATE TABLE ledger_origin (
    fresh  boolean NOT NULL
);
INSERT INTO ledger_origin SELECT NOT EXISTS (SELECT 1 FROM sink_offsets);

-- Per input partition, the first offset the ledger answers for.
CREATE TABLE ledger_start (
    topic         text NOT NULL,
    partition     int NOT NULL,
    first_offset  bigint NOT NULL,
    PRIMARY KEY (topic, partition)
);

-- Taken by the leader every `ISSUE_PLATFORM_LEDGER_MARK_SECONDS`: the ingest group's committed offset per
-- input partition, and the end offset of every partition of the topics downstream of ingest. Once every
-- downstream partition's committed offset has passed a mark's end offset, every input below the mark's
-- committed offsets has its outcome in the database, or never will: an offset still missing is unaccounted.
CREATE TABLE ledger_marks (
    taken_at          timestamptz PRIMARY KEY,
    ingest_committed  jsonb NOT NULL,  -- {"topic:partition": committed offset}
    downstream_ends   jsonb NOT NULL   -- {"topic:partition": end offset}
);

-- Changes the sink could not apply for a permanent reason, and the later changes of their key parked behind
-- them (spec §2.4.12). A row is written in the transaction that moves `sink_offsets` past its offset, so a
-- change is parked once; `issue-platform parked retry` applies a key's rows in offset order and resolves them.

CREATE TABLE sink_parked (
    id             bigserial PRIMARY KEY,
    topic          text NOT NULL,
    partition      integer NOT NULL,
    "offset"       bigint NOT NULL,
    group_key      text NOT NULL,
    -- The change's wire form (storage.changes) as bytes: a change refused for what its JSON holds still parks.
    change         bytea NOT NULL,
    -- NULL when this change failed itself; else the offset of the parked change of its key it waits behind.
    behind         bigint,
    error          text NOT NULL,
    sqlstate       text,
    first_attempt  timestamptz NOT NULL DEFAULT now(),
    last_attempt   timestamptz NOT NULL DEFAULT now(),
    -- Times it was tried alone and failed (0 for a change that only waits behind another), retries included.
    attempts       integer NOT NULL CHECK (attempts >= 0),
    -- Set when a retry applied it; a resolved row stays as the record of what happened.
    resolved_at    timestamptz,
    UNIQUE (topic, partition, "offset")
);
-- The sink asks on every batch which keys of its partitions wait (nearly always none), retry reads one key's rows.
CREATE INDEX sink_parked_waiting ON sink_parked (topic, partition, group_key, "offset") WHERE resolved_at IS NULL;

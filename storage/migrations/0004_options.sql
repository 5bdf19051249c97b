-- Runtime options (release flags, settings that change without a restart), mirrored from the compacted
-- options topic by agent `options` (spec §10.4.1). The topic is the source of truth; this is its query copy.

CREATE TABLE options (
    -- e.g. `flag:replay-click-dead-ingest`, `timers.scan_interval_seconds` (spec §10.4)
    name        text PRIMARY KEY,
    value       jsonb NOT NULL,
    -- Offset of the options-topic record this row reflects: a redelivered older record never
    -- overwrites a newer value (spec §2.4.2).
    "offset"    bigint NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

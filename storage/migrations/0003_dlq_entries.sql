-- Dead-letter entries (spec §7.1.2, §7.3, §20.11.5): every record of ingest-occurrences-dlq, by its x-dlq-id.
-- Written only by the `dlq` agent, idempotently (spec §2.4.4); replay bookkeeping by `dlq replay`.

CREATE TABLE dlq_entries (
    -- x-dlq-id: uuid5 of the input's source coordinates (spec §2.4.1), so a re-read record lands here again.
    id                char(32) PRIMARY KEY,
    reason            text NOT NULL,
    message           text NOT NULL DEFAULT '',
    field             text,
    stage             text NOT NULL,
    -- API-originated status changes have topic `api` and no partition or offset (spec §7.1).
    source_topic      text NOT NULL,
    source_partition  integer,
    source_offset     bigint,
    -- Only when the payload has a usable integer project_id; null otherwise (spec §20.11.5).
    project_id        bigint,
    -- The original key and value, byte for byte, for replay (spec §7.3.1).
    key               bytea,
    value             bytea NOT NULL,
    created_at        timestamptz NOT NULL,
    replayed_at       timestamptz,
    replay_count      integer NOT NULL DEFAULT 0 CHECK (replay_count >= 0),
    -- The entry this input was a replay of (its `x-replay-of` header), when it was one.
    replay_of         char(32)
);
-- Listing and replay selection: by reason, by project, or both; newest first (spec §20.11.5).
CREATE INDEX dlq_entries_reason_created ON dlq_entries (reason, created_at DESC, id DESC);
CREATE INDEX dlq_entries_project_created ON dlq_entries (project_id, created_at DESC, id DESC)
    WHERE project_id IS NOT NULL;
CREATE INDEX dlq_entries_created ON dlq_entries (created_at DESC, id DESC);

-- Ids of the ingest-stage drops already counted (spec §2.4.1, §7.4). An input re-read after a restart
-- produces its drop record again, with the same id derived from its source coordinates but at a new
-- group-changes offset, so the sink's offsets alone cannot tell it was counted.
CREATE TABLE counted_ingest_drops (
    id          char(32) PRIMARY KEY,
    counted_at  timestamptz NOT NULL DEFAULT now()
);

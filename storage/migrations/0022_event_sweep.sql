-- Events a group deletion may have left unreferenced (spec §19), swept by the leader's hourly housekeeping
-- instead of inside the sink's transaction: an occurrence that named the event by event_id only (spec §5.5) may
-- still be on its way through the grouping and change topics, and must find the event when it is stored.
-- The sink queues the deleted group's events here (one indexed read of its occurrences); housekeeping first
-- marks a queued event no occurrence references (`events.orphaned_at`: ingest no longer finds it), and deletes
-- it only once it has been marked longer than any occurrence can be in flight and still nothing references it.
CREATE TABLE event_sweep (
    project_id  bigint NOT NULL,
    event_id    char(32) NOT NULL,
    queued_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, event_id)
);
ALTER TABLE events ADD COLUMN orphaned_at timestamptz;

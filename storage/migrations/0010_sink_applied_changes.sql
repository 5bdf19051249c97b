-- The output ids of the group changes the sink applied (spec §2.4.7). The grouping owner that crashes after
-- its outputs were acknowledged but before its state was written decides the same message again and sends the
-- same changes, under the same ids, at new group-changes offsets: `sink_offsets` cannot tell them apart, this
-- table can. A row is written in the transaction that applies its change, so an id is applied at most once.
CREATE TABLE sink_applied_changes (
    change_id        char(32) PRIMARY KEY,
    -- The grouping-topic message that caused the change: the id is pruned once the grouping consumer group has
    -- committed past it (no copy can be sent any more), never by age.
    cause_partition  int NOT NULL,
    cause_offset     bigint NOT NULL,
    applied_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sink_applied_changes_cause ON sink_applied_changes (cause_partition, cause_offset);

-- A parked change's id is recorded only when a retry applies it; until then its id must not be pruned either,
-- or a copy of an applied change parked behind its key's trouble would be applied a second time by the retry.
ALTER TABLE sink_parked ADD COLUMN change_id char(32);

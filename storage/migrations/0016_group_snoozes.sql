-- The snooze of an IGNORED/UNTIL_CONDITION_MET group (spec §14.4, §12.7), written by the sink from the group
-- state and read by the API as `statusDetails` (spec §20.3): escalate once times_seen has grown by
-- `snooze_count` from `times_seen_at_snooze`, or become ONGOING at `snooze_until`. NULL without a snooze.
ALTER TABLE groups
    ADD COLUMN snooze_count          integer CHECK (snooze_count >= 1),
    ADD COLUMN times_seen_at_snooze  bigint,
    ADD COLUMN snooze_until          timestamptz;

-- Duplicates (spec §12.3) are counted once too: a change sent again after a crash carries the same
-- count id, "duplicate:{group key}@{grouping offset}". Ingest-stage ids stay 32 hex characters.
ALTER TABLE counted_ingest_drops RENAME TO counted_drops;
ALTER TABLE counted_drops ALTER COLUMN id TYPE text;

-- The environment of each occurrence's event, so that linking held-back occurrences can register the
-- group's environments (spec §12.8, §13.1.5).
ALTER TABLE occurrences ADD COLUMN environment text NOT NULL DEFAULT '';

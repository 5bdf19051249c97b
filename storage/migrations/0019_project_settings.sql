-- Project settings changed through the options topic (spec §11.1, §20.11.1): the options-topic offset of the last
-- settings record applied to the row, so a record read again after a crash never undoes a later one (§2.4.2).
-- -1: only defaults so far (the sink's creation, spec §11.1).
ALTER TABLE projects ADD COLUMN settings_offset bigint NOT NULL DEFAULT -1;

-- The API changes (spec §20.8, §20.9) the sink has applied: `?wait=1` answers once every change id of its request
-- is here. A row is written in the transaction that applies the change's outcome (applied, noop, duplicate,
-- group_not_found or deleted), so "here" means "visible in every other table". Only a wait of at most 10 s reads
-- it: rows older than a day are pruned by the leader's hourly housekeeping.
CREATE TABLE api_changes (
    change_id   char(32) PRIMARY KEY,
    group_key   text NOT NULL,
    outcome     text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX api_changes_applied_at ON api_changes (applied_at);

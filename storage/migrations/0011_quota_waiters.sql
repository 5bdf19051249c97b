-- What the post-process message of each occurrence that waited for a quota answer needs (spec §2.4.11,
-- §13.2.5, §18.1). The grouping owner keeps only counts and the first 1,000 waiting ids of a pending key;
-- every waiter's `pending_quota` change carries the request id, and the sink keeps its facts here, so that
-- a grant links every waiter and sends its post-process message, and a refusal refuses every waiter.
CREATE TABLE quota_waiters (
    group_key           text NOT NULL,
    request_id          char(32) NOT NULL,
    -- The group-changes offset of the waiter's change: arrival order (a key's changes share one partition).
    position            bigint NOT NULL,
    project_id          bigint NOT NULL,
    occurrence_id       char(32) NOT NULL,
    facts               jsonb NOT NULL,
    -- The change that answered the request (creation or refusal): the rows stay until the sink's consumer
    -- group has committed past it, since a change read again is forwarded again (spec §2.3.4).
    resolved_partition  int,
    resolved_offset     bigint,
    PRIMARY KEY (group_key, request_id, position)
);
CREATE INDEX quota_waiters_resolved ON quota_waiters (resolved_partition, resolved_offset)
    WHERE resolved_offset IS NOT NULL;

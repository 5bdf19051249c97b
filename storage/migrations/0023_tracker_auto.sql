-- Automatic tickets (spec §24.5): one claim per group and tracker, inserted by the `trackers` agent before any
-- tracker call; only the inserter's claim is ever worked on, so a group gets at most one automatic ticket per
-- tracker whatever redeliveries happen. The claim is kept after the ticket is unlinked (no second automatic ticket)
-- and after its group is deleted (group ids are never reused). The tracker is called by the `tracker_tickets`
-- timer outside any transaction: `calling` (with a lease) is set and committed before the call, so a claim found
-- `calling` past its lease belongs to a worker that died mid-call and is in doubt.
CREATE TABLE tracker_auto (
    group_id         bigint NOT NULL,
    tracker          text NOT NULL,
    id               char(32) NOT NULL UNIQUE,  -- uuid5(NAMESPACE, "{group_id}:{tracker}"): request id and marker
    project_id       bigint NOT NULL,
    trigger          text NOT NULL,             -- new, regression or escalating: what matched `auto_create.on`
    cause_id         text NOT NULL,             -- the activity that matched
    state            text NOT NULL DEFAULT 'pending'
                     CHECK (state IN ('pending', 'calling', 'done', 'failed', 'in_doubt')),
    in_doubt         boolean NOT NULL DEFAULT false,  -- an earlier call may have created the ticket: search first
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),  -- while `calling`: the lease, when the call is surely over
    last_error       text,
    external_id      text,
    url              text,
    label            text,
    title            text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, tracker)
);
-- The timer's pick: claims due for a call, or whose call's lease ran out.
CREATE INDEX tracker_auto_due ON tracker_auto (next_attempt_at) WHERE state IN ('pending', 'calling');
-- `GET /api/0/trackers/failures/`.
CREATE INDEX tracker_auto_failures ON tracker_auto (updated_at) WHERE state IN ('failed', 'in_doubt');

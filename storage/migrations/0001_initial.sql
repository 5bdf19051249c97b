-- First schema: projects, groups, group hashes, occurrences, events, and the sink's applied offsets.
-- Spec §19. Later migrations extend it; never edit an applied migration (its checksum is recorded).

CREATE TABLE projects (
    id                     bigint PRIMARY KEY CHECK (id > 0),
    slug                   text NOT NULL UNIQUE,
    resolve_age_hours      integer CHECK (resolve_age_hours BETWEEN 1 AND 8760),
    occurrence_rate_limit  jsonb NOT NULL DEFAULT '{"enabled": false, "window_seconds": 3600, "granularity_seconds": 60, "limit": 1000}',
    -- Next short id to hand out (spec §13.4). Only ever incremented, so a value is never reused.
    next_short_id          bigint NOT NULL DEFAULT 1 CHECK (next_short_id >= 1),
    created_at             timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE groups (
    id                  bigserial PRIMARY KEY,
    project_id          bigint NOT NULL REFERENCES projects (id),
    group_key           text NOT NULL,
    -- Increments when a deleted group's key creates a new group (spec §2.4.5).
    generation          integer NOT NULL DEFAULT 0,
    type                integer NOT NULL,
    status              smallint NOT NULL,
    substatus           smallint,
    substatus_since     timestamptz NOT NULL,
    priority            smallint NOT NULL,
    priority_locked_at  timestamptz,
    short_id            bigint NOT NULL,
    assignee            text,
    first_seen          timestamptz NOT NULL,
    last_seen           timestamptz NOT NULL,
    times_seen          bigint NOT NULL CHECK (times_seen >= 1),
    level               smallint NOT NULL,
    culprit             text NOT NULL DEFAULT '',
    title               text NOT NULL,
    subtitle            text NOT NULL DEFAULT '',
    message             text NOT NULL DEFAULT '',
    platform            text,
    resolved_at         timestamptz,
    data                jsonb NOT NULL DEFAULT '{}',
    -- The grouping decision this row reflects; an upsert only applies a newer one.
    version             bigint NOT NULL,
    updated_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (group_key, generation),
    UNIQUE (project_id, short_id)
);
CREATE INDEX groups_project_status_priority_seen ON groups (project_id, status, priority, last_seen DESC);
CREATE INDEX groups_project_first_seen ON groups (project_id, first_seen DESC);
CREATE INDEX groups_project_times_seen ON groups (project_id, times_seen DESC);

CREATE TABLE group_hashes (
    project_id  bigint NOT NULL,
    hash        char(32) NOT NULL,
    group_id    bigint NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    PRIMARY KEY (project_id, hash)
);
CREATE INDEX group_hashes_group ON group_hashes (group_id);

CREATE TABLE events (
    project_id  bigint NOT NULL,
    event_id    char(32) NOT NULL,
    platform    text NOT NULL,
    timestamp   timestamptz NOT NULL,
    received    timestamptz NOT NULL,
    environment text,
    -- The stored event: only the kept keys of spec §5.3.
    data        jsonb NOT NULL,
    PRIMARY KEY (project_id, event_id)
);

CREATE TABLE occurrences (
    project_id        bigint NOT NULL,
    id                char(32) NOT NULL,
    group_id          bigint REFERENCES groups (id) ON DELETE CASCADE,
    group_key         text NOT NULL,
    -- applied, created, held_back, quota_refused (spec §7.4)
    outcome           text NOT NULL,
    received          timestamptz NOT NULL,
    event_id          char(32) NOT NULL,
    fingerprint       text[] NOT NULL,
    type              integer NOT NULL,
    issue_title       text NOT NULL,
    subtitle          text NOT NULL,
    culprit           text NOT NULL,
    level             smallint NOT NULL,
    detection_time    timestamptz NOT NULL,
    evidence_display  jsonb NOT NULL,
    evidence_data     jsonb NOT NULL,
    priority          smallint,
    assignee          text,
    resource_id       text,
    PRIMARY KEY (project_id, id)
);
CREATE INDEX occurrences_group ON occurrences (group_id, received DESC);
CREATE INDEX occurrences_groupless ON occurrences (group_key, received) WHERE group_id IS NULL;

-- Highest group-changes offset applied per partition, written in the batch's own transaction (spec §2.4.3).
CREATE TABLE sink_offsets (
    topic       text NOT NULL,
    partition   integer NOT NULL,
    "offset"    bigint NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, partition)
);

-- Counted drops, activities, hourly counts and group environments (spec §7.4, §8.6, §15.5.3, §12.8, §19).

-- Counted non-DLQ outcomes per (project, type, outcome): ingest_disabled, rate_limited, duplicate,
-- held_back, quota_refused (spec §7.4).
CREATE TABLE drop_counters (
    project_id  bigint NOT NULL,
    type_id     integer NOT NULL,
    outcome     text NOT NULL,
    count       bigint NOT NULL DEFAULT 0,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, type_id, outcome)
);

CREATE TABLE activities (
    -- Deterministic from (causing message id, position), spec §18.2: a replay writes the same row.
    id          char(32) PRIMARY KEY,
    group_id    bigint NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    project_id  bigint NOT NULL,
    type        smallint NOT NULL,
    data        jsonb NOT NULL DEFAULT '{}',
    datetime    timestamptz NOT NULL,
    actor       text,
    source      text NOT NULL,
    cause_id    text NOT NULL
);
CREATE INDEX activities_group ON activities (group_id, datetime DESC);

CREATE TABLE hourly_counts (
    group_id  bigint NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    hour      timestamptz NOT NULL,
    count     bigint NOT NULL,
    PRIMARY KEY (group_id, hour)
);

CREATE TABLE group_environments (
    group_id     bigint NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    environment  text NOT NULL,
    first_seen   timestamptz NOT NULL,
    PRIMARY KEY (group_id, environment)
);

-- A project's configuration of one issue tracker (spec §24.3.1), written by
-- `PUT /api/0/projects/{project_id}/trackers/{slug}/`. Not group state: never on the options topic or in a
-- changelog. Secret fields are stored as given (the trackers need them to call out) and never leave through
-- the API unmasked.
CREATE TABLE tracker_configs (
    project_id  bigint NOT NULL REFERENCES projects (id),
    tracker     text NOT NULL,                       -- the tracker's slug (§24.1)
    config      jsonb NOT NULL,                      -- {config field name: value}
    auto_create jsonb,                               -- §24.5 `{"on", "min_priority", "types"}`, or NULL: none
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, tracker)
);

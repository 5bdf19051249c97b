-- The ticket of an external tracker linked to a group (spec §24.4): at most one per group and tracker (§24.3:
-- creating or linking replaces it, unlinking removes it). Written only by the sink, from the grouping owner's
-- `external_issue` changes; read by the API (an issue's trackers) and by the tracker webhooks (§24.6), which find
-- the group of a closed ticket by (project, tracker, external id).
CREATE TABLE external_issues (
    group_id     bigint NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    project_id   bigint NOT NULL,
    tracker      text NOT NULL,      -- the tracker's slug (§24.1)
    external_id  text NOT NULL,      -- unique per tracker instance: owner/repo#number, project#iid, the Jira key
    url          text,
    label        text NOT NULL,
    title        text,
    actor        text,
    request_id   text NOT NULL,      -- the API request id or the automatic ticket's claim id (§24.4)
    created_at   timestamptz NOT NULL,
    PRIMARY KEY (group_id, tracker)
);
CREATE INDEX external_issues_external ON external_issues (project_id, tracker, external_id);

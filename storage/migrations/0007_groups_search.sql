-- Full-text search over an issue's title and culprit for the API's free-text query (spec §19, §20.6).
CREATE INDEX groups_search ON groups
    USING gin (to_tsvector('simple', coalesce(title, '') || ' ' || coalesce(culprit, '')));

-- The Idempotency-Key of each API mutation (spec §20.8, §20.9) and the digest of the request it was first sent
-- with: the same key with another request is refused (422), the same request again is answered from
-- `api_changes` without producing its changes again. Kept as long as `api_changes` (a day, pruned by the
-- leader's hourly housekeeping).
CREATE TABLE api_requests (
    idempotency_key  text PRIMARY KEY,
    request_digest   char(64) NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX api_requests_created_at ON api_requests (created_at);

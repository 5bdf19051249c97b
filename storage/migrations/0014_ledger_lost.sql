-- Input offsets whose outcome was lost (spec §2.4.13): the reconciler re-submitted an offset the ledger lacked,
-- and its key's owner had applied it already, so whatever that decision sent never reached PostgreSQL. The
-- offset is accounted (in `ledger`) and reported here; `audit` exits 1 while any is listed.
CREATE TABLE ledger_lost (
    topic        text NOT NULL,
    partition    int NOT NULL,
    "offset"     bigint NOT NULL,
    group_key    text NOT NULL,
    found_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, partition, "offset")
);

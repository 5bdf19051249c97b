-- Each mark also records where every downstream consumer had committed (spec §2.4.13). An input's outcome can
-- take several hops (grouping, a quota request and its answer, the grouping again, the sink): a mark is
-- settled only through a chain of later marks, each taken once the consumers had passed the previous one's
-- end offsets, so every hop's output is covered, not only the first.
ALTER TABLE ledger_marks ADD COLUMN downstream_committed jsonb NOT NULL DEFAULT '{}'::jsonb;

-- Every write of a dossier's row counts up its revision (a history entry that arrives late
-- changes the row without changing its version). Replicas keep rows read recently and drop them
-- when lookup's own commit announces a newer revision (NOTIFY motcua_lookup_rows).
ALTER TABLE dossiers ADD COLUMN revision bigint NOT NULL DEFAULT 1;

-- Agencies that may receive dossiers: the catalog file's [[agency]] entries, loaded at start.
-- Competent agencies of published procedures are known too (see store::agency_known).
CREATE TABLE agencies (
    code          text PRIMARY KEY,
    name          text NOT NULL,
    working_hours text,
    updated_at    timestamptz NOT NULL
);

-- Times come from the service's clock (DESIGN.md "Time"), not PostgreSQL's now(): the defaults
-- stay only for rows written before this migration.
ALTER TABLE dossiers ADD COLUMN note text NOT NULL DEFAULT '';

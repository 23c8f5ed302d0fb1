-- Lookup's read model: what a citizen may see of a dossier, and the public catalog. Built only
-- from events (DESIGN.md §3) and rebuildable from the streams (`motcua lookup rebuild`).

-- pg_trgm ranks procedure names by similarity to a query (typos included). It is a trusted
-- extension: the database owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- One row per dossier: the newest state's public view (an encoded motcua.lookup.v1.PublicDossier,
-- history included, no personal data beyond the masked name) and the keyed hashes its secrets are
-- checked against (DESIGN.md "Secrets in events"). `applied_at` is when this version became
-- visible, by the service's clock: bookkeeping for the lag figure, not part of the model.
CREATE TABLE dossiers (
    dossier_code       text PRIMARY KEY,
    version            bigint NOT NULL,
    view               bytea NOT NULL,
    lookup_token_hmac  text NOT NULL,
    applicant_id_hmac  text NOT NULL,
    secret_key_id      text NOT NULL,
    applied_at         timestamptz NOT NULL
);

-- Every published version of every procedure. Lookup shows the version in force (the latest
-- effective_from not after today); `folded_name` is the name without marks, lower case
-- (motcua_domain::text::fold), which searches compare with.
CREATE TABLE procedures (
    code            text NOT NULL,
    version         integer NOT NULL,
    effective_from  date NOT NULL,
    field           text NOT NULL,
    name            text NOT NULL,
    folded_name     text NOT NULL,
    record          bytea NOT NULL,
    PRIMARY KEY (code, version)
);
CREATE INDEX procedures_in_force ON procedures (code, effective_from DESC, version DESC);

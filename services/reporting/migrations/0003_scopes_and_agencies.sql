-- A province admin's scope (the token's `province` claim) is kept with their dashboard session, so
-- the dashboard covers what the same token covers over gRPC. NULL: the caller's own agency only.
ALTER TABLE dashboard_sessions ADD COLUMN province text;

-- Agencies the published catalog names (ProcedurePublished on the CATALOG stream): an agency that
-- exists only because a procedure was published for it at run time is reportable like one of the
-- catalog file. One row per agency, a few a year.
CREATE TABLE agencies (
    code        text PRIMARY KEY,
    first_seen  timestamptz
);

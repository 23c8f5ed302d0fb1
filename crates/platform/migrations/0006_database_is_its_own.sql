-- A service's database is its own: PostgreSQL lets every role connect to every database (CONNECT
-- and TEMPORARY are granted to PUBLIC by default), so in a cluster where each service has a role
-- (docs/operations.md "PostgreSQL"), the public lookup's role could open intake's database of
-- applicants' data and find what grants it. Only the owner (and superusers) connect from now on.
-- The migrating role owns the database (its own URL) or is the superuser of a developer's machine.
DO $$
BEGIN
    EXECUTE format('REVOKE CONNECT, TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
END
$$;

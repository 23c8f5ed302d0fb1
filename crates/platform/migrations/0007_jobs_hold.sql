-- Locks the jobs `p_keys` of a queue, in key order, and returns how many there were: for a caller
-- that records what a leased job's work came to and then moves or removes the job
-- (`motcua_jobs_reschedule`) in one statement. A lease locks a job, then the caller's row joined
-- to it; a record that changed its row first and the job second deadlocked with a lease of the
-- same job taken after the first lease ran out. A record takes the jobs first through this
-- function, in an uncorrelated sub-select (`AND (SELECT motcua_jobs_hold(...)) >= 0`), which
-- PostgreSQL runs once before the first row the statement changes.
CREATE FUNCTION motcua_jobs_hold(p_queue text, p_keys text[]) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    held integer;
BEGIN
    PERFORM 1 FROM jobs WHERE queue = p_queue AND key = ANY(p_keys) ORDER BY key FOR UPDATE;
    GET DIAGNOSTICS held = ROW_COUNT;
    RETURN held;
END
$$;

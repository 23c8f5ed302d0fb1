-- Wake job runners only for a job due within seconds: a notification per change that sets a
-- timer hours ahead cost every such transaction a turn on PostgreSQL's notification lock at
-- commit, for a runner that would only go back to sleep. Runners still wake on their poll and
-- when the clock reaches the earliest job they know of.
DROP TRIGGER jobs_notify ON jobs;

CREATE TRIGGER jobs_notify AFTER INSERT OR UPDATE OF run_at ON jobs
    FOR EACH ROW WHEN (NEW.run_at <= now() + interval '5 seconds')
    EXECUTE FUNCTION motcua_jobs_notify();

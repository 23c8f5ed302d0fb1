-- The relay retries each event on its own schedule, and sets aside (parks) an event that can never
-- be published (larger than the server accepts, a subject no stream covers) so it blocks nothing.
ALTER TABLE outbox
    ADD COLUMN attempts        integer NOT NULL DEFAULT 0,
    ADD COLUMN next_attempt_at timestamptz,
    ADD COLUMN last_error      text,
    ADD COLUMN parked_at       timestamptz;

DROP INDEX outbox_unpublished;
CREATE INDEX outbox_unpublished ON outbox (seq) WHERE published_at IS NULL AND parked_at IS NULL;
CREATE INDEX outbox_parked ON outbox (seq) WHERE published_at IS NULL AND parked_at IS NOT NULL;
CREATE INDEX outbox_published_at ON outbox (published_at) WHERE published_at IS NOT NULL;

-- Pruned by age beyond any redelivery (see crate::consumer).
CREATE INDEX processed_events_at ON processed_events (processed_at);

-- Failed handlings of an event by a consumer, counted in the database so that a dependency
-- outage (when nothing can be written) never counts towards dead-lettering, and so that every
-- replica sees the same count.
CREATE TABLE consumer_failures (
    consumer        text NOT NULL,
    event_id        uuid NOT NULL,
    tries           integer NOT NULL,
    first_failed_at timestamptz NOT NULL,
    last_failed_at  timestamptz NOT NULL,
    last_error      text NOT NULL,
    PRIMARY KEY (consumer, event_id)
);

-- The newest version of each key a projection has applied: "apply if newer".
CREATE TABLE projection_versions (
    projection text NOT NULL,
    key        text NOT NULL,
    version    bigint NOT NULL,
    PRIMARY KEY (projection, key)
);

-- Durable jobs and timers: written in the same transaction as the change that needs them, run
-- when the service's clock reaches run_at, by exactly one replica (FOR UPDATE SKIP LOCKED).
CREATE TABLE jobs (
    queue      text NOT NULL,
    key        text NOT NULL,
    payload    bytea NOT NULL DEFAULT '\x'::bytea,
    run_at     timestamptz NOT NULL,
    attempts   integer NOT NULL DEFAULT 0,
    last_error text,
    -- Set when the job gave up after its last attempt; it stays for an operator to see.
    failed_at  timestamptz,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (queue, key)
);

CREATE INDEX jobs_due ON jobs (queue, run_at) WHERE failed_at IS NULL;

CREATE FUNCTION motcua_jobs_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('motcua_jobs', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER jobs_notify AFTER INSERT OR UPDATE OF run_at ON jobs
    FOR EACH STATEMENT EXECUTE FUNCTION motcua_jobs_notify();

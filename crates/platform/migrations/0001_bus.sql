-- Transactional outbox: a command writes its events here in the same transaction as its effect;
-- the relay publishes them to JetStream (message id = event id) and marks them published.
CREATE TABLE outbox (
    id           uuid PRIMARY KEY,
    seq          bigserial NOT NULL UNIQUE,
    subject      text NOT NULL,
    event_type   text NOT NULL,
    payload      bytea NOT NULL,
    -- W3C trace context and other headers to send with the message.
    headers      jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);

CREATE INDEX outbox_unpublished ON outbox (seq) WHERE published_at IS NULL;

-- Wake the relay when a transaction that wrote events commits (NOTIFY is delivered on commit).
CREATE FUNCTION motcua_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('motcua_outbox', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION motcua_outbox_notify();

-- Idempotent consumers: the event id is recorded in the same transaction as the effect.
CREATE TABLE processed_events (
    consumer     text NOT NULL,
    event_id     uuid NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);

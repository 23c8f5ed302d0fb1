-- Walls between agencies (DESIGN.md "Identity") and the retention of what grows.

-- The agencies whose dossier a delivery is about (the one that received it and the competent
-- one): who may list and resend it. Rows written before this knew only the code, whose first group
-- is the receiving agency.
ALTER TABLE deliveries ADD COLUMN agencies text[] NOT NULL DEFAULT '{}';
UPDATE deliveries SET agencies = ARRAY[split_part(dossier_code, '-', 1)] WHERE dossier_code <> '';
-- Pruning: rows that ended (sent, delivered, failed), by when they ended.
CREATE INDEX deliveries_ended ON deliveries ((coalesce(failed_at, delivered_at, sent_at, created_at)))
    WHERE status <> 'queued';

-- Templates belong to an agency: a version published by one agency's admin words that agency's
-- messages only. '' is the default for every agency (versions published before agencies had
-- templates of their own); with none, the built-in text. Versions are numbered per agency.
ALTER TABLE templates ADD COLUMN agency text NOT NULL DEFAULT '';
ALTER TABLE templates DROP CONSTRAINT templates_pkey;
ALTER TABLE templates ADD PRIMARY KEY (agency, trigger, channel, language, version);

-- Whose events a subscription receives: one agency's, or a province's (a province admin's). A
-- subscription made before this names neither, receives nothing and is seen by no one: create it
-- again with the integrator's agency.
ALTER TABLE subscriptions ADD COLUMN agency text, ADD COLUMN province text;
ALTER TABLE subscriptions ADD CONSTRAINT subscriptions_one_scope
    CHECK (agency IS NULL OR province IS NULL);
CREATE INDEX subscriptions_live ON subscriptions (agency, province) WHERE deleted_at IS NULL;
-- A deleted subscription's secrets go with it; its row is pruned later (deliveries name it).
ALTER TABLE subscription_secrets DROP CONSTRAINT subscription_secrets_subscription_id_fkey;
ALTER TABLE subscription_secrets ADD FOREIGN KEY (subscription_id) REFERENCES subscriptions (id)
    ON DELETE CASCADE;
DELETE FROM subscription_secrets k USING subscriptions s
    WHERE k.subscription_id = s.id AND s.deleted_at IS NOT NULL;

CREATE INDEX inbound_sms_received ON inbound_sms (received_at);
CREATE INDEX contacts_erased ON contacts (erased_at) WHERE erased_at IS NOT NULL;

-- Whether a caller whose own agency is `own` (and, for a province admin, whose province is
-- `province`) covers `agency`: platform's Caller::covers in SQL (a province is the last group of
-- its agencies' codes).
CREATE FUNCTION motcua_covers(agency text, own text, province text) RETURNS boolean
    LANGUAGE sql IMMUTABLE AS $$
    SELECT agency = own
        OR (province IS NOT NULL AND (agency = province OR right(agency, char_length(province) + 1) = '.' || province))
$$;

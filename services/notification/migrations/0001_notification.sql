-- Notification: who is told what, on which channel, and what happened to each message.

-- Where to reach an applicant: from intake's `submitted` only, kept until MOTCUA_CONTACT_RETENTION_DAYS
-- after the dossier ends (result returned, refused, withdrawn, stopped, rejected at intake), then
-- erased (Nghị định 13/2023): `erase_after` is set when it ends, `erased_at` when erased.
CREATE TABLE contacts (
    dossier_code   text PRIMARY KEY,
    phone          text,
    email          text,
    -- Whether `submitted` has been read: an end event read before it creates the row empty, and
    -- `submitted` then fills it in.
    submitted      boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL,
    erase_after    timestamptz,
    erased_at      timestamptz
);
CREATE INDEX contacts_erase ON contacts (erase_after) WHERE erased_at IS NULL AND erase_after IS NOT NULL;

-- Templates, every version kept; the newest version of (trigger, channel, language) is in use.
CREATE TABLE templates (
    trigger       text NOT NULL,
    channel       text NOT NULL,
    language      text NOT NULL,
    version       integer NOT NULL,
    subject       text NOT NULL DEFAULT '',
    body          text NOT NULL,
    html_body     text NOT NULL DEFAULT '',
    published_at  timestamptz NOT NULL,
    published_by  text NOT NULL,
    PRIMARY KEY (trigger, channel, language, version)
);

-- Webhook subscriptions of integrating systems and their signing secrets. A rotated secret keeps
-- signing until `expires_at`, so receivers switch without a gap.
CREATE TABLE subscriptions (
    id           uuid PRIMARY KEY,
    url          text NOT NULL,
    description  text NOT NULL DEFAULT '',
    triggers     text[] NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL,
    deleted_at   timestamptz
);
CREATE TABLE subscription_secrets (
    subscription_id  uuid NOT NULL REFERENCES subscriptions (id),
    created_at       timestamptz NOT NULL,
    secret           text NOT NULL,
    expires_at       timestamptz,
    PRIMARY KEY (subscription_id, secret)
);

-- One row per message to send, written before any attempt, in the transaction that handles the
-- event: the unique key makes a redelivered event write nothing new. The recipient's address is not
-- here: it is looked up when sending (contacts, the staff directory, the subscription), so erasing a
-- contact erases it everywhere. Only an inbound SMS's reply holds its address (`reply_to`), cleared
-- once the reply is final.
CREATE TABLE deliveries (
    id                   uuid PRIMARY KEY,
    event_id             uuid NOT NULL,
    dossier_code         text NOT NULL,
    trigger              text NOT NULL,
    channel              text NOT NULL CHECK (channel IN ('sms', 'email', 'webhook')),
    recipient_kind       text NOT NULL CHECK (recipient_kind IN ('applicant', 'staff', 'subscriber', 'sender')),
    recipient_ref        text NOT NULL,
    recipient_masked     text NOT NULL,
    reply_to             text,
    template_version     integer NOT NULL DEFAULT 0,
    subject              text NOT NULL DEFAULT '',
    body                 text NOT NULL,
    html_body            text NOT NULL DEFAULT '',
    sms_parts            integer NOT NULL DEFAULT 0,
    -- Citizens' SMS wait through quiet hours.
    quiet_hours          boolean NOT NULL DEFAULT false,
    status               text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'sent', 'delivered', 'failed')),
    attempts             integer NOT NULL DEFAULT 0,
    next_attempt_at      timestamptz NOT NULL,
    give_up_at           timestamptz NOT NULL,
    last_error           text,
    provider             text,
    provider_message_id  text,
    provider_answer      text,
    created_at           timestamptz NOT NULL,
    sent_at              timestamptz,
    delivered_at         timestamptz,
    failed_at            timestamptz,
    UNIQUE (event_id, recipient_kind, recipient_ref, channel)
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'queued';
CREATE INDEX deliveries_dossier ON deliveries (dossier_code, created_at DESC);
-- Not unique: a gateway may reuse or repeat its ids; a receipt then marks each row it names.
CREATE INDEX deliveries_provider_id ON deliveries (provider_message_id)
    WHERE provider_message_id IS NOT NULL;

-- Inbound SMS lookups: one answer per provider message id; the sender is kept only as a keyed hash
-- (for the per-sender reply limit).
CREATE TABLE inbound_sms (
    provider_message_id  text PRIMARY KEY,
    sender_hmac          text NOT NULL,
    received_at          timestamptz NOT NULL,
    outcome              text NOT NULL,
    delivery_id          uuid
);
CREATE INDEX inbound_sms_sender ON inbound_sms (sender_hmac, received_at);

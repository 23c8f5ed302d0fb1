-- The catalog: every published version of every procedure. The full contract is kept as the
-- encoded motcua.common.v1.Procedure; the columns are what queries select on.
CREATE TABLE procedures (
    code             text NOT NULL,
    version          integer NOT NULL,
    effective_from   date NOT NULL,
    field            text NOT NULL,
    competent_agency text NOT NULL,
    body             bytea NOT NULL,
    published_at     timestamptz NOT NULL DEFAULT now(),
    published_by     text NOT NULL,
    PRIMARY KEY (code, version),
    UNIQUE (code, effective_from)
);

-- Dossier code sequences, per agency per (Vietnam) day. The row is locked by the submitting
-- transaction, so concurrent submissions get consecutive numbers and a rollback leaves no gap.
CREATE TABLE dossier_sequences (
    agency text NOT NULL,
    day    date NOT NULL,
    last   integer NOT NULL,
    PRIMARY KEY (agency, day)
);

CREATE TABLE dossiers (
    code                text PRIMARY KEY,
    receiving_agency    text NOT NULL,
    competent_agency    text NOT NULL,
    field               text NOT NULL,
    procedure_code      text NOT NULL,
    procedure_version   integer NOT NULL,
    channel             smallint NOT NULL,
    status              smallint NOT NULL,
    received_at         timestamptz NOT NULL,
    due_at              timestamptz,
    applicant_name      text NOT NULL,
    applicant_id_number text NOT NULL,
    applicant_phone     text NOT NULL,
    -- The receipt as issued (encoded motcua.intake.v1.Receipt), returned as is on a retry.
    receipt             bytea NOT NULL,
    rejection_reasons   text[] NOT NULL DEFAULT '{}',
    idempotency_caller  text,
    idempotency_key     text,
    request_sha256      text,
    version             bigint NOT NULL DEFAULT 1,
    created_by          text NOT NULL,
    updated_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (idempotency_caller, idempotency_key)
);

CREATE INDEX dossiers_agency_received ON dossiers (receiving_agency, received_at, code);
CREATE INDEX dossiers_field_received ON dossiers (field, received_at, code);

-- Who did what to a dossier at intake (submission, rejection, supplement, withdrawal request).
CREATE TABLE dossier_actions (
    id              bigserial PRIMARY KEY,
    dossier_code    text NOT NULL REFERENCES dossiers (code),
    action          text NOT NULL,
    actor_subject   text NOT NULL,
    actor_name      text NOT NULL,
    actor_agency    text NOT NULL,
    at              timestamptz NOT NULL DEFAULT now(),
    detail          jsonb NOT NULL DEFAULT '{}'::jsonb,
    idempotency_key text,
    UNIQUE (dossier_code, action, idempotency_key)
);

CREATE TABLE attachments (
    id           uuid PRIMARY KEY,
    file_name    text NOT NULL,
    media_type   text NOT NULL,
    size_bytes   bigint NOT NULL,
    sha256       text NOT NULL,
    storage_key  text NOT NULL,
    agency       text NOT NULL,
    uploaded_by  text NOT NULL,
    uploaded_at  timestamptz NOT NULL DEFAULT now()
);

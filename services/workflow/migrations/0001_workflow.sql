-- A case per dossier intake received: workflow owns its life until the result is returned.
-- The whole case (steps, pauses, control sheet, …) is one encoded motcua.workflow.v1.Case in
-- `record`; the columns beside it are what queues select and order on. `base` is intake's
-- DossierState (version 1), the public part every state event starts from. Times come from the
-- service's clock (DESIGN.md "Time"), never PostgreSQL's now().
CREATE TABLE cases (
    dossier_code        text PRIMARY KEY,
    version             bigint NOT NULL,
    status              smallint NOT NULL,
    field               text NOT NULL,
    procedure_code      text NOT NULL,
    competent_agency    text NOT NULL,
    -- Open: neither finished nor stopped.
    open                boolean NOT NULL,
    step_role        text NOT NULL,
    step_department  text NOT NULL,
    assignee_subject    text,
    step_due_at         timestamptz NOT NULL,
    due_at              timestamptz NOT NULL,
    record              bytea NOT NULL,
    base                bytea NOT NULL,
    updated_at          timestamptz NOT NULL
);

CREATE INDEX cases_open_by_assignee ON cases (assignee_subject, step_due_at, dossier_code) WHERE open;
CREATE INDEX cases_open_by_agency ON cases (competent_agency, step_due_at, dossier_code) WHERE open;
CREATE INDEX cases_open_by_department
    ON cases (competent_agency, step_department, step_role, step_due_at, dossier_code) WHERE open;

-- Every change: who, when, what, with its note and attachments (encoded AttachmentRef each).
CREATE TABLE history (
    dossier_code   text NOT NULL REFERENCES cases (dossier_code),
    version        bigint NOT NULL,
    kind           text NOT NULL,
    actor_subject  text NOT NULL,
    actor_name     text NOT NULL,
    actor_agency   text NOT NULL,
    at             timestamptz NOT NULL,
    note           text NOT NULL DEFAULT '',
    attachments    bytea[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (dossier_code, version)
);

-- A retried change returns the first answer: the caller's key, the request's hash, the answer.
CREATE TABLE idempotency (
    scope       text NOT NULL,
    key         text NOT NULL,
    request_sha text NOT NULL,
    response    bytea NOT NULL,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (scope, key)
);

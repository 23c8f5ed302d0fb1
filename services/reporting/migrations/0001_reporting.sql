-- Reporting's read model: one fact row per dossier, the newest state's figures (applied only when
-- its version is newer, so redelivered and reordered events leave the same row). Built only from
-- events; no personal data (DESIGN.md "Personal data").
CREATE TABLE facts (
    dossier_code         text PRIMARY KEY,
    version              bigint NOT NULL,
    procedure_code       text NOT NULL,
    procedure_version    integer NOT NULL,
    procedure_name       text NOT NULL,
    field                text NOT NULL,
    receiving_agency     text NOT NULL,
    competent_agency     text NOT NULL,
    -- 1 counter, 2 online, 3 postal (motcua.common.v1.Channel).
    channel              smallint NOT NULL,
    status               smallint NOT NULL,
    -- Rejected at intake: never received, counted nowhere in Biểu 06.
    rejected             boolean NOT NULL DEFAULT false,
    received_at          timestamptz,
    -- The due time moved by pauses only (what statistics classify against); the one on the
    -- receipt; the one an apology promised.
    due_at               timestamptz,
    original_due_at      timestamptz,
    apology_due_at       timestamptz,
    -- The result was ready (finished) or the dossier stopped (refused, withdrawn, stopped).
    finished_at          timestamptz,
    stopped_at           timestamptz,
    stop_kind            smallint NOT NULL DEFAULT 0,
    returned_at          timestamptz,
    -- 1 early, 2 on time, 3 late (motcua.common.v1.Outcome); 0 until finished.
    outcome              smallint NOT NULL DEFAULT 0,
    supplement_requests  integer NOT NULL DEFAULT 0,
    -- Paused (supplement, financial obligation) and since when: a dossier paused at the instant
    -- figures are taken is not overdue (its clock stands still; workflow moves the due time when
    -- it resumes).
    paused               smallint NOT NULL DEFAULT 0,
    paused_since         timestamptz,
    current_department   text NOT NULL DEFAULT '',
    assignee             text NOT NULL DEFAULT '',
    -- When the dossier left the statistics' "in progress": the result ready, or stopped.
    done_at              timestamptz GENERATED ALWAYS AS (coalesce(finished_at, stopped_at)) STORED
);

-- Biểu 06 reads the dossiers received before the period's end and not done before its start.
CREATE INDEX facts_received ON facts (received_at) INCLUDE (done_at, competent_agency, field, channel)
    WHERE NOT rejected;
CREATE INDEX facts_agency_received ON facts (competent_agency, received_at) WHERE NOT rejected;

-- Daily counts per agency and field, kept with the fact rows in the same transaction, so Biểu 06
-- reads a few rows per agency, field and day instead of every dossier (see src/daily.rs). Days are
-- Vietnam's. A fact contributes: its receipt (online or not) on the day received; its end (done)
-- and, for a result, its outcome on the day done; its due time on the day due; and, when done,
-- `due_and_done` on the later of the two days and `due_of_done` on the day due.
CREATE TABLE daily (
    agency            text NOT NULL,
    field             text NOT NULL,
    day               date NOT NULL,
    received_online   bigint NOT NULL DEFAULT 0,
    received_other    bigint NOT NULL DEFAULT 0,
    done              bigint NOT NULL DEFAULT 0,
    early             bigint NOT NULL DEFAULT 0,
    on_time           bigint NOT NULL DEFAULT 0,
    late              bigint NOT NULL DEFAULT 0,
    due               bigint NOT NULL DEFAULT 0,
    due_and_done      bigint NOT NULL DEFAULT 0,
    due_of_done       bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (agency, field, day)
);
CREATE INDEX daily_day ON daily (day);

-- Overdue now, for a period not over yet: the dossiers due earlier today, and those done after
-- the period's end (none, outside tests and simulations).
CREATE INDEX facts_due ON facts (due_at) WHERE NOT rejected;
CREATE INDEX facts_agency_due ON facts (competent_agency, due_at) WHERE NOT rejected;
CREATE INDEX facts_done ON facts (done_at) WHERE NOT rejected;
-- The backlog now, per agency.
CREATE INDEX facts_open ON facts (competent_agency, due_at) WHERE done_at IS NULL AND NOT rejected;
-- Dossiers paused now: not overdue while their clock stands still.
CREATE INDEX facts_paused ON facts (paused_since) WHERE paused <> 0 AND NOT rejected;

-- Every state a dossier went through (one row per version), for per-officer figures: a change that
-- completes a step (forwarded, result recorded) is credited to its actor, on time when it came by
-- the due time of the step the previous version was in.
CREATE TABLE steps (
    dossier_code     text NOT NULL,
    version          bigint NOT NULL,
    at               timestamptz,
    kind             smallint NOT NULL,
    actor            text NOT NULL DEFAULT '',
    actor_name       text NOT NULL DEFAULT '',
    competent_agency text NOT NULL,
    step             text NOT NULL DEFAULT '',
    step_due_at      timestamptz,
    PRIMARY KEY (dossier_code, version)
);
CREATE INDEX steps_completed ON steps (competent_agency, at) WHERE kind IN (4, 11);
CREATE INDEX steps_completed_at ON steps (at) WHERE kind IN (4, 11);

-- The dashboard's sessions: the cookie carries a random id, this table the signed-in caller. The
-- bearer token itself is kept nowhere (a stolen cookie opens the dashboard until it ends, not every
-- API the token would), and signing out ends the session on every replica.
CREATE TABLE dashboard_sessions (
    -- SHA-256 of the cookie's id: a copy of this table opens no session.
    id_sha256   bytea PRIMARY KEY,
    subject     text NOT NULL,
    name        text NOT NULL,
    agency      text NOT NULL,
    department  text NOT NULL,
    roles       text[] NOT NULL,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL
);

CREATE INDEX dashboard_sessions_expiry ON dashboard_sessions (expires_at);

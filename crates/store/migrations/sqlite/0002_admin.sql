-- Administration: people who sign in to the page, their sessions, sign-in throttling,
-- Salesforce OAuth handshakes and connections, destination-settings history, audit log.
-- Same conventions as 0001 (times in microseconds, JSON as TEXT). Secrets never arrive
-- here in plaintext: passwords as hashes, cookies as SHA-256, tokens encrypted (`_enc`).

CREATE TABLE users (
    id                 TEXT    PRIMARY KEY NOT NULL,  -- UUID v7
    email              TEXT    NOT NULL UNIQUE,       -- trimmed, lower-cased
    role               TEXT    NOT NULL CHECK (role IN ('owner', 'admin', 'editor', 'viewer')),
    password_hash      TEXT    NOT NULL,
    created_at_us      INTEGER NOT NULL,
    last_sign_in_at_us INTEGER
);
CREATE INDEX users_role ON users (role);

-- Keyed by the cookie value's SHA-256: the cookie itself is never stored. A session ends
-- at min(last_seen + idle_timeout, absolute_expires_at).
CREATE TABLE sessions (
    token_hash             TEXT    PRIMARY KEY NOT NULL,
    user_id                TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token             TEXT    NOT NULL,
    created_at_us          INTEGER NOT NULL,
    last_seen_at_us        INTEGER NOT NULL,
    idle_timeout_us        INTEGER NOT NULL,
    absolute_expires_at_us INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

-- Failed sign-ins per lower-cased email in the current window (see the store's
-- SIGN_IN_FAILURE_WINDOW); rows whose window lapsed are deleted as new failures arrive.
CREATE TABLE sign_in_failures (
    email              TEXT    PRIMARY KEY NOT NULL,
    failures           INTEGER NOT NULL,
    last_failure_at_us INTEGER NOT NULL
);
CREATE INDEX sign_in_failures_last ON sign_in_failures (last_failure_at_us);

-- OAuth authorization requests in flight, keyed by the state parameter's hash; single use.
CREATE TABLE oauth_states (
    state_hash        TEXT    PRIMARY KEY NOT NULL,
    started_by        TEXT    NOT NULL,
    integration       TEXT    NOT NULL,
    client_id         TEXT    NOT NULL,
    login_url         TEXT    NOT NULL,
    sandbox           BOOLEAN NOT NULL,
    code_verifier_enc TEXT    NOT NULL,
    client_secret_enc TEXT,
    expires_at_us     INTEGER NOT NULL
);
CREATE INDEX oauth_states_expires ON oauth_states (expires_at_us);

-- One Salesforce connection per integration name; a disconnected one keeps its row
-- without secrets (refresh_token_enc NULL).
CREATE TABLE connections (
    name               TEXT    PRIMARY KEY NOT NULL,
    login_url          TEXT    NOT NULL,
    client_id          TEXT    NOT NULL,
    sandbox            BOOLEAN NOT NULL,
    client_secret_enc  TEXT,
    refresh_token_enc  TEXT,
    instance_url       TEXT,
    username           TEXT,
    user_id            TEXT,
    org_id             TEXT,
    connected_by       TEXT,
    connected_at_us    INTEGER,
    disconnected_at_us INTEGER,
    updated_at_us      INTEGER NOT NULL
);
CREATE INDEX connections_updated ON connections (updated_at_us);

-- Every saved version of a destination's settings; the newest is the current one. The
-- primary key's index, read backwards, serves "latest version" and "newest first".
CREATE TABLE destination_settings (
    destination TEXT    NOT NULL,
    version     INTEGER NOT NULL,  -- 1, 2, 3 ... per destination
    value       TEXT    NOT NULL,  -- JSON
    saved_by    TEXT,
    saved_at_us INTEGER NOT NULL,
    PRIMARY KEY (destination, version)
);

CREATE TABLE audit_log (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: keyset paging stays stable
    at_us   INTEGER NOT NULL,
    actor   TEXT    NOT NULL,
    action  TEXT    NOT NULL,
    target  TEXT,
    details TEXT    NOT NULL  -- JSON
);

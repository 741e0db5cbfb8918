-- trailspark schema, SQLite flavour. Times are microseconds since the Unix epoch, UTC
-- (columns ending in _us), so ordering and arithmetic are plain integer operations and
-- identical to the PostgreSQL schema.

CREATE TABLE evaluations (
    id              TEXT    PRIMARY KEY NOT NULL,
    content_hash    TEXT    NOT NULL,
    email           TEXT    NOT NULL,
    evaluated_at_us INTEGER NOT NULL,
    received_at_us  INTEGER NOT NULL,
    payload         TEXT    NOT NULL  -- contract §1 JSON
);
CREATE INDEX evaluations_email ON evaluations (email);
CREATE INDEX evaluations_evaluated_at ON evaluations (evaluated_at_us);
CREATE INDEX evaluations_received_at ON evaluations (received_at_us);

CREATE TABLE deliveries (
    id                  INTEGER PRIMARY KEY,
    evaluation_id       TEXT    NOT NULL REFERENCES evaluations (id) ON DELETE CASCADE,
    destination         TEXT    NOT NULL,
    state               TEXT    NOT NULL CHECK (state IN ('pending', 'leased', 'done', 'failed')),
    outcome             TEXT    NOT NULL,
    attempts            INTEGER NOT NULL DEFAULT 0,
    next_attempt_at_us  INTEGER NOT NULL,
    lease_owner         TEXT,
    lease_expires_at_us INTEGER,
    last_report         TEXT,
    updated_at_us       INTEGER NOT NULL,
    UNIQUE (evaluation_id, destination)
);
-- The worker's question: what is due for this destination, oldest first.
CREATE INDEX deliveries_due ON deliveries (destination, state, next_attempt_at_us);
-- The log's question: newest first.
CREATE INDEX deliveries_updated ON deliveries (updated_at_us DESC, id DESC);

CREATE TABLE sync_log (
    id            INTEGER PRIMARY KEY,
    delivery_id   INTEGER NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    evaluation_id TEXT    NOT NULL,
    destination   TEXT    NOT NULL,
    attempt       INTEGER NOT NULL,
    outcome       TEXT    NOT NULL,
    worker        TEXT    NOT NULL,
    report        TEXT    NOT NULL,
    at_us         INTEGER NOT NULL
);
CREATE INDEX sync_log_evaluation ON sync_log (evaluation_id, id);
CREATE INDEX sync_log_delivery ON sync_log (delivery_id);
CREATE INDEX sync_log_at ON sync_log (at_us);

CREATE TABLE api_tokens (
    id              TEXT    PRIMARY KEY NOT NULL,
    name            TEXT    NOT NULL,
    role            TEXT    NOT NULL CHECK (role IN ('owner', 'admin', 'editor', 'viewer', 'ingest')),
    token_hash      TEXT    NOT NULL UNIQUE,
    created_at_us   INTEGER NOT NULL,
    revoked_at_us   INTEGER,
    last_used_at_us INTEGER
);

CREATE TABLE settings (
    key           TEXT    PRIMARY KEY NOT NULL,
    value         TEXT    NOT NULL,  -- JSON
    updated_at_us INTEGER NOT NULL
);

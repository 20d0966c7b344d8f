-- +goose Up
-- Times are unix milliseconds, durations milliseconds, JSON and string lists text.
CREATE TABLE accounts (
    id            INTEGER PRIMARY KEY,
    parent_id     INTEGER NOT NULL DEFAULT 0,
    name          TEXT    NOT NULL UNIQUE,
    role          TEXT    NOT NULL DEFAULT '',
    balance_milli INTEGER NOT NULL DEFAULT 0,
    coupon_milli  INTEGER NOT NULL DEFAULT 0,
    credit_milli  INTEGER NOT NULL DEFAULT 0,
    quota         INTEGER NOT NULL DEFAULT 0,
    settings      TEXT,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX accounts_parent ON accounts (parent_id);

CREATE TABLE credentials (
    id            INTEGER PRIMARY KEY,
    account_id    INTEGER NOT NULL,
    kind          TEXT    NOT NULL,
    key_id        TEXT    NOT NULL,
    secret_hash   BLOB,
    secret_sealed BLOB,
    label         TEXT    NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER,
    revoked_at    INTEGER,
    UNIQUE (kind, key_id)
);
CREATE INDEX credentials_account ON credentials (account_id);

CREATE TABLE nonces (
    scope   TEXT    NOT NULL,
    nonce   TEXT    NOT NULL,
    expires INTEGER NOT NULL,
    PRIMARY KEY (scope, nonce)
) WITHOUT ROWID;
CREATE INDEX nonces_expires ON nonces (expires);

CREATE TABLE jobs (
    id              INTEGER PRIMARY KEY,
    account_id      INTEGER NOT NULL,
    parent_id       INTEGER NOT NULL DEFAULT 0,
    wait_for        INTEGER NOT NULL DEFAULT 0,
    alias           TEXT    NOT NULL DEFAULT '',
    kind            TEXT    NOT NULL DEFAULT '',
    name            TEXT    NOT NULL DEFAULT '',
    project         TEXT    NOT NULL DEFAULT '',
    status          TEXT    NOT NULL,
    pause_reason    TEXT    NOT NULL DEFAULT '',
    priority        INTEGER NOT NULL DEFAULT 0,
    max_concurrency INTEGER NOT NULL DEFAULT 0,
    max_attempts    INTEGER NOT NULL DEFAULT 0,
    blocklist_after INTEGER NOT NULL DEFAULT 0,
    unit_timeout    INTEGER NOT NULL DEFAULT 0,
    job_timeout     INTEGER NOT NULL DEFAULT 0,
    spec            TEXT,
    result          TEXT,
    cost_milli      INTEGER NOT NULL DEFAULT 0,
    deleted         BOOLEAN NOT NULL DEFAULT FALSE,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    started_at      INTEGER,
    finished_at     INTEGER
);
CREATE INDEX jobs_account ON jobs (account_id, id);
CREATE INDEX jobs_parent ON jobs (parent_id) WHERE parent_id <> 0;
CREATE INDEX jobs_alias ON jobs (alias) WHERE alias <> '';
CREATE INDEX jobs_status ON jobs (status);
CREATE INDEX jobs_wait_for ON jobs (wait_for) WHERE wait_for <> 0;

-- No foreign keys: the store deletes a job's units itself, and unit inserts stay cheap.
CREATE TABLE units (
    id            INTEGER PRIMARY KEY,
    job_id        INTEGER NOT NULL,
    account_id    INTEGER NOT NULL,
    idx           INTEGER NOT NULL DEFAULT 0,
    name          TEXT    NOT NULL DEFAULT '',
    status        TEXT    NOT NULL,
    priority      INTEGER NOT NULL DEFAULT 0,
    capability    TEXT    NOT NULL DEFAULT '',
    tag           TEXT    NOT NULL DEFAULT '',
    attempts      INTEGER NOT NULL DEFAULT 0,
    max_attempts  INTEGER NOT NULL DEFAULT 0,
    worker_id     INTEGER NOT NULL DEFAULT 0,
    epoch         INTEGER NOT NULL DEFAULT 0,
    lease_expires INTEGER,
    avoid_worker  INTEGER NOT NULL DEFAULT 0,
    avoid_until   INTEGER,
    run_after     INTEGER NOT NULL,
    deadline      INTEGER,
    progress      REAL    NOT NULL DEFAULT 0,
    spec          TEXT,
    result        TEXT,
    outputs       TEXT,
    error         TEXT    NOT NULL DEFAULT '',
    log           TEXT    NOT NULL DEFAULT '',
    cost_milli    INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    started_at    INTEGER,
    finished_at   INTEGER
);
-- Lease order, per capability, over ready units only; the deadline key matches sqlutil's leaseOrder.
CREATE INDEX units_ready ON units (capability, priority DESC, (COALESCE(deadline, 9223372036854775807)), id)
    WHERE status = 'queued';
CREATE INDEX units_job ON units (job_id, status);
CREATE INDEX units_worker ON units (worker_id) WHERE status = 'running';
CREATE INDEX units_lease ON units (lease_expires) WHERE status = 'running';

CREATE TABLE worker_failures (
    job_id       INTEGER NOT NULL,
    worker_id    INTEGER NOT NULL,
    failures     INTEGER NOT NULL DEFAULT 0,
    blocked      BOOLEAN NOT NULL DEFAULT FALSE,
    last_failure INTEGER NOT NULL,
    PRIMARY KEY (job_id, worker_id)
) WITHOUT ROWID;

CREATE TABLE workers (
    id             INTEGER PRIMARY KEY,
    account_id     INTEGER NOT NULL DEFAULT 0,
    name           TEXT    NOT NULL UNIQUE,
    kind           TEXT    NOT NULL DEFAULT '',
    capabilities   TEXT    NOT NULL DEFAULT '[]',
    tags           TEXT    NOT NULL DEFAULT '[]',
    info           TEXT,
    status         TEXT    NOT NULL,
    last_heartbeat INTEGER NOT NULL,
    created_at     INTEGER NOT NULL
);

CREATE TABLE schedules (
    id         INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL,
    name       TEXT    NOT NULL DEFAULT '',
    cron       TEXT    NOT NULL,
    timezone   TEXT    NOT NULL DEFAULT '',
    enabled    BOOLEAN NOT NULL DEFAULT TRUE,
    template   TEXT,
    start_at   INTEGER,
    end_at     INTEGER,
    next_run   INTEGER,
    last_run   INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX schedules_due ON schedules (next_run) WHERE enabled;
CREATE INDEX schedules_account ON schedules (account_id);

CREATE TABLE records (
    id         INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL,
    kind       TEXT    NOT NULL,
    key        TEXT    NOT NULL DEFAULT '',
    parent_id  INTEGER NOT NULL DEFAULT 0,
    data       TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX records_key ON records (account_id, kind, key) WHERE key <> '';
CREATE INDEX records_kind ON records (kind, account_id);

CREATE TABLE events (
    id         INTEGER PRIMARY KEY,
    at         INTEGER NOT NULL,
    account_id INTEGER NOT NULL DEFAULT 0,
    job_id     INTEGER NOT NULL DEFAULT 0,
    unit_id    INTEGER NOT NULL DEFAULT 0,
    worker_id  INTEGER NOT NULL DEFAULT 0,
    type       TEXT    NOT NULL,
    data       TEXT
);
CREATE INDEX events_job ON events (job_id, id) WHERE job_id <> 0;
CREATE INDEX events_account ON events (account_id, id);

CREATE TABLE leaders (
    name       TEXT    PRIMARY KEY,
    holder     TEXT    NOT NULL,
    expires_at INTEGER NOT NULL
);

-- +goose Down
DROP TABLE leaders;
DROP TABLE events;
DROP TABLE records;
DROP TABLE schedules;
DROP TABLE workers;
DROP TABLE worker_failures;
DROP TABLE units;
DROP TABLE jobs;
DROP TABLE nonces;
DROP TABLE credentials;
DROP TABLE accounts;

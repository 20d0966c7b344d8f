-- +goose Up
-- The AI task center (internal/aitasks): its users, their API keys, the upstream channels, the
-- prices, and the relayed tasks. Tasks have a table of their own rather than the records table so
-- that a list of a million rows is one index range per page (see docs/compat/aitasks.md).
CREATE TABLE ai_users (
    id         INTEGER PRIMARY KEY,
    tenant_id  INTEGER NOT NULL,
    account_id INTEGER NOT NULL UNIQUE,
    username   TEXT    NOT NULL,
    role       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (tenant_id, username)
);

CREATE TABLE ai_keys (
    id          INTEGER PRIMARY KEY,
    user_id     INTEGER NOT NULL,
    name        TEXT    NOT NULL DEFAULT '',
    key_hash    TEXT    NOT NULL UNIQUE,
    key_tail    TEXT    NOT NULL DEFAULT '',
    quota_limit INTEGER NOT NULL DEFAULT -1,
    quota_used  INTEGER NOT NULL DEFAULT 0,
    enabled     INTEGER NOT NULL DEFAULT 1,
    expires_at  INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL
);
CREATE INDEX ai_keys_user ON ai_keys (user_id, id);

CREATE TABLE ai_channels (
    id            INTEGER PRIMARY KEY,
    tenant_id     INTEGER NOT NULL,
    platform      TEXT    NOT NULL,
    name          TEXT    NOT NULL DEFAULT '',
    base_url      TEXT    NOT NULL,
    key_sealed    TEXT    NOT NULL DEFAULT '',
    models        TEXT    NOT NULL DEFAULT '',
    weight        INTEGER NOT NULL DEFAULT 1,
    priority      INTEGER NOT NULL DEFAULT 0,
    enabled       INTEGER NOT NULL DEFAULT 1,
    auth_failures INTEGER NOT NULL DEFAULT 0,
    status_reason TEXT    NOT NULL DEFAULT '',
    deleted       INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX ai_channels_tenant ON ai_channels (tenant_id, platform);

CREATE TABLE ai_prices (
    tenant_id INTEGER NOT NULL,
    platform  TEXT    NOT NULL,
    action    TEXT    NOT NULL,
    model     TEXT    NOT NULL DEFAULT '',
    quota     INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, platform, action, model)
);

CREATE TABLE ai_tasks (
    id            INTEGER PRIMARY KEY,
    tenant_id     INTEGER NOT NULL,
    user_id       INTEGER NOT NULL,
    key_id        INTEGER NOT NULL DEFAULT 0,
    channel_id    INTEGER NOT NULL DEFAULT 0,
    task_id       TEXT    NOT NULL UNIQUE,
    upstream_id   TEXT    NOT NULL DEFAULT '',
    platform      TEXT    NOT NULL,
    action        TEXT    NOT NULL,
    model         TEXT    NOT NULL DEFAULT '',
    status        TEXT    NOT NULL,
    fail_reason   TEXT    NOT NULL DEFAULT '',
    progress      TEXT    NOT NULL DEFAULT '0%',
    quota         INTEGER NOT NULL DEFAULT 0,
    refunded      INTEGER NOT NULL DEFAULT 0,
    submit_time   INTEGER NOT NULL,
    start_time    INTEGER NOT NULL DEFAULT 0,
    finish_time   INTEGER NOT NULL DEFAULT 0,
    properties    TEXT    NOT NULL DEFAULT '{}',
    data          TEXT    NOT NULL DEFAULT '{}',
    notify_hook   TEXT    NOT NULL DEFAULT '',
    active        INTEGER NOT NULL DEFAULT 1,
    next_poll_at  INTEGER NOT NULL DEFAULT 0,
    poll_job      INTEGER NOT NULL DEFAULT 0,
    poll_failures INTEGER NOT NULL DEFAULT 0,
    deadline      INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
-- A user's list and an admin's list, newest first, with the common filters leading.
CREATE INDEX ai_tasks_user ON ai_tasks (user_id, id);
CREATE INDEX ai_tasks_user_status ON ai_tasks (user_id, status, id);
CREATE INDEX ai_tasks_tenant ON ai_tasks (tenant_id, id);
CREATE INDEX ai_tasks_tenant_channel ON ai_tasks (tenant_id, channel_id, id);
-- The poll planner's and the time-out sweep's work: unfinished tasks only.
CREATE INDEX ai_tasks_due ON ai_tasks (next_poll_at) WHERE active = 1;
CREATE INDEX ai_tasks_deadline ON ai_tasks (deadline) WHERE active = 1;
-- Submits a crash cut off before the upstream answered.
CREATE INDEX ai_tasks_not_started ON ai_tasks (created_at) WHERE status = 'NOT_START';
CREATE INDEX ai_tasks_poll_job ON ai_tasks (poll_job) WHERE poll_job <> 0;

-- +goose Down
DROP TABLE ai_tasks;
DROP TABLE ai_prices;
DROP TABLE ai_channels;
DROP TABLE ai_keys;
DROP TABLE ai_users;

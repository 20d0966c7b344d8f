-- +goose Up
-- A worker's name is unique within its account (0: shared workers), not across accounts: two tenants'
-- agents of one host name are two workers, and no tenant can take over another's worker by its name.
-- SQLite cannot drop a column's UNIQUE constraint, so the table is rebuilt (nothing references it).
-- Each registration starts a new incarnation; worker tokens name the incarnation they were issued to.
CREATE TABLE workers_new (
    id              INTEGER PRIMARY KEY,
    account_id      INTEGER NOT NULL DEFAULT 0,
    name            TEXT    NOT NULL,
    kind            TEXT    NOT NULL DEFAULT '',
    capabilities    TEXT    NOT NULL DEFAULT '[]',
    tags            TEXT    NOT NULL DEFAULT '[]',
    info            TEXT,
    status          TEXT    NOT NULL,
    last_heartbeat  INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    licence         TEXT    NOT NULL DEFAULT '',
    licence_expires INTEGER,
    incarnation     INTEGER NOT NULL DEFAULT 0,
    UNIQUE (account_id, name)
);
INSERT INTO workers_new (id, account_id, name, kind, capabilities, tags, info, status, last_heartbeat, created_at,
    licence, licence_expires)
SELECT id, account_id, name, kind, capabilities, tags, info, status, last_heartbeat, created_at, licence, licence_expires
FROM workers;
DROP TABLE workers;
ALTER TABLE workers_new RENAME TO workers;

-- +goose Down
CREATE TABLE workers_old (
    id              INTEGER PRIMARY KEY,
    account_id      INTEGER NOT NULL DEFAULT 0,
    name            TEXT    NOT NULL UNIQUE,
    kind            TEXT    NOT NULL DEFAULT '',
    capabilities    TEXT    NOT NULL DEFAULT '[]',
    tags            TEXT    NOT NULL DEFAULT '[]',
    info            TEXT,
    status          TEXT    NOT NULL,
    last_heartbeat  INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    licence         TEXT    NOT NULL DEFAULT '',
    licence_expires INTEGER
);
INSERT INTO workers_old (id, account_id, name, kind, capabilities, tags, info, status, last_heartbeat, created_at,
    licence, licence_expires)
SELECT id, account_id, name, kind, capabilities, tags, info, status, last_heartbeat, created_at, licence, licence_expires
FROM workers;
DROP TABLE workers;
ALTER TABLE workers_old RENAME TO workers;

-- +goose Up
-- Counters that expire: how many times something happened in a window, shared by every replica
-- (the RPA sign-in backoff counts wrong secrets per name here). Expired rows are purged with the
-- nonces.
CREATE TABLE counters (
    scope   TEXT   NOT NULL,
    name    TEXT   NOT NULL,
    value   BIGINT NOT NULL,
    expires BIGINT NOT NULL,
    PRIMARY KEY (scope, name)
);
CREATE INDEX counters_expires ON counters (expires);

-- +goose Down
DROP TABLE counters;

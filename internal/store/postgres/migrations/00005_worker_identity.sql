-- +goose Up
-- A worker's name is unique within its account (0: shared workers), not across accounts: two tenants'
-- agents of one host name are two workers, and no tenant can take over another's worker by its name.
ALTER TABLE workers DROP CONSTRAINT workers_name_key;
ALTER TABLE workers ADD CONSTRAINT workers_account_name_key UNIQUE (account_id, name);
-- Each registration starts a new incarnation; worker tokens name the incarnation they were issued to.
ALTER TABLE workers ADD COLUMN incarnation BIGINT NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE workers DROP COLUMN incarnation;
ALTER TABLE workers DROP CONSTRAINT workers_account_name_key;
ALTER TABLE workers ADD CONSTRAINT workers_name_key UNIQUE (name);

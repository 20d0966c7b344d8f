-- +goose Up
-- A dialect's task list (an account's live jobs of one kind at the top level, newest first, with their
-- count) walks this index instead of every job row of the account.
CREATE INDEX jobs_account_kind ON jobs (account_id, kind, parent_id, id, deleted) WHERE NOT deleted;

-- +goose Down
DROP INDEX jobs_account_kind;

-- +goose Up
-- An account's unfinished jobs, for the jobs-in-flight limit checked at every submit: the index holds
-- only jobs not yet finished, so counting them never reads the account's finished history.
CREATE INDEX jobs_unfinished ON jobs (account_id, kind)
    WHERE status IN ('waiting', 'queued', 'running', 'paused') AND NOT deleted;

-- +goose Down
DROP INDEX jobs_unfinished;

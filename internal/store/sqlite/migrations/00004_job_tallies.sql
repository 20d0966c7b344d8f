-- +goose Up
-- How many live top-level jobs of each kind an account has: a task list's total without counting the
-- account's whole list on every page. Triggers keep it, so every path that creates, soft-deletes,
-- restores or removes a job does. The count is split over 16 rows per account and kind (a job counts
-- in row id % 16), so that jobs created at once for one account rarely wait on the same row; a total
-- is the sum of at most 16 rows.
CREATE TABLE job_tallies (
    account_id INTEGER NOT NULL,
    kind       TEXT    NOT NULL,
    shard      INTEGER NOT NULL,
    n          INTEGER NOT NULL,
    PRIMARY KEY (account_id, kind, shard)
) WITHOUT ROWID;

INSERT INTO job_tallies (account_id, kind, shard, n)
SELECT account_id, kind, id % 16, COUNT(*) FROM jobs WHERE parent_id = 0 AND NOT deleted
GROUP BY account_id, kind, id % 16;

-- +goose StatementBegin
CREATE TRIGGER jobs_tally_insert AFTER INSERT ON jobs WHEN NEW.parent_id = 0 AND NOT NEW.deleted
BEGIN
    INSERT INTO job_tallies (account_id, kind, shard, n) VALUES (NEW.account_id, NEW.kind, NEW.id % 16, 1)
    ON CONFLICT (account_id, kind, shard) DO UPDATE SET n = n + 1;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER jobs_tally_delete AFTER DELETE ON jobs WHEN OLD.parent_id = 0 AND NOT OLD.deleted
BEGIN
    UPDATE job_tallies SET n = n - 1 WHERE account_id = OLD.account_id AND kind = OLD.kind AND shard = OLD.id % 16;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER jobs_tally_update AFTER UPDATE OF account_id, kind, parent_id, deleted ON jobs
WHEN OLD.account_id IS NOT NEW.account_id OR OLD.kind IS NOT NEW.kind OR OLD.parent_id IS NOT NEW.parent_id
    OR OLD.deleted IS NOT NEW.deleted
BEGIN
    UPDATE job_tallies SET n = n - 1
    WHERE OLD.parent_id = 0 AND NOT OLD.deleted AND account_id = OLD.account_id AND kind = OLD.kind
        AND shard = OLD.id % 16;
    INSERT INTO job_tallies (account_id, kind, shard, n) SELECT NEW.account_id, NEW.kind, NEW.id % 16, 1
    WHERE NEW.parent_id = 0 AND NOT NEW.deleted
    ON CONFLICT (account_id, kind, shard) DO UPDATE SET n = n + 1;
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER jobs_tally_update;
DROP TRIGGER jobs_tally_delete;
DROP TRIGGER jobs_tally_insert;
DROP TABLE job_tallies;

-- +goose Up
-- How many live top-level jobs of each kind an account has: a task list's total without counting the
-- account's whole list on every page. Triggers keep it, so every path that creates, soft-deletes,
-- restores or removes a job does. The count is split over 16 rows per account and kind (a job counts
-- in row id % 16): a row stays locked until its transaction ends, and jobs created at once for one
-- account then rarely wait on the same row. A total is the sum of at most 16 rows.
CREATE TABLE job_tallies (
    account_id BIGINT   NOT NULL,
    kind       TEXT     NOT NULL,
    shard      SMALLINT NOT NULL,
    n          BIGINT   NOT NULL,
    PRIMARY KEY (account_id, kind, shard)
);

INSERT INTO job_tallies (account_id, kind, shard, n)
SELECT account_id, kind, id % 16, COUNT(*) FROM jobs WHERE parent_id = 0 AND NOT deleted
GROUP BY account_id, kind, id % 16;

-- +goose StatementBegin
CREATE FUNCTION jobs_tally() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.parent_id = 0 AND NOT OLD.deleted THEN
        UPDATE job_tallies SET n = n - 1
        WHERE account_id = OLD.account_id AND kind = OLD.kind AND shard = OLD.id % 16;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.parent_id = 0 AND NOT NEW.deleted THEN
        INSERT INTO job_tallies (account_id, kind, shard, n) VALUES (NEW.account_id, NEW.kind, NEW.id % 16, 1)
        ON CONFLICT (account_id, kind, shard) DO UPDATE SET n = job_tallies.n + 1;
    END IF;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

-- The conditions keep the function from being called for children, which are most jobs.
CREATE TRIGGER jobs_tally_insert AFTER INSERT ON jobs FOR EACH ROW
    WHEN (NEW.parent_id = 0 AND NOT NEW.deleted) EXECUTE FUNCTION jobs_tally();
CREATE TRIGGER jobs_tally_delete AFTER DELETE ON jobs FOR EACH ROW
    WHEN (OLD.parent_id = 0 AND NOT OLD.deleted) EXECUTE FUNCTION jobs_tally();
CREATE TRIGGER jobs_tally_update AFTER UPDATE OF account_id, kind, parent_id, deleted ON jobs FOR EACH ROW
    WHEN ((OLD.account_id, OLD.kind, OLD.parent_id, OLD.deleted) IS DISTINCT FROM
          (NEW.account_id, NEW.kind, NEW.parent_id, NEW.deleted))
    EXECUTE FUNCTION jobs_tally();

-- +goose Down
DROP TRIGGER jobs_tally_update ON jobs;
DROP TRIGGER jobs_tally_delete ON jobs;
DROP TRIGGER jobs_tally_insert ON jobs;
DROP FUNCTION jobs_tally();
DROP TABLE job_tallies;

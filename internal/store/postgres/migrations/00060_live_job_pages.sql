-- +goose Up
-- The job list's pages (live top-level jobs, newest first, by status or not) and their totals walk
-- these indexes alone: an offset 50,000 deep skips index entries, not job rows, and a count reads
-- no job row. deleted is a column too so that SQLite sees the indexes cover the lists' conditions
-- (as in jobs_account_kind).
CREATE INDEX jobs_live ON jobs (parent_id, id, deleted) WHERE NOT deleted;
CREATE INDEX jobs_live_status ON jobs (status, parent_id, id, deleted) WHERE NOT deleted;

-- +goose Down
DROP INDEX jobs_live_status;
DROP INDEX jobs_live;

-- +goose Up
-- The job list's pages (live top-level jobs, newest first, by status or not) and their totals walk
-- these indexes alone: an offset 50,000 deep skips index entries, not job rows, and a count reads
-- no job row.
CREATE INDEX jobs_live ON jobs (parent_id, id) WHERE NOT deleted;
CREATE INDEX jobs_live_status ON jobs (status, parent_id, id) WHERE NOT deleted;

-- +goose Down
DROP INDEX jobs_live_status;
DROP INDEX jobs_live;

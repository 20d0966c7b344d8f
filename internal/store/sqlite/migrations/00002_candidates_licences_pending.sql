-- +goose Up
-- A unit may name several tags, any of which lets a worker lease it (a job limited to several
-- candidate robots). Such a unit carries the tag '*' and its tags here.
CREATE TABLE unit_tags (
    unit_id INTEGER NOT NULL REFERENCES units (id) ON DELETE CASCADE,
    tag     TEXT   NOT NULL,
    PRIMARY KEY (unit_id, tag)
);

-- A worker's licence: an empty licence means none; a worker of a kind that needs one leases nothing
-- without a licence that has not expired.
ALTER TABLE workers ADD COLUMN licence TEXT NOT NULL DEFAULT '';
ALTER TABLE workers ADD COLUMN licence_expires INTEGER;

-- A queued job nobody started within pending_timeout ends by the sweep at pending_deadline.
ALTER TABLE jobs ADD COLUMN pending_timeout INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN pending_deadline INTEGER;
CREATE INDEX jobs_pending_deadline ON jobs (pending_deadline) WHERE status = 'queued' AND pending_deadline IS NOT NULL;

-- +goose Down
DROP INDEX jobs_pending_deadline;
ALTER TABLE jobs DROP COLUMN pending_deadline;
ALTER TABLE jobs DROP COLUMN pending_timeout;
ALTER TABLE workers DROP COLUMN licence_expires;
ALTER TABLE workers DROP COLUMN licence;
DROP TABLE unit_tags;

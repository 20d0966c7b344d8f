-- +goose Up
-- A drained worker leases no new units (those it runs finish); drained_at is when it was drained
-- (NULL: not drained). It outlives the worker's registrations, as a licence does.
ALTER TABLE workers ADD COLUMN drained_at INTEGER;

-- +goose Down
ALTER TABLE workers DROP COLUMN drained_at;

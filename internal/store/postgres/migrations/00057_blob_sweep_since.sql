-- +goose Up
-- The sweep of unreferenced blobs (store.BlobSweep) deletes only blobs written after this time.
-- Blobs uploaded through the native API before blob_refs existed (00006) belong to no account yet
-- may be named by old jobs; a database upgraded with data keeps them, so the row is written only
-- when there is data. A new database has no row and no such blobs: the sweep takes any blob.
CREATE TABLE blob_sweep (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    since BIGINT  NOT NULL
);
INSERT INTO blob_sweep (id, since)
SELECT 1, (EXTRACT(EPOCH FROM now()) * 1000)::BIGINT
WHERE EXISTS (SELECT 1 FROM jobs) OR EXISTS (SELECT 1 FROM records) OR EXISTS (SELECT 1 FROM blob_refs);

-- +goose Down
DROP TABLE blob_sweep;

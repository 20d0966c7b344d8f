-- +goose Up
-- The sweep of unreferenced blobs asks which of a batch of hashes no account refers to
-- (store.BlobSweep); the primary key leads with the account, so that question needs its own index.
CREATE INDEX blob_refs_hash ON blob_refs (hash);

-- +goose Down
DROP INDEX blob_refs_hash;

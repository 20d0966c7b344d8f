-- +goose Up
-- Which accounts may read which blobs (store.BlobRefs). Blobs are content-addressed and shared, so
-- knowing a hash must not be enough to read one.
CREATE TABLE blob_refs (
    account_id BIGINT NOT NULL,
    hash       TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, hash)
);

-- What accounts already hold: their transfer files and published frames (render), shared files and
-- process packages (RPA), stitched frames, and their units' outputs. Blobs uploaded through the
-- native API before this version belonged to no one; uploading them again records the owner.
INSERT INTO blob_refs (account_id, hash, created_at)
SELECT DISTINCT account_id, hash, (EXTRACT(EPOCH FROM now()) * 1000)::BIGINT FROM (
    SELECT account_id, data::jsonb ->> 'hash' AS hash FROM records
        WHERE kind IN ('render.file', 'rpa.file', 'rpa.version') AND data IS NOT NULL
    UNION ALL
    SELECT account_id, data::jsonb ->> 'image' FROM records WHERE kind = 'render.frame' AND data IS NOT NULL
    UNION ALL
    SELECT account_id, data::jsonb ->> 'thumb' FROM records WHERE kind = 'render.frame' AND data IS NOT NULL
    UNION ALL
    SELECT u.account_id, o.value ->> 'hash' FROM units u,
        jsonb_each(CASE WHEN jsonb_typeof(u.outputs::jsonb) = 'object' THEN u.outputs::jsonb ELSE '{}'::jsonb END) o
        WHERE u.outputs IS NOT NULL AND jsonb_typeof(o.value) = 'object'
) refs WHERE length(hash) = 64;

-- +goose Down
DROP TABLE blob_refs;

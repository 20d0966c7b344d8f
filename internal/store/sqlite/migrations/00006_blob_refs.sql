-- +goose Up
-- Which accounts may read which blobs (store.BlobRefs). Blobs are content-addressed and shared, so
-- knowing a hash must not be enough to read one.
CREATE TABLE blob_refs (
    account_id INTEGER NOT NULL,
    hash       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (account_id, hash)
) WITHOUT ROWID;

-- What accounts already hold: their transfer files and published frames (render), shared files and
-- process packages (RPA), stitched frames, and their units' outputs. Blobs uploaded through the
-- native API before this version belonged to no one; uploading them again records the owner.
INSERT INTO blob_refs (account_id, hash, created_at)
SELECT DISTINCT account_id, hash, CAST(strftime('%s', 'now') AS INTEGER) * 1000 FROM (
    SELECT account_id, json_extract(data, '$.hash') AS hash FROM records
        WHERE kind IN ('render.file', 'rpa.file', 'rpa.version') AND json_valid(data)
    UNION ALL
    SELECT account_id, json_extract(data, '$.image') FROM records WHERE kind = 'render.frame' AND json_valid(data)
    UNION ALL
    SELECT account_id, json_extract(data, '$.thumb') FROM records WHERE kind = 'render.frame' AND json_valid(data)
    UNION ALL
    SELECT u.account_id, json_extract(o.value, '$.hash') FROM units u, json_each(u.outputs) o
        WHERE u.outputs IS NOT NULL AND json_valid(u.outputs) AND json_type(u.outputs) = 'object'
            AND o.type = 'object'
) WHERE typeof(hash) = 'text' AND length(hash) = 64;

-- +goose Down
DROP TABLE blob_refs;

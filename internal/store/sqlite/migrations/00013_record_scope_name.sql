-- +goose Up
-- The columns a dialect's record lists filter by, so that they filter and page in SQL rather than
-- loading every record of a kind (store.Record.Scope and Name, set by the writer from the document).
ALTER TABLE records ADD COLUMN scope TEXT NOT NULL DEFAULT '';
ALTER TABLE records ADD COLUMN name TEXT NOT NULL DEFAULT '';
CREATE INDEX records_scope ON records (account_id, kind, scope);

-- Existing RPA documents: the department is the scope; a user's name is matched case-insensitively,
-- so it is kept lowercased (LOWER folds ASCII only here), a queue's, a role's and a file's as written.
UPDATE records SET scope = COALESCE(json_extract(data, '$.orgCode'), '')
    WHERE kind IN ('rpa.user', 'rpa.queue', 'rpa.file', 'rpa.version') AND data IS NOT NULL;
UPDATE records SET name = LOWER(COALESCE(json_extract(data, '$.userName'), ''))
    WHERE kind = 'rpa.user' AND data IS NOT NULL;
UPDATE records SET name = COALESCE(json_extract(data, '$.queueName'), '')
    WHERE kind = 'rpa.queue' AND data IS NOT NULL;
UPDATE records SET name = COALESCE(json_extract(data, '$.roleName'), '')
    WHERE kind = 'rpa.role' AND data IS NOT NULL;
UPDATE records SET name = COALESCE(json_extract(data, '$.fileName'), '')
    WHERE kind = 'rpa.file' AND data IS NOT NULL;

-- +goose Down
DROP INDEX records_scope;
ALTER TABLE records DROP COLUMN name;
ALTER TABLE records DROP COLUMN scope;

-- +goose Up
-- Free-text search of the job list (a substring of name, alias or project) looks its candidates up
-- in a trigram index instead of scanning every job; the LIKE conditions then check each candidate,
-- so the result is what the scan finds. The index is an FTS5 table over the jobs table's own
-- columns (external content), kept in step by the triggers below and filled from the jobs already
-- there.
CREATE VIRTUAL TABLE jobs_search USING fts5(name, alias, project, content = 'jobs', content_rowid = 'id',
    tokenize = 'trigram');
INSERT INTO jobs_search (jobs_search) VALUES ('rebuild');

-- +goose StatementBegin
CREATE TRIGGER jobs_search_insert AFTER INSERT ON jobs BEGIN
    INSERT INTO jobs_search (rowid, name, alias, project) VALUES (new.id, new.name, new.alias, new.project);
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER jobs_search_delete AFTER DELETE ON jobs BEGIN
    INSERT INTO jobs_search (jobs_search, rowid, name, alias, project)
        VALUES ('delete', old.id, old.name, old.alias, old.project);
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER jobs_search_update AFTER UPDATE OF name, alias, project ON jobs BEGIN
    INSERT INTO jobs_search (jobs_search, rowid, name, alias, project)
        VALUES ('delete', old.id, old.name, old.alias, old.project);
    INSERT INTO jobs_search (rowid, name, alias, project) VALUES (new.id, new.name, new.alias, new.project);
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER jobs_search_update;
DROP TRIGGER jobs_search_delete;
DROP TRIGGER jobs_search_insert;
DROP TABLE jobs_search;

-- +goose Up
-- Free-text search of the job list (a substring of name, alias or project, as LOWER(col) LIKE
-- '%q%') is served by a pg_trgm GIN index over the three lowered columns, which PostgreSQL rechecks
-- against the LIKE conditions, so the result is what a scan finds. pg_trgm is a trusted extension
-- (PostgreSQL 13 and later): a database owner may create it. It is used where it is already
-- installed, else created in the current schema; when it cannot be (not installed on the server, or
-- no right to create it), the migration goes on without the index and search scans the jobs as
-- before. Running `CREATE EXTENSION pg_trgm` and the CREATE INDEX below by hand adds it later.
-- +goose StatementBegin
DO $$
DECLARE
    ext name;
BEGIN
    SELECT n.nspname INTO ext FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
        WHERE e.extname = 'pg_trgm';
    IF ext IS NULL THEN
        BEGIN
            CREATE EXTENSION pg_trgm;
            SELECT n.nspname INTO ext FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
                WHERE e.extname = 'pg_trgm';
        EXCEPTION WHEN OTHERS THEN
            RAISE WARNING 'pg_trgm cannot be created (%): job search scans the jobs', SQLERRM;
        END;
    END IF;
    IF ext IS NOT NULL THEN
        EXECUTE format('CREATE INDEX jobs_search ON jobs USING gin (LOWER(name) %1$I.gin_trgm_ops, '
            'LOWER(alias) %1$I.gin_trgm_ops, LOWER(project) %1$I.gin_trgm_ops)', ext);
    END IF;
END $$;
-- +goose StatementEnd

-- +goose Down
DROP INDEX IF EXISTS jobs_search;
